"""deploy's first-day checks against in-process moto, before anything is created: an instance
type that cannot run the AMI's architecture, a state bucket that is not there, an AMI baked but
not promoted."""

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends
from moto.ec2.models.amis import Ami

from inferctl import config as configuration
from inferctl import deploy
from inferctl.bake import amis
from inferctl.errors import UserError
from inferctl.target import Target

REGION = "eu-west-1"


@pytest.fixture
def target(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with mock_aws():
        yield Target("aws", REGION, boto3.Session(region_name=REGION), account="123456789012")


def _image(target, architecture):
    """An AMI of that architecture (moto's RegisterImage ignores the architecture it is given)."""
    backend = ec2_backends[DEFAULT_ACCOUNT_ID][REGION]
    ami_id = f"ami-{len(backend.amis):017x}"
    backend.amis[ami_id] = Ami(backend, ami_id, name=f"baked-{architecture}", architecture=architecture,
                               virtualization_type="hvm", root_device_type="ebs", region_name=f"{REGION}a")
    return ami_id


@pytest.mark.parametrize("instance_type, architecture, problem", [
    ("t3.small", "x86_64", None),
    ("t4g.small", "arm64", None),
    ("t4g.small", "x86_64", "instance_type t4g.small runs arm64, but AMI ami-[0-9a-f]+ is x86_64"),
    ("t3.small", "arm64", "instance_type t3.small runs .*x86_64.*, but AMI ami-[0-9a-f]+ is arm64"),
])
def test_the_instance_type_must_run_the_amis_architecture(target, instance_type, architecture, problem):
    config = configuration.load(overrides={"compute": {"instance_type": instance_type}})
    ami = _image(target, architecture)
    if problem is None:
        assert deploy.resolve_ami(target, config, ami) == ami
    else:
        with pytest.raises(UserError, match=problem) as err:
            deploy.resolve_ami(target, config, ami)
        assert "[image] architecture" in err.value.hint


def test_an_unknown_instance_type_is_named(target):
    config = configuration.load(overrides={"compute": {"instance_type": "t9.small"}})
    with pytest.raises(UserError, match="instance_type t9.small does not exist in eu-west-1"):
        deploy.resolve_ami(target, config, _image(target, "x86_64"))


def test_a_candidate_that_is_not_promoted_is_named_with_the_way_forward(target):
    config = configuration.Config()
    with pytest.raises(UserError, match="no AMI to deploy") as err:
        deploy.resolve_ami(target, config, None)
    assert "bake one first" in err.value.hint
    candidate = _image(target, "x86_64")
    amis.write_channel(target.client("ssm"), "inference", "candidate", candidate)
    with pytest.raises(UserError, match="no AMI to deploy") as err:
        deploy.resolve_ami(target, config, None)
    assert f"candidate {candidate} is not promoted yet" in err.value.hint and "promote --verified" in err.value.hint


def test_the_state_bucket_must_exist(target):
    config = configuration.load(overrides={"aws": {"state_bucket": "my-tf-state"}})
    with pytest.raises(UserError, match=r"state bucket my-tf-state \(\[aws\] state_bucket\) does not exist") as err:
        deploy.check_state_bucket(target, config)
    assert "aws s3 mb s3://my-tf-state" in err.value.hint
    target.client("s3").create_bucket(Bucket="my-tf-state",
                                      CreateBucketConfiguration={"LocationConstraint": REGION})
    deploy.check_state_bucket(target, config)
