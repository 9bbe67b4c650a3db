"""`invoke bake --local`: the same bake with no AWS.

A real `packer build` (Packer >= 1.6.6, `null` source over SSH) provisions a bare local host
(inferctl.local.host: the stand-in for an instance of the base AMI) with the same provisioners
and the same testinfra bake phase as on EC2. Then the host is stopped and its disk saved as
CACHE_DIR/amis/<ami-id>.tar (the stand-in for the AMI's snapshot), and the image is registered
in the local moto server with the same tags, so the bookkeeping (rebake reasons, promote,
prune) works the same locally. moto keeps state in memory: after a moto restart the tarballs
remain but must be baked again to be registered (their ids would differ).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import UserError
from ..local import host as local_host
from ..local import moto, provision, registry
from ..paths import CACHE_DIR, ensure
from . import amis, packer, recipe, templates
from .aws import build_stamp, changed
from .manifest import last_run

BAKE_HOST = "inferctl-bake"


def ami_dir() -> Path:
    return CACHE_DIR / "amis"


def ami_tar(ami_id: str) -> Path:
    """The disk tarball of a local AMI (what `LocalHost.create(image=...)` boots)."""
    tar = ami_dir() / f"{ami_id}.tar"
    if not tar.is_file():
        raise UserError(f"local AMI {ami_id} has no disk image at {tar}", hint="bake one: invoke bake --local")
    return tar


def source_image() -> tuple[str, str]:
    """(id, name) of the local base image: the cached bare Debian rootfs, by its cache key."""
    tar = local_host.bare_rootfs()
    return f"rootfs-{tar.stem}", tar.name


def current_inputs(app_pinned: str) -> dict[str, str]:
    """The inputs the rebake decision compares, for the local target."""
    return {amis.TAG_SOURCE_AMI: source_image()[0], amis.TAG_RECIPE_HASH: recipe.recipe_hash(),
            amis.TAG_APP_DIGEST: app_pinned.rsplit("@", 1)[1]}


def register(ec2, *, name: str, tags: dict[str, str], disk: Path) -> str:
    """Register the saved disk as a local AMI in moto; the tarball is renamed after its id."""
    ami = ec2.register_image(Name=name, Description=f"local bake from {tags[amis.TAG_SOURCE_AMI_NAME]}",
                             Architecture="x86_64", RootDeviceName="/dev/sda1", VirtualizationType="hvm",
                             BootMode="uefi")["ImageId"]
    amis.tag_image(ec2, ami, tags)
    tar = ami_dir() / f"{ami}.tar"
    disk.rename(tar)
    tar.with_suffix(".json").write_text(json.dumps({"ami": ami, "name": name, "tags": tags}, indent=1))
    return ami


def bake(config, *, if_changed: bool = False, say=print, server: moto.Moto | None = None,
         host_name: str = BAKE_HOST) -> str | None:
    """Bake a local AMI; return its id (also written to the local /<project>/ami/candidate).

    With `if_changed`, only when an input differs from the newest local AMI's tags. `server` is
    the moto server to register in (default: the machine's local AWS endpoint, started if needed).
    """
    packer.version()
    server = server or moto.DEFAULT
    server.start()
    ec2, ssm = server.client("ec2"), server.client("ssm")
    tracked, pinned = provision.publish_app(config)
    if if_changed and not changed(ec2, config.project.name, current_inputs(pinned), say):
        return None
    source_id, source_name = source_image()
    build_time, stamp = build_stamp()
    revision, dirty = recipe.git_revision()
    tags = amis.baked_tags(project=config.project.name, source_ami=source_id, source_ami_name=source_name,
                           recipe_hash=recipe.recipe_hash(), app_digest=pinned.rsplit("@", 1)[1],
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
        disk = host.snapshot(ensure(ami_dir()) / f"{name}.tar.partial-disk")
    finally:
        host.down()
    try:
        ami = register(ec2, name=name, tags=tags, disk=disk)
    finally:
        disk.unlink(missing_ok=True)  # renamed to <ami>.tar when registered
    parameter = amis.write_channel(ssm, config.project.name, "candidate", ami)
    say(f"bake --local: {ami} ({name}) disk {ami_tar(ami)}; written to {parameter} on {server.endpoint_url()}")
    return ami


def in_use_by_hosts() -> dict[str, str]:
    """Local AMIs whose disk a local host was made from (the local 'instances')."""
    used = {}
    for name in local_host.LocalHost.names():
        source = Path(local_host.LocalHost.load(name).source)
        if source.parent == ami_dir():
            used[source.stem] = f"disk of local host {name}"
    return used


def remove_disk(ami_id: str) -> None:
    for suffix in (".tar", ".json"):
        (ami_dir() / f"{ami_id}{suffix}").unlink(missing_ok=True)
