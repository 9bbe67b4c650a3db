"""What the bake tasks call: one entry per verb, the same code for AWS and the local region.

One bake: check every input, render the amazon-ebs template, run Packer, record the AMI as the
candidate. The one seam is the Packer source (`Source`): on AWS Canonical's newest Ubuntu, the
app image in ECR and Session Manager (bake/aws.py); on the local region its base image, its
registry and SSH at the instance's private IP (bake/local.py). Promote and prune are the same
calls with the target's clients (the local region's data plane removes a deregistered AMI's disk).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from ..shell import require
from ..target import Target, open_target
from . import amis, packer, recipe, templates
from .manifest import ami_ids


@dataclass(frozen=True)
class Source:
    """What a bake starts from, checked: the inputs under the baked AMIs' tag names, the app image
    the hosts track and the one pre-pulled, and how Packer reaches the target."""
    inputs: dict[str, str]
    app_tracked: str
    app_pinned: str
    git_revision: str
    ami_name: str                               # prefix; the build time is appended
    describe: str                               # one line for the log
    region: templates.LocalRegion | None = None
    packer_env: dict[str, str] = field(default_factory=dict)
    insecure_registry: str = ""
    build_tools: tuple[str, ...] = ()           # what Packer needs beside it to reach the instance


def source(config, target: Target, *, release: bool = False) -> Source:
    """The Packer source seam (nothing is created: every check is read-only)."""
    if target.local:
        from . import local
        return local.source(config, target, release=release)
    from . import aws
    return aws.source(config, target, release=release)


def build_tools(target: Target) -> tuple[str, ...]:
    """What a bake on ``target`` needs installed beside Packer (checked before anything is made)."""
    if target.local:
        return ()
    from . import aws
    return aws.BUILD_TOOLS


def inputs(config, target: Target) -> dict[str, str]:
    """What a bake would be made of now (source image, recipe hash, app digest): what the rebake
    compares with the promoted AMI."""
    return source(config, target).inputs


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


def bake(config, *, release: bool = False, if_changed: bool = False, target: Target | None = None,
         say=print) -> str | None:
    """Bake an AMI; return its id, also written to /<project>/ami/candidate. Nothing is created
    before every check has passed. With `if_changed`, bake only when the source image, the recipe
    or the app digest differ from the newest baked AMI's tags; returns None otherwise."""
    target = target or open_target(config)
    legacy = not packer.is_modern(packer.version())
    checked = source(config, target, release=release)
    for tool in checked.build_tools:
        require(tool)
    if if_changed and not changed(target.client("ec2"), config.project.name, checked.inputs, say):
        return None
    build_time, stamp = build_stamp()
    tags = amis.baked_tags(project=config.project.name, source_ami="", source_ami_name="",
                           recipe_hash=checked.inputs[amis.TAG_RECIPE_HASH],
                           app_digest=checked.inputs[amis.TAG_APP_DIGEST], git_revision=checked.git_revision,
                           build_time=build_time)
    for key in (amis.TAG_SOURCE_AMI, amis.TAG_SOURCE_AMI_NAME):
        tags.pop(key)  # Packer writes them from the image it actually launched
    ami_name = f"{checked.ami_name}-{stamp}"
    template = templates.render_aws(config=config, tags=tags, ami_name=ami_name, legacy=legacy,
                                    recipe_env=recipe.recipe_env(checked.app_tracked, checked.app_pinned,
                                                                 checked.insecure_registry),
                                    region=checked.region)
    say(f"bake: {checked.describe}, app {checked.inputs[amis.TAG_APP_DIGEST]}, template {template}"
        f"{' (legacy, Packer < 1.10)' if legacy else ''}")
    if not legacy:
        packer.init(template)
    packer.build(template, template.parent / "packer-build.log", checked.packer_env)
    ami = ami_ids(template.parent / "manifest.json")[config.aws.region]
    parameter = amis.write_channel(target.client("ssm"), config.project.name, "candidate", ami)
    say(f"bake: {ami} ({ami_name}) written to {parameter}; manifest {template.parent / 'manifest.json'}")
    return ami


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
