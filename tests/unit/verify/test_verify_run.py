"""verify.run end to end (HTTP + spec -> one report, exit code) and the spec step's report lines."""

import json
from pathlib import Path

import pytest

from inferctl import verify
from inferctl.config import Config
from inferctl.errors import UserError
from inferctl.hostspec.runner import SpecResult
from inferctl.verify import keys, spec, targets
from inferctl.verify.report import Report

from verify_servers import KEY

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="3">
<testcase classname="test_services" name="test_caddy_active[ssm://i-1]" time="0.5"/>
<testcase classname="test_services" name="test_no_sshd[ssm://i-1]" time="0.2">
  <failure message="AssertionError: sshd is listening on :22&#10;more lines">trace</failure></testcase>
<testcase classname="test_services" name="test_bake_only[ssm://i-1]" time="0.0">
  <skipped message="bake phase only"/></testcase>
</testsuite></testsuites>"""


def fake_run_spec(xml: str | None, exit_code: int):
    calls = []

    def run_spec(url, phase, report_path, quiet=False):
        calls.append((url, phase))
        if xml is not None:
            Path(report_path).write_text(xml)
        return SpecResult(url=url, phase=phase, exit_code=exit_code, report=Path(report_path))
    run_spec.calls = calls
    return run_spec


def test_spec_cases_become_report_lines(tmp_path):
    report = Report("x")
    run_spec = fake_run_spec(JUNIT, 1)
    spec.run(report, "ssm://i-1?region=eu-west-1", tmp_path, run_spec=run_spec)
    assert run_spec.calls == [("ssm://i-1?region=eu-west-1", "live")]
    got = [(c.name, c.status, c.detail) for c in report.checks]
    assert got == [("spec: test_caddy_active[ssm://i-1]", "pass", ""),
                   ("spec: test_no_sshd[ssm://i-1]", "fail", "AssertionError: sshd is listening on :22"),
                   ("spec: test_bake_only[ssm://i-1]", "skip", "bake phase only")]
    assert report.exit_code() == 1


def test_spec_that_cannot_run_is_one_failure(tmp_path):
    def unreachable(url, phase, report_path, quiet=False):
        raise UserError("instance i-1 is not managed by SSM")
    report = Report("x")
    spec.run(report, "ssm://i-1", tmp_path, run_spec=unreachable)
    [check] = report.checks
    assert check.status == "fail" and "not managed by SSM" in check.detail


def test_spec_that_ran_nothing_fails(tmp_path):
    report = Report("x")
    spec.run(report, "nspawn://h", tmp_path, run_spec=fake_run_spec(None, 1))
    assert [c.status for c in report.checks] == ["fail"]


def test_run_reports_http_and_spec_together(real_app, tmp_path, monkeypatch):
    monkeypatch.setattr(targets, "resolve", lambda target, config, ec2=None: targets.Plan(
        target, [targets.Endpoint(real_app)], ["nspawn://h"]))
    out = []
    report = verify.run(real_app, Config(), api_key=KEY, report_path=tmp_path / "verify.json",
                        run_spec=fake_run_spec(JUNIT.replace("<failure", "<x").replace("</failure>", "</x>"), 0),
                        say=out.append)
    assert report.exit_code() == 0, report.table()
    data = json.loads((tmp_path / "verify.json").read_text())
    assert data["counts"] == {"pass": 9, "fail": 0, "skip": 2}
    assert any(line.startswith("VERIFIED") for text in out for line in text.splitlines())


def test_run_fails_on_a_wrong_key(real_app, tmp_path):
    report = verify.run(real_app, Config(), api_key="wrong-key-00000000000000", with_spec=False,
                        report_path=tmp_path / "v.json", say=lambda s: None)
    assert report.exit_code() == 1
    assert json.loads((tmp_path / "v.json").read_text())["ok"] is False


def test_key_sources(tmp_path, monkeypatch):
    endpoint = targets.Endpoint("http://x")
    monkeypatch.delenv(keys.ENV, raising=False)
    assert keys.api_key(Config(), endpoint, flag="from-flag") == "from-flag"
    (tmp_path / "k").write_text("# comment\n\n  from-file  \nsecond\n")
    assert keys.api_key(Config(), endpoint, file=str(tmp_path / "k")) == "from-file"
    monkeypatch.setenv(keys.ENV, "from-env")
    assert keys.api_key(Config(), endpoint, file=str(tmp_path / "k")) == "from-env"
    monkeypatch.delenv(keys.ENV)
    with pytest.raises(UserError, match="no API key to verify http://x") as err:
        keys.api_key(Config(), endpoint)
    assert "/inference/api-keys" in err.value.hint
    with pytest.raises(UserError, match="cannot read the API key file"):
        keys.api_key(Config(), endpoint, file=str(tmp_path / "missing"))


def test_key_from_the_ssm_parameter(monkeypatch):
    import boto3
    from moto import mock_aws

    monkeypatch.delenv(keys.ENV, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        ssm = boto3.client("ssm", region_name="eu-west-1")
        ssm.put_parameter(Name="/inference/api-keys", Value="from-ssm-0123456789\nnext-key-0123456789",
                          Type="SecureString")
        endpoint = targets.Endpoint("http://x", host="ssm://i-1?region=eu-west-1")
        assert keys.api_key(Config(), endpoint, ssm=ssm) == "from-ssm-0123456789"


def test_key_read_from_the_host_behind_the_endpoint(tmp_path, monkeypatch):
    """Through the spec channel (here testinfra's local:// backend), as the host made it at first boot."""
    monkeypatch.delenv(keys.ENV, raising=False)
    (tmp_path / "api-keys").write_text("host-made-key-0123456789\n")
    monkeypatch.setattr(keys, "HOST_KEYS_FILE", str(tmp_path / "api-keys"))
    assert keys.api_key(Config(), targets.Endpoint("http://x", host="local://")) == "host-made-key-0123456789"
    monkeypatch.setattr(keys, "HOST_KEYS_FILE", str(tmp_path / "missing"))
    with pytest.raises(UserError, match="no API key"):
        keys.api_key(Config(), targets.Endpoint("http://x", host="local://"))


def test_invoke_verify_exit_code_and_message_for_a_dead_host(tmp_path):
    """Through the invoke task: a host that does not answer -> exit 1, its name and the fix."""
    import subprocess
    import sys

    from verify_servers import REPO, free_port

    url = f"http://127.0.0.1:{free_port()}"
    proc = subprocess.run([str(Path(sys.executable).parent / "invoke"), "verify", "--host", url, "--api-key",
                           "k" * 20, "--no-spec", "--report", str(tmp_path / "v.json")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "refused the connection" in proc.stdout and url.removeprefix("http://") in proc.stdout
    assert json.loads((tmp_path / "v.json").read_text())["counts"]["fail"] == 1
