"""The cheap first step of a rebake: have the image's inputs changed since the newest baked AMI?

Inputs: the newest source image, the recipe hash (image/ + packer/), and the digest of the app
image tag the hosts track (bake.front.inputs), compared with the promoted AMI's tags (what
serves). A handful of read-only calls, no build.
"""

from __future__ import annotations

from ..bake import amis, front


def explain_unchanged(wanted: dict[str, str], reference: str) -> str:
    inputs = ", ".join(f"{key} {value}" for key, value in wanted.items())
    return f"AMI {reference} was built from the same inputs: {inputs}"


def reasons(target, config, *, force: bool = False, say=print) -> list[str]:
    """Why to rebake (empty = nothing changed); prints the verdict either way."""
    ec2 = target.client("ec2")
    wanted = front.inputs(config, target)
    promoted = amis.read_channel(target.client("ssm"), config.project.name, "latest")
    found = amis.rebake_reasons(ec2, config.project.name, wanted, reference=promoted)
    if found:
        for reason in found:
            say(f"rebake: {reason}")
    else:
        say(f"rebake: {explain_unchanged(wanted, promoted or amis.baked_amis(ec2, config.project.name)[0]['ImageId'])}")
    if force and not found:
        found = ["--force given"]
        say("rebake: --force given: rebaking anyway")
    return found
