"""In-process moto for the bake bookkeeping tests, with the AMIs moto lacks seeded."""

from __future__ import annotations

import datetime as dt

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends
from moto.ec2.models.amis import Ami

from inferctl.bake import amis

REGION = "eu-west-1"


@pytest.fixture
def aws(monkeypatch):
    """boto3 clients on in-process moto. No default AMIs and no AWS-managed IAM policies:
    loading them costs seconds per test, and these tests seed what they need."""
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION, "MOTO_IAM_LOAD_MANAGED_POLICIES": "false",
                       "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        yield session


def seed_canonical(region: str, name: str, created: str, architecture: str = "x86_64") -> str:
    """Add a Canonical-owned image to moto (moto ships no Ubuntu 24.04 and register_image
    can only create images owned by the caller)."""
    backend = ec2_backends[DEFAULT_ACCOUNT_ID][region]
    ami_id = f"ami-{abs(hash((region, name))) % 16**17:017x}"
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
