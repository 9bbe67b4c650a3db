"""Destroy both stacks (at the same time: most of it is waiting on moto) and check that
nothing of either is left. Runs last (file order); the stacks' other tests ran before."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from inferctl import deploy
from inferctl import terraform as tf
from inferctl.target import open_target


@pytest.fixture(scope="module")
def destroyed(deployments):
    single, fleet = deployments["single"].result(), deployments["fleet"].result()

    def destroy_single():
        single.destroyed = True  # by `invoke destroy --local --yes`'s code path
        deploy.destroy(single.config, yes=True, target=open_target(single.config, server=single.server),
                       workdir=single.ws.dir)

    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(destroy_single), pool.submit(fleet.destroy)]:
            future.result()
    return {"single": single, "fleet": fleet}


def zone_record_names(stack) -> list[str]:
    route53 = stack.client("route53")
    zone = route53.list_hosted_zones_by_name(DNSName="example.test")["HostedZones"][0]["Id"]
    return [r["Name"] for r in route53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]]


def assert_no_monitoring_left(stack) -> None:
    """No alarm, topic or dashboard of the stack (the KMS key waits out its deletion window)."""
    name = stack.config.project.name
    cloudwatch = stack.client("cloudwatch")
    assert not cloudwatch.describe_alarms(AlarmNamePrefix=name)["MetricAlarms"]
    assert not cloudwatch.list_dashboards(DashboardNamePrefix=name)["DashboardEntries"]
    assert not [t for t in stack.client("sns").list_topics()["Topics"] if t["TopicArn"].endswith(f":{name}-alerts")]
    assert not [a for a in stack.client("kms").list_aliases()["Aliases"] if a["AliasName"] == f"alias/{name}-alerts"]


def test_single_leaves_nothing(destroyed):
    stack = destroyed["single"]
    ec2, out = stack.client("ec2"), stack.outputs
    instance = ec2.describe_instances(InstanceIds=[out["instance_id"]])["Reservations"][0]["Instances"][0]
    assert instance["State"]["Name"] == "terminated"
    assert not ec2.describe_vpcs(Filters=[{"Name": "tag:Project", "Values": ["tt-single"]}])["Vpcs"]
    assert not ec2.describe_addresses(Filters=[{"Name": "tag:Project", "Values": ["tt-single"]}])["Addresses"]
    assert not [r for r in stack.client("iam").list_roles()["Roles"] if r["RoleName"].startswith("tt-single")]
    assert not [r for r in stack.client("ecr").describe_repositories()["repositories"]
                if r["repositoryName"] == "tt-single"]
    assert not stack.client("logs").describe_log_groups(logGroupNamePrefix="/tt-single/")["logGroups"]
    assert_no_monitoring_left(stack)
    assert "single.example.test." not in zone_record_names(stack)
    assert tf.outputs(stack.ws) == {}


def test_fleet_leaves_nothing(destroyed):
    stack = destroyed["fleet"]
    ec2 = stack.client("ec2")
    assert not stack.client("elbv2").describe_load_balancers()["LoadBalancers"]
    assert not stack.client("elbv2").describe_target_groups()["TargetGroups"]
    assert not stack.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=["tt-fleet"])["AutoScalingGroups"]
    assert not [t for t in ec2.describe_launch_templates()["LaunchTemplates"] if t["LaunchTemplateName"] == "tt-fleet"]
    assert not ec2.describe_vpcs(Filters=[{"Name": "tag:Project", "Values": ["tt-fleet"]}])["Vpcs"]
    running = ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": ["tt-fleet"]},
                                              {"Name": "instance-state-name", "Values": ["pending", "running"]}])
    assert not running["Reservations"]
    assert not [r for r in stack.client("iam").list_roles()["Roles"] if r["RoleName"].startswith("tt-fleet")]
    assert not [c for c in stack.client("acm").list_certificates()["CertificateSummaryList"]
                if c["DomainName"] == "fleet.example.test"]
    assert not [n for n in zone_record_names(stack) if n.endswith("fleet.example.test.")]
    assert_no_monitoring_left(stack)
    assert not [acl for acl in stack.client("wafv2").list_web_acls(Scope="REGIONAL")["WebACLs"]
                if acl["Name"] == "tt-fleet-alb"]
    assert tf.outputs(stack.ws) == {}
