"""Targets of the image's testinfra suite (image/spec/), given as host URLs, and the runner.

Schemes (HOST_CONTRACT.md):
- ``ssh://user@host[:port]?ssh_identity_file=KEY`` the build instance during the bake (sudo
  is implied unless the user is root; host keys are not pinned: build hosts are throwaway);
- ``local://`` this machine (testinfra's own backend);
- ``nspawn://<machine>`` a local host (inferctl.local.host) through nsenter, no sshd needed;
- ``ssm://<instance-id>?region=...`` an AWS host through SSM Run Command (inferctl.hostspec.ssm).

New schemes register a factory in ``SCHEMES`` (url -> testinfra Host).
"""

from __future__ import annotations

import importlib
import shlex
import subprocess
import sys
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import testinfra
import testinfra.host
from testinfra.backend import base

from ..errors import UserError
from ..paths import BUILD_DIR, IMAGE_DIR, ensure

SPEC_DIR = IMAGE_DIR / "spec"
PHASES = ("bake", "live")


class NspawnBackend(base.BaseBackend):
    """Runs each command as root inside a local host's namespaces (nsenter into its systemd)."""

    NAME = "nspawn"

    def __init__(self, name: str, *args: Any, **kwargs: Any):
        self.name = name
        super().__init__(name, *args, **kwargs)

    def run(self, command: str, *args: str, **kwargs: Any) -> base.CommandResult:
        from ..local.host import LocalHost  # local-only dependency, loaded on use
        cmd = self.get_command(command, *args)
        out = self.run_local(shlex.join(LocalHost.load(self.name).guest_argv(["/bin/sh", "-c", cmd])))
        out.command = self.encode(cmd)
        return out


def _with_host(backend: base.BaseBackend) -> testinfra.host.Host:
    host = testinfra.host.Host(backend)
    backend.set_host(host)
    return host


def _ssh(url: str) -> testinfra.host.Host:
    parsed = urllib.parse.urlparse(url)
    if not parsed.hostname:
        raise UserError(f"{url!r}: no host", hint="use ssh://user@host[:port]?ssh_identity_file=KEY")
    query = dict(urllib.parse.parse_qsl(parsed.query))
    if "ssh_config" not in query:
        config = ensure(BUILD_DIR) / "spec-ssh_config"
        config.write_text("Host *\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n"
                          "  LogLevel ERROR\n  ConnectTimeout 10\n")
        query["ssh_config"] = str(config)
    if parsed.username not in (None, "root"):
        query.setdefault("sudo", "true")
    return testinfra.get_host(parsed._replace(query=urllib.parse.urlencode(query)).geturl())


def _nspawn(url: str) -> testinfra.host.Host:
    name = urllib.parse.urlparse(url).netloc
    if not name:
        raise UserError(f"{url!r}: no machine name", hint="use nspawn://<local host name>")
    return _with_host(NspawnBackend(name))


def _ssm(url: str) -> testinfra.host.Host:
    return importlib.import_module("inferctl.hostspec.ssm").host(url)


SCHEMES: dict[str, Callable[[str], testinfra.host.Host]] = {
    "ssh": _ssh,
    "local": lambda url: testinfra.get_host("local://"),
    "nspawn": _nspawn,
    "ssm": _ssm,
}


def host(url: str) -> testinfra.host.Host:
    """A testinfra Host for a target URL (see the module docstring for the schemes)."""
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in SCHEMES:
        raise UserError(f"unsupported spec target {url!r}",
                        hint=f"use one of: {', '.join(s + '://' for s in SCHEMES)}")
    return SCHEMES[scheme](url)


@dataclass
class SpecResult:
    """Outcome of one suite run: ``passed`` and the ids of the tests that failed."""

    url: str
    phase: str
    exit_code: int
    report: Path
    failed: list[str] = field(default_factory=list)
    total: int = 0

    @property
    def passed(self) -> bool:
        return self.exit_code == 0

    def summary(self) -> str:
        verdict = "passed" if self.passed else f"FAILED ({len(self.failed)}: {', '.join(self.failed)})"
        return f"host spec [{self.phase}] on {self.url}: {self.total} tests, {verdict}; report {self.report}"


def run_spec(url: str, phase: str, report_path: Path | str, *, pytest_args: list[str] | None = None,
             quiet: bool = False) -> SpecResult:
    """Run image/spec against ``url`` in ``phase`` (bake|live); JUnit XML goes to ``report_path``."""
    if phase not in PHASES:
        raise UserError(f"unknown spec phase {phase!r}", hint=f"phases: {', '.join(PHASES)}")
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in SCHEMES:
        raise UserError(f"unsupported spec target {url!r}",
                        hint=f"use one of: {', '.join(s + '://' for s in SCHEMES)}")
    report = Path(report_path)
    ensure(report.parent)
    argv = [sys.executable, "-m", "pytest", str(SPEC_DIR), f"--target={url}", f"--phase={phase}",
            f"--junitxml={report}", "-p", "no:cacheprovider", "-o", "addopts=", "-q",
            "--rootdir", str(SPEC_DIR), *(pytest_args or [])]
    proc = subprocess.run(argv, capture_output=quiet, text=True)
    if proc.returncode not in (0, 1):
        tail = (proc.stdout or "")[-800:] if quiet else ""
        raise UserError(f"the host spec could not run against {url} (pytest exit {proc.returncode}) {tail}",
                        hint=f"run it by hand: {' '.join(argv)}")
    failed, total = _junit_failures(report)
    return SpecResult(url=url, phase=phase, exit_code=proc.returncode, report=report, failed=failed,
                      total=total)


def _junit_failures(report: Path) -> tuple[list[str], int]:
    root = ET.parse(report).getroot()
    failed, total = [], 0
    for case in root.iter("testcase"):
        total += 1
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(case.get("name", "?"))
    return failed, total
