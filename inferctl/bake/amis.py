"""AMI bookkeeping with boto3: source AMI, the project's baked AMIs, rebake decisions,
channel parameters (promotion) and pruning.

Every function takes its boto3 clients as arguments, so the same code runs against AWS, the
local moto server and in-process moto in tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from ..errors import UserError

CANONICAL_OWNER = "099720109477"
DEBIAN_ARCH = {"x86_64": "amd64", "arm64": "arm64"}

# Tags every baked AMI (and its snapshots) carries; the rebake decision compares the first three.
TAG_SOURCE_AMI = "SourceAMI"
TAG_SOURCE_AMI_NAME = "SourceAMIName"
TAG_RECIPE_HASH = "RecipeHash"
TAG_APP_DIGEST = "AppDigest"
TAG_GIT_REVISION = "GitRevision"
TAG_BUILD_TIME = "BuildTime"
TAG_PROJECT = "Project"
TAG_BAKED_BY = "BakedBy"
BAKED_BY = "inferctl"
INPUT_TAGS = (TAG_SOURCE_AMI, TAG_RECIPE_HASH, TAG_APP_DIGEST)

CHANNELS = ("candidate", "latest")
IN_USE_STATES = ["pending", "running", "shutting-down", "stopping", "stopped"]


def ubuntu_filters(release: str, architecture: str) -> dict[str, str]:
    """describe_images filters for Canonical's Ubuntu server images (hvm-ssd and hvm-ssd-gp3)."""
    return {
        "name": f"ubuntu/images/*/ubuntu-*-{release}-{DEBIAN_ARCH[architecture]}-server-*",
        "architecture": architecture,
        "virtualization-type": "hvm",
        "root-device-type": "ebs",
        "state": "available",
    }


def resolve_source_ami(ec2, release: str, architecture: str) -> dict:
    """The newest Canonical Ubuntu image for the release and architecture (by CreationDate)."""
    filters = ubuntu_filters(release, architecture)
    images = ec2.describe_images(Owners=[CANONICAL_OWNER],
                                 Filters=[{"Name": k, "Values": [v]} for k, v in filters.items()])["Images"]
    if not images:
        region = ec2.meta.region_name
        raise UserError(f"no Canonical Ubuntu {release} {architecture} AMI in {region} matches "
                        f"name {filters['name']!r}",
                        hint="check [image] ubuntu_release/architecture and [aws] region")
    return max(images, key=lambda image: image["CreationDate"])


def tags_of(image: dict) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in image.get("Tags", [])}


def baked_tags(*, project: str, source_ami: str, source_ami_name: str, recipe_hash: str,
               app_digest: str, git_revision: str, build_time: str) -> dict[str, str]:
    """The tags of a baked AMI, in the order they are written."""
    return {
        TAG_PROJECT: project,
        TAG_BAKED_BY: BAKED_BY,
        TAG_SOURCE_AMI: source_ami,
        TAG_SOURCE_AMI_NAME: source_ami_name,
        TAG_RECIPE_HASH: recipe_hash,
        TAG_APP_DIGEST: app_digest,
        TAG_GIT_REVISION: git_revision,
        TAG_BUILD_TIME: build_time,
    }


def snapshots_of(image: dict) -> list[str]:
    return [m["Ebs"]["SnapshotId"] for m in image.get("BlockDeviceMappings", []) if m.get("Ebs", {}).get("SnapshotId")]


def tag_image(ec2, ami_id: str, tags: dict[str, str]) -> None:
    """Tag an AMI and its snapshots alike (create_tags: moto ignores register_image's TagSpecifications)."""
    image = ec2.describe_images(ImageIds=[ami_id])["Images"][0]
    ec2.create_tags(Resources=[ami_id, *snapshots_of(image)], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])


def _age(image: dict) -> tuple[str, str]:
    # CreationDate has one-second resolution; our BuildTime tag breaks ties.
    return image["CreationDate"], tags_of(image).get(TAG_BUILD_TIME, "")


def baked_amis(ec2, project: str) -> list[dict]:
    """This project's baked AMIs in the account and region, newest first."""
    images = ec2.describe_images(Owners=["self"], Filters=[
        {"Name": f"tag:{TAG_PROJECT}", "Values": [project]},
        {"Name": f"tag:{TAG_BAKED_BY}", "Values": [BAKED_BY]},
    ])["Images"]
    return sorted(images, key=_age, reverse=True)


def rebake_reasons(ec2, project: str, wanted: dict[str, str], reference: str | None = None) -> list[str]:
    """Why a rebake is needed (empty list = nothing changed).

    `wanted` holds the current inputs under the tag names of INPUT_TAGS. They are compared with
    the `reference` AMI when it is one of the project's baked AMIs (the promoted one: what
    serves), else with the newest baked AMI, so a bake that never got promoted (its canary or
    the service's verification failed) does not make the next night skip.
    """
    amis = baked_amis(ec2, project)
    if not amis:
        return ["no baked AMI yet"]
    promoted = next((image for image in amis if image["ImageId"] == reference), None)
    against = promoted or amis[0]
    label = f"{'promoted' if promoted else 'newest'} AMI {against['ImageId']}"
    have = tags_of(against)
    return [f"{key} changed: {have.get(key, '(none)')} -> {wanted[key]} ({label})"
            for key in INPUT_TAGS if have.get(key) != wanted[key]]


