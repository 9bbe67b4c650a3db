"""`invoke bake` on AWS: check every input, render, run Packer, record the AMI as the candidate.

Packer >= 1.10 gets the modern template (after `packer init`); older Packer (Debian's 1.6.6)
the legacy one, which lacks imds_support and build-instance metadata_options (see packer.py).
"""

from __future__ import annotations

import datetime as dt

from ..paths import REPO
from ..shell import require
from . import amis, packer, preflight, recipe, templates
from .manifest import ami_ids


def build_stamp() -> tuple[str, str]:
    """(ISO build time for tags, compact stamp for names)."""
    now = dt.datetime.now(dt.timezone.utc)
    return now.isoformat(timespec="seconds").replace("+00:00", "Z"), now.strftime("%Y%m%d%H%M%S")


def changed(ec2, project: str, wanted: dict[str, str], say=print) -> bool:
    reasons = amis.rebake_reasons(ec2, project, wanted)
    for reason in reasons:
        say(f"bake: {reason}")
    if not reasons:
        say("bake: nothing changed since the newest baked AMI; not baking")
    return bool(reasons)


def bake(config, *, release: bool = False, if_changed: bool = False, say=print) -> str | None:
    """Bake an AMI on AWS; return its id. Nothing is created before every check has passed.

    With `if_changed`, bake only when the source AMI, the recipe or the app digest differ from
    the newest baked AMI's tags (the nightly rebake); returns None otherwise.
    """
    found = packer.version()
    legacy = not packer.is_modern(found)
    require("session-manager-plugin")
    checked = preflight.check(config, release=release, repo=REPO)
    if if_changed:
        wanted = {amis.TAG_SOURCE_AMI: checked.source_ami["ImageId"], amis.TAG_RECIPE_HASH: recipe.recipe_hash(),
                  amis.TAG_APP_DIGEST: checked.app_digest}
        if not changed(checked.session.client("ec2"), config.project.name, wanted, say):
            return None
    build_time, stamp = build_stamp()
    image = config.image
    tags = amis.baked_tags(project=config.project.name, source_ami=checked.source_ami["ImageId"],
                           source_ami_name=checked.source_ami["Name"], recipe_hash=recipe.recipe_hash(),
                           app_digest=checked.app_digest,
                           git_revision=checked.git_revision + ("-dirty" if checked.dirty else ""),
                           build_time=build_time)
    # Packer writes the source AMI tags itself, from the image it actually launched.
    for key in (amis.TAG_SOURCE_AMI, amis.TAG_SOURCE_AMI_NAME):
        tags.pop(key)
    ami_name = f"{config.project.name}-ubuntu-{image.ubuntu_release}-{image.architecture}-{stamp}"
    template = templates.render_aws(config=config, tags=tags, ami_name=ami_name, legacy=legacy,
                                    recipe_env=recipe.recipe_env(checked.app_image, checked.app_pinned))
    say(f"bake: account {checked.account}, {config.aws.region}, source {checked.source_ami['ImageId']} "
        f"({checked.source_ami['Name']}), app {checked.app_digest}, template {template}"
        f"{' (legacy, Packer < 1.10)' if legacy else ''}")
    if not legacy:
        packer.init(template)
    packer.build(template, template.parent / "packer-build.log")
    ami = ami_ids(template.parent / "manifest.json")[config.aws.region]
    parameter = amis.write_channel(checked.session.client("ssm"), config.project.name, "candidate", ami)
    say(f"bake: {ami} ({ami_name}) written to {parameter}; manifest {template.parent / 'manifest.json'}")
    return ami
