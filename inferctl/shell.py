"""Running external tools with clear errors instead of tracebacks."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import UserError

# Which Debian package provides each tool we shell out to, so a missing tool names its fix.
PACKAGE_OF = {
    "docker": "docker.io",
    "dockerd": "docker.io",
    "packer": "packer",
    "debootstrap": "debootstrap",
    "systemd-nspawn": "systemd-container",
    "docker-registry": "docker-registry",
    "shellcheck": "shellcheck",
    "wrk": "wrk",
    "caddy": "caddy",
    "ip": "iproute2",
    "iptables": "iptables",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "socat": "socat",
    "terraform": "terraform (HashiCorp's build: https://developer.hashicorp.com/terraform/install)",
    "session-manager-plugin": "session-manager-plugin (AWS's .deb, not in Debian: see 'Install the Session "
                              "Manager plugin' in the AWS Systems Manager user guide)",
}


def require(tool: str) -> str:
    """Return the tool's path or raise a UserError naming the package to install."""
    path = shutil.which(tool)
    if path is None:
        pkg = PACKAGE_OF.get(tool, tool)
        raise UserError(f"'{tool}' is not installed", hint=f"install it: apt-get install -y {pkg}"
                        if "(" not in pkg else pkg)
    return path


def run(cmd: Sequence[str | Path], *, check: bool = True, capture: bool = False,
        env: Mapping[str, str] | None = None, cwd: str | Path | None = None,
        input: str | None = None, timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run a command; on failure raise UserError with the tool's last output lines."""
    argv = [str(c) for c in cmd]
    if "/" not in argv[0]:
        require(argv[0])
    try:
        proc = subprocess.run(argv, check=False, text=True, env=env, cwd=cwd, input=input,
                              timeout=timeout,
                              stdout=subprocess.PIPE if capture else None,
                              stderr=subprocess.PIPE if capture else None)
    except subprocess.TimeoutExpired as exc:
        raise UserError(f"{argv[0]} timed out after {timeout:.0f}s: {' '.join(argv)}") from exc
    if check and proc.returncode != 0:
        tail = ""
        if capture:
            lines = (proc.stderr or proc.stdout or "").strip().splitlines()
            tail = ": " + " | ".join(lines[-3:]) if lines else ""
        raise UserError(f"{' '.join(argv[:3])} failed (exit {proc.returncode}){tail}")
    return proc


def output(cmd: Sequence[str | Path], **kwargs) -> str:
    """Run a command and return its stripped stdout."""
    return run(cmd, capture=True, **kwargs).stdout.strip()


HEARTBEAT_SECONDS = 10


def run_with_heartbeat(cmd: Sequence[str | Path], log: Path, *, label: str, every: float = HEARTBEAT_SECONDS,
                       env: Mapping[str, str] | None = None, cwd: str | Path | None = None) -> int:
    """Run a long command with its output (stdout and stderr) going to ``log``, printing
    "<label> ... N s (last: <its last output line>)" every ``every`` seconds, so the step is
    never silent while the detail stays in the log. Returns the exit code."""
    argv = [str(c) for c in cmd]
    if "/" not in argv[0]:
        require(argv[0])
    last = ""
    started = time.monotonic()
    with open(log, "w") as sink, subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                                  text=True, errors="replace", env=env, cwd=cwd) as proc:
        def copy_output() -> None:
            nonlocal last
            for line in proc.stdout:
                sink.write(line)
                last = line.strip() or last

        reader = threading.Thread(target=copy_output, daemon=True)
        reader.start()
        while True:
            try:
                proc.wait(timeout=every)
                break
            except subprocess.TimeoutExpired:
                detail = f" (last: {last[:120]})" if last else ""
                print(f"{label} ... {time.monotonic() - started:.0f} s{detail}", flush=True)
        reader.join()
    return proc.returncode


def log_tail(log: Path, lines: int = 4) -> str:
    """The last non-empty lines of a log, joined into one line for an error message."""
    kept = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return " | ".join(kept[-lines:])
