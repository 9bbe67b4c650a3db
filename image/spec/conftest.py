"""The host spec: what a correct inference host is, as a pytest-testinfra suite.

    pytest image/spec --target=URL --phase=bake|live

``--target`` is a host URL (ssh://, local://, nspawn://, ssm://; see inferctl/hostspec/runner.py).
``--phase bake`` runs on the build host before cleanup (sshd still serves the build);
``--phase live`` runs on a booted host made from the image. Tests marked ``live`` or ``bake``
run only in that phase; the rest run in both.
"""

from __future__ import annotations

import json

import pytest

from inferctl.hostspec.runner import PHASES, host as make_host

SLOT_PORTS = {"blue": 8081, "green": 8082}


def pytest_addoption(parser):
    parser.addoption("--target", required=True, help="host URL, e.g. nspawn://inferctl-host")
    parser.addoption("--phase", required=True, choices=PHASES, help="bake (before cleanup) or live")


def pytest_configure(config):
    for phase in PHASES:
        config.addinivalue_line("markers", f"{phase}: only in the {phase} phase")


def pytest_collection_modifyitems(config, items):
    phase = config.getoption("--phase")
    for item in items:
        for other in PHASES:
            if other != phase and item.get_closest_marker(other):
                item.add_marker(pytest.mark.skip(reason=f"{other} phase only"))


@pytest.fixture(scope="session")
def phase(request) -> str:
    return request.config.getoption("--phase")


@pytest.fixture(scope="session")
def host(request):
    """The target (overrides pytest-testinfra's own fixture of that name)."""
    return make_host(request.config.getoption("--target"))


@pytest.fixture(scope="session")
def settings(host) -> dict[str, str]:
    """defaults.env with inference.env on top, as the units read them."""
    values: dict[str, str] = {}
    for path in ("/etc/inference/defaults.env", "/etc/inference/inference.env"):
        file = host.file(path)
        if file.exists:
            for line in file.content_string.splitlines():
                if "=" in line and not line.lstrip().startswith("#"):
                    key, _, value = line.partition("=")
                    values[key.strip()] = value.strip()
    return values


@pytest.fixture(scope="session")
def state(host) -> dict:
    return json.loads(host.file("/var/lib/inference/state.json").content_string)


@pytest.fixture(scope="session")
def slot(state) -> str:
    assert state.get("active_slot") in SLOT_PORTS, f"state.json has no valid active_slot: {state}"
    return state["active_slot"]


@pytest.fixture(scope="session")
def slot_port(slot) -> int:
    return SLOT_PORTS[slot]


@pytest.fixture(scope="session")
def container(host, slot) -> dict:
    """`docker inspect` of the active slot's container."""
    out = host.check_output(f"docker inspect inference-{slot}")
    return json.loads(out)[0]


@pytest.fixture(scope="session")
def in_container(host) -> bool:
    """True on the local (systemd-nspawn) host, whose kernel is shared with the machine."""
    return host.run("systemd-detect-virt --container --quiet").rc == 0
