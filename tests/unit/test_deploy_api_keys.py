"""deploy's API keys parameter on AWS: created once with one random key, never overwritten."""

import boto3
import pytest
from moto import mock_aws

from inferctl import deploy
from inferctl import config as configuration
from inferctl.target import Target


@pytest.fixture
def ssm(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("ssm", region_name="eu-west-1")


def _target(name, ssm):
    class Session:
        def client(self, service, **endpoint):
            return ssm
    return Target(name, "eu-west-1", Session())


def test_creates_the_parameter_once_with_one_random_key(ssm, capsys):
    config = configuration.Config()
    deploy.ensure_api_keys(_target("aws", ssm), config)
    parameter = ssm.get_parameter(Name="/inference/api-keys", WithDecryption=True)["Parameter"]
    key = parameter["Value"]
    assert parameter["Type"] == "SecureString" and len(key) >= 40 and "\n" not in key
    out = capsys.readouterr().out
    assert "created the SSM parameter /inference/api-keys" in out and key not in out
    # never overwritten: a second deploy (or an operator's keys) keeps the value
    ssm.put_parameter(Name="/inference/api-keys", Value="operator-key-0123456789", Type="SecureString",
                      Overwrite=True)
    deploy.ensure_api_keys(_target("aws", ssm), config)
    assert ssm.get_parameter(Name="/inference/api-keys", WithDecryption=True)["Parameter"]["Value"] \
        == "operator-key-0123456789"
    assert capsys.readouterr().out == ""


def test_the_local_region_gets_the_same_parameter(ssm):
    """One code path: the region's hosts fetch it through their metadata service too."""
    deploy.ensure_api_keys(_target("local", ssm), configuration.Config())
    assert [p["Name"] for p in ssm.describe_parameters()["Parameters"]] == ["/inference/api-keys"]