def parameter_name(project: str, channel: str) -> str:
    if channel not in CHANNELS:
        raise UserError(f"unknown AMI channel {channel!r}", hint=f"channels: {', '.join(CHANNELS)}")
    return f"/{project}/ami/{channel}"


def read_channel(ssm, project: str, channel: str) -> str | None:
    try:
        return ssm.get_parameter(Name=parameter_name(project, channel))["Parameter"]["Value"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ParameterNotFound":
            return None
        raise


def write_channel(ssm, project: str, channel: str, ami_id: str) -> str:
    name = parameter_name(project, channel)
    ssm.put_parameter(Name=name, Value=ami_id, Type="String", DataType="aws:ec2:image", Overwrite=True,
                      Description=f"{project}: {channel} baked AMI (written by inferctl)")
    return name


def promote(ec2, ssm, project: str, *, verified: bool, ami_id: str | None = None) -> str:
    """Point the `latest` channel at the candidate (or the given AMI), only after verification."""
    if not verified:
        raise UserError("refusing to promote an AMI that has not passed verification",
                        hint="run `invoke verify` against a host on the candidate, then promote with --verified")
    ami_id = ami_id or read_channel(ssm, project, "candidate")
    if not ami_id:
        raise UserError(f"no candidate AMI ({parameter_name(project, 'candidate')} is not set)",
                        hint="bake one first: invoke bake")
    if ami_id not in {image["ImageId"] for image in baked_amis(ec2, project)}:
        raise UserError(f"{ami_id} is not an AMI baked for project {project!r} in this region")
    write_channel(ssm, project, "latest", ami_id)
    return ami_id


@dataclass
class PrunePlan:
    keep: list[str] = field(default_factory=list)
    protected: dict[str, str] = field(default_factory=dict)   # AMI id -> why it stays
    delete: dict[str, list[str]] = field(default_factory=dict)  # AMI id -> its snapshot ids

    def lines(self) -> list[str]:
        out = [f"keep     {ami} (newest)" for ami in self.keep]
        out += [f"keep     {ami} ({why})" for ami, why in self.protected.items()]
        out += [f"delete   {ami} + snapshots {', '.join(snaps) or '(none)'}" for ami, snaps in self.delete.items()]
        return out


def amis_in_use(ec2, ssm, project: str) -> dict[str, str]:
    """AMI ids referenced by an instance (not terminated), any launch template version, or a channel."""
    used: dict[str, str] = {}
    for page in ec2.get_paginator("describe_instances").paginate(
            Filters=[{"Name": "instance-state-name", "Values": IN_USE_STATES}]):
        for reservation in page["Reservations"]:
            for instance in reservation["Instances"]:
                used.setdefault(instance["ImageId"], f"used by instance {instance['InstanceId']}")
    for page in ec2.get_paginator("describe_launch_templates").paginate():
        for template in page["LaunchTemplates"]:
            # No Versions argument = every version, not only $Default/$Latest.
            for version in _launch_template_versions(ec2, template["LaunchTemplateId"]):
                image = version.get("LaunchTemplateData", {}).get("ImageId")
                if image:
                    used.setdefault(image, f"in launch template {template['LaunchTemplateName']} "
                                           f"version {version['VersionNumber']}")
    for channel in CHANNELS:
        image = read_channel(ssm, project, channel)
        if image:
            used.setdefault(image, f"channel parameter {parameter_name(project, channel)}")
    return used


def _launch_template_versions(ec2, template_id: str) -> list[dict]:
    versions, token = [], None
    while True:
        page = ec2.describe_launch_template_versions(LaunchTemplateId=template_id,
                                                     **({"NextToken": token} if token else {}))
        versions += page["LaunchTemplateVersions"]
        token = page.get("NextToken")
        if not token:
            return versions


def prune_plan(ec2, ssm, project: str, keep: int) -> PrunePlan:
    plan = PrunePlan()
    used = amis_in_use(ec2, ssm, project)
    for index, image in enumerate(baked_amis(ec2, project)):
        ami = image["ImageId"]
        if index < keep:
            plan.keep.append(ami)
        elif ami in used:
            plan.protected[ami] = used[ami]
        else:
            plan.delete[ami] = snapshots_of(image)
    return plan


def prune(ec2, ssm, project: str, keep: int, *, apply: bool = False,
          say: Callable[[str], None] = print) -> PrunePlan:
    """Keep the newest `keep` AMIs and every AMI in use; deregister the rest AND delete their snapshots.

    Dry-run unless `apply`: prints what would go.
    """
    plan = prune_plan(ec2, ssm, project, keep)
    for line in plan.lines():
        say(line)
    if not plan.delete:
        say("prune: nothing to delete")
    elif not apply:
        say(f"prune: dry run, {len(plan.delete)} AMI(s) would be deleted; run again with --apply")
    else:
        for ami, snapshots in plan.delete.items():
            ec2.deregister_image(ImageId=ami)
            for snapshot in snapshots:
                ec2.delete_snapshot(SnapshotId=snapshot)
            say(f"prune: deleted {ami} and {len(snapshots)} snapshot(s)")
    return plan
