"""Host tier fixtures: one provisioned, cleaned and rebooted local host per session.

Creating it: bare rootfs (cached) -> boot -> recipe -> bake-phase spec over SSH -> cleanup +
check -> reboot (now a "live" host). Everything is removed at the end, also after failures.
"""

from __future__ import annotations

import os

import pytest

from inferctl import config
from inferctl.health import wait_for_200
from inferctl.local import docker, provision, registry
from inferctl.local import host as local_host

NAME = "inferctl-tier-host"


@pytest.fixture(scope="session", autouse=True)
def needs_root():
    if os.geteuid() != 0:
        pytest.skip("the host tier needs root (network namespaces, systemd-nspawn)")


@pytest.fixture(scope="session")
def app_refs():
    """(tracked, pinned) references of the app image in the local registry."""
    registry_was_up = registry.is_up()
    docker_was_up = docker.answers()       # publish_app builds the image: it may start dockerd
    try:
        yield provision.publish_app(config.load())
    finally:
        if not registry_was_up:
            registry.stop()
        if not docker_was_up and not docker.running_containers():
            docker.stop_daemon()


@pytest.fixture(scope="session")
def provisioned(app_refs, tmp_path_factory):
    """A host after the recipe and the bake-phase spec, before cleanup: (host, bake spec result)."""
    from inferctl.hostspec.runner import run_spec
    local_host.down(NAME)
    try:
        host = local_host.LocalHost.create(NAME)
        host.boot()
        provision.provision(host, *app_refs)
        report = tmp_path_factory.mktemp("spec") / "bake.xml"
        bake = run_spec(f"{host.ssh_url}?ssh_identity_file={host.key_path}", "bake", report, quiet=True)
        yield host, bake
    finally:
        local_host.down(NAME)


@pytest.fixture(scope="session")
def live_host(provisioned, app_refs):
    """The same host after cleanup, its check, and a reboot: what an instance of the image is."""
    host, _ = provisioned
    provision.cleanup(host, *app_refs)
    host.restart()
    return host


def wait_serving(host, timeout: float) -> float | None:
    """Seconds until Caddy on the host answers /health with 200, or None after timeout."""
    return wait_for_200(f"http://{host.address}/health", timeout).seconds


# -- the fault matrix (fault_matrix.py): each marked test's outcome, printed as one table -------
def pytest_runtest_makereport(item, call):
    from fault_matrix import RESULTS, ROWS
    marker = item.get_closest_marker("fault")
    if marker is None:
        return
    row = marker.args[0]
    if row not in ROWS:
        raise ValueError(f"{item.nodeid}: fault row {row!r} is not in fault_matrix.ROWS")
    if call.when == "call" or (call.when == "setup" and call.excinfo is not None):
        RESULTS[row] = "FAILED" if call.excinfo is not None else "passed"


def pytest_terminal_summary(terminalreporter):
    from fault_matrix import RESULTS, table
    if RESULTS:
        terminalreporter.write_sep("=", "host fault matrix")
        terminalreporter.write_line(table(RESULTS))
