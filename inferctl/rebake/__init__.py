"""`invoke rebake`: the nightly job. Rebake only when an input changed, and promote only a
verified image (pipeline.py has the order and the rules; aws.py and local.py the steps).

    outcome = rebake.run(config, force=False, local=False)   # exit code: outcome.exit_code
"""

from __future__ import annotations

import json
import time

from ..paths import BUILD_DIR
from . import pipeline

REPORT = BUILD_DIR / "reports" / "rebake.json"


def _aws_steps(config, say):
    from ..bake.preflight import open_session
    from . import aws

    session, account = open_session(config.aws.region, config.aws.profile)  # no credentials: clear error here
    steps, rollback = aws.steps(config, session=session, account=account, apply=lambda: _deploy(config), say=say)
    bake = steps["bake"]

    def checked_bake(state):
        _check_state(config)  # after the decision (unchanged inputs need no state), before any spend
        bake(state)
    return {**steps, "bake": checked_bake}, rollback


def _check_state(config) -> None:
    """The roll applies the deployed stack: without its Terraform state it would build a second one."""
    from ..deploy import open_target
    from ..errors import UserError

    state = open_target(config, local=False).state_path
    if state is not None and not state.exists():
        raise UserError(f"no Terraform state for the deployed service (no [aws] state_bucket, and {state} "
                        "does not exist here)", hint="set [aws] state_bucket to the S3 bucket invoke deploy "
                        "used, so the nightly job rolls the same stack")


def _deploy(config) -> None:
    """The roll: `invoke deploy`'s plan + apply with the AMI from the promoted channel, unattended.

    The app image is not rebuilt or pushed: the hosts track its tag and the AMI carries its digest.
    """
    from .. import deploy

    deploy.deploy(config, local=False, yes=True, image=False)


def run(config, *, force: bool = False, local: bool = False, say=print) -> pipeline.Outcome:
    start = time.monotonic()
    if local:
        from . import local as target
        steps, rollback = target.steps(config, say=say)
    else:
        steps, rollback = _aws_steps(config, say)
    outcome = pipeline.run(steps, pipeline.State(force=force), rollback=rollback, say=say)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps({"target": "local" if local else "aws", **outcome.to_json()}, indent=2) + "\n")
    timings = ", ".join(f"{name} {seconds:.0f}s" for name, _, seconds in outcome.ran)
    say(f"rebake: {outcome.status} in {time.monotonic() - start:.0f}s ({timings}); report {REPORT}")
    return outcome
