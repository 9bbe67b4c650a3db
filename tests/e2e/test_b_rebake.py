"""The nightly job on the local region, with the code that runs on AWS: after an app change,
`invoke rebake --local` bakes, canaries, verifies, promotes, rolls the single instance and
verifies the service; a verification failure injected after promotion rolls back, and the
rolled-back service is verified (by the rebake, and again by `invoke verify`)."""

from __future__ import annotations

import subprocess
import time

import pytest
from e2e_cli import invoke, service_instances

from inferctl import rebake, verify
from inferctl.bake import amis
from inferctl.local import registry
from inferctl.verify.report import FAIL, Check

REBAKE_TIMEOUT = 20 * 60


@pytest.fixture(scope="module")
def app_change(region):
    """A new app image under the tracked tag (a label on top of the published one: a new digest)."""
    tracked = f"{registry.ADDRESS}/inference:stable"
    dockerfile = f"FROM {tracked}\nLABEL org.inferctl.e2e-change=\"{time.time()}\"\n"
    subprocess.run(["docker", "pull", "-q", tracked], check=True, capture_output=True)
    subprocess.run(["docker", "build", "-q", "-t", "inference:e2e-change", "-"], input=dockerfile, text=True,
                   check=True, capture_output=True)
    return registry.push("inference:e2e-change", "inference", "stable").split("@", 1)[1]


@pytest.fixture(scope="module")
def rolled(region, app_change):
    """`invoke rebake --local` after the app change: (instance before, output, instance after)."""
    [before] = service_instances(region)
    proc = invoke("rebake", "--local", timeout=REBAKE_TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    [after] = service_instances(region)
    return before, proc.stdout, after


def test_the_app_change_is_the_reason(rolled, app_change):
    _, out, _ = rolled
    assert "AppDigest changed: " in out and f"-> {app_change} (promoted AMI" in out


def test_rebake_rolls_the_single_instance_to_the_verified_new_ami(rolled, region, app_change):
    before, out, after = rolled
    latest = amis.read_channel(region.client("ssm"), "inference", "latest")
    image = region.client("ec2").describe_images(ImageIds=[latest])["Images"][0]
    assert amis.tags_of(image)["AppDigest"] == app_change
    assert after["InstanceId"] != before["InstanceId"] and after["ImageId"] == latest
    for step in ("decide", "bake", "canary", "verify-canary", "promote", "roll", "verify-service", "prune"):
        assert f"rebake: [{step}] ok" in out, f"step {step} did not pass"
    assert "rebake: done" in out
    # The canary and the replaced instance are gone with their hosts.
    assert not (set(_hosts()) & {before["InstanceId"]})


def test_failure_after_promotion_rolls_back_to_a_verified_service(rolled, region, local_config):
    _, _, serving = rolled
    previous = amis.read_channel(region.client("ssm"), "inference", "latest")
    failed = []

    def failing_once(target, config, **kw):
        report = verify.run(target, config, **kw)
        if target.startswith("tag=") and not failed:  # the service check right after the roll
            failed.append(target)
            report.add(Check(target, "injected failure", FAIL, "injected by the e2e tier"))
        return report

    outcome = rebake.run(local_config, force=True, target=region, verify_run=failing_once)
    assert outcome.failed_step == "verify-service" and outcome.rolled_back is True, outcome.error
    assert amis.read_channel(region.client("ssm"), "inference", "latest") == previous
    [now] = service_instances(region)
    assert now["ImageId"] == previous and now["InstanceId"] != serving["InstanceId"]
    assert [name for name, result, _ in outcome.ran][-2:] == ["verify-service", "rollback"]
    # ... and the service passes `invoke verify` as a user would run it.
    proc = invoke("verify", "--local", timeout=300)
    assert proc.returncode == 0 and "VERIFIED" in proc.stdout


def _hosts() -> list[str]:
    from inferctl.local.host import LocalHost
    return LocalHost.names()
