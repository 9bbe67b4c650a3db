"""Fleet mode applied to moto: launch template, ASG, ALB + ACM, alias record; idempotent;
checked via boto3; destroyed. Tests run in order against one stack.

moto has no Auto Scaling instance refresh API (StartInstanceRefresh/DescribeInstanceRefreshes):
the refresh settings and what a new AMI does are checked in the plan JSON instead.
"""

import base64
import re

import pytest
from tfstack import (
    api_keys_parameter_arn,
    assert_host_role_reads_only_its_parameters,
    assert_role_pulls_only_its_repository,
    no_port_22,
    resources_of_type,
)

from inferctl import terraform as tf

INSTALLS = re.compile(r"apt-get|apt |yum |dnf |pip3? install|curl |wget |runcmd:|packages:")


@pytest.fixture(scope="module")
def stack(deployments):
    return deployments["fleet"].result()


def test_applied_outputs(stack):
    out = stack.outputs
    assert out["mode"] == "fleet" and out.get("instance_id") is None  # null outputs are left out
    assert out["url"] == "https://fleet.example.test"
    assert out["autoscaling_group_name"] == "tt-fleet" and out["alb_dns_name"]


def test_second_plan_is_empty(stack):
    assert not tf.plan(stack.ws).changes


def test_launch_template_imdsv2_encrypted_root_small_user_data(stack, seeded):
    ec2 = stack.client("ec2")
    (version,) = ec2.describe_launch_template_versions(
        LaunchTemplateId=stack.outputs["launch_template_id"], Versions=["$Latest"])["LaunchTemplateVersions"]
    data = version["LaunchTemplateData"]
    assert data["ImageId"] == seeded["amis"][0]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert int(data["MetadataOptions"]["HttpPutResponseHopLimit"]) == 1
    (root,) = data["BlockDeviceMappings"]
    assert root["DeviceName"] == "/dev/sda1"  # the AMI's own root device
    assert root["Ebs"]["Encrypted"] in (True, "true")
    assert root["Ebs"]["VolumeType"] == "gp3" and int(root["Ebs"]["VolumeSize"]) == 16
    user_data = base64.b64decode(data["UserData"]).decode()
    assert len(user_data.encode()) < 1024 and not INSTALLS.search(user_data)
    assert "DOMAIN=\n" in user_data  # the ALB terminates TLS: Caddy serves plain HTTP


def test_autoscaling_group_uses_elb_health_across_azs(stack):
    (group,) = stack.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=["tt-fleet"])["AutoScalingGroups"]
    assert group["HealthCheckType"] == "ELB"
    assert len(set(group["AvailabilityZones"])) == 2
    assert len(group["TargetGroupARNs"]) == 1
    assert group["MinSize"] == 1 and group["MaxSize"] == 2
    assert group["LaunchTemplate"]["LaunchTemplateId"] == stack.outputs["launch_template_id"]


def test_alb_redirects_http_and_serves_https(stack):
    elbv2 = stack.client("elbv2")
    (alb,) = elbv2.describe_load_balancers(Names=["tt-fleet"])["LoadBalancers"]
    listeners = {l["Port"]: l for l in elbv2.describe_listeners(LoadBalancerArn=alb["LoadBalancerArn"])["Listeners"]}
    assert set(listeners) == {80, 443}
    redirect = listeners[80]["DefaultActions"][0]
    assert redirect["Type"] == "redirect"
    assert redirect["RedirectConfig"]["Protocol"] == "HTTPS" and redirect["RedirectConfig"]["StatusCode"] == "HTTP_301"
    https = listeners[443]
    assert https["Protocol"] == "HTTPS" and https["SslPolicy"].startswith("ELBSecurityPolicy-TLS13")
    (cert,) = https["Certificates"]
    described = stack.client("acm").describe_certificate(CertificateArn=cert["CertificateArn"])["Certificate"]
    assert described["DomainName"] == "fleet.example.test" and described["Status"] == "ISSUED"


def test_instances_accept_traffic_only_from_the_alb(stack):
    ec2 = stack.client("ec2")
    (alb,) = stack.client("elbv2").describe_load_balancers(Names=["tt-fleet"])["LoadBalancers"]
    (alb_sg,) = alb["SecurityGroups"]
    (instance_sg,) = ec2.describe_security_groups(GroupIds=[stack.outputs["security_group_id"]])["SecurityGroups"]
    assert no_port_22(instance_sg["IpPermissions"])
    for rule in instance_sg["IpPermissions"]:
        assert not rule.get("IpRanges") and not rule.get("Ipv6Ranges")
        assert [pair["GroupId"] for pair in rule["UserIdGroupPairs"]] == [alb_sg]
    (alb_group,) = ec2.describe_security_groups(GroupIds=[alb_sg])["SecurityGroups"]
    assert no_port_22(alb_group["IpPermissions"])


def test_role_pulls_only_this_repository(stack):
    assert_role_pulls_only_its_repository(stack, "tt-fleet")


def test_host_role_reads_no_parameter(stack):
    # the fleet stack is given no API keys parameter: the role may read no parameter at all
    assert api_keys_parameter_arn(stack) is None
    assert_host_role_reads_only_its_parameters(stack)


def test_alias_record_points_at_the_alb(stack):
    route53 = stack.client("route53")
    zone = route53.list_hosted_zones_by_name(DNSName="example.test")["HostedZones"][0]["Id"]
    records = route53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    (record,) = [r for r in records if r["Name"] == "fleet.example.test." and r["Type"] == "A"]
    assert record["AliasTarget"]["DNSName"].rstrip(".") == stack.outputs["alb_dns_name"]


def test_instance_refresh_in_the_plan(stack):
    # moto lacks the instance refresh API: assert the planned configuration instead.
    (group,) = resources_of_type(stack.first_plan, "aws_autoscaling_group")
    (refresh,) = group["instance_refresh"]
    assert refresh["strategy"] == "Rolling"
    assert refresh["preferences"][0]["min_healthy_percentage"] == 50
    assert group["health_check_type"] == "ELB"


def test_new_ami_rolls_by_instance_refresh_and_says_so(stack, seeded):
    planned = stack.plan(ami_id=seeded["amis"][1])
    lines = tf.summarize(planned.data)
    assert any(line.startswith("module.fleet[0].aws_launch_template.this: launch template gets a new AMI ("
                               f"{seeded['amis'][0]} -> {seeded['amis'][1]})") and "instance refresh" in line
               for line in lines), lines
    changes = {c["address"]: c["change"]["actions"] for c in planned.data["resource_changes"]}
    assert changes["module.fleet[0].aws_launch_template.this"] == ["update"]
    assert changes["module.fleet[0].aws_autoscaling_group.this"] == ["update"]  # not replaced: refreshed
