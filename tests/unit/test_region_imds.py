"""The local region's instance metadata service: IMDSv2 tokens and the answers EC2 gives, for a
moto instance (in-process moto; the server on loopback stands in for the link-local address)."""

import json
import urllib.error
import urllib.request

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends

from inferctl.region import imds

REGION = "eu-west-1"
USER_DATA = "#cloud-config\nwrite_files: []\n"


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with mock_aws():
        ec2, iam = boto3.client("ec2", region_name=REGION), boto3.client("iam", region_name=REGION)
        iam.create_role(RoleName="inference-host", AssumeRolePolicyDocument="{}")
        iam.create_instance_profile(InstanceProfileName="inference-host")
        iam.add_role_to_instance_profile(InstanceProfileName="inference-host", RoleName="inference-host")
        image = ec2.register_image(Name="host", RootDeviceName="/dev/sda1", Architecture="x86_64",
                                   VirtualizationType="hvm")["ImageId"]
        [started] = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, UserData=USER_DATA,
                                      InstanceType="t3.small",
                                      IamInstanceProfile={"Name": "inference-host"})["Instances"]
        backend = ec2_backends[DEFAULT_ACCOUNT_ID][REGION]
        instance = backend.get_instance(started["InstanceId"])
        # The asking instance is known by its source address: here, loopback.
        monkeypatch.setattr(imds, "find_instance", lambda address: (
            (DEFAULT_ACCOUNT_ID, REGION, backend, instance) if address == "127.0.0.1" else None))
        metadata = imds.MetadataServer("127.0.0.1")
        metadata.serve_in_background()
        try:
            yield f"http://127.0.0.1:{metadata.port}", instance
        finally:
            metadata.shutdown()
            metadata.server_close()


def call(url, method="GET", headers=None):
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_imdsv2_token_is_required_and_answers_as_ec2(server):
    base, instance = server
    assert call(f"{base}/latest/meta-data/instance-id")[0] == 401
    assert call(f"{base}/latest/api/token", "PUT")[0] == 400  # no TTL
    assert call(f"{base}/latest/api/token", "PUT", {imds.TTL_HEADER: "99999"})[0] == 400
    status, token = call(f"{base}/latest/api/token", "PUT", {imds.TTL_HEADER: "60"})
    assert status == 200 and token
    auth = {imds.TOKEN_HEADER: token}
    assert call(f"{base}/latest/meta-data/instance-id", headers={imds.TOKEN_HEADER: "forged"})[0] == 401
    answers = {path: call(f"{base}/latest/meta-data/{path}", headers=auth) for path in
               ("instance-id", "instance-type", "ami-id", "local-ipv4", "hostname", "placement/region",
                "placement/availability-zone", "iam/security-credentials/")}
    assert all(status == 200 for status, _ in answers.values()), answers
    assert answers["instance-id"][1] == instance.id and answers["instance-type"][1] == "t3.small"
    assert answers["local-ipv4"][1] == instance.private_ip and answers["placement/region"][1] == REGION
    assert answers["placement/availability-zone"][1].startswith(REGION)
    assert answers["iam/security-credentials/"][1] == "inference-host"
    status, body = call(f"{base}/latest/meta-data/iam/security-credentials/inference-host", headers=auth)
    creds = json.loads(body)
    assert status == 200 and creds["Code"] == "Success" and {"AccessKeyId", "SecretAccessKey", "Token",
                                                             "Expiration"} <= set(creds)
    status, body = call(f"{base}/latest/dynamic/instance-identity/document", headers=auth)
    assert status == 200 and json.loads(body)["instanceId"] == instance.id and json.loads(body)["region"] == REGION
    assert call(f"{base}/latest/user-data", headers=auth) == (200, USER_DATA)
    assert call(f"{base}/latest/meta-data/nothing-here", headers=auth)[0] == 404
    assert call(f"{base}/latest/meta-data/iam/security-credentials/other-role", headers=auth)[0] == 404


def test_an_auto_scaling_instance_gets_the_role_of_its_launch_templates_profile(server):
    """moto associates no profile with a group's instances: the launch template names it."""
    ec2, autoscaling = boto3.client("ec2", region_name=REGION), boto3.client("autoscaling", region_name=REGION)
    image = ec2.describe_images(Owners=["self"])["Images"][0]["ImageId"]
    template = ec2.create_launch_template(LaunchTemplateName="fleet", LaunchTemplateData={
        "ImageId": image, "InstanceType": "t3.small", "IamInstanceProfile": {"Name": "inference-host"}})
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="fleet", MinSize=1, MaxSize=1, VPCZoneIdentifier=subnet,
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplate"]["LaunchTemplateId"]})
    [member] = autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"][0]["Instances"]
    backend = ec2_backends[DEFAULT_ACCOUNT_ID][REGION]
    instance = backend.get_instance(member["InstanceId"])
    assert imds.role_name(DEFAULT_ACCOUNT_ID, backend, instance) == "inference-host"
