"""Checks `invoke bake` makes on AWS before anything is created; each failure is one clear line.

Order: region, credentials (sts get-caller-identity), release tree, source AMI, KMS key, app
image in ECR. Nothing here creates or changes a resource.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound

from ..errors import UserError
from ..paths import REPO
from . import amis, recipe


@dataclass
class Checked:
    session: boto3.Session
    account: str
    source_ami: dict
    git_revision: str
    dirty: bool
    app_digest: str
    app_image: str           # registry/repository:tag the hosts track
    app_pinned: str          # registry/repository@sha256:... pre-pulled into the AMI


def known_region(region: str) -> bool:
    session = boto3.session.Session()
    return any(region in session.get_available_regions("ec2", partition_name=partition)
               for partition in session.get_available_partitions())


def open_session(region: str, profile: str = "") -> tuple[boto3.Session, str]:
    """A boto3 session for the region, with credentials proven by sts get-caller-identity."""
    if not known_region(region):
        raise UserError(f"unknown AWS region {region!r}", hint="set [aws] region, e.g. eu-west-1 or us-east-1")
    try:
        session = boto3.Session(profile_name=profile or None, region_name=region)
    except ProfileNotFound:
        raise UserError(f"AWS profile {profile!r} not found", hint="check [aws] profile or ~/.aws/config") from None
    if session.get_credentials() is None:
        raise UserError("no AWS credentials found",
                        hint="set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or [aws] profile")
    try:
        identity = session.client("sts").get_caller_identity()
    except NoCredentialsError:
        raise UserError("no AWS credentials found", hint="set AWS_PROFILE or [aws] profile") from None
    except ClientError as exc:
        error = exc.response["Error"]
        raise UserError(f"AWS rejected the credentials: {error['Code']}: {error.get('Message', '')}",
                        hint="refresh them (aws sso login, new keys)") from None
    except BotoCoreError as exc:
        raise UserError(f"cannot reach AWS STS in {region}: {exc}") from None
    return session, identity["Account"]


def check_kms_key(session: boto3.Session, key_id: str) -> None:
    region = session.region_name
    if key_id.startswith("arn:"):
        key_region = key_id.split(":")[3]
        if key_region != region:
            raise UserError(f"KMS key {key_id} is in {key_region}, but the bake runs in {region}",
                            hint=f"use a key in {region} ([image] kms_key_id)")
    try:
        meta = session.client("kms").describe_key(KeyId=key_id)["KeyMetadata"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("NotFoundException", "InvalidArnException"):
            raise UserError(f"KMS key {key_id} not found in {region}",
                            hint=f"[image] kms_key_id must name a key in {region} (it may be in another region)") from None
        raise
    if meta.get("KeyState") != "Enabled":
        raise UserError(f"KMS key {key_id} in {region} is {meta.get('KeyState')}, not Enabled")


def check_release_tree(release: bool, repo: Path = REPO) -> tuple[str, bool]:
    revision, dirty = recipe.git_revision(repo)
    if release and dirty:
        raise UserError(f"refusing a --release bake from a dirty git tree ({repo})",
                        hint="commit or stash the changes, or bake without --release")
    return revision, dirty


def app_image(session: boto3.Session, account: str, repository: str, tag: str) -> tuple[str, str, str]:
    """(tracked ref, digest, digest-pinned ref) of the app image in this account's ECR."""
    registry = f"{account}.dkr.ecr.{session.region_name}.amazonaws.com"
    try:
        found = session.client("ecr").describe_images(repositoryName=repository,
                                                      imageIds=[{"imageTag": tag}])["imageDetails"]
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code in ("RepositoryNotFoundException", "ImageNotFoundException"):
            raise UserError(f"app image {repository}:{tag} not found in ECR ({registry})",
                            hint="build and push it first: invoke deploy (it creates the repository and pushes the app image)") from None
        raise
    digest = found[0]["imageDigest"]
    return f"{registry}/{repository}:{tag}", digest, f"{registry}/{repository}@{digest}"


def check(config, *, release: bool, repo: Path = REPO, session: boto3.Session | None = None,
          account: str = "") -> Checked:
    """Every input of an AWS bake, verified; raises the first problem as a UserError.
    ``session``/``account``: an already verified session (the target's), else one is opened."""
    if session is None:
        session, account = open_session(config.aws.region, config.aws.profile)
    revision, dirty = check_release_tree(release, repo)
    image = config.image
    if image.kms_key_id and image.ami_regions:
        raise UserError("a customer KMS key ([image] kms_key_id) cannot be combined with ami_regions",
                        hint="KMS keys are regional: leave kms_key_id empty (AWS-managed key) or ami_regions empty")
    source = amis.resolve_source_ami(session.client("ec2"), image.ubuntu_release, image.architecture)
    if image.kms_key_id:
        check_kms_key(session, image.kms_key_id)
    tracked, digest, pinned = app_image(session, account, config.app.repository, config.app.tag)
    return Checked(session=session, account=account, source_ami=source, git_revision=revision, dirty=dirty,
                   app_digest=digest, app_image=tracked, app_pinned=pinned)
