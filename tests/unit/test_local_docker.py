"""inferctl.local.docker: stop only the daemon it started, never another process."""

import dataclasses
import subprocess

import pytest

from inferctl.local import docker


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setattr(docker, "PIDFILE", tmp_path / "dockerd.pid")
    monkeypatch.setattr(docker, "LOCKFILE", tmp_path / "dockerd.lock")
    monkeypatch.setattr(docker, "LOGFILE", tmp_path / "dockerd.log")
    monkeypatch.setattr(docker, "STATE_DIR", tmp_path)
    monkeypatch.setattr(docker, "DAEMON", dataclasses.replace(docker.DAEMON, pid_file=docker.PIDFILE,
                                                              log_file=docker.LOGFILE))
    return tmp_path


def test_stop_ignores_a_pidfile_naming_another_program(state):
    other = subprocess.Popen(["sleep", "30"])
    try:
        docker.PIDFILE.write_text(f"{other.pid}\n")
        assert docker.stop_daemon() is False
        assert other.poll() is None              # still running
        assert not docker.PIDFILE.exists()        # stale pidfile cleared
    finally:
        other.kill()
        other.wait()


def test_stop_without_pidfile_is_a_no_op(state):
    assert docker.stop_daemon() is False


def test_stale_pid_is_not_running(state):
    gone = subprocess.Popen(["true"])
    gone.wait()
    docker.PIDFILE.write_text(str(gone.pid))
    assert docker.DAEMON.pid() is None
    docker.PIDFILE.write_text("garbage")
    assert docker.DAEMON.pid() is None
