"""The nightly job on the local region, as GitHub runs it: `.github/workflows/rebake.yml`'s own
steps, read from the file, in a fresh clone with a fresh venv and the workflow's environment
(tests/workflow_rehearsal.py; the repository variables point the config at the local region).
A quiet night changes nothing; after an app change the night bakes, canaries, verifies,
promotes, rolls the single instance and verifies the service; a verification failure injected
after promotion rolls back, and the rolled-back service is verified (by the rebake, and again by
`invoke verify`)."""

from __future__ import annotations

import subprocess
import time

import pytest
import workflow_rehearsal as rehearsal
from e2e_cli import REPO, invoke, service_instances

from inferctl import rebake, verify
from inferctl.bake import amis
from inferctl.local import registry
from inferctl.verify.report import FAIL, Check

NIGHT_TIMEOUT = 25 * 60
WORKFLOW = REPO / ".github" / "workflows" / "rebake.yml"
# What the repository would hold: the role the job assumes, the region, and one config key, the
# target (the local region stands in for the account; everything else is the config's default).
VARIABLES = {"AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/inference-rebake", "AWS_REGION": "eu-west-1",
             "INFERCTL_PROJECT_TARGET": "local"}
SKIP = {"Install the Session Manager plugin (Packer connects to the build instance through SSM)":
        "downloads from s3.amazonaws.com (no internet here); the local region's build instance is reached "
        "without Session Manager"}


def night(tmp_path_factory, name: str) -> tuple[list[rehearsal.StepResult], str]:
    """One run of the workflow's job in a fresh clone: (its steps' results, their output)."""
    workspace = rehearsal.fresh_clone(REPO, tmp_path_factory.mktemp(name) / "clone")
    job = rehearsal.Job(WORKFLOW, "rebake", workspace, event="schedule", variables=VARIABLES,
                        base_env=rehearsal.runner_env(REPO), skip=SKIP, timeout=NIGHT_TIMEOUT)
    results = job.run()
    failed = [(r.name, r.output[-1500:]) for r in results if r.returncode]
    assert not failed, failed
    assert [r.kind for r in results].count("run") == 3, "venv, config, invoke rebake: every run step ran"
    return results, "".join(r.output for r in results)


@pytest.fixture(scope="module")
def quiet_night(region, tmp_path_factory):
    """The workflow on a night when nothing changed since the demo: (instance before, output)."""
    [before] = service_instances(region)
    _, out = night(tmp_path_factory, "quiet-night")
    return before, out


def test_a_quiet_night_changes_nothing(quiet_night, region):
    before, out = quiet_night
    assert "rebake: up to date, nothing to do" in out and "[bake]" not in out
    assert "config keys from repository variables: INFERCTL_PROJECT_TARGET" in out
    assert [i["InstanceId"] for i in service_instances(region)] == [before["InstanceId"]]


@pytest.fixture(scope="module")
def app_change(region, quiet_night):
    """A new app image under the tracked tag (a label on top of the published one: a new digest)."""
    tracked = f"{registry.ADDRESS}/inference:stable"
    dockerfile = f"FROM {tracked}\nLABEL org.inferctl.e2e-change=\"{time.time()}\"\n"
    subprocess.run(["docker", "pull", "-q", tracked], check=True, capture_output=True)
    subprocess.run(["docker", "build", "-q", "-t", "inference:e2e-change", "-"], input=dockerfile, text=True,
                   check=True, capture_output=True)
    return registry.push("inference:e2e-change", "inference", "stable").split("@", 1)[1]


@pytest.fixture(scope="module")
def rolled(region, app_change, tmp_path_factory):
    """The workflow's night after the app change: (instance before, output, instance after)."""
    [before] = service_instances(region)
    results, out = night(tmp_path_factory, "app-night")
    [after] = service_instances(region)
    uploaded = results[-1]
    assert uploaded.kind == "uses" and "upload-artifact:" in uploaded.output and " 0 path(s)" not in uploaded.output
    return before, out, after


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
