"""Seeding in-process moto with what the bake tests need and moto lacks."""

from __future__ import annotations

import datetime as dt
import hashlib

from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends
from moto.ec2.models.amis import Ami

from inferctl.bake import amis

REGION = "eu-west-1"


def seed_canonical(region: str, name: str, created: str, architecture: str = "x86_64") -> str:
    """Add a Canonical-owned image to moto (moto ships no Ubuntu 24.04 and register_image
    can only create images owned by the caller)."""
    backend = ec2_backends[DEFAULT_ACCOUNT_ID][region]
    ami_id = "ami-" + hashlib.sha256(f"{region}|{name}".encode()).hexdigest()[:17]
    backend.amis[ami_id] = Ami(backend, ami_id, name=name, owner_id=amis.CANONICAL_OWNER,
                               architecture=architecture, virtualization_type="hvm",
                               root_device_type="ebs", region_name=f"{region}a",
                               creation_date=dt.datetime.fromisoformat(created))
    return ami_id


def register_baked(ec2, name: str, build_time: str, **tags) -> dict:
    """Register an AMI as a bake would (moto adds a snapshot behind it); returns its description."""
    ami = ec2.register_image(Name=name, Architecture="x86_64", RootDeviceName="/dev/sda1",
                             VirtualizationType="hvm")["ImageId"]
    amis.tag_image(ec2, ami, {"Project": "inference", "BakedBy": "inferctl", "BuildTime": build_time, **tags})
    return ec2.describe_images(ImageIds=[ami])["Images"][0]


def seed_app_image(session, repository: str = "inference", tag: str = "stable") -> str:
    """Push a (manifest-only) app image to moto's ECR; returns its digest."""
    ecr = session.client("ecr")
    ecr.create_repository(repositoryName=repository)
    return ecr.put_image(repositoryName=repository, imageTag=tag,
                         imageManifest='{"schemaVersion": 2, "config": {"digest": "sha256:11"}, "layers": []}',
                         imageManifestMediaType="application/vnd.docker.distribution.manifest.v2+json",
                         )["image"]["imageId"]["imageDigest"]
