"""`invoke verify`: prove a live deployment works, from the outside and from the inside.

    report = verify.run("https://infer.example.com", config)   # checks + spec, printed and saved

Outside: the HTTP checks of every endpoint (checks.py). Inside: the image's testinfra suite in
the live phase on every host (spec.py), through SSM on AWS and nsenter locally, so no SSH port
is needed. One report for all of it (report.py): a table on stdout and JSON in build/reports/.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..config import Config
from ..paths import BUILD_DIR
from . import checks, keys, known, spec, targets
from .report import Report

DEFAULT_REPORT = BUILD_DIR / "reports" / "verify.json"


def default_target(config: Config) -> str:
    """What --host means when omitted: the service's DNS name, else its instances (the single
    instance and the fleet's all carry Name=<project>; a rebake canary does not)."""
    return config.fqdn or f"tag=Name:{config.project.name}"


def run(target: str, config: Config, *, api_key: str = "", api_key_file: str = "", with_http: bool = True,
        with_spec: bool = True, samples: int = 5, timeout: float = 10.0, ca_file: str | None = None,
        report_path: Path | str | None = None, ec2=None, ssm=None, run_spec: Callable | None = None,
        say: Callable[[str], None] = print) -> Report:
    """Resolve the target, run every check, print the table, write the JSON; returns the report."""
    report_path = Path(report_path or DEFAULT_REPORT)
    plan = targets.resolve(target, config, ec2=ec2)
    report = Report(plan.subject)
    for endpoint in plan.endpoints if with_http else []:
        say(f"verify: HTTP checks of {endpoint.url}")
        key = keys.api_key(config, endpoint, flag=api_key, file=api_key_file, ssm=ssm)
        opts = checks.Options(api_key=key, known=known.load(config), timeout=timeout, samples=samples, ca_file=ca_file)
        checks.run(report, endpoint.url, opts, tls_host=endpoint.tls_host)
    if with_spec:
        for host in plan.hosts:
            say(f"verify: testinfra live suite on {host}")
            spec.run(report, host, report_path.parent, run_spec=run_spec)
    say(report.table())
    say(f"verify: report written to {report.write(report_path)}")
    return report
