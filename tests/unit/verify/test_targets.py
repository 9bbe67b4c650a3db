"""Target resolution: URLs, local hosts, instance ids, tags and DNS names (EC2 in moto)."""

import boto3
import pytest
from moto import mock_aws

from inferctl.config import Compute, Config, Dns, Project
from inferctl.errors import UserError
from inferctl.local.host import LocalHost
from inferctl.verify import targets

REGION = "eu-west-1"


@pytest.fixture(autouse=True)
def no_local_hosts(monkeypatch):
    monkeypatch.setattr(LocalHost, "names", classmethod(lambda cls: []))


@pytest.fixture
def ec2(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # seconds per test otherwise
    with mock_aws():
        yield boto3.client("ec2", region_name=REGION)


def _autoscaling():
    """Given, like ec2: a client left out would be opened on the config's target (the local region)."""
    return boto3.client("autoscaling", region_name=REGION)


def _image(ec2) -> str:
    return ec2.register_image(Name="host", Architecture="x86_64", RootDeviceName="/dev/sda1",
                              VirtualizationType="hvm")["ImageId"]


def _launch(ec2, tags: dict[str, str], count=1) -> list[dict]:
    spec = [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
    return ec2.run_instances(ImageId=_image(ec2), MinCount=count, MaxCount=count,
                             TagSpecifications=spec)["Instances"]


def test_instance_id_gives_its_address_and_an_ssm_spec_target(ec2):
    [inst] = _launch(ec2, {"Project": "inference"})
    plan = targets.resolve(inst["InstanceId"], Config(), ec2=ec2)
    described = ec2.describe_instances(InstanceIds=[inst["InstanceId"]])["Reservations"][0]["Instances"][0]
    address = described.get("PublicIpAddress") or described["PrivateIpAddress"]
    url = f"ssm://{inst['InstanceId']}?region={REGION}"
    assert plan.endpoints == [targets.Endpoint(f"http://{address}", host=url)]
    assert plan.hosts == [url]


def test_unknown_instance_id_is_a_clear_error(ec2):
    with pytest.raises(UserError, match=f"instance i-0123456789abcdef0 not found in {REGION}"):
        targets.resolve("i-0123456789abcdef0", Config(), ec2=ec2)


def test_stopped_instance_is_refused(ec2):
    [inst] = _launch(ec2, {"Project": "inference"})
    ec2.stop_instances(InstanceIds=[inst["InstanceId"]])
    with pytest.raises(UserError, match="is stopped, not running"):
        targets.resolve(inst["InstanceId"], Config(), ec2=ec2)


def test_tag_filter_gives_every_running_instance_of_a_fleet(ec2):
    fleet = _launch(ec2, {"Project": "inference", "Role": "fleet"}, count=3)
    _launch(ec2, {"Project": "other"})
    plan = targets.resolve("tag=Role:fleet", Config(), ec2=ec2)
    assert sorted(plan.hosts) == sorted(f"ssm://{i['InstanceId']}?region={REGION}" for i in fleet)
    assert len(plan.endpoints) == 3


def test_tag_filter_without_match(ec2):
    with pytest.raises(UserError, match="no running instance in eu-west-1 has tag Role=nope"):
        targets.resolve("tag=Role:nope", Config(), ec2=ec2)


def test_dns_name_in_the_domain_is_https_with_every_project_instance(ec2):
    fleet = _launch(ec2, {"Project": "inference"}, count=2)
    _launch(ec2, {"Project": "other"})
    config = Config(dns=Dns(domain="example.com"))
    plan = targets.resolve("infer.example.com", config, ec2=ec2, autoscaling=_autoscaling())
    assert plan.endpoints == [targets.Endpoint("https://infer.example.com", "infer.example.com", plan.hosts[0])]
    assert sorted(plan.hosts) == sorted(f"ssm://{i['InstanceId']}?region={REGION}" for i in fleet)


def test_dns_name_of_a_fleet_covers_the_auto_scaling_group(ec2):
    """Fleet instances carry no Project tag (provider default tags do not reach ASG launches)."""
    template = ec2.create_launch_template(LaunchTemplateName="inference", LaunchTemplateData={
        "ImageId": _image(ec2), "InstanceType": "t3.small"})["LaunchTemplate"]["LaunchTemplateId"]
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    autoscaling = boto3.client("autoscaling", region_name=REGION)
    autoscaling.create_auto_scaling_group(AutoScalingGroupName="inference", MinSize=2, MaxSize=2,
                                          LaunchTemplate={"LaunchTemplateId": template}, VPCZoneIdentifier=subnet)
    members = [i["InstanceId"] for i in autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"][0]["Instances"]]
    config = Config(dns=Dns(domain="example.com"), compute=Compute(mode="fleet"))
    plan = targets.resolve("infer.example.com", config, ec2=ec2, autoscaling=autoscaling)
    assert sorted(plan.hosts) == sorted(f"ssm://{i}?region={REGION}" for i in members) and len(members) == 2
    assert [e.url for e in plan.endpoints] == ["https://infer.example.com"]


def test_single_service_instance_with_a_domain_is_checked_at_its_name(ec2):
    [service] = _launch(ec2, {"Project": "inference"})
    [canary] = _launch(ec2, {"Project": "inference-canary"})
    config = Config(dns=Dns(domain="example.com"))
    plan = targets.resolve(service["InstanceId"], config, ec2=ec2)
    assert [(e.url, e.tls_host) for e in plan.endpoints] == [("https://infer.example.com", "infer.example.com")]
    plan = targets.resolve(canary["InstanceId"], config, ec2=ec2)
    assert plan.endpoints[0].url.startswith("http://") and plan.endpoints[0].tls_host is None


def test_dns_name_outside_the_domain_is_plain_http(ec2):
    plan = targets.resolve("inference-alb-123.eu-west-1.elb.amazonaws.com", Config(), ec2=ec2,
                           autoscaling=_autoscaling())
    assert plan.endpoints == [targets.Endpoint("http://inference-alb-123.eu-west-1.elb.amazonaws.com")]
    assert plan.hosts == []


def test_urls_keep_scheme_and_port_and_tls_follows_https():
    plan = targets.resolve("https://infer.example.com:8443/some/path", Config())
    assert plan.endpoints == [targets.Endpoint("https://infer.example.com:8443", "infer.example.com")]
    plan = targets.resolve("http://127.0.0.1:8080", Config())
    assert plan.endpoints == [targets.Endpoint("http://127.0.0.1:8080")] and plan.hosts == []


def test_url_of_a_local_host_also_runs_its_spec(monkeypatch):
    monkeypatch.setattr(LocalHost, "names", classmethod(lambda cls: ["demo"]))
    monkeypatch.setattr(LocalHost, "load", classmethod(
        lambda cls, name: LocalHost(name=name, root="/x", source="/y", address="10.99.0.2")))
    plan = targets.resolve("http://10.99.0.2", Config())
    assert plan.hosts == ["nspawn://demo"]
    plan = targets.resolve("nspawn://demo", Config())
    assert plan.endpoints == [targets.Endpoint("http://10.99.0.2", host="nspawn://demo")]
    assert plan.hosts == ["nspawn://demo"]


@pytest.mark.parametrize("bad, message", [
    ("", "empty --host"),
    ("i-xyz", "not a valid EC2 instance id"),
    ("nspawn://ghost", "no local host named 'ghost'"),
    ("not a host", "cannot tell what"),
    ("http://", "has no host name"),
])
def test_bad_targets(bad, message):
    with pytest.raises(UserError, match=message):
        targets.resolve(bad, Config())


def test_no_credentials_is_a_clear_error(monkeypatch):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(UserError, match="no AWS credentials"):
        targets.resolve("i-0123456789abcdef0", Config(project=Project(target="aws")))
