"""The nightly rebake as a pipeline of named steps with a promotion gate.

Order: decide -> bake -> canary -> verify-canary -> promote -> roll -> verify-service -> prune.
- `decide` may end the run early ("up to date"): nothing else runs.
- A failure before `promote` stops the run: the channel and the running service are untouched.
- A failure in `roll` or `verify-service` (after promotion) runs `rollback` when given (the
  previous AMI back in the channel, rolled again) and the run fails.
- A failure in `prune` fails the run, but the new image is live.
- Cleanups that steps register (e.g. terminating the canary) always run, newest first.
Each step is a function of the shared State, so tests inject their own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import UserError

ORDER = ("decide", "bake", "canary", "verify-canary", "promote", "roll", "verify-service", "prune")
GATE = "promote"  # nothing from here on runs unless every step before it passed


@dataclass
class State:
    force: bool = False
    reasons: list[str] = field(default_factory=list)  # why a rebake is needed; empty = up to date
    ami: str = ""                                      # the new image
    previous: str = ""                                 # what the channel held before promotion
    canary: str = ""                                   # canary target (instance id / local host)
    facts: dict = field(default_factory=dict)          # anything else steps pass along
    cleanups: list[tuple[str, Callable[[], None]]] = field(default_factory=list)

    def on_exit(self, name: str, fn: Callable[[], None]) -> None:
        self.cleanups.append((name, fn))


@dataclass
class Outcome:
    status: str                       # up-to-date | done | failed
    ran: list[tuple[str, str, float]] = field(default_factory=list)  # (step, ok|failed, seconds)
    failed_step: str = ""
    error: str = ""
    rolled_back: bool | None = None   # None: no rollback was needed

    @property
    def exit_code(self) -> int:
        return 1 if self.status == "failed" else 0

    def to_json(self) -> dict:
        return {"status": self.status, "failed_step": self.failed_step, "error": self.error,
                "rolled_back": self.rolled_back,
                "steps": [{"step": s, "result": r, "seconds": round(t, 2)} for s, r, t in self.ran]}


Step = Callable[[State], None]


def run(steps: dict[str, Step], state: State, *, rollback: Step | None = None,
        say: Callable[[str], None] = print) -> Outcome:
    """Run the steps in ORDER; ``steps`` must provide every name in ORDER."""
    missing = [name for name in ORDER if name not in steps]
    if missing:
        raise ValueError(f"pipeline steps missing: {missing}")
    outcome = Outcome("done")
    try:
        for name in ORDER:
            if not _step(name, steps[name], state, outcome, say):
                break
            if name == "decide" and not state.reasons:
                outcome.status = "up-to-date"
                say("rebake: up to date, nothing to do")
                break
        if outcome.status == "failed":
            _after_failure(outcome, state, rollback, say)
    finally:
        for name, fn in reversed(state.cleanups):
            try:
                fn()
                say(f"rebake: cleanup {name}: done")
            except Exception as exc:  # a failed cleanup must not hide the run's result
                say(f"rebake: cleanup {name} FAILED: {exc}")
    return outcome


def _step(name: str, fn: Step, state: State, outcome: Outcome, say) -> bool:
    say(f"rebake: [{name}] ...")
    start = time.monotonic()
    try:
        fn(state)
    except Exception as exc:  # any failure stops the run, reported by step name
        seconds = time.monotonic() - start
        outcome.ran.append((name, "failed", seconds))
        message = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
        outcome.status, outcome.failed_step, outcome.error = "failed", name, message
        say(f"rebake: [{name}] FAILED after {seconds:.1f}s: {outcome.error}")
        return False
    seconds = time.monotonic() - start
    outcome.ran.append((name, "ok", seconds))
    say(f"rebake: [{name}] ok ({seconds:.1f}s)")
    return True


def _after_failure(outcome: Outcome, state: State, rollback: Step | None, say) -> None:
    step = outcome.failed_step
    if ORDER.index(step) < ORDER.index(GATE):
        say(f"rebake: stopped before promotion ({step} failed): the channel and the running service "
            "are untouched")
    elif step == GATE:
        say("rebake: promotion failed: the running service is untouched")
    elif step == "prune":
        say(f"rebake: the new image {state.ami} is live; only pruning old images failed")
    elif rollback is None:
        say(f"rebake: {step} failed after promotion and no rollback is configured")
    else:
        error = outcome.error
        outcome.rolled_back = _step("rollback", rollback, state, outcome, say)
        if not outcome.rolled_back:
            error += f"; rollback failed too: {outcome.error}"
        outcome.status, outcome.failed_step, outcome.error = "failed", step, error
