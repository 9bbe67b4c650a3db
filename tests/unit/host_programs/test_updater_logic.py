"""The updater's decisions, with the host (systemctl, docker, /health) and the registry faked."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from inferctl.paths import IMAGE_DIR
from inference_host.config import Paths, Settings
from inference_host.envfile import parse_env_file
from inference_host.errors import ConfigError, UpdateError
from inference_host.files import write_atomic
from inference_host.journal import JournalLog
from inference_host.registry import Reference
from inference_host import updater as updater_module
from inference_host.updater import SLOTS, Updater
from inference_host.updater_cli import main

REPO = "10.99.0.1:5000/inference"
D1, D2, D3 = ("sha256:" + c * 64 for c in "123")


class FakeRegistry:
    def __init__(self, digest=D1):
        self.answer = digest
        self.calls = 0

    def digest(self, ref):
        self.calls += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class FakeHost:
    """Stands in for systemctl + docker + the slots' /health: runner and probe in one."""

    def __init__(self, paths):
        self.paths = paths
        self.calls: list[list[str]] = []
        self.images: set[str] = set()       # pulled image references
        self.running: dict[str, str] = {}   # slot -> image it was started with
        self.enabled: set[str] = set()
        self.broken: set[str] = set()       # digests whose /health never answers
        self.infer_broken: dict[str, int] = {}  # digest -> how many smoke tests fail (-1: all)
        self.smoked: list[tuple[int, str]] = []  # (port, API key) of every smoke test
        self.fail: dict[str, tuple[int, str]] = {}  # argv prefix -> (exit code, stderr)
        self.serving: dict[str, str] = {}   # command -> the slot Caddy's socket link named when it ran
        self.restarts: list[str] = []       # slots restarted in place (heal)
        self.timeouts: dict[str, float] = {}  # command -> the timeout it ran with

    def __call__(self, argv, input=None, timeout=None):
        self.calls.append(list(argv))
        self.timeouts[" ".join(argv)] = timeout
        self.serving[" ".join(argv)] = self.serving_slot()
        for prefix, (code, err) in self.fail.items():
            if " ".join(argv).startswith(prefix):
                return code, "", err
        match argv:
            case ["docker", "image", "inspect", *_, image]:
                return (0, "sha256:id\n", "") if image in self.images else (1, "", "No such image")
            case ["docker", "pull", *_, image]:
                self.images.add(image)
                return 0, image + "\n", ""
            case ["docker", "info", *_]:
                return 0, "26.1.5\n", ""
            case ["systemctl", "reset-failed", _]:
                pass
            case ["systemctl", "start", "--no-block", unit]:
                slot = unit.split("@")[1].split(".")[0]
                self.running[slot] = parse_env_file(self.paths.slot_env(slot))["IMAGE"]
            case ["systemctl", "stop", unit]:
                self.running.pop(unit.split("@")[1].split(".")[0], None)
            case ["systemctl", "enable", "--quiet", unit]:
                self.enabled.add(unit.split("@")[1].split(".")[0])
            case ["systemctl", "disable", "--quiet", unit]:
                self.enabled.discard(unit.split("@")[1].split(".")[0])
            case ["systemctl", "disable", "--now", "--quiet", unit]:
                slot = unit.split("@")[1].split(".")[0]
                self.enabled.discard(slot)
                self.running.pop(slot, None)
            case ["systemctl", "is-enabled", unit]:
                slot = unit.split("@")[1].split(".")[0]
                return (0, "enabled\n", "") if slot in self.enabled else (1, "disabled\n", "")
            case ["systemd-analyze", "calendar", expression]:
                if "nonsense" in expression:
                    return 1, "", f"Failed to parse calendar specification '{expression}': Invalid argument"
            case ["systemctl", "daemon-reload"] | ["systemctl", "try-restart", "inference-update.timer"]:
                pass
            case ["systemctl", "is-active", unit]:
                slot = unit.split("@")[1].split(".")[0]
                return (0, "active\n", "") if slot in self.running else (3, "failed\n", "")
            case ["systemctl", "restart", unit]:
                slot = unit.split("@")[1].split(".")[0]
                self.running[slot] = parse_env_file(self.paths.slot_env(slot))["IMAGE"]
                self.restarts.append(slot)
            case ["docker", "image", "ls", *_, repo]:
                return 0, "".join(f"{i}\n" for i in sorted(self.images) if i.startswith(repo + "@")), ""
            case ["docker", "image", "rm", image]:
                if image in self.running.values():
                    return 1, "", f"conflict: unable to remove {image}: image is in use by a container"
                self.images.discard(image)
            case _:
                raise AssertionError(f"unexpected command {argv}")
        return 0, "", ""

    def probe(self, port):
        slot = next(s for s, p in SLOTS.items() if p == port)
        image = self.running.get(slot)
        return bool(image) and image.rpartition("@")[2] not in self.broken

    def smoke(self, port, key):
        self.smoked.append((port, key))
        digest = self.running[next(s for s, p in SLOTS.items() if p == port)].rpartition("@")[2]
        left = self.infer_broken.get(digest, 0)
        if left:
            self.infer_broken[digest] = left - 1 if left > 0 else left
            return "POST /api/infer: HTTP 500 internal error"
        return ""

    def changes(self):
        """The calls that change something (all but the read-only probes: the active unit's state,
        the schedule's syntax)."""
        return [c for c in self.calls if c[:2] not in (["systemctl", "is-active"], ["systemctl", "is-enabled"],
                                                       ["systemd-analyze", "calendar"])]

    def pulls(self):
        return [c for c in self.calls if c[:2] == ["docker", "pull"]]

    def serving_slot(self):
        link = self.paths.active_socket
        target = Path(os.readlink(link)) if link.is_symlink() else None
        return next((s for s in SLOTS if target == self.paths.slot_socket(s)), None)

    def serving_port(self):
        return SLOTS.get(self.serving_slot())


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


