"""The updater's decisions: a new digest starts in the idle slot, traffic moves once it is healthy
and answers a real inference."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from .aws import AwsError
from .bad_digests import BadDigests
from .commands import run_command
from .config import Paths, Settings, read_env
from .errors import ConfigError, UpdateError
from .files import link_atomic, write_atomic
from .health import http_healthy, smoke_infer
from .journal import TAG, JournalLog, utc_now
from .keys import MIN_KEY_LENGTH, count_short, key_lines
from .registry import DIGEST_RE, Reference, Registry
from .schedule import calendar, dropin

SLOTS = {"blue": 8081, "green": 8082}
BAD_KEPT = 20
COMMAND_TIMEOUT = 120.0     # seconds for any docker or systemctl call (a hung daemon must not hold the lock)
HEAL_TIMEOUT = 330.0        # the slot unit's own start timeout (300 s) and a margin
SMOKE_TIMEOUT = 15.0        # a slot that passed /health has this long to answer a real inference
BLAMES_THE_IMAGE = ("unhealthy", "smoke_failed")   # failures that record the digest as bad
# Fault injection for the host tier's fault matrix: the updater kills itself (SIGKILL, as a crash
# or the OOM killer would) at the named point of a swap. Unset on every real host.
FAILPOINT_ENV = "INFERENCE_UPDATE_FAILPOINT"
FAILPOINTS = ("before_switch", "after_switch", "after_drain")
EMPTY_STATE = {"active_slot": None, "current": None, "previous": None, "bad": [],
               "last_check": None, "last_result": None}


def failpoint(name: str) -> None:
    if os.environ.get(FAILPOINT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


class Updater:
    """The decisions. Everything that touches the host is injected, so tests can fake it."""

    def __init__(self, paths: Paths, *, runner=run_command, registry=None, probe=http_healthy,
                 smoke=smoke_infer, log=None, sleep=time.sleep, clock=time.monotonic,
                 health_timeout: float | None = None, drain_seconds: float | None = None,
                 fleet_record=BadDigests):
        self.paths = paths
        self.run_cmd = lambda argv, timeout=COMMAND_TIMEOUT: runner(argv, timeout=timeout)
        self.registry = registry or Registry(paths, runner)
        self.probe = probe
        self.smoke = smoke
        self.log = log or JournalLog()
        self.sleep = sleep
        self.clock = clock
        self.health_timeout = health_timeout
        self.drain_seconds = drain_seconds
        self.fleet_record = fleet_record     # path -> the fleet's record of bad digests

    # state
    def load_state(self) -> dict:
        state = dict(EMPTY_STATE)
        if self.paths.state.exists():
            try:
                state.update(json.loads(self.paths.state.read_text()))
            except ValueError as exc:
                raise ConfigError(f"{self.paths.state} is not valid JSON ({exc}); fix or remove it") from None
        serving = self._discover()
        if serving and serving["active_slot"] != state["active_slot"]:
            # the link is what Caddy serves: a run cut off between the switch and the state's save
            # (crash, reboot, full disk) left the file behind; believing it would stop the live slot
            if state["active_slot"]:
                if serving.get("current") and serving["current"] != state["current"]:
                    state["previous"] = state["current"]
                self.log("state_repaired", "warning", recorded_slot=state["active_slot"],
                         serving_slot=serving["active_slot"], serving=serving.get("current"))
            state.update(serving)
        return state

    def _discover(self) -> dict:
        """No state yet (first run after the bake): the active slot is the one Caddy's socket link names."""
        link = self.paths.active_socket
        target = Path(os.readlink(link)) if link.is_symlink() else None
        slot = next((s for s in SLOTS if target == self.paths.slot_socket(s)), None)
        if not slot:
            return {}
        found = {"active_slot": slot}
        digest = read_env(self.paths.slot_env(slot)).get("IMAGE", "").rpartition("@")[2]
        if DIGEST_RE.match(digest):
            found["current"] = digest
        return found

    def save_state(self, state: dict) -> None:
        write_atomic(self.paths.state, json.dumps(state, indent=2, sort_keys=True) + "\n")

    # commands
    def cmd(self, argv: list[str], what: str, event: str = "command_failed", timeout: float = COMMAND_TIMEOUT,
            **fields) -> str:
        code, out, err = self.run_cmd(argv, timeout=timeout)
        if code != 0:
            detail = (err or out).strip().splitlines()
            raise UpdateError(event, f"{what} failed (exit {code}): {detail[-1] if detail else 'no output'}",
                              **fields)
        return out

    def settings(self) -> Settings:
        return Settings.load(self.paths)

    def check(self) -> int:
        settings = self.settings()
        ref = Reference.parse(settings.image)
        state = self.load_state()
        try:
            digest = self.registry.digest(ref)
        except UpdateError as exc:
            self.log(exc.event, "error", reason=exc.reason, image=settings.image, **exc.fields)
            return 1
        self.log("check", image=settings.image, digest=digest, current=state["current"],
                 update_available=digest != state["current"] and digest not in state["bad"],
                 known_bad=digest in state["bad"])
        return 0

    def update(self) -> int:
        settings = self.settings()
        ref = Reference.parse(settings.image)
        state = self.load_state()
        state["last_check"] = utc_now()
        try:
            self.schedule(settings)
        except ConfigError as exc:       # the timer keeps its last good schedule; updates go on
            self.log("schedule_error", "error", reason=str(exc))
        self.heal(state)
        try:
            digest = self.registry.digest(ref)
        except UpdateError as exc:
            return self._failed(state, exc, image=settings.image)
        if digest == state["current"]:
            return self._done(state, "unchanged", digest=digest)
        if digest in state["bad"]:
            return self._done(state, "skip_bad", digest=digest,
                              reason="recorded as bad; waiting for the tag to move to another digest")
        elsewhere = self._fleet_verdict(settings, digest)
        if elsewhere:
            state["bad"] = (state["bad"] + [digest])[-BAD_KEPT:]
            return self._done(state, "skip_bad", digest=digest, recorded_by=elsewhere.get("host", "?"),
                              reason=f"another host rolled it back: {elsewhere.get('reason', '?')}")
        self.log("update_found", image=settings.image, digest=digest, current=state["current"])
        try:
            self.deploy(ref, digest, state, settings)
        except UpdateError as exc:
            if exc.event in BLAMES_THE_IMAGE:
                state["bad"] = (state["bad"] + [digest])[-BAD_KEPT:]
                self._tell_fleet(settings, digest, exc.event, exc.reason)
            return self._failed(state, exc, digest=digest)
        self.prune_images(ref, state)
        return self._done(state, "updated", digest=digest, slot=state["active_slot"],
                          previous=state["previous"])

    def rollback(self) -> int:
        settings = self.settings()
        ref = Reference.parse(settings.image)
        state = self.load_state()
        target, leaving = state["previous"], state["current"]
        if not target:
            return self._failed(state, UpdateError("rollback_impossible", "no previous digest recorded"))
        self.log("rollback_start", digest=target, leaving=leaving)
        try:
            self.deploy(ref, target, state, settings)
        except UpdateError as exc:
            return self._failed(state, exc, digest=target)
        # the operator chose `target`; the digest left is held so the next run does not roll
        # straight forward again (a new push moves the tag to another digest and lifts that)
        bad = [d for d in state["bad"] if d not in (target, leaving)]
        state["bad"] = (bad + [leaving] if leaving else bad)[-BAD_KEPT:]
        if leaving:
            self._tell_fleet(settings, leaving, "rolled_back", "an operator rolled it back (inference-update rollback)")
        return self._done(state, "rolled_back", digest=target, slot=state["active_slot"],
                          held=leaving, reason="the digest left is held as bad until the tag moves")

    def _fleet_verdict(self, settings: Settings, digest: str) -> dict | None:
        """Another host's record of ``digest`` as bad, if any. Unreachable SSM: None (logged); this
        host's own gates still hold."""
        if not settings.bad_digests_path:
            return None
        try:
            return self.fleet_record(settings.bad_digests_path).lookup(digest)
        except (AwsError, OSError) as exc:
            self.log("fleet_record_unreadable", "warning", digest=digest, reason=str(exc))
            return None

    def _tell_fleet(self, settings: Settings, digest: str, event: str, reason: str) -> None:
        if not settings.bad_digests_path:
            return
        try:
            first = self.fleet_record(settings.bad_digests_path).publish(digest, event, reason)
        except (AwsError, OSError) as exc:
            self.log("fleet_record_failed", "warning", digest=digest, reason=str(exc))
            return
        self.log("fleet_recorded_bad", digest=digest, first=first)

    def restart(self) -> int:
        """The serving digest again, through the swap: a new container in the idle slot reads the
        current API keys and settings, then takes the traffic (rotation without a failed request)."""
        settings = self.settings()
        ref = Reference.parse(settings.image)
        state = self.load_state()
        digest = state["current"]
        if not digest:
            return self._failed(state, UpdateError("restart_impossible", "no digest is serving yet"))
        self.log("restart_start", digest=digest, slot=state["active_slot"])
        try:
            self.deploy(ref, digest, state, settings)
        except UpdateError as exc:
            return self._failed(state, exc, digest=digest)
        return self._done(state, "restarted", digest=digest, slot=state["active_slot"])

    def heal(self, state: dict) -> None:
        """The active slot must serve: one that failed, stopped, or runs but fails /health is reset
        and restarted (a slot still starting is left alone). The idle slot must neither run nor be
        enabled (a swap cut off by a crash or a reboot leaves it so). Logged; never fails the run."""
        slot = state["active_slot"]
        if not slot:
            return
        self._quiet_idle(next(s for s in SLOTS if s != slot))
        unit = f"inference@{slot}.service"
        _, out, _ = self.run_cmd(["systemctl", "is-active", unit])
        status = out.strip()
        if status in ("activating", "reloading") or (status == "active" and self.probe(SLOTS[slot])):
            return
        self.log("active_unhealthy", "warning", slot=slot, unit_state=status or "unknown")
        self.run_cmd(["systemctl", "reset-failed", unit])
        code, out, err = self.run_cmd(["systemctl", "restart", unit], timeout=HEAL_TIMEOUT)
        if code == 0 and self.probe(SLOTS[slot]):
            self.log("healed", slot=slot)
        else:
            self.log("heal_failed", "error", slot=slot, detail=(err or out).strip()[-300:] or f"exit {code}")

    def _quiet_idle(self, idle: str) -> None:
        unit = f"inference@{idle}.service"
        _, active, _ = self.run_cmd(["systemctl", "is-active", unit])
        _, enabled, _ = self.run_cmd(["systemctl", "is-enabled", unit])
        if active.strip() in ("inactive", "failed", "") and enabled.strip() != "enabled":
            return
        self.log("idle_slot_stopped", "warning", slot=idle, unit_state=active.strip(), enabled=enabled.strip())
        self._unit_step(["systemctl", "disable", "--now", "--quiet", unit])

    def prune_images(self, ref: Reference, state: dict) -> None:
        """Remove this repository's images other than the current and previous digests (a
        rollback's target stays; an image a container still uses is refused by docker and kept)."""
        keep = {state["current"], state["previous"]} - {None}
        code, out, _ = self.run_cmd(["docker", "image", "ls", "--digests", "--format",
                                     "{{.Repository}}@{{.Digest}}", ref.repo])
        if code:
            return
        stale = sorted({line.strip() for line in out.splitlines()
                        if "@sha256:" in line and line.strip().rpartition("@")[2] not in keep})
        removed = [image for image in stale if self.run_cmd(["docker", "image", "rm", image])[0] == 0]
        if stale:
            self.log("pruned", removed=removed, kept=sorted(keep), refused=sorted(set(stale) - set(removed)))

    def status(self) -> int:
        state = self.load_state()
        print(json.dumps(state, indent=2, sort_keys=True))
        return 0

    def schedule(self, settings: Settings | None = None) -> int:
        """Keep the timer's drop-in in line with UPDATE_SCHEDULE and UPDATE_SPREAD (run at every
        boot by inference-update-schedule.service, after user-data, and by every run)."""
        settings = settings or self.settings()
        on_calendar = calendar(settings.schedule)
        code, out, err = self.run_cmd(["systemd-analyze", "calendar", on_calendar])
        if code:
            detail = (err or out).strip().splitlines()
            raise ConfigError(f"UPDATE_SCHEDULE={settings.schedule!r} ({on_calendar!r}) is not a calendar "
                              f"expression systemd takes: {detail[-1] if detail else 'no detail'}")
        text = dropin(on_calendar, settings.spread)
        path = self.paths.timer_dropin
        if path.exists() and path.read_text() == text:
            return 0
        write_atomic(path, text)
        self.run_cmd(["systemctl", "daemon-reload"])
        self.run_cmd(["systemctl", "try-restart", f"{TAG}.timer"])   # a stopped timer stays stopped
        self.log("schedule", schedule=settings.schedule, on_calendar=on_calendar, spread=settings.spread,
                 file=str(path))
        return 0

    # the swap
    def deploy(self, ref: Reference, digest: str, state: dict, settings: Settings) -> None:
        """Start `digest` in the idle slot; switch only once it passes /health and a real inference.
        Raises with nothing changed."""
        old = state["active_slot"]
        new = "green" if old == "blue" else "blue"
        image = ref.pinned(digest)
        keys = settings.api_keys_file
        held = key_lines(keys.read_text()) if keys.exists() else []
        short = count_short(held)
        if not held or short:
            # the API refuses to start without keys or with a short one: not the image's fault
            why = (f"holds {short} key(s) shorter than {MIN_KEY_LENGTH} characters, which the API refuses"
                   if held else "holds no API key")
            raise UpdateError("keys_missing", f"{keys} {why}, so no slot could start; see "
                              f"`journalctl -u inference-api-keys`; slot {old or 'none'} keeps serving")
        self.cmd(["systemctl", "stop", f"inference@{new}.service"], f"stopping idle slot {new}")
        # a slot that crash-looped into its start limit refuses the next start until reset
        self.run_cmd(["systemctl", "reset-failed", f"inference@{new}.service"])
        code, _, _ = self.run_cmd(["docker", "image", "inspect", "--format", "{{.Id}}", image])
        if code != 0:
            started = self.clock()
            self.cmd(["docker", "pull", "--quiet", image], f"docker pull {image}", "pull_failed",
                     timeout=settings.pull_timeout, image=image)
            self.log("pulled", image=image, seconds=round(self.clock() - started, 2))
        write_atomic(self.paths.slot_env(new), f"IMAGE={image}\n")
        # --no-block: the unit's own start gate (ExecStartPost) and restart loop run under systemd,
        # the updater applies its timeout through its own /health probe
        self.cmd(["systemctl", "start", "--no-block", f"inference@{new}.service"], f"starting slot {new}",
                 "start_failed")
        timeout = self.health_timeout if self.health_timeout is not None else settings.health_timeout
        waited = self._wait_healthy(SLOTS[new], timeout)
        if waited is None:
            self.run_cmd(["systemctl", "stop", f"inference@{new}.service"])
            self.run_cmd(["systemctl", "reset-failed", f"inference@{new}.service"])
            code, _, err = self.run_cmd(["docker", "info", "--format", "{{.ServerVersion}}"])
            if code != 0:  # not the image's fault: do not record it as bad
                raise UpdateError("docker_unavailable", f"the docker daemon does not answer ({err.strip()}); "
                                  f"slot {old or 'none'} keeps serving", slot=new)
            raise UpdateError("unhealthy", f"{image} did not pass /health on 127.0.0.1:{SLOTS[new]} "
                              f"within {timeout:g}s; slot {old or 'none'} keeps serving", slot=new)
        failure = self._smoke(SLOTS[new], key_lines(keys.read_text())[0])
        if failure:
            self.run_cmd(["systemctl", "stop", f"inference@{new}.service"])
            self.run_cmd(["systemctl", "reset-failed", f"inference@{new}.service"])
            raise UpdateError("smoke_failed", f"{image} passed /health but not a real inference (its own "
                              f"OpenAPI example on POST /api/infer: {failure}); slot {old or 'none'} keeps serving",
                              slot=new)
        self.log("healthy", slot=new, port=SLOTS[new], seconds=round(waited, 2), inference="ok")
        # enabled before the switch: a reboot at any later point starts the slot the link names
        # (both slots, until the old one is disabled; the next run stops the extra one)
        self._unit_step(["systemctl", "enable", "--quiet", f"inference@{new}.service"])
        failpoint("before_switch")
        self.switch(new, old)
        failpoint("after_switch")
        if old:
            drain = self.drain_seconds if self.drain_seconds is not None else settings.drain_seconds
            self.sleep(drain)
            # the new slot serves from here on: a failure below is logged, not a failed update
            self._unit_step(["systemctl", "stop", f"inference@{old}.service"])
            self._unit_step(["systemctl", "disable", "--quiet", f"inference@{old}.service"])
        failpoint("after_drain")
        if state["current"] != digest:
            state["previous"] = state["current"]
        state["current"], state["active_slot"] = digest, new

    def _wait_healthy(self, port: int, timeout: float) -> float | None:
        start = self.clock()
        while True:
            if self.probe(port):
                return self.clock() - start
            if self.clock() - start >= timeout:
                return None
            self.sleep(0.5)

    def _unit_step(self, argv: list[str]) -> None:
        code, out, err = self.run_cmd(argv)
        if code:
            self.log("cleanup_failed", "error", command=" ".join(argv), detail=(err or out).strip())

    def _smoke(self, port: int, key: str) -> str:
        """'' once the slot answers a real inference (retried for SMOKE_TIMEOUT: workers may still
        be loading the model), else the last reason it did not."""
        deadline = self.clock() + SMOKE_TIMEOUT
        while True:
            failure = self.smoke(port, key)
            if not failure or self.clock() >= deadline:
                return failure
            self.sleep(0.5)

    def switch(self, new: str, old: str | None) -> None:
        """Point Caddy at the new slot by swapping the active-socket symlink (atomic rename).

        Caddy dials that path for every upstream request (its upstream keep-alive is off) and is
        never reloaded: the next request goes to ``new``, requests in flight finish on ``old``,
        and no client connection, idle or busy, is closed by the switch.
        """
        try:
            link_atomic(self.paths.active_socket, self.paths.slot_socket(new))
        except OSError as exc:
            self.run_cmd(["systemctl", "stop", f"inference@{new}.service"])
            raise UpdateError("switch_failed", f"could not point {self.paths.active_socket} at slot {new} "
                              f"({exc}); slot {old or 'none'} keeps serving") from None
        self.log("switched", slot=new, socket=str(self.paths.slot_socket(new)), previous_slot=old)

    def _done(self, state: dict, event: str, **fields) -> int:
        state["last_result"] = {"event": event, "ok": True, "at": utc_now(), **fields}
        self.save_state(state)
        self.log(event, **fields)
        return 0

    def _failed(self, state: dict, exc: UpdateError, **fields) -> int:
        fields = {**fields, **exc.fields}
        state["last_result"] = {"event": exc.event, "ok": False, "at": utc_now(), "reason": exc.reason, **fields}
        self.save_state(state)
        self.log(exc.event, "error", reason=exc.reason, serving=state["current"], **fields)
        return 1

