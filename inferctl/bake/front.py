"""What the bake tasks call: one entry per verb, for the AWS target or the local one (moto)."""

from __future__ import annotations

from . import amis


def clients(config, local: bool):
    """(ec2, ssm) clients: the local moto server, or AWS after the region/credential checks."""
    if local:
        from ..local import moto
        return moto.client("ec2"), moto.client("ssm")
    from .preflight import open_session
    session, _ = open_session(config.aws.region, config.aws.profile)
    return session.client("ec2"), session.client("ssm")


def bake(config, *, local: bool, release: bool, if_changed: bool) -> str | None:
    if local:
        from . import local as target
        return target.bake(config, if_changed=if_changed)
    from . import aws
    return aws.bake(config, release=release, if_changed=if_changed)


def promote(config, *, local: bool, verified: bool, ami: str = "") -> str:
    ec2, ssm = clients(config, local)
    promoted = amis.promote(ec2, ssm, config.project.name, verified=verified, ami_id=ami or None)
    print(f"promote: {amis.parameter_name(config.project.name, 'latest')} -> {promoted}")
    return promoted


def prune(config, *, local: bool, apply: bool, keep: int = 0) -> amis.PrunePlan:
    ec2, ssm = clients(config, local)
    extra, on_deleted = {}, None
    if local:
        from . import local as target
        extra, on_deleted = target.in_use_by_hosts(), target.remove_disk
    return amis.prune(ec2, ssm, config.project.name, keep or config.image.keep_amis, apply=apply,
                      also_in_use=extra, on_deleted=on_deleted)