@pytest.fixture
def host(tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "defaults.env").write_text(f"# baked\nINFERENCE_IMAGE={REPO}:stable\nHEALTH_TIMEOUT=90\n"
                                      f"UPDATE_SCHEDULE='17 * * * *'\nAPI_KEYS_FILE={etc}/api-keys\n")
    (etc / "api-keys").write_text("# the service's keys\nkey-0123456789abcdef\n")
    paths = Paths(etc=etc, var=tmp_path / "var", run=tmp_path / "run", lock=tmp_path / "lock" / "update.lock",
                  daemon_json=tmp_path / "daemon.json", docker_config=tmp_path / "config.json",
                  timer_dropin=tmp_path / "inference-update.timer.d" / "schedule.conf")
    return FakeHost(paths)


@pytest.fixture
def make(host):
    """Build an Updater on the fake host; returns (updater, registry, log records, clock)."""

    def build(digest=D1, health_timeout=None, fleet=None):
        registry, clock, records = FakeRegistry(digest), Clock(), []

        def log(event, level="info", **fields):
            records.append({"event": event, "level": level, **fields})

        updater = Updater(host.paths, runner=host, registry=registry, probe=host.probe, smoke=host.smoke, log=log,
                          sleep=clock.sleep, clock=clock, health_timeout=health_timeout, drain_seconds=2,
                          fleet_record=lambda path: (fleet.at(path) if fleet else pytest.fail("no fleet record")))
        return updater, registry, records, clock
    return build


def state(host):
    return json.loads(host.paths.state.read_text())


def test_first_run_deploys_to_blue_and_records_state(host, make):
    updater, _, records, _ = make(D1)
    assert updater.update() == 0
    assert host.pulls() == [["docker", "pull", "--quiet", f"{REPO}@{D1}"]]
    assert host.running == {"blue": f"{REPO}@{D1}"} and host.enabled == {"blue"}
    assert host.serving_port() == 8081
    assert host.paths.slot_env("blue").read_text() == f"IMAGE={REPO}@{D1}\n"
    saved = state(host)
    assert (saved["active_slot"], saved["current"], saved["previous"]) == ("blue", D1, None)
    assert saved["last_result"]["event"] == "updated" and saved["last_check"]
    assert [r["event"] for r in records] == ["schedule", "update_found", "pulled", "healthy", "switched",
                                             "updated"]


