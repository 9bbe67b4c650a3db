"""Running external tools with clear errors instead of tracebacks."""

from __future__ import annotations

import shutil
import subprocess
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
    "terraform": "terraform (preinstalled at /usr/local/bin on this machine kind)",
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
