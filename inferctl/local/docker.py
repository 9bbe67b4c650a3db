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
import subprocess
from contextlib import contextmanager

from ..errors import UserError
from ..paths import STATE_DIR, ensure
from ..shell import require
from .daemon import Daemon, cmdline

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


# dockerd writes its pid file itself (--pidfile).
DAEMON = Daemon("dockerd", PIDFILE, LOGFILE, lambda pid: os.path.basename((cmdline(pid) or [b""])[0]) == b"dockerd")


def ensure_daemon() -> bool:
    """Make sure a daemon answers; return True if this call started one."""
    if answers():
        return False
    with _locked():
        if answers():
            return False
        if DAEMON.pid() is not None:
            raise UserError(f"dockerd (pid {DAEMON.pid()}) runs but does not answer `docker info`",
                            hint=f"see {LOGFILE}; stop it with: kill {DAEMON.pid()}")
        if os.geteuid() != 0:
            raise UserError("no Docker daemon answers and starting one needs root",
                            hint="run as root, or start Docker yourself (systemctl start docker)")
        PIDFILE.unlink(missing_ok=True)
        DAEMON.start([require("dockerd"), "--pidfile", str(PIDFILE), "--insecure-registry", LOCAL_REGISTRY],
                     lambda: answers(timeout=5), START_TIMEOUT, writes_pid_file=True)
        return True


def stop_daemon(timeout: float = 30.0) -> bool:
    """Stop the dockerd that ensure_daemon() started (never another one); True if stopped."""
    with _locked():
        return DAEMON.stop(timeout)


def running_containers() -> list[str]:
    """Ids of running containers (so a caller can leave a busy daemon alone)."""
    probe = subprocess.run([require("docker"), "ps", "-q"], capture_output=True, text=True)
    return probe.stdout.split() if probe.returncode == 0 else []