def test_unchanged_digest_makes_no_pull_and_touches_nothing(host, make):
    make(D1)[0].update()
    host.calls.clear()
    updater, registry, records, _ = make(D1)
    assert updater.update() == 0
    assert registry.calls == 1 and host.changes() == []
    assert records[-1]["event"] == "unchanged" and state(host)["last_result"]["event"] == "unchanged"


def test_new_digest_swaps_slots_switches_before_stopping_old(host, make):
    make(D1)[0].update()
    host.calls.clear()
    updater, _, records, clock = make(D2)
    assert updater.update() == 0
    assert host.running == {"green": f"{REPO}@{D2}"} and host.enabled == {"green"}
    assert host.serving_port() == 8082
    order = [" ".join(c) for c in host.calls]
    assert host.serving["systemctl stop inference@blue.service"] == "green", "switched before the old slot stops"
    assert host.serving["systemctl start --no-block inference@green.service"] == "blue"
    assert clock.now >= 2, "drained before stopping the old slot"
    assert order.index("systemctl reset-failed inference@green.service") < \
        order.index("systemctl start --no-block inference@green.service"), "start limit of a past failure cleared"
    saved = state(host)
    assert (saved["active_slot"], saved["current"], saved["previous"]) == ("green", D2, D1)


def test_unhealthy_keeps_old_serving_records_bad_and_fails(host, make):
    make(D1)[0].update()
    host.broken.add(D2)
    updater, _, records, clock = make(D2, health_timeout=30)
    assert updater.update() == 1
    assert host.running == {"blue": f"{REPO}@{D1}"}, "new slot stopped, old one untouched"
    assert host.serving_port() == 8081 and host.serving_slot() == "blue", "Caddy never switched"
    assert 30 <= clock.now < 32
    saved = state(host)
    assert saved["bad"] == [D2] and saved["current"] == D1 and saved["active_slot"] == "blue"
    assert saved["last_result"]["ok"] is False and "did not pass /health" in saved["last_result"]["reason"]
    assert records[-1]["event"] == "unhealthy" and records[-1]["level"] == "error"


class FakeFleet:
    """The fleet's record (SSM parameters under one path) shared by several hosts' updaters."""

    def __init__(self, down: bool = False):
        self.records: dict[str, dict] = {}
        self.down = down
        self.path = None

    def at(self, path):
        self.path = path
        return self

    def lookup(self, digest):
        if self.down:
            raise updater_module.AwsError("SSM GetParameter: connection refused")
        return self.records.get(digest)

    def publish(self, digest, event, reason):
        if self.down:
            raise updater_module.AwsError("SSM PutParameter: connection refused")
        return self.records.setdefault(digest, {"host": "host-a", "event": event, "reason": reason}) is not None


def _join_fleet(host):
    (host.paths.etc / "inference.env").write_text("BAD_DIGESTS_PATH=/inference/bad-digests\n")


def test_a_digest_one_host_rolled_back_is_refused_by_the_others(host, make, tmp_path):
    """Host A's inference gate fails D2: it records D2 for the fleet. Host B (a fresh state,
    the same record) refuses D2 without pulling it; a new digest D3 is tried normally."""
    _join_fleet(host)
    fleet = FakeFleet()
    make(D1, fleet=fleet)[0].update()
    host.infer_broken[D2] = -1
    updater, _, records, _ = make(D2, fleet=fleet)
    assert updater.update() == 1 and records[-2]["event"] == "fleet_recorded_bad"
    assert fleet.path == "/inference/bad-digests" and fleet.records[D2]["event"] == "smoke_failed"
    host.paths.state.unlink()                    # host B: never saw D2
    host.calls.clear()
    updater, _, records, _ = make(D2, fleet=fleet)
    assert updater.update() == 0
    assert host.pulls() == [] and records[-1]["event"] == "skip_bad"
    assert records[-1]["recorded_by"] == "host-a" and "another host rolled it back" in records[-1]["reason"]
    assert state(host)["bad"] == [D2]
    updater, _, records, _ = make(D3, fleet=fleet)
    assert updater.update() == 0 and records[-1]["event"] == "updated"


