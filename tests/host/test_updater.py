"""The on-host updater on a provisioned local host against the local registry (issue 6 proofs).

A host of its own (tracking inference:updater-test, so no other host's tag moves), its timer stopped
so the test alone triggers runs. The steps build on each other, in file order:
v1 baked -> v2 under load -> unchanged -> broken v3 under load -> no retry -> v4 -> rollback.
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import datetime

import pytest

from inferctl.load import Load
from inferctl.local import netns, provision, registry
from inferctl.local import updater_rig as rig

NAME = "inferctl-updater-host"
TAG = "updater-test"
V1, V2, V3, V4 = "1.0.0", "2.0.0-updater", "3.0.0-broken", "4.0.0-updater"
BROKEN_TIMEOUT = 25  # seconds the broken v3 gets (the host default is 90)


class Scenario:
    def __init__(self, host, images):
        self.host, self.images = host, images
        self.key = rig.api_key(host)
        self.digests: dict[str, str] = {}

    def push(self, version: str) -> str:
        self.digests[version] = rig.push(self.images[version], TAG).split("@")[1]
        return self.digests[version]

    def load(self) -> Load:
        """Bounded: 2 workers, at most 20 000 requests or 240 s, GET / through Caddy."""
        return Load(f"http://{self.host.address}/", workers=2, max_requests=20_000, max_seconds=240,
                    headers={"X-API-Key": self.key})

    def update_under_load(self, *args: str) -> tuple[rig.Run, Load]:
        with self.load() as load:
            time.sleep(1)  # traffic before the run starts
            run = rig.run_updater(self.host, *args)
            time.sleep(1)  # and after it ends
        print(f"\n{' '.join(args) or 'run'}: exit {run.code} in {run.seconds:.1f}s, events {run.events}; "
              f"load: {load.result.line()}")
        return run, load

    def active(self, slot: str) -> bool:
        return self.host.exec(["systemctl", "is-active", "--quiet", f"inference@{slot}"],
                              check=False).returncode == 0


@pytest.fixture(scope="module")
def scenario(app_refs):
    images = {V1: provision.APP_BUILD_TAG, V2: rig.variant(V2), V3: rig.variant(V3, broken=True),
              V4: rig.variant(V4)}
    host = rig.updater_host(NAME, TAG, images[V1])
    try:
        yield Scenario(host, images)
    finally:
        host.down()
        netns.teardown_if_idle()


def test_baked_host_serves_v1(scenario):
    assert rig.served_version(scenario.host, scenario.key) == V1
    scenario.digests[V1] = rig.state(scenario.host)["current"]
    assert scenario.digests[V1].startswith("sha256:")


def test_v2_rolls_out_under_load_without_a_failed_request(scenario):
    digest = scenario.push(V2)
    run, load = scenario.update_under_load("run")
    assert run.code == 0 and run.last()["event"] == "updated", run.records or run.stderr
    assert rig.served_version(scenario.host, scenario.key) == V2
    assert load.result.failed == 0, load.result.failures[:10]
    assert set(load.result.versions) == {V1, V2}, "the load ran across the swap"
    state = rig.state(scenario.host)
    assert (state["current"], state["previous"], state["active_slot"]) == (digest, scenario.digests[V1], "green")
    assert not scenario.active("blue"), "the old slot was stopped"


def test_unchanged_digest_makes_no_pull(scenario):
    since = time.time()
    runs = [rig.run_updater(scenario.host, "run") for _ in range(3)]
    print(f"\nunchanged runs (wall time incl. nsenter): {', '.join(f'{r.seconds:.3f}s' for r in runs)}")
    assert all(r.code == 0 and r.last()["event"] == "unchanged" for r in runs), [r.records for r in runs]
    assert rig.pulls_since(scenario.host, since) == []
    assert [e for r in runs for e in r.events if e not in ("unchanged",)] == []


def test_broken_v3_never_takes_traffic_and_is_recorded_bad(scenario):
    digest = scenario.push(V3)
    run, load = scenario.update_under_load("run", "--health-timeout", str(BROKEN_TIMEOUT))
    assert run.code == 1 and run.last()["event"] == "unhealthy", run.records or run.stderr
    assert "did not pass /health" in run.last()["reason"]
    assert load.result.failed == 0, load.result.failures[:10]
    assert set(load.result.versions) == {V2}, "only v2 answered while v3 was tried"
    state = rig.state(scenario.host)
    assert digest in state["bad"] and state["current"] == scenario.digests[V2]
    assert state["active_slot"] == "green" and scenario.active("green") and not scenario.active("blue")


def test_bad_digest_is_not_retried(scenario):
    since = time.time()
    run = rig.run_updater(scenario.host, "run")
    assert run.code == 0 and run.events == ["skip_bad"], run.records
    assert rig.pulls_since(scenario.host, since) == [] and not scenario.active("blue")


def test_v4_rolls_forward(scenario):
    digest = scenario.push(V4)
    run, load = scenario.update_under_load("run")
    assert run.code == 0 and run.last()["event"] == "updated", run.records or run.stderr
    assert rig.served_version(scenario.host, scenario.key) == V4
    assert load.result.failed == 0, load.result.failures[:10]
    state = rig.state(scenario.host)
    assert (state["current"], state["previous"], state["active_slot"]) == (digest, scenario.digests[V2], "blue")


def test_rollback_returns_to_previous_digest(scenario):
    since = time.time()
    run, load = scenario.update_under_load("rollback")
    assert run.code == 0 and run.last()["event"] == "rolled_back", run.records or run.stderr
    assert rig.served_version(scenario.host, scenario.key) == V2
    assert load.result.failed == 0, load.result.failures[:10]
    assert rig.pulls_since(scenario.host, since) == [], "the previous image was still on the host"
    state = rig.state(scenario.host)
    assert (state["current"], state["previous"]) == (scenario.digests[V2], scenario.digests[V4])
    follow = rig.run_updater(scenario.host, "run")
    assert follow.code == 0 and follow.events == ["skip_bad"], "the next run keeps the rollback"


def test_registry_down_changes_nothing(scenario):
    ip, port = registry.ADDRESS.split(":")
    rule = ["INPUT", "-s", scenario.host.address, "-d", ip, "-p", "tcp", "--dport", port, "-j", "REJECT"]
    subprocess.run(["iptables", "-w", "-I", *rule], check=True)
    try:
        run = rig.run_updater(scenario.host, "run")
    finally:
        subprocess.run(["iptables", "-w", "-D", *rule], check=False)
    assert run.code == 1 and run.last()["event"] == "registry_unreachable", run.records
    assert rig.served_version(scenario.host, scenario.key) == V2
    assert rig.state(scenario.host)["current"] == scenario.digests[V2]


def test_the_timers_service_runs_the_updater_and_logs_to_the_journal(scenario):
    started = time.time()
    run = rig.run_as_timer(scenario.host)
    assert run.code == 0, run.stderr

    def logged_since_start():
        out = scenario.host.exec(["journalctl", "-t", "inference-update", "-o", "cat",
                                  "--since", f"@{int(started) - 1}"]).stdout
        records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        return [r["event"] for r in records if datetime.fromisoformat(r["ts"]).timestamp() >= started - 0.001]

    for _ in range(50):  # journald stores syslog lines asynchronously
        if logged_since_start():
            break
        time.sleep(0.2)
    assert logged_since_start() == ["skip_bad"]


def test_schedule_from_user_data_applies_at_boot_and_the_active_slot_serves(scenario):
    """inference.env (what user-data writes) sets UPDATE_SCHEDULE (cron form: converted); the
    schedule service applies it at boot. After the reboot exactly the enabled slot starts, from
    its pre-pulled image, and the timer runs (the rig had stopped it)."""
    host = scenario.host
    host.exec("echo 'UPDATE_SCHEDULE=\"*/5 * * * *\"' >> /etc/inference/inference.env")
    try:
        host.restart()
        calendar = ""
        for _ in range(100):  # the schedule service runs late in the boot
            calendar = rig.timer_schedule(host)
            if "00/5" in calendar:
                break
            time.sleep(0.2)
        assert "OnCalendar=*-*-* *:00/5:00" in calendar, calendar
        assert host.exec(["systemctl", "is-active", "inference-update.timer"]).stdout.strip() == "active"
        assert rig.wait_version(host, scenario.key, V2, timeout=60) is not None, "v2 serves after the reboot"
        assert scenario.active("green") and not scenario.active("blue")
    finally:
        host.exec("sed -i '/^UPDATE_SCHEDULE=/d' /etc/inference/inference.env")
        rig.run_updater(host, "schedule")
        host.exec(["systemctl", "stop", "inference-update.timer"])  # back to: only the test triggers runs
    assert "OnCalendar=hourly" in rig.timer_schedule(host) or "*-*-* *:00:00" in rig.timer_schedule(host)


def test_a_stopped_active_slot_is_healed_by_the_next_run(scenario):
    host = scenario.host
    slot = rig.state(host)["active_slot"]
    host.exec(["systemctl", "stop", f"inference@{slot}.service"])
    assert rig.served_version(host, scenario.key) is None, "nothing serves"
    run = rig.run_updater(host, "run")
    assert run.code == 0 and run.events[:2] == ["active_unhealthy", "healed"], run.records or run.stderr
    assert rig.served_version(host, scenario.key) == V2 and scenario.active(slot)


def test_only_the_current_and_previous_images_stay(scenario):
    state = rig.state(scenario.host)
    out = scenario.host.exec(["docker", "image", "ls", "--digests", "--format", "{{.Digest}}",
                              rig.tracked(TAG).rsplit(":", 1)[0]]).stdout.split()
    assert set(out) <= {state["current"], state["previous"]}, (out, state)
    assert state["current"] in out
