"""The on-host updater on a provisioned local host against the local registry (issue 6 proofs).

A host of its own (tracking inference:updater-test, so no other host's tag moves), its timer stopped
so the test alone triggers runs. The steps build on each other, in file order:
v1 baked -> v2 under load -> unchanged -> broken v3 under load -> no retry -> v3 whose inference
fails -> v4 -> rollback -> ... -> the fault matrix's swap rows (fault_matrix.py): the updater killed
at each step of a swap, then a reboot in the middle of one, then a pull that stalls, then a pull
onto a full disk, each under load and ending with the service answering POST /api/infer correctly.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from datetime import datetime

import pytest

from inferctl.load import Load
from inferctl.local import netns, provision, registry
from inferctl.local import updater_rig as rig

NAME = "inferctl-updater-host"
TAG = "updater-test"
V1, V2, V3, V4 = "1.0.0", "2.0.0-updater", "3.0.0-broken", "4.0.0-updater"
V3I = "3.1.0-no-inference"
SWAPS = {"before_switch": "5.0.0-killed", "after_switch": "6.0.0-killed", "after_drain": "7.0.0-killed",
         "reboot": "8.0.0-rebooted"}
STALLED = "9.0.0-stalled"
FULL = "10.0.0-disk-full"
STALL_TIMEOUT = 20  # seconds: the stalled pull's bound for its row (PULL_TIMEOUT; the host default is 900)
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
              V3I: rig.variant(V3I, broken_inference=True), V4: rig.variant(V4),
              **{version: rig.variant(version) for version in (*SWAPS.values(), STALLED)},
              FULL: rig.variant(FULL, layer=True)}
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


def _refused(scenario, version: str, event: str, reason: str, *args: str) -> None:
    """A new image pushed as ``version`` is refused under load: the run fails with ``event``, no
    request fails, only v2 answers, the digest is recorded bad and v2's slot (green) serves."""
    digest = scenario.push(version)
    run, load = scenario.update_under_load("run", *args)
    assert run.code == 1 and run.last()["event"] == event, run.records or run.stderr
    assert reason in run.last()["reason"]
    assert load.result.failed == 0, load.result.failures[:10]
    assert set(load.result.versions) == {V2}, f"only v2 answered while {version} was tried"
    state = rig.state(scenario.host)
    assert digest in state["bad"] and state["current"] == scenario.digests[V2]
    assert state["active_slot"] == "green" and scenario.active("green") and not scenario.active("blue")
    assert rig.infers(scenario.host, scenario.key) == ""


@pytest.mark.fault("image_health_fails")
def test_broken_v3_never_takes_traffic_and_is_recorded_bad(scenario):
    _refused(scenario, V3, "unhealthy", "did not pass /health", "--health-timeout", str(BROKEN_TIMEOUT))


def test_bad_digest_is_not_retried(scenario):
    since = time.time()
    run = rig.run_updater(scenario.host, "run")
    assert run.code == 0 and run.events == ["skip_bad"], run.records
    assert rig.pulls_since(scenario.host, since) == [] and not scenario.active("blue")


@pytest.mark.fault("image_inference_fails")
def test_an_image_whose_inference_fails_never_takes_traffic(scenario):
    _refused(scenario, V3I, "smoke_failed", "POST /api/infer: HTTP 500")


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


@pytest.mark.fault("registry_down_during_update")
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
    assert rig.infers(scenario.host, scenario.key) == ""
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


# -- the fault matrix's swap rows ----------------------------------------------------------------
def _link_slot(host) -> str:
    target = host.exec(["readlink", "/var/lib/inference/active.sock"], check=False).stdout.strip()
    return next((slot for slot in ("blue", "green") if f"slot-{slot}/" in target), "")


def _one_slot_left(scenario, version: str) -> None:
    """The state names the slot the link names, that slot alone runs and is enabled, and it
    answers: the version it should, and a correct inference."""
    host, state = scenario.host, rig.state(scenario.host)
    slot, other = state["active_slot"], "green" if state["active_slot"] == "blue" else "blue"
    assert slot == _link_slot(host) and state["current"] == scenario.digests[version], state
    assert scenario.active(slot) and not scenario.active(other)
    enabled = {s for s in ("blue", "green") if host.exec(["systemctl", "is-enabled", "--quiet",
                                                          f"inference@{s}"], check=False).returncode == 0}
    assert enabled == {slot}, f"enabled at boot: {enabled}"
    assert rig.served_version(host, scenario.key) == version and rig.infers(host, scenario.key) == ""


@pytest.mark.parametrize("point", [pytest.param(point, marks=pytest.mark.fault(f"killed_{point}"))
                                   for point in ("before_switch", "after_switch", "after_drain")])
def test_an_updater_killed_at_any_step_of_a_swap_loses_nothing(scenario, point):
    version = SWAPS[point]
    scenario.push(version)
    prior = rig.served_version(scenario.host, scenario.key)
    with scenario.load() as load:
        time.sleep(1)
        killed = rig.run_updater(scenario.host, "run", env={"INFERENCE_UPDATE_FAILPOINT": point})
        serving = rig.served_version(scenario.host, scenario.key)
        follow = rig.run_updater(scenario.host, "run")
        time.sleep(1)
    print(f"\nkilled at {point}: exit {killed.code}, events {killed.events}; next run {follow.events}; "
          f"load: {load.result.line()}")
    assert killed.code in (-9, 137) and "updated" not in killed.events, killed.records or killed.stderr
    assert serving == (prior if point == "before_switch" else version), "served right after the kill"
    assert follow.code == 0, follow.records or follow.stderr
    assert load.result.failed == 0, load.result.failures[:10]
    _one_slot_left(scenario, version)


