"""The fleet on the local region: the Auto Scaling group's instances come alive as hosts from the
promoted AMI, each is verified by its instance id, and destroy removes them with their hosts."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from inferctl import config as configuration
from inferctl import deploy, update, verify
from inferctl.bake import amis
from inferctl.errors import UserError
from inferctl.health import wait_for_200
from inferctl.hostspec import runner
from inferctl.local import registry, updater_rig
from inferctl.local.host import LocalHost
from inferctl.verify import targets
from inferctl.target import open_target

ZONE = "e2e.test"


@pytest.fixture(scope="module")
def fleet(region):
    """A second stack of its own (project and repository e2e-fleet, the demo's app image)."""
    tracked = f"{registry.ADDRESS}/inference:stable"
    subprocess.run(["docker", "pull", "-q", tracked], check=True, capture_output=True)
    registry.push(tracked, "e2e-fleet", "stable")
    config = configuration.load(overrides={
        "project": {"name": "e2e-fleet", "target": "local"}, "app": {"repository": "e2e-fleet"},
        "compute": {"mode": "fleet", "fleet_min": 2, "fleet_max": 2}, "dns": {"domain": ZONE, "subdomain": "fleet"},
        # The local region is one flat network: two stacks' VPCs must not overlap (on AWS they may).
        "network": {"vpc_cidr": "10.21.0.0/16"}})
    target = open_target(config)
    target.client("route53").create_hosted_zone(Name=ZONE, CallerReference=str(time.time()))
    ami = amis.read_channel(target.client("ssm"), "inference", "latest")
    try:
        outputs = deploy.deploy(config, yes=True, ami=ami, image=False, target=target)
        group = target.client("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=[outputs["autoscaling_group_name"]])["AutoScalingGroups"][0]
        yield config, target, ami, [i["InstanceId"] for i in group["Instances"]]
    finally:
        deploy.destroy(config, yes=True, target=target)


def test_every_fleet_instance_is_a_host_that_verifies(fleet):
    config, target, ami, instances = fleet
    assert len(instances) == 2
    ec2 = target.client("ec2")
    for instance_id in instances:
        described = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        assert described["State"]["Name"] == "running" and described["ImageId"] == ami, \
            described.get("StateReason", {}).get("Message", described["State"])
        # A group's instance is running while its host still boots: the group's health check waits.
        assert wait_for_200(f"http://{described['PrivateIpAddress']}/health", 180).seconds is not None
        assert instance_id in LocalHost.names()
        report = verify.run(instance_id, config, ec2=ec2, say=print)
        assert report.ok, [c.name for c in report.failed]


def test_a_digest_one_host_rolled_back_is_refused_by_the_other(fleet):
    """The tag moves to an image whose /api/infer fails: the first host's inference gate keeps
    its slot and records the digest in SSM (/e2e-fleet/bad-digests/<hex>); the second host then
    refuses that digest without pulling it. Both keep serving the good one."""
    config, target, _, (first, second) = fleet
    good = f"{registry.ADDRESS}/inference:stable"
    broken = updater_rig.variant("e2e-fleet-broken", broken_inference=True, base=good)
    digest = registry.push(broken, "e2e-fleet", "stable").split("@", 1)[1]
    try:
        with pytest.raises(UserError, match="the updater's run failed: smoke_failed"):
            update.run(config, first)
        record = json.loads(target.client("ssm").get_parameter(
            Name=f"/e2e-fleet/bad-digests/{digest.split(':', 1)[1]}")["Parameter"]["Value"])
        assert record["event"] == "smoke_failed" and record["digest"] == digest
        (result,) = update.run(config, second)
        assert result["event"] == "skip_bad" and result["recorded_by"] == record["host"], result
        (host_b,) = targets.resolve(second, config).hosts
        pulled = runner.host(host_b).check_output("docker images --digests --format '{{.Digest}}'")
        assert digest not in pulled, "the second host pulled the digest the first one rolled back"
        for instance in (first, second):
            assert verify.run(instance, config, with_spec=False, say=print).ok
    finally:
        registry.push(good, "e2e-fleet", "stable")


def test_destroy_removes_the_fleet_hosts(fleet, region):
    config, target, _, instances = fleet
    deploy.destroy(config, yes=True, target=target)
    deadline = time.monotonic() + 60
    while set(instances) & set(LocalHost.names()) and time.monotonic() < deadline:
        time.sleep(1)
    assert not set(instances) & set(LocalHost.names())
    assert target.client("ssm").get_parameters_by_path(Path="/e2e-fleet/bad-digests")["Parameters"] == []
