"""The image's testinfra suite in the live phase, one report line per test case."""

from __future__ import annotations

import re
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

from ..errors import UserError
from .report import FAIL, PASS, SKIP, Check, Report


def _report_file(folder: Path, url: str) -> Path:
    parsed = urllib.parse.urlparse(url)
    return folder / f"spec-live-{re.sub(r'[^A-Za-z0-9_.-]', '_', parsed.netloc or parsed.scheme)}.xml"


def _cases(junit: Path, target: str) -> list[Check]:
    checks = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = "spec: " + case.get("name", "?")
        seconds = float(case.get("time") or 0)
        problem = case.find("failure")
        problem = problem if problem is not None else case.find("error")
        skipped = case.find("skipped")
        if problem is not None:
            message = (problem.get("message") or problem.text or "").strip().splitlines()
            checks.append(Check(target, name, FAIL, message[0][:200] if message else "failed", seconds))
        elif skipped is not None:
            checks.append(Check(target, name, SKIP, (skipped.get("message") or "")[:200], seconds))
        else:
            checks.append(Check(target, name, PASS, "", seconds))
    return checks


def run(report: Report, url: str, folder: Path, run_spec: Callable | None = None) -> None:
    """Run the suite against ``url`` (ssm://, nspawn://, ...) and add its test cases to the report.

    A suite that cannot run at all (SSM not reachable, host gone) is one failed check.
    """
    if run_spec is None:
        from ..hostspec.runner import run_spec
    junit = _report_file(folder, url)
    junit.unlink(missing_ok=True)
    try:
        result = run_spec(url, "live", junit, quiet=True)
    except UserError as exc:
        report.add(Check(url, "spec: live suite", FAIL, str(exc)))
        return
    cases = _cases(junit, url) if junit.exists() else []
    if not cases:
        report.add(Check(url, "spec: live suite", FAIL,
                         f"no test ran (pytest exit {result.exit_code}); see {junit}"))
        return
    for check in cases:
        report.add(check)
    if not result.passed and not any(c.status == FAIL for c in cases):
        report.add(Check(url, "spec: live suite", FAIL, f"pytest exit {result.exit_code}; see {junit}"))
