"""The local region answers as AWS documents where moto differs (inferctl/region/fidelity.py)."""

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.ec2.responses.amis import AmisResponse
from moto.elbv2.models import ELBv2Backend

from inferctl.region import fidelity


@pytest.fixture
def elbv2(monkeypatch):
    """An in-process moto with the region's fixes (moto's own methods back after the test)."""
    monkeypatch.setattr(ELBv2Backend, "create_target_group", ELBv2Backend.create_target_group)
    monkeypatch.setattr(AmisResponse, "register_image", AmisResponse.register_image)
    fidelity.install()
    with mock_aws():
        vpc = boto3.client("ec2", region_name="eu-west-1").create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        yield boto3.client("elbv2", region_name="eu-west-1"), vpc


def test_creating_the_same_target_group_twice_returns_it(elbv2):
    client, vpc = elbv2
    settings = dict(Name="svc-tg", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance")
    first = client.create_target_group(**settings)["TargetGroups"][0]["TargetGroupArn"]
    again = client.create_target_group(**settings)["TargetGroups"][0]["TargetGroupArn"]
    assert again == first and len(client.describe_target_groups()["TargetGroups"]) == 1


def test_the_same_name_with_other_settings_is_still_a_duplicate(elbv2):
    client, vpc = elbv2
    client.create_target_group(Name="svc-tg", Protocol="HTTP", Port=80, VpcId=vpc)
    with pytest.raises(ClientError, match="DuplicateTargetGroupName"):
        client.create_target_group(Name="svc-tg", Protocol="HTTP", Port=8080, VpcId=vpc)
