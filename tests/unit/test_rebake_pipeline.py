"""The rebake pipeline's ordering and gate with injected steps: what runs, what never does."""

import pytest

from inferctl.errors import UserError
from inferctl.rebake import pipeline


def recording(fail_at: str = "", changed: bool = True):
    calls = []

    def make(name):
        def step(state):
            calls.append(name)
            if name == "decide":
                state.reasons = ["RecipeHash changed"] if changed else []
            if name == "canary":
                state.on_exit("remove canary", lambda: calls.append("cleanup canary"))
            if name == fail_at:
                raise UserError(f"{name} broke")
        return step

    steps = {name: make(name) for name in pipeline.ORDER}
    return steps, calls, make("rollback")


def test_unchanged_inputs_stop_after_decide():
    steps, calls, _ = recording(changed=False)
    outcome = pipeline.run(steps, pipeline.State(), say=lambda s: None)
    assert calls == ["decide"]
    assert outcome.status == "up-to-date" and outcome.exit_code == 0


def test_changed_inputs_run_every_step_in_order_then_cleanups():
    steps, calls, rollback = recording()
    outcome = pipeline.run(steps, pipeline.State(), rollback=rollback, say=lambda s: None)
    assert calls == list(pipeline.ORDER) + ["cleanup canary"]
    assert outcome.status == "done" and outcome.exit_code == 0
    assert [name for name, result, _ in outcome.ran] == list(pipeline.ORDER)


@pytest.mark.parametrize("failing", ["bake", "canary", "verify-canary"])
def test_failure_before_promotion_stops_and_leaves_the_service_alone(failing):
    steps, calls, rollback = recording(fail_at=failing)
    said = []
    outcome = pipeline.run(steps, pipeline.State(), rollback=rollback, say=said.append)
    assert not {"promote", "roll", "verify-service", "prune", "rollback"} & set(calls)
    assert calls[-1] == ("cleanup canary" if failing != "bake" else "bake")
    assert outcome.status == "failed" and outcome.failed_step == failing and outcome.exit_code == 1
    assert f"{failing} broke" in outcome.error
    assert any("stopped before promotion" in line for line in said)


def test_failure_after_promotion_rolls_back():
    steps, calls, rollback = recording(fail_at="verify-service")
    outcome = pipeline.run(steps, pipeline.State(), rollback=rollback, say=lambda s: None)
    assert calls[-3:] == ["verify-service", "rollback", "cleanup canary"]
    assert "prune" not in calls
    assert outcome.failed_step == "verify-service" and outcome.rolled_back is True and outcome.exit_code == 1


def test_a_failed_rollback_is_reported_with_the_original_error():
    steps, calls, _ = recording(fail_at="roll")

    def bad_rollback(state):
        raise UserError("previous AMI gone")
    outcome = pipeline.run(steps, pipeline.State(), rollback=bad_rollback, say=lambda s: None)
    assert outcome.rolled_back is False
    assert outcome.failed_step == "roll"
    assert "roll broke" in outcome.error and "previous AMI gone" in outcome.error


def test_prune_failure_fails_the_run_without_rollback():
    steps, calls, rollback = recording(fail_at="prune")
    outcome = pipeline.run(steps, pipeline.State(), rollback=rollback, say=lambda s: None)
    assert "rollback" not in calls and outcome.exit_code == 1 and outcome.rolled_back is None


def test_unexpected_exceptions_are_failures_and_cleanups_still_run():
    steps, calls, _ = recording()

    def crash(state):
        calls.append("verify-canary")
        raise KeyError("Instances")
    steps["verify-canary"] = crash
    outcome = pipeline.run(steps, pipeline.State(), say=lambda s: None)
    assert outcome.error == "KeyError: 'Instances'"
    assert calls[-1] == "cleanup canary" and "promote" not in calls


def test_every_step_is_required():
    steps, _, _ = recording()
    del steps["prune"]
    with pytest.raises(ValueError, match="prune"):
        pipeline.run(steps, pipeline.State())