def test_an_unreachable_fleet_record_never_stops_a_host(host, make):
    _join_fleet(host)
    fleet = FakeFleet(down=True)
    updater, _, records, _ = make(D1, fleet=fleet)
    assert updater.update() == 0 and records[-1]["event"] == "updated"
    assert "fleet_record_unreadable" in [r["event"] for r in records]
    host.broken.add(D2)
    updater, _, records, _ = make(D2, health_timeout=5, fleet=fleet)
    assert updater.update() == 1
    assert [r["level"] for r in records if r["event"] == "fleet_record_failed"] == ["warning"]
    assert state(host)["bad"] == [D2]             # the host's own record holds


def test_an_operators_rollback_is_recorded_for_the_fleet(host, make):
    _join_fleet(host)
    fleet = FakeFleet()
    make(D1, fleet=fleet)[0].update()
    make(D2, fleet=fleet)[0].update()
    assert make(D2, fleet=fleet)[0].rollback() == 0
    assert fleet.records[D2]["event"] == "rolled_back"


def test_docker_daemon_gone_during_start_is_not_a_bad_digest(host, make):
    make(D1)[0].update()
    host.broken.add(D2)
    host.fail["docker info"] = (1, "Cannot connect to the Docker daemon at unix:///var/run/docker.sock")
    updater, _, records, _ = make(D2, health_timeout=5)
    assert updater.update() == 1
    assert records[-1]["event"] == "docker_unavailable" and "Cannot connect" in records[-1]["reason"]
    assert state(host)["bad"] == [] and host.serving_port() == 8081


def test_bad_digest_is_not_retried_until_the_tag_moves(host, make):
    make(D1)[0].update()
    host.broken.add(D2)
    make(D2, health_timeout=5)[0].update()
    host.calls.clear()
    updater, _, records, _ = make(D2)
    assert updater.update() == 0
    assert host.changes() == [] and records[-1]["event"] == "skip_bad"
    assert make(D3)[0].update() == 0
    assert host.running == {"green": f"{REPO}@{D3}"}
    assert state(host)["previous"] == D1, "a digest that never served is not a rollback target"


def test_rollback_returns_to_previous_and_holds_the_digest_left(host, make):
    make(D1)[0].update()
    make(D2)[0].update()
    host.calls.clear()
    updater, _, records, _ = make(D2)
    assert updater.rollback() == 0
    assert host.pulls() == [], "the previous image is still local: no pull"
    assert host.running == {"blue": f"{REPO}@{D1}"} and host.serving_port() == 8081
    saved = state(host)
    assert (saved["current"], saved["previous"], saved["bad"]) == (D1, D2, [D2])
    assert records[-1]["event"] == "rolled_back"
    host.calls.clear()
    assert make(D2)[0].update() == 0 and host.changes() == [], "the next run does not roll forward again"


def test_rollback_through_the_health_gate(host, make):
    make(D1)[0].update()
    make(D2)[0].update()
    host.broken.add(D1)
    updater, _, records, _ = make(D2, health_timeout=5)
    assert updater.rollback() == 1
    assert host.running == {"green": f"{REPO}@{D2}"} and host.serving_port() == 8082
    assert state(host)["current"] == D2 and records[-1]["event"] == "unhealthy"


def test_rollback_without_previous_fails_clearly(host, make):
    make(D1)[0].update()
    updater, _, records, _ = make(D1)
    assert updater.rollback() == 1
    assert records[-1]["event"] == "rollback_impossible"


def test_registry_down_changes_nothing(host, make):
    make(D1)[0].update()
    host.calls.clear()
    error = UpdateError("registry_unreachable", "cannot reach 10.99.0.1:5000: Connection refused")
    updater, _, records, _ = make(error)
    assert updater.update() == 1
    assert host.changes() == [] and host.running == {"blue": f"{REPO}@{D1}"}
    assert records[-1] == {"event": "registry_unreachable", "level": "error", "serving": D1,
                           "reason": "cannot reach 10.99.0.1:5000: Connection refused",
                           "image": f"{REPO}:stable"}
    assert state(host)["last_result"]["event"] == "registry_unreachable"


