"""`invoke bake` on the local region: the Packer source seam.

A real `packer build` (Packer >= 1.6.6, `null` source over SSH) provisions a bare local host
(inferctl.local.host: the stand-in for an instance of the base AMI) with the same provisioners
and the same testinfra bake phase as on EC2. Then the host is stopped, its disk becomes the
AMI's disk in the region's store (inferctl.region.disks) and the image is registered in the
local region with the same tags, so everything after the build (rebake reasons, promote,
launch, prune) is the AWS code. The region keeps state in memory: after a restart the disks
remain but must be baked again to be registered (their ids would differ).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from ..local import host as local_host
from ..local import registry
from ..paths import ensure
from ..region import disks
from ..target import Target
from . import amis, packer, recipe, templates
from .aws import build_stamp, changed
from .manifest import last_run

BAKE_HOST = "inferctl-bake"


def source_image() -> tuple[str, str]:
    """(id, name) of the local base image: the cached bare Debian rootfs, by its cache key."""
    tar = local_host.bare_rootfs()
    return f"rootfs-{tar.stem}", tar.name


def current_inputs(config) -> dict[str, str]:
    """The inputs a bake would use now (source image, recipe, published app digest), under the
    tag names baked AMIs carry."""
    digest = registry.digest(config.app.repository, config.app.tag)
    if digest is None:
        raise UserError(f"app image {config.app.repository}:{config.app.tag} is not in the local registry "
                        f"{registry.ADDRESS}", hint="publish it: invoke deploy (it builds and pushes the app image)")
    return {amis.TAG_SOURCE_AMI: source_image()[0], amis.TAG_RECIPE_HASH: recipe.recipe_hash(),
            amis.TAG_APP_DIGEST: digest}


def register(ec2, *, name: str, tags: dict[str, str], disk: Path) -> str:
    """Register the saved disk as an AMI of the local region; the tarball becomes its disk."""
    ami = ec2.register_image(Name=name, Description=f"local bake from {tags[amis.TAG_SOURCE_AMI_NAME]}",
                             Architecture="x86_64", RootDeviceName="/dev/sda1", VirtualizationType="hvm",
                             BootMode="uefi")["ImageId"]
    amis.tag_image(ec2, ami, tags)
    disks.save(ami, disk, {"name": name, "tags": tags})
    return ami


def bake(config, *, target: Target, if_changed: bool = False, say=print, host_name: str = BAKE_HOST) -> str | None:
    """Bake an AMI in the local region; return its id (also written to /<project>/ami/candidate).

    With `if_changed`, only when an input differs from the newest baked AMI's tags.
    """
    packer.version()
    ec2, ssm = target.client("ec2"), target.client("ssm")
    inputs = current_inputs(config)  # the published app image, as on AWS: a bake builds no app
    if if_changed and not changed(ec2, config.project.name, inputs, say):
        return None
    repository = f"{registry.ADDRESS}/{config.app.repository}"
    tracked, pinned = f"{repository}:{config.app.tag}", f"{repository}@{inputs[amis.TAG_APP_DIGEST]}"
    source_id, source_name = source_image()
    build_time, stamp = build_stamp()
    revision, dirty = recipe.git_revision()
    tags = amis.baked_tags(project=config.project.name, source_ami=source_id, source_ami_name=source_name,
                           recipe_hash=recipe.recipe_hash(), app_digest=inputs[amis.TAG_APP_DIGEST],
                           git_revision=revision + ("-dirty" if dirty else ""), build_time=build_time)
    name = f"{config.project.name}-local-{stamp}"
    local_host.down(host_name)  # a host left by an interrupted bake
    host = local_host.LocalHost.create(host_name)
    try:
        say(f"bake --local: bare host {host_name} booted in {host.boot():.1f}s at {host.address}")
        template = templates.render_local(host=host.address, port=22, user=local_host.BOOTSTRAP_USER,
                                          key_file=host.key_path, tags=tags,
                                          recipe_env=recipe.recipe_env(tracked, pinned, registry.ADDRESS))
        packer.build(template, template.parent / "packer-build.log")
        last_run(template.parent / "manifest.json")  # Packer recorded the build
        disk = host.snapshot(ensure(disks.store()) / f"{name}.tar.partial-disk")
    finally:
        host.down()
    try:
        ami = register(ec2, name=name, tags=tags, disk=disk)
    finally:
        disk.unlink(missing_ok=True)  # renamed to <ami>.tar when registered
    parameter = amis.write_channel(ssm, config.project.name, "candidate", ami)
    say(f"bake --local: {ami} ({name}) disk {disks.require(ami)}; written to {parameter} on {target.endpoint}")
    return ami