@pytest.mark.fault("rebooted_mid_swap")
def test_a_reboot_while_draining_serves_the_new_slot_after_boot(scenario):
    host, version = scenario.host, SWAPS["reboot"]
    scenario.push(version)
    old_slot = _link_slot(host)
    updater = threading.Thread(target=rig.run_updater, args=(host, "run", "--drain", "60"), daemon=True)
    updater.start()
    deadline = time.monotonic() + 180
    while _link_slot(host) in (old_slot, "") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _link_slot(host) not in (old_slot, ""), "the swap never switched"
    host.restart()                      # the updater is draining: the old slot still runs
    updater.join(timeout=60)            # its nsenter ends with the guest's poweroff
    assert rig.state(host)["current"] != scenario.digests[version], "the reboot came after the swap's end"
    took = rig.wait_infers(host, scenario.key, 60)
    assert took is not None, "not answering after the reboot"
    assert rig.served_version(host, scenario.key) == version
    print(f"\nrebooted mid-swap: the new slot answered {took:.1f}s after the boot returned")
    host.exec(["systemctl", "stop", "inference-update.timer"])   # back to: only the test triggers runs
    follow = rig.run_updater(host, "run")
    assert follow.code == 0 and "state_repaired" in follow.events, follow.records or follow.stderr
    _one_slot_left(scenario, version)


@pytest.mark.fault("stalled_pull")
def test_a_stalled_pull_fails_in_its_bound_and_the_next_run_completes(scenario):
    """The registry stops answering mid-pull: every request for a blob is dropped (the manifest
    still comes), so `docker pull` hangs on an open connection. The run fails as pull_failed once
    PULL_TIMEOUT is up, the serving slot never stops, the digest is not blamed, the lock is free;
    with the registry back the next run completes the swap."""
    host = scenario.host
    prior = rig.served_version(host, scenario.key)
    digest = scenario.push(STALLED)
    ip, port = registry.ADDRESS.split(":")
    rule = ["INPUT", "-s", host.address, "-d", ip, "-p", "tcp", "--dport", port,
            "-m", "string", "--string", "/blobs/", "--algo", "bm", "-j", "DROP"]
    host.exec(f"echo PULL_TIMEOUT={STALL_TIMEOUT} >> /etc/inference/inference.env")
    subprocess.run(["iptables", "-w", "-I", *rule], check=True)
    try:
        run, load = scenario.update_under_load("run")
    finally:
        subprocess.run(["iptables", "-w", "-D", *rule], check=False)
        host.exec("sed -i '/^PULL_TIMEOUT=/d' /etc/inference/inference.env")
    assert run.code == 1 and run.last()["event"] == "pull_failed", run.records or run.stderr
    assert "timed out" in run.last()["reason"] and STALL_TIMEOUT <= run.seconds < STALL_TIMEOUT + 60
    assert load.result.failed == 0, load.result.failures[:10]
    assert rig.served_version(host, scenario.key) == prior and rig.infers(host, scenario.key) == ""
    assert digest not in rig.state(host)["bad"]
    follow = rig.run_updater(host, "run")
    assert follow.code == 0 and follow.last()["event"] == "updated", follow.records or follow.stderr
    _one_slot_left(scenario, STALLED)


@pytest.mark.fault("disk_full_pull")
def test_a_pull_onto_a_full_disk_fails_cleanly_and_the_next_run_completes(scenario):
    """The new image has a layer of its own; dockerd downloads layers into /var/lib/docker/tmp,
    here a one-page tmpfs filled to the last byte, so the pull fails with ENOSPC (dockerd does not
    retry it). The run fails as pull_failed, the serving slot never stops, the digest is not
    blamed, the state is as before; with the space back the next run completes the swap."""
    host = scenario.host
    prior, before = rig.served_version(host, scenario.key), rig.state(host)
    digest = scenario.push(FULL)
    downloads = "/var/lib/docker/tmp"
    host.exec(f"mount -t tmpfs -o size=4k,mode=0700 inferctl-full {downloads}"
              f" && ! head -c 1M /dev/zero > {downloads}/filler 2>/dev/null")
    try:
        run, load = scenario.update_under_load("run")
    finally:
        host.exec(f"umount {downloads}", check=False)
    assert run.code == 1 and run.last()["event"] == "pull_failed", run.records or run.stderr
    assert "no space left on device" in run.last()["reason"], run.last()
    assert load.result.failed == 0, load.result.failures[:10]
    assert rig.served_version(host, scenario.key) == prior and rig.infers(host, scenario.key) == ""
    after, serving = rig.state(host), ("current", "previous", "active_slot", "bad")
    assert after["last_result"]["event"] == "pull_failed", after
    assert {k: after[k] for k in serving} == {k: before[k] for k in serving} and digest not in after["bad"]
    follow = rig.run_updater(host, "run")
    assert follow.code == 0 and follow.last()["event"] == "updated", follow.records or follow.stderr
    _one_slot_left(scenario, FULL)
