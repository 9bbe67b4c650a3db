"""The cheap first step of a rebake: have the image's inputs changed since the newest baked AMI?

Inputs: the newest Canonical source AMI, the recipe hash (image/ + packer/), and the digest of
the app image tag the hosts track. A handful of read-only API calls, no build.
"""

from __future__ import annotations

from ..bake import amis, preflight, recipe


def current_inputs(session, account: str, config) -> dict[str, str]:
    """The inputs a bake would use now, under the tag names the baked AMIs carry."""
    source = amis.resolve_source_ami(session.client("ec2"), config.image.ubuntu_release,
                                     config.image.architecture)
    _, digest, _ = preflight.app_image(session, account, config.app.repository, config.app.tag)
    return {amis.TAG_SOURCE_AMI: source["ImageId"], amis.TAG_RECIPE_HASH: recipe.recipe_hash(),
            amis.TAG_APP_DIGEST: digest}


def explain_unchanged(ec2, project: str, wanted: dict[str, str]) -> str:
    newest = amis.baked_amis(ec2, project)[0]
    inputs = ", ".join(f"{key} {value}" for key, value in wanted.items())
    return f"newest baked AMI {newest['ImageId']} ({newest.get('Name', '')}) was built from the same inputs: {inputs}"


def reasons(session, account: str, config, *, force: bool = False, say=print) -> list[str]:
    """Why to rebake (empty = nothing changed); prints the verdict either way."""
    ec2 = session.client("ec2")
    wanted = current_inputs(session, account, config)
    found = amis.rebake_reasons(ec2, config.project.name, wanted)
    if found:
        for reason in found:
            say(f"rebake: {reason}")
    else:
        say(f"rebake: {explain_unchanged(ec2, config.project.name, wanted)}")
    if force and not found:
        found = ["--force given"]
        say("rebake: --force given: rebaking anyway")
    return found
