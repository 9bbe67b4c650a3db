"""The Packer source on the local region: the same amazon-ebs template and builder, pointed at the
region's EC2 endpoint; only the source image, the app registry and the login differ.

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
from . import amis, preflight, recipe, templates
from .front import Source

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


def source(config, target, *, release: bool = False) -> Source:
    """The base image, the app image published in the region's registry, the release tree."""
    revision, dirty = preflight.check_release_tree(release)
    digest = registry.digest(config.app.repository, config.app.tag)
    if digest is None:
        raise UserError(f"app image {config.app.repository}:{config.app.tag} is not in the local registry "
                        f"{registry.ADDRESS}", hint="publish it: invoke deploy (it builds and pushes the app image)")
    base = base_image(target.client("ec2"))
    repository = f"{registry.ADDRESS}/{config.app.repository}"
    return Source(
        inputs={amis.TAG_SOURCE_AMI: base["ImageId"], amis.TAG_RECIPE_HASH: recipe.recipe_hash(),
                amis.TAG_APP_DIGEST: digest},
        app_tracked=f"{repository}:{config.app.tag}", app_pinned=f"{repository}@{digest}",
        git_revision=revision + ("-dirty" if dirty else ""), ami_name=f"{config.project.name}-local",
        describe=f"the local region {target.endpoint}, source {base['ImageId']} ({base['Name']})",
        region=templates.LocalRegion(endpoint=target.endpoint, source_ami=base["ImageId"],
                                     ssh_username=local_host.BOOTSTRAP_USER),
        packer_env={"AWS_ACCESS_KEY_ID": moto.CREDENTIALS["aws_access_key_id"],
                    "AWS_SECRET_ACCESS_KEY": moto.CREDENTIALS["aws_secret_access_key"]},
        insecure_registry=registry.ADDRESS)
