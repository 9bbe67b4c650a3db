"""Faults a live host must ride out (rows of the fault matrix, fault_matrix.py): a killed container,
a reboot, an unreachable registry at boot, a crash loop, dockerd restarted. Each ends with the
service answering POST /api/infer correctly through Caddy."""

import json
import subprocess
import time

import pytest
from conftest import wait_serving

from inferctl.local import registry
from inferctl.local import updater_rig as rig


def _infers_within(host, seconds: float) -> float | None:
    return rig.wait_infers(host, rig.api_key(host), seconds)


def _container_id(host) -> str:
    return host.exec(["docker", "inspect", "--format", "{{.Id}}", "inference-blue"]).stdout.strip()


def _pulls_this_boot(host) -> list[dict]:
    """Image pulls the guest's dockerd did since it started (this boot)."""
    out = host.exec(["docker", "events", "--since", "0", "--until", str(int(time.time()) + 1),
                     "--filter", "type=image", "--filter", "event=pull", "--format", "{{json .}}"]).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.mark.fault("container_killed")
def test_killed_container_serves_again_within_15s(live_host):
    assert wait_serving(live_host, 30) is not None, "not serving before the fault"
    before = _container_id(live_host)
    live_host.exec(["docker", "kill", "inference-blue"])
    took = _infers_within(live_host, 15)
    assert took is not None, "not answering /api/infer again within 15 s of docker kill"
    assert _container_id(live_host) != before, "still the old container: the kill did not happen"


@pytest.mark.fault("host_rebooted")
def test_host_restart_serves_without_pull(live_host):
    live_host.restart()
    assert _infers_within(live_host, 30) is not None, "not answering /api/infer within 30 s of a reboot"
    assert _pulls_this_boot(live_host) == []


@pytest.mark.fault("registry_down_at_boot")
def test_registry_unreachable_at_boot_still_serves(live_host):
    assert registry.is_up()
    rule = ["INPUT", "-s", live_host.address, "-d", registry.ADDRESS.split(":")[0], "-p", "tcp",
            "--dport", registry.ADDRESS.split(":")[1], "-j", "REJECT"]
    live_host.stop()
    subprocess.run(["iptables", "-w", "-I", *rule], check=True)
    try:
        live_host.boot()
        assert _infers_within(live_host, 30) is not None, "not answering with the registry unreachable"
        probe = live_host.exec(["curl", "-sf", "--max-time", "3", f"http://{registry.ADDRESS}/v2/"], check=False)
        assert probe.returncode != 0, "the registry was reachable: the fault was not injected"
    finally:
        subprocess.run(["iptables", "-w", "-D", *rule], check=False)


@pytest.mark.fault("crash_loop")
def test_crash_loop_trips_the_start_limit_and_the_updater_heals_it(live_host):
    """A container that cannot start makes systemd give up within a minute, not loop forever; once
    the cause is gone, the next updater run restarts the slot (no hand-made reset)."""
    unit = "inference@blue.service"
    since = int(time.time())
    # Docker refuses memory limits under 6 MB: every start fails at once, like a crashing image.
    live_host.exec("echo CONTAINER_MEMORY=1m >> /etc/inference/inference.env && "
                   f"systemctl reset-failed {unit}; systemctl restart --no-block {unit}")
    try:
        deadline = time.monotonic() + 60
        tripped = False
        while time.monotonic() < deadline and not tripped:
            time.sleep(1)
            log = live_host.exec(["journalctl", "-u", unit, "--since", f"@{since}", "--no-pager"]).stdout
            tripped = "Start request repeated too quickly" in log
        assert tripped, "still restarting after 60 s: StartLimitBurst never trips"
        state = live_host.exec(["systemctl", "show", "-p", "ActiveState", "-p", "NRestarts", unit]).stdout
        assert "ActiveState=failed" in state
        time.sleep(5)  # longer than RestartSec: a loop that had not stopped would restart again
        assert live_host.exec(["systemctl", "show", "-p", "ActiveState", "-p", "NRestarts", unit]).stdout == state
    finally:
        live_host.exec("sed -i '/^CONTAINER_MEMORY=1m$/d' /etc/inference/inference.env")
    run = rig.run_updater(live_host, "run")
    assert run.code == 0 and "healed" in run.events, run.records or run.stderr
    assert _infers_within(live_host, 30) is not None


@pytest.mark.fault("dockerd_restarted")
def test_dockerd_restart_serves_again(live_host):
    assert _infers_within(live_host, 30) is not None, "not serving before the fault"
    live_host.exec(["systemctl", "restart", "docker.service"])
    took = _infers_within(live_host, 30)
    assert took is not None, "not answering /api/infer within 30 s of a dockerd restart"
    print(f"\ndockerd restarted: answering again after {took:.1f}s")
