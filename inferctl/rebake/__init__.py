"""`invoke rebake`: the nightly job. Rebake only when an input changed, and promote only a
verified image (pipeline.py has the order and the rules; steps.py the steps, the same for AWS
and the local region).

    outcome = rebake.run(config, force=False)   # exit code: outcome.exit_code
"""

from __future__ import annotations

import json
import time

from ..paths import BUILD_DIR
from ..target import Target, open_target
from . import pipeline

REPORT = BUILD_DIR / "reports" / "rebake.json"


def _check_state(target: Target) -> None:
    """The roll applies the deployed stack: without its Terraform state it would build a second one."""
    from ..errors import UserError

    state = target.state_path
    if state is not None and not state.exists():
        raise UserError(f"no Terraform state for the deployed service ({state} does not exist here"
                        + ("" if target.local else ", and no [aws] state_bucket") + ")",
                        hint="deploy the service first (invoke deploy)" if target.local else
                        "set [aws] state_bucket to the S3 bucket invoke deploy used, so the nightly job "
                        "rolls the same stack")


def run(config, *, force: bool = False, target: Target | None = None, say=print,
        **injected) -> pipeline.Outcome:
    """The nightly pipeline against the config's target. ``injected``: steps' test doubles
    (``verify_run``, ``bake``), e.g. a verification that fails after promotion."""
    from .. import deploy
    from . import steps as rebake_steps

    start = time.monotonic()
    target = target or open_target(config)  # no credentials: one clear error here
    steps, rollback = rebake_steps.steps(
        config, target, say=say, **injected,
        # The roll: `invoke deploy`'s plan + apply with the AMI from the promoted channel, unattended.
        # The app image is not rebuilt or pushed: the hosts track its tag and the AMI carries its digest.
        apply=lambda: deploy.deploy(config, yes=True, image=False, target=target))
    bake = steps["bake"]

    def checked_bake(state):
        _check_state(target)  # after the decision (unchanged inputs need no state), before any spend
        bake(state)
    outcome = pipeline.run({**steps, "bake": checked_bake}, pipeline.State(force=force), rollback=rollback, say=say)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps({"target": target.name, **outcome.to_json()}, indent=2) + "\n")
    timings = ", ".join(f"{name} {seconds:.0f}s" for name, _, seconds in outcome.ran)
    say(f"rebake: {outcome.status} in {time.monotonic() - start:.0f}s ({timings}); report {REPORT}")
    return outcome
