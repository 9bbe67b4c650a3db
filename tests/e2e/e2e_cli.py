"""Helpers of the e2e tier: the real CLI in a subprocess, the service's instances in the region."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INVOKE = [sys.executable, "-m", "invoke"]


def invoke(*args: str, timeout: float) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess; its output is echoed into the test's output."""
    proc = subprocess.run([*INVOKE, *args], cwd=REPO, text=True, capture_output=True, timeout=timeout,
                          env=dict(os.environ, PYTHONUNBUFFERED="1"))
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    return proc


def service_instances(region, name: str = "inference") -> list[dict]:
    """The running instances named after the project (the single instance, or the fleet's)."""
    found = region.client("ec2").describe_instances(Filters=[
        {"Name": "tag:Name", "Values": [name]}, {"Name": "instance-state-name", "Values": ["running"]}])
    return [i for r in found["Reservations"] for i in r["Instances"]]
