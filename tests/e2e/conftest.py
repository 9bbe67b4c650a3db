"""The e2e tier: the README's main command and the nightly job, on the local region, as a user
runs them. One `invoke demo` serves the whole tier (the modules run in name order: demo,
rebake, fleet, the README's first day, its own-model block, the test workflow, down); `invoke
demo --down` runs at the end even when a check failed, and the last module proves it left no
process, namespace, veth, NAT rule, route or mount."""

from __future__ import annotations

import os

import pytest
from e2e_cli import invoke

from inferctl import config as configuration
from inferctl.target import open_target

DEMO_TIMEOUT = 25 * 60


@pytest.fixture(scope="session")
def demo():
    """`invoke demo`'s output; the stack stays up for the tier."""
    if os.geteuid() != 0:
        pytest.fail("the e2e tier needs root (network namespaces, systemd-nspawn)")
    try:
        proc = invoke("demo", timeout=DEMO_TIMEOUT)
        assert proc.returncode == 0, f"invoke demo failed:\n{proc.stderr[-2000:]}"
        yield proc.stdout
    finally:
        down = invoke("demo", "--down", timeout=600)
        assert down.returncode == 0, f"invoke demo --down failed:\n{down.stderr[-2000:]}"


@pytest.fixture(scope="session")
def local_config():
    return configuration.load(overrides={"project": {"target": "local"}})


@pytest.fixture(scope="session")
def region(demo, local_config):
    """The demo's local region, as a Target (the same clients the commands use)."""
    return open_target(local_config)

