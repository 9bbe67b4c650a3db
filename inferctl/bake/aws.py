"""The Packer source on AWS: Canonical's newest Ubuntu LTS for the architecture, the app image in
this account's ECR, the build instance reached through Session Manager.

Packer >= 1.10 gets the modern template (after `packer init`); older Packer (Debian's 1.6.6)
the legacy one, which lacks imds_support and build-instance metadata_options (see packer.py).
"""

from __future__ import annotations

from ..paths import REPO
from . import amis, preflight, recipe
from .front import Source

BUILD_TOOLS = ("session-manager-plugin",)   # Packer's SSH goes through a Session Manager session


def source(config, target, *, release: bool = False) -> Source:
    """Every input of an AWS bake, checked (preflight.py); a UserError names the first problem."""
    checked = preflight.check(config, release=release, repo=REPO, session=target.session, account=target.account)
    image = config.image
    return Source(
        inputs={amis.TAG_SOURCE_AMI: checked.source_ami["ImageId"], amis.TAG_RECIPE_HASH: recipe.recipe_hash(),
                amis.TAG_APP_DIGEST: checked.app_digest},
        app_tracked=checked.app_image, app_pinned=checked.app_pinned,
        git_revision=checked.git_revision + ("-dirty" if checked.dirty else ""),
        ami_name=f"{config.project.name}-ubuntu-{image.ubuntu_release}-{image.architecture}",
        describe=f"account {checked.account}, {config.aws.region}, source {checked.source_ami['ImageId']} "
                 f"({checked.source_ami['Name']})",
        build_tools=BUILD_TOOLS)
