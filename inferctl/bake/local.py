"""`invoke bake` on the local region: the AWS template and Packer's amazon-ebs builder, pointed at
the region's EC2 endpoint (the Packer source seam: only the source image and the login differ).

Packer creates its temporary key pair and security group, launches an instance of the region's
base image (a bare Debian 12 disk, the stand-in for Canonical's Ubuntu image), which the region's
data plane boots as a local host with the key pair authorized; provisions it over SSH at its
private IP with the same provisioners and testinfra bake phase as on EC2; stops it; creates the
image (the data plane saves the disk), copies it encrypted, deregisters the unencrypted one,
terminates the instance and tags the AMI. The app image must be published in the region's
registry first (as on AWS, a bake builds no app). The region keeps state in memory: after it
restarts, bake again.
"""

from __future__ import annotations

from ..errors import UserError
from ..local import host as local_host
from ..local import moto, registry
from ..region import disks
from ..target import Target
from . import amis, packer, recipe, templates
from .aws import build_stamp, changed
from .manifest import ami_ids

BASE_IMAGE_PREFIX = "inferctl-base-debian-12-"


def base_image(ec2) -> dict:
    """The region's base image: the cached bare Debian 12 rootfs as an EBS-backed AMI (found by
    name while the region runs, registered on first use)."""
    tar = local_host.bare_rootfs()
    name = BASE_IMAGE_PREFIX + tar.stem.rsplit("-", 1)[-1]
    found = [image for image in ec2.describe_images(Owners=["self"], Filters=[
        {"Name": "name", "Values": [name]}])["Images"] if disks.find(image["ImageId"])]
    if found:
        return found[0]
    ami = ec2.register_image(
        Name=name, Description="bare Debian 12 (bookworm): the local region's base image",
        Architecture="x86_64", RootDeviceName="/dev/sda1", VirtualizationType="hvm",
        BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 8, "VolumeType": "gp3"}}])["ImageId"]
    disks.adopt(ami, tar, {"name": name, "rootfs": tar.name})
    return ec2.describe_images(ImageIds=[ami])["Images"][0]


def current_inputs(config, ec2) -> dict[str, str]:
    """The inputs a bake would use now (base image, recipe, published app digest), under the tag
    names baked AMIs carry."""
    digest = registry.digest(config.app.repository, config.app.tag)
    if digest is None:
        raise UserError(f"app image {config.app.repository}:{config.app.tag} is not in the local registry "
                        f"{registry.ADDRESS}", hint="publish it: invoke deploy (it builds and pushes the app image)")
    return {amis.TAG_SOURCE_AMI: base_image(ec2)["ImageId"], amis.TAG_RECIPE_HASH: recipe.recipe_hash(),
            amis.TAG_APP_DIGEST: digest}


def bake(config, *, target: Target, if_changed: bool = False, say=print) -> str | None:
    """Bake an AMI in the local region; return its id (also written to /<project>/ami/candidate).

    With `if_changed`, only when an input differs from the newest baked AMI's tags.
    """
    found = packer.version()
    ec2, ssm = target.client("ec2"), target.client("ssm")
    inputs = current_inputs(config, ec2)
    if if_changed and not changed(ec2, config.project.name, inputs, say):
        return None
    repository = f"{registry.ADDRESS}/{config.app.repository}"
    tracked, pinned = f"{repository}:{config.app.tag}", f"{repository}@{inputs[amis.TAG_APP_DIGEST]}"
    build_time, stamp = build_stamp()
    revision, dirty = recipe.git_revision()
    tags = amis.baked_tags(project=config.project.name, source_ami=inputs[amis.TAG_SOURCE_AMI], source_ami_name="",
                           recipe_hash=recipe.recipe_hash(), app_digest=inputs[amis.TAG_APP_DIGEST],
                           git_revision=revision + ("-dirty" if dirty else ""), build_time=build_time)
    for key in (amis.TAG_SOURCE_AMI, amis.TAG_SOURCE_AMI_NAME):
        tags.pop(key)  # Packer writes them from the image it launched
    name = f"{config.project.name}-local-{stamp}"
    region = templates.LocalRegion(endpoint=target.endpoint, source_ami=inputs[amis.TAG_SOURCE_AMI],
                                   ssh_username=local_host.BOOTSTRAP_USER)
    template = templates.render_aws(config=config, tags=tags, ami_name=name, legacy=not packer.is_modern(found),
                                    recipe_env=recipe.recipe_env(tracked, pinned, registry.ADDRESS), region=region)
    say(f"bake --local: amazon-ebs in the local region {target.endpoint}, source {region.source_ami}, "
        f"app {inputs[amis.TAG_APP_DIGEST]}, template {template}")
    credentials = moto.CREDENTIALS
    packer.build(template, template.parent / "packer-build.log",
                 {"AWS_ACCESS_KEY_ID": credentials["aws_access_key_id"],
                  "AWS_SECRET_ACCESS_KEY": credentials["aws_secret_access_key"]})
    ami = ami_ids(template.parent / "manifest.json")[config.aws.region]
    parameter = amis.write_channel(ssm, config.project.name, "candidate", ami)
    say(f"bake --local: {ami} ({name}) disk {disks.require(ami)}; written to {parameter}")
    return ami
