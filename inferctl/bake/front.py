"""What the bake tasks call: one entry per verb, the same code for AWS and the local region.

The one seam here is the Packer source: the same amazon-ebs template, from Canonical's Ubuntu
image on AWS, from the region's base image (and its login) on the local region (bake/local.py). Promote and prune are the same calls with the
target's clients (the local region's data plane removes a deregistered AMI's disk itself).
"""

from __future__ import annotations

from ..target import Target, open_target
from . import amis


def bake(config, *, release: bool = False, if_changed: bool = False, target: Target | None = None,
         say=print) -> str | None:
    target = target or open_target(config)
    if target.local:
        from . import local
        return local.bake(config, target=target, if_changed=if_changed, say=say)
    from . import aws
    return aws.bake(config, release=release, if_changed=if_changed, say=say)


def inputs(config, target: Target) -> dict[str, str]:
    """What a bake would be made of now (source image, recipe hash, app digest), under the tag
    names of the baked AMIs: what the rebake compares."""
    if target.local:
        from . import local
        return local.current_inputs(config, target.client("ec2"))
    from . import preflight, recipe
    source = amis.resolve_source_ami(target.client("ec2"), config.image.ubuntu_release, config.image.architecture)
    _, digest, _ = preflight.app_image(target.session, target.account, config.app.repository, config.app.tag)
    return {amis.TAG_SOURCE_AMI: source["ImageId"], amis.TAG_RECIPE_HASH: recipe.recipe_hash(),
            amis.TAG_APP_DIGEST: digest}


def promote(config, *, verified: bool, ami: str = "", target: Target | None = None) -> str:
    target = target or open_target(config)
    promoted = amis.promote(target.client("ec2"), target.client("ssm"), config.project.name, verified=verified,
                            ami_id=ami or None)
    print(f"promote: {amis.parameter_name(config.project.name, 'latest')} -> {promoted}")
    return promoted


def prune(config, *, apply: bool, keep: int = 0, target: Target | None = None) -> amis.PrunePlan:
    target = target or open_target(config)
    return amis.prune(target.client("ec2"), target.client("ssm"), config.project.name,
                      keep or config.image.keep_amis, apply=apply)
