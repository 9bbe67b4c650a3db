"""Test tiers: which folders each tier runs, so `invoke test --tier X` and CI agree."""

from __future__ import annotations

import subprocess
import sys

from .errors import UserError
from .paths import REPO

# Ordered cheapest first: a developer can stop after the tier they care about.
TIERS = {
    "unit": "fast unit tests, seconds, no root or daemons",
    "container": "builds and runs the app container (starts dockerd if needed)",
    "terraform": "the Terraform modules applied to a local region (moto on loopback)",
    "host": "the image recipe on a booted systemd-nspawn host, bake --local, the region's data plane (root)",
    "e2e": "the AWS code path on the local region: demo, the nightly workflow's steps, rollback, fleet, the README's first day (root)",
}


def run(tiers: list[str], pytest_args: list[str]) -> int:
    unknown = [t for t in tiers if t not in TIERS]
    if unknown:
        raise UserError(f"unknown test tier(s) {', '.join(unknown)}", hint=f"tiers: {', '.join(TIERS)}")
    failed = []
    for tier in tiers:
        print(f"== tier {tier}: {TIERS[tier]}", flush=True)
        code = subprocess.call([sys.executable, "-m", "pytest", str(REPO / "tests" / tier), *pytest_args],
                               cwd=REPO)
        if code not in (0,):
            failed.append(f"{tier} (exit {code})")
    if failed:
        print(f"== failed tiers: {', '.join(failed)}", flush=True)
        return 1
    print(f"== all tiers passed: {', '.join(tiers)}", flush=True)
    return 0
