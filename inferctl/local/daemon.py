"""The one lifecycle of the local stack's background processes (the region, the registry, dockerd,
and the hosts' nspawn processes): a pid recorded in a file, an identity check so a recycled pid is
never taken for ours, a start that waits until the daemon answers (and says why when it exits
first), and a stop that asks, waits, then kills, and reaps its own children.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..paths import ensure


EXITS: dict[int, int] = {}   # wait status of the children alive() reaped, for exit_reason()


def alive(pid: int) -> bool:
    """The process runs (a zombie does not; ours is reaped on the way, its status kept)."""
    if _reap(pid):
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (FileNotFoundError, IndexError):
        return False
    if state == "Z":
        _reap(pid)          # it exited between the two looks
        return False
    return True


def _reap(pid: int) -> bool:
    """Reap ``pid`` if it is our exited child, keeping its wait status; True if it was."""
    try:
        reaped, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    if reaped:
        EXITS[pid] = status
    return bool(reaped)


def exit_reason(pid: int) -> str:
    """How a child of ours that alive() reaped ended: "exit status N" or "killed by SIGX"."""
    status = EXITS.get(pid)
    if status is None:
        return "still running" if alive(pid) else "exit status unknown (not our child)"
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"


def comm(pid: int) -> str:
    """The kernel's name of the process (its program's file name, 15 characters at most)."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def wait_named(proc: subprocess.Popen, name: str, timeout: float = 10.0) -> None:
    """Wait until the just-started ``proc`` runs as ``name`` (or has exited, or ``timeout``).

    Popen returns once exec has closed its pipe, a moment before the kernel names the new
    program: until then /proc shows the old comm and an empty cmdline, so an identity check made
    at once takes a healthy start for a process that is gone (seen: local hosts' boots under load).
    """
    deadline = time.monotonic() + timeout
    # alive(), not proc.poll(): a child that exited at once is reaped with its status kept for
    # exit_reason(), which Popen would otherwise swallow
    while alive(proc.pid) and comm(proc.pid) != name and time.monotonic() < deadline:
        time.sleep(0.005)


def cmdline(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def wait_gone(pid: int, timeout: float, gone: Callable[[int], bool] = lambda pid: not alive(pid)) -> bool:
    deadline = time.monotonic() + timeout
    while not gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@dataclass
class Daemon:
    """A background process of ours: ``is_ours(pid)`` tells it from whatever reuses its pid."""

    name: str
    pid_file: Path
    log_file: Path
    is_ours: Callable[[int], bool]

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            return pid if alive(pid) and self.is_ours(pid) else None
        except OSError:  # it went away while we looked
            return None

    def log_tail(self, lines: int = 3) -> str:
        try:
            return " | ".join(self.log_file.read_text(errors="replace").strip().splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def start(self, argv: list[str], ready: Callable[[], bool], timeout: float, *, env=None, cwd=None,
              writes_pid_file: bool = False) -> subprocess.Popen:
        """Start ``argv`` in a session of its own (its output appended to the log), record its pid
        (unless the daemon writes the file itself) and wait until ``ready()``; a UserError with
        the log's tail if it exits first or is not ready in time (it is stopped then)."""
        ensure(self.pid_file.parent)
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=env, cwd=cwd, start_new_session=True)
        if not writes_pid_file:
            self.pid_file.write_text(str(proc.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise UserError(f"{self.name} exited at start (code {proc.returncode}): {self.log_tail()}",
                                hint=f"full log: {self.log_file}")
            if ready():
                return proc
            time.sleep(0.2)
        self._stop(proc.pid, 10)
        raise UserError(f"{self.name} did not answer within {timeout:.0f}s: {self.log_tail()}",
                        hint=f"full log: {self.log_file}")

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop it if it runs (SIGTERM to its session, SIGKILL after ``timeout``); True if it ran."""
        pid = self.pid()
        if pid is not None:
            self._stop(pid, timeout)
        self.pid_file.unlink(missing_ok=True)
        return pid is not None

    @staticmethod
    def _stop(pid: int, timeout: float) -> None:
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        if not wait_gone(pid, timeout):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                return
            wait_gone(pid, 10)