@pytest.mark.parametrize("failing,message", [
    ("docker pull", "write /var/lib/docker/tmp: no space left on device"),
    ("docker", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock"),
])
def test_pull_failure_changes_nothing_and_is_not_bad(host, make, failing, message):
    make(D1)[0].update()
    host.fail[failing] = (1, message)
    updater, _, records, _ = make(D2)
    assert updater.update() == 1
    assert host.running == {"blue": f"{REPO}@{D1}"} and host.serving_port() == 8081
    assert records[-1]["event"] == "pull_failed" and message in records[-1]["reason"]
    assert state(host)["bad"] == []
    host.fail.clear()
    assert make(D2)[0].update() == 0, "retried on the next run once the cause is gone"


def test_failed_switch_keeps_the_link_and_stops_new(host, make, monkeypatch):
    make(D1)[0].update()

    def full_disk(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("inference_host.files.os.symlink", full_disk)
    updater, _, records, _ = make(D2)
    assert updater.update() == 1
    monkeypatch.undo()
    assert host.serving_slot() == "blue" and host.running == {"blue": f"{REPO}@{D1}"}
    assert records[-1]["event"] == "switch_failed" and state(host)["bad"] == []
    assert not list(host.paths.var.glob(".active.sock.tmp*")), "no half-made link left behind"


def test_first_run_after_the_bake_reads_the_active_slot_from_the_link(host, make):
    host.paths.var.mkdir()
    host.paths.active_socket.symlink_to(host.paths.slot_socket("blue"))
    host.paths.slot_env("blue").write_text(f"IMAGE={REPO}@{D1}\n")
    host.images.add(f"{REPO}@{D1}")
    host.running["blue"] = f"{REPO}@{D1}"
    updater, _, _, _ = make(D2)
    assert updater.load_state()["active_slot"] == "blue" and updater.load_state()["current"] == D1
    assert updater.update() == 0
    assert os.readlink(host.paths.active_socket) == str(host.paths.slot_socket("green"))
    assert state(host)["previous"] == D1


def test_no_api_keys_is_not_the_images_fault(host, make):
    make(D1)[0].update()
    (host.paths.etc / "api-keys").write_text("# none yet\n")
    updater, _, records, _ = make(D2)
    assert updater.update() == 1
    assert records[-1]["event"] == "keys_missing" and "inference-api-keys" in records[-1]["reason"]
    assert state(host)["bad"] == [] and host.running == {"blue": f"{REPO}@{D1}"}
    assert not host.pulls()[1:], "nothing pulled or started for a slot that could not start"
    (host.paths.etc / "api-keys").write_text("key-0123456789abcdef\n")
    assert make(D2)[0].update() == 0, "taken as soon as the keys are there"


def test_a_key_the_api_would_refuse_is_not_the_images_fault(host, make):
    """A hand-written key file with one short key: the new slot's API would exit at start, and the
    updater would have recorded a good digest as bad."""
    make(D1)[0].update()
    (host.paths.etc / "api-keys").write_text("key-0123456789abcdef\nshort-key\n")
    updater, _, records, _ = make(D2)
    assert updater.update() == 1
    assert records[-1]["event"] == "keys_missing"
    assert "1 key(s) shorter than 16 characters" in records[-1]["reason"]
    assert state(host)["bad"] == [] and host.running == {"blue": f"{REPO}@{D1}"}
    assert not host.pulls()[1:], "nothing pulled or started for a slot that could not start"
    (host.paths.etc / "api-keys").write_text("key-0123456789abcdef\n")
    assert make(D2)[0].update() == 0


def test_restart_swaps_to_the_same_digest(host, make):
    make(D1)[0].update()
    host.calls.clear()
    updater, registry, records, _ = make(D2)
    assert updater.restart() == 0
    assert registry.calls == 0, "a restart asks no registry"
    assert host.running == {"green": f"{REPO}@{D1}"} and host.serving_slot() == "green"
    assert host.serving["systemctl stop inference@blue.service"] == "green"
    saved = state(host)
    assert (saved["current"], saved["previous"], saved["active_slot"]) == (D1, None, "green")
    assert records[-1]["event"] == "restarted" and not host.pulls(), "the image is already here"


def test_restart_with_nothing_serving_fails_clearly(host, make):
    updater, _, records, _ = make(D1)
    assert updater.restart() == 1 and records[-1]["event"] == "restart_impossible"


def test_every_command_is_bounded_and_a_pull_gets_longer(host, make):
    make(D1)[0].update()
    assert all(t for t in host.timeouts.values()), "no docker or systemctl call may wait forever"
    assert host.timeouts[f"docker pull --quiet {REPO}@{D1}"] > host.timeouts["systemctl start --no-block "
                                                                            "inference@blue.service"]


def test_a_stalled_pull_fails_the_run_without_blaming_the_digest(host, make):
    make(D1)[0].update()
    host.fail["docker pull"] = (124, "docker timed out after 45.0s")
    with open(host.paths.etc / "inference.env", "a") as out:
        out.write("PULL_TIMEOUT=45\n")
    updater, _, records, _ = make(D2)
    assert updater.update() == 1
    assert host.timeouts[f"docker pull --quiet {REPO}@{D2}"] == 45.0
    assert records[-1]["event"] == "pull_failed" and "timed out" in records[-1]["reason"]
    assert state(host)["bad"] == [] and host.running == {"blue": f"{REPO}@{D1}"}


def test_a_run_cut_off_after_the_switch_does_not_stop_the_live_slot(host, make):
    """The state file still names blue (its save never happened); Caddy's link names green."""
    make(D1)[0].update()
    before = host.paths.state.read_text()
    make(D2)[0].update()
    host.paths.state.write_text(before)                      # as if the run died after the switch
    updater, _, records, _ = make(D2)
    assert updater.update() == 0
    assert records[0]["event"] == "state_repaired" and records[-1]["event"] == "unchanged"
    assert host.running == {"green": f"{REPO}@{D2}"} and host.serving_slot() == "green"
    saved = state(host)
    assert (saved["active_slot"], saved["current"], saved["previous"]) == ("green", D2, D1)


def test_a_failed_active_slot_is_restarted_by_the_next_run(host, make):
    make(D1)[0].update()
    host.running.clear()                                     # crash-looped into its start limit
    updater, _, records, _ = make(D1)
    assert updater.update() == 0
    assert host.restarts == ["blue"] and host.running == {"blue": f"{REPO}@{D1}"}
    events = [r["event"] for r in records]
    assert events[:2] == ["active_unhealthy", "healed"] and events[-1] == "unchanged"
    assert ["systemctl", "reset-failed", "inference@blue.service"] in host.calls


def test_a_healthy_active_slot_is_left_alone(host, make):
    make(D1)[0].update()
    make(D1)[0].update()
    assert host.restarts == []


def test_images_other_than_current_and_previous_are_removed_after_a_swap(host, make):
    for digest in (D1, D2, D3):
        make(digest)[0].update()
    assert host.images == {f"{REPO}@{D2}", f"{REPO}@{D3}"}, "D1 is neither current nor previous"


def test_lock_held_exits_cleanly_without_asking_the_registry(host, make, capsys):
    updater, registry, records, _ = make(D2)
    host.paths.lock.parent.mkdir(parents=True)
    with open(host.paths.lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert main(["run"], updater=updater) == 0
    assert registry.calls == 0 and records[-1]["event"] == "locked"
    assert main(["run"], updater=updater) == 0 and registry.calls == 1, "lock released afterwards"


def test_missing_image_setting_is_a_config_error(host, make):
    (host.paths.etc / "defaults.env").write_text("HEALTH_TIMEOUT=90\n")
    updater, _, records, _ = make()
    assert main(["run"], updater=updater) == 2
    assert records[-1]["event"] == "config_error" and "INFERENCE_IMAGE" in records[-1]["reason"]


def test_inference_env_overrides_defaults(host):
    (host.paths.etc / "inference.env").write_text('export INFERENCE_IMAGE="r.example.com/x/app:v9"\n'
                                                  "HEALTH_TIMEOUT=12 # short\nUPDATE_SCHEDULE=*/5 * * * *\n")
    settings = Settings.load(host.paths)
    assert (settings.image, settings.health_timeout, settings.schedule) == \
        ("r.example.com/x/app:v9", 12.0, "*/5 * * * *")
    (host.paths.etc / "inference.env").write_text("HEALTH_TIMEOUT=soon\n")
    with pytest.raises(ConfigError, match="HEALTH_TIMEOUT='soon' is not a number"):
        Settings.load(host.paths)


def _timer_values(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#")
                and line.split("=", 1)[1])


def test_schedule_writes_the_timer_dropin_and_the_default_matches_the_timer(host, make):
    updater, _, records, _ = make()
    assert updater.schedule() == 0
    written = _timer_values(host.paths.timer_dropin.read_text())
    baked = _timer_values((IMAGE_DIR / "rootfs/etc/systemd/system/inference-update.timer").read_text())
    assert written == {"OnCalendar": "*-*-* *:17:00", "RandomizedDelaySec": "15min"}, "the fixture's cron value"
    assert baked["OnCalendar"] == "hourly" and baked["RandomizedDelaySec"] == "15min"
    assert baked["FixedRandomDelay"] == "false", "a new delay at every run"
    (host.paths.etc / "inference.env").write_text("UPDATE_SCHEDULE='Mon..Fri 03:00'\nUPDATE_SPREAD=1h\n")
    updater.schedule()
    assert _timer_values(host.paths.timer_dropin.read_text()) == {"OnCalendar": "Mon..Fri 03:00",
                                                                  "RandomizedDelaySec": "1h"}
    assert "OnCalendar=\n" in host.paths.timer_dropin.read_text(), "the unit's own schedule is replaced"
    updater.schedule()
    assert [r["event"] for r in records] == ["schedule", "schedule"], "unchanged: no reload"
    assert host.calls.count(["systemctl", "daemon-reload"]) == 2


@pytest.mark.parametrize("cron,calendar", [
    ("17 * * * *", "*-*-* *:17:00"),
    ("*/5 * * * *", "*-*-* *:00/5:00"),
    ("0 3 * * 1-5", "Mon..Fri *-*-* 03:00:00"),
    ("30 2 1,15 * 0", "Sun *-*-01,15 02:30:00"),
    ("0 */6 * 1-3 *", "*-01..03-* 00/6:00:00"),
    ("hourly", "hourly"),
    ("*:17", "*:17"),
])
def test_cron_schedules_become_calendar_expressions(cron, calendar):
    from inference_host.schedule import calendar as convert
    assert convert(cron) == calendar


def test_a_schedule_systemd_refuses_is_a_config_error_and_keeps_the_timer(host, make):
    updater, _, _, _ = make()
    updater.schedule()
    before = host.paths.timer_dropin.read_text()
    (host.paths.etc / "inference.env").write_text("UPDATE_SCHEDULE=nonsense o-clock\n")
    with pytest.raises(ConfigError, match="is not a calendar expression systemd takes"):
        updater.schedule()
    assert host.paths.timer_dropin.read_text() == before
    (host.paths.etc / "inference.env").write_text("UPDATE_SPREAD=a while\n")
    with pytest.raises(ConfigError, match="UPDATE_SPREAD='a while' is not a time span"):
        Settings.load(host.paths)


@pytest.mark.parametrize("text,expected", [
    ("10.99.0.1:5000/inference:stable", ("10.99.0.1:5000", "inference", "stable", "")),
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/inference:stable",
     ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "team/inference", "stable", "")),
    ("localhost:5000/app", ("localhost:5000", "app", "latest", "")),
    ("busybox", ("docker.io", "library/busybox", "latest", "")),
    (f"r.example.com/app@{D1}", ("r.example.com", "app", "latest", D1)),
])
def test_reference_parsing(text, expected):
    ref = Reference.parse(text)
    assert (ref.host, ref.repository, ref.tag, ref.digest) == expected


def test_bad_reference_is_a_config_error():
    with pytest.raises(ConfigError, match="not a sha256 digest"):
        Reference.parse("r.example.com/app@sha256:zz")


def test_json_lines_on_stdout_one_per_decision(host, make, capsys):
    updater, _, _, _ = make(D1)
    updater.log = JournalLog(use_syslog=False)
    updater.update()
    lines = capsys.readouterr().out.splitlines()
    events = [json.loads(line)["event"] for line in lines]
    assert events == ["schedule", "update_found", "pulled", "healthy", "switched", "updated"]
    assert all(json.loads(line)["ts"] for line in lines)


def test_status_prints_state(host, make, capsys):
    make(D1)[0].update()
    capsys.readouterr()
    updater, _, _, _ = make(D1)
    assert main(["status"], updater=updater) == 0
    assert json.loads(capsys.readouterr().out)["current"] == D1


def test_state_write_is_atomic(tmp_path):
    target = tmp_path / "state.json"
    target.write_text("old")
    write_atomic(target, "new")
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_paths_from_env(tmp_path):
    paths = Paths.from_env({"INFERENCE_UPDATE_VAR": str(tmp_path), "HOME": "/home/x"})
    assert paths.state == tmp_path / "state.json" and paths.etc == Path("/etc/inference")
    assert paths.docker_config == Path("/home/x/.docker/config.json")


def test_an_image_that_fails_inference_never_takes_traffic_and_is_recorded_bad(host, make):
    make(D1)[0].update()
    host.infer_broken[D2] = -1
    updater, _, records, _ = make(D2)
    assert updater.update() == 1
    assert host.serving_port() == 8081 and host.running == {"blue": f"{REPO}@{D1}"}, "green stopped, blue serves"
    failed = records[-1]
    assert failed["event"] == "smoke_failed" and "passed /health but not a real inference" in failed["reason"]
    assert "HTTP 500" in failed["reason"] and state(host)["bad"] == [D2]
    assert host.smoked[-1] == (8082, "key-0123456789abcdef"), "the first key of the key file, comments skipped"
    host.calls.clear()
    assert make(D2)[0].update() == 0 and host.pulls() == [], "a digest recorded bad is not tried again"


def test_a_slot_still_loading_its_model_gets_time_to_answer(host, make):
    make(D1)[0].update()
    host.infer_broken[D2] = 3
    updater, _, records, clock = make(D2)
    assert updater.update() == 0 and host.serving_port() == 8082
    assert [r["event"] for r in records][-3:] == ["healthy", "switched", "updated"]
    assert records[-3]["inference"] == "ok"


class _Killed(Exception):
    """Stands in for the SIGKILL a failpoint sends (the test process must live on)."""


@pytest.mark.parametrize("point", updater_module.FAILPOINTS)
def test_a_swap_killed_at_any_step_converges_on_the_next_run(host, make, monkeypatch, point):
    make(D1)[0].update()

    def killed_at(name):
        if name == point:
            raise _Killed(name)
    monkeypatch.setattr(updater_module, "failpoint", killed_at)
    with pytest.raises(_Killed):
        make(D2)[0].update()
    assert host.serving_slot() == ("blue" if point == "before_switch" else "green")
    monkeypatch.undo()
    updater, _, records, _ = make(D2)
    assert updater.update() == 0
    assert host.serving_slot() == "green" and host.running == {"green": f"{REPO}@{D2}"}
    assert host.enabled == {"green"}, "only the serving slot starts at the next boot"
    saved = state(host)
    assert (saved["active_slot"], saved["current"], saved["previous"]) == ("green", D2, D1)
    assert "idle_slot_stopped" in [r["event"] for r in records] or point == "after_drain"


def test_the_new_slot_is_enabled_before_the_switch(host, make):
    make(D1)[0].update()
    make(D2)[0].update()
    assert host.serving["systemctl enable --quiet inference@green.service"] == "blue", \
        "a reboot right after the switch must start the slot the link names"
    assert host.serving["systemctl disable --quiet inference@blue.service"] == "green"


def test_a_failpoint_kills_the_updater_only_where_named():
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from inference_host.updater import failpoint; "
            "failpoint('after_drain'); failpoint('after_switch'); print('unreachable')")
    lib = str(IMAGE_DIR / "rootfs/usr/local/lib/inference")
    proc = subprocess.run([sys.executable, "-c", code, lib], capture_output=True, text=True,
                          env=dict(os.environ, INFERENCE_UPDATE_FAILPOINT="after_switch"))
    assert proc.returncode == -signal.SIGKILL and proc.stdout == ""
    quiet = subprocess.run([sys.executable, "-c", code, lib], capture_output=True, text=True,
                           env={k: v for k, v in os.environ.items() if k != "INFERENCE_UPDATE_FAILPOINT"})
    assert quiet.returncode == 0 and quiet.stdout == "unreachable\n"
