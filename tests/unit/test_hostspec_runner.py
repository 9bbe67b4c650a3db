"""Target URLs of the host spec and reading its results (no hosts needed)."""

import pytest

from inferctl.hostspec import runner as spec_hosts
from inferctl.errors import UserError


def test_unknown_scheme_is_a_clear_error():
    with pytest.raises(UserError, match="unsupported spec target"):
        spec_hosts.host("ftp://somewhere")


def test_run_spec_rejects_unknown_phase(tmp_path):
    with pytest.raises(UserError, match="unknown spec phase"):
        spec_hosts.run_spec("local://", "later", tmp_path / "r.xml")


def test_ssh_target_uses_sudo_and_throwaway_host_keys(tmp_path, monkeypatch):
    monkeypatch.setattr(spec_hosts, "BUILD_DIR", tmp_path)
    host = spec_hosts.host("ssh://admin@10.99.0.2:2222?ssh_identity_file=/tmp/key")
    backend = host.backend
    assert (backend.get_connection_type(), backend.host.name, backend.host.port) == ("ssh", "10.99.0.2", "2222")
    assert backend.sudo is True
    assert "StrictHostKeyChecking no" in (tmp_path / "spec-ssh_config").read_text()


def test_root_ssh_target_needs_no_sudo(tmp_path, monkeypatch):
    monkeypatch.setattr(spec_hosts, "BUILD_DIR", tmp_path)
    assert spec_hosts.host("ssh://root@10.99.0.2").backend.sudo is False


def test_nspawn_target_needs_a_name():
    with pytest.raises(UserError, match="no machine name"):
        spec_hosts.host("nspawn://")


def test_nspawn_target_of_unknown_host_says_how_to_start_one(tmp_path, monkeypatch):
    monkeypatch.setattr("inferctl.local.host.STATE_DIR", tmp_path)
    host = spec_hosts.host("nspawn://no-such-host")
    with pytest.raises(UserError, match="no local host named"):
        host.run("true")


def test_local_target_runs_commands():
    assert spec_hosts.host("local://").check_output("echo spec") == "spec"


def test_junit_failures_lists_failed_and_errored_tests(tmp_path):
    report = tmp_path / "r.xml"
    report.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase name="test_ok"/>'
        '<testcase name="test_bad"><failure message="x"/></testcase>'
        '<testcase name="test_broken"><error message="y"/></testcase>'
        '<testcase name="test_skip"><skipped/></testcase>'
        '</testsuite></testsuites>')
    assert spec_hosts._junit_failures(report) == (["test_bad", "test_broken"], 4)
