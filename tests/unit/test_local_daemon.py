"""The local stack's process bookkeeping (inferctl/local/daemon.py), on real short-lived processes."""

import subprocess

from inferctl.local.daemon import alive, comm, exit_reason, wait_named


def test_a_started_process_is_known_by_its_name_once_wait_named_returns():
    """Right after Popen the kernel often still shows the parent's name (measured: most of the
    time on this machine); after wait_named it never does."""
    for _ in range(200):
        proc = subprocess.Popen(["sleep", "0.2"], start_new_session=True)
        wait_named(proc, "sleep")
        assert comm(proc.pid) == "sleep"
        proc.kill()
        proc.wait()


def test_wait_named_returns_when_the_process_exits_first():
    proc = subprocess.Popen(["false"])
    wait_named(proc, "never-this-name", timeout=5)
    assert proc.poll() is not None
    assert exit_reason(proc.pid) == "exit status 1", "the status of an immediate exit is kept"


def test_exit_reason_of_a_child_reaped_by_alive():
    proc = subprocess.Popen(["sh", "-c", "exit 3"])
    while alive(proc.pid):
        pass
    assert exit_reason(proc.pid) == "exit status 3"
    running = subprocess.Popen(["sleep", "5"])
    try:
        assert exit_reason(running.pid) == "still running"
    finally:
        running.kill()
        running.wait()
