"""The one Docker daemon on this machine: use the running one, or start dockerd by hand.

Debian's docker.io is installed but no init system runs it here, so the project starts
`dockerd` itself (default storage and networking: overlay2, the docker0 bridge,
iptables) with its pid file and log under STATE_DIR. Only one daemon may run: two
daemons with different bridge settings delete each other's docker0, so every caller
goes through ensure_daemon(), which holds a lock while it checks and starts.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

from ..errors import UserError
from ..paths import STATE_DIR, ensure
from ..shell import require

# The local registry listens on the gateway of the local host network (plain HTTP).
LOCAL_REGISTRY = "10.99.0.1:5000"
PIDFILE = STATE_DIR / "dockerd.pid"
LOGFILE = STATE_DIR / "dockerd.log"
LOCKFILE = STATE_DIR / "dockerd.lock"
START_TIMEOUT = 60.0


def answers(timeout: float = 10.0) -> bool:
    """True when a Docker daemon answers `docker info` on the default socket."""
    docker = require("docker")
    try:
        probe = subprocess.run([docker, "info", "--format", "{{.ServerVersion}}"],
                               capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return probe.returncode == 0 and bool(probe.stdout.strip())


@contextmanager
def _locked():
    ensure(STATE_DIR)
    with open(LOCKFILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _started_pid() -> int | None:
    """The pid of the dockerd this module started, if it is still running."""
    try:
        pid = int(PIDFILE.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except FileNotFoundError:
        return None
    return pid if os.path.basename(cmdline) == b"dockerd" else None


def _alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own child
    except ChildProcessError:
        pass
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _log_tail(lines: int = 5) -> str:
    try:
        return " | ".join(LOGFILE.read_text(errors="replace").strip().splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def ensure_daemon() -> bool:
    """Make sure a daemon answers; return True if this call started one."""
    if answers():
        return False
    with _locked():
        if answers():
            return False
        if _started_pid() is not None:
            raise UserError(f"dockerd (pid {_started_pid()}) runs but does not answer `docker info`",
                            hint=f"see {LOGFILE}; stop it with: kill {_started_pid()}")
        if os.geteuid() != 0:
            raise UserError("no Docker daemon answers and starting one needs root",
                            hint="run as root, or start Docker yourself (systemctl start docker)")
        dockerd = require("dockerd")
        PIDFILE.unlink(missing_ok=True)
        with open(LOGFILE, "ab") as log:
            proc = subprocess.Popen(
                [dockerd, "--pidfile", str(PIDFILE), "--insecure-registry", LOCAL_REGISTRY],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise UserError(f"dockerd exited with code {proc.returncode}: {_log_tail()}",
                                hint=f"full log: {LOGFILE}")
            if answers(timeout=5):
                return True
            time.sleep(0.5)
        proc.terminate()
        raise UserError(f"dockerd did not answer within {START_TIMEOUT:.0f}s: {_log_tail()}",
                        hint=f"full log: {LOGFILE}")


def stop_daemon(timeout: float = 30.0) -> bool:
    """Stop the dockerd that ensure_daemon() started (never another one); True if stopped."""
    with _locked():
        pid = _started_pid()
        if pid is None:
            PIDFILE.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
        if _alive(pid):
            raise UserError(f"dockerd (pid {pid}) did not stop within {timeout:.0f}s",
                            hint=f"see {LOGFILE}")
        PIDFILE.unlink(missing_ok=True)
        return True


def running_containers() -> list[str]:
    """Ids of running containers (so a caller can leave a busy daemon alone)."""
    probe = subprocess.run([require("docker"), "ps", "-q"], capture_output=True, text=True)
    return probe.stdout.split() if probe.returncode == 0 else []
