"""The rebake's steps, one implementation for AWS and the local region (see pipeline.py for the
order and the promotion gate). The target gives the clients; the seams stay where they are: the
Packer source (bake.front), what an instance is (the local region's data plane boots the canary
and the rolled hosts), the channel to a host (verify.targets.channel)."""

from __future__ import annotations

import time
from collections.abc import Callable

from .. import verify
from ..bake import amis, front
from ..errors import UserError
from ..paths import BUILD_DIR
from ..target import Target
from . import canary, decide
from .pipeline import State, Step

REPORTS = BUILD_DIR / "reports"
REFRESH_DONE = {"Successful", "Failed", "Cancelled", "RollbackSuccessful", "RollbackFailed"}


def wait_instance_refresh(autoscaling, project: str, timeout: float = 3600, sleep=time.sleep) -> str:
    """Wait for the fleet's newest instance refresh (started by the apply) to finish."""
    name = canary.fleet_group(autoscaling, project)["AutoScalingGroupName"]
    deadline = time.monotonic() + timeout
    while True:
        refreshes = autoscaling.describe_instance_refreshes(AutoScalingGroupName=name)["InstanceRefreshes"]
        if not refreshes:
            raise UserError(f"the apply started no instance refresh of {name}",
                            hint="check the fleet module's instance_refresh block")
        status = refreshes[0]["Status"]
        if status in REFRESH_DONE:
            if status != "Successful":
                raise UserError(f"instance refresh of {name} ended {status}: {refreshes[0].get('StatusReason', '')}")
            return name
        if time.monotonic() > deadline:
            raise UserError(f"instance refresh of {name} still {status} after {timeout:.0f}s")
        sleep(30)


def checked(report, what: str) -> None:
    if report.exit_code():
        names = ", ".join(f"{c.name} ({c.target})" for c in report.failed) or "nothing was checked"
        raise UserError(f"{what} failed verification: {names}")


def steps(config, target: Target, *, apply: Callable[[], None], say=print, verify_run=verify.run,
          bake=None, wait=canary.wait_ready) -> tuple[dict[str, Step], Step]:
    """The step functions and the rollback.

    ``apply`` is the deploy (terraform apply of the service with the AMI from the channel).
    """
    project, mode = config.project.name, config.compute.mode
    ec2, ssm, autoscaling = target.client("ec2"), target.client("ssm"), target.client("autoscaling")

    def do_decide(state: State) -> None:
        state.reasons = decide.reasons(target, config, force=state.force, say=say)

    def do_bake(state: State) -> None:
        state.ami = (bake or front.bake)(config, target=target, say=say)

    def do_canary(state: State) -> None:
        state.canary = canary.launch(ec2, autoscaling, project, mode, state.ami)
        state.on_exit(f"terminate canary {state.canary}", lambda: canary.terminate(ec2, state.canary))
        say(f"rebake: canary {state.canary} from {state.ami}; waiting for its status checks and its channel")
        wait(ec2, ssm, state.canary, target.region)

    def do_verify_canary(state: State) -> None:
        # Fleet hosts take traffic only from the ALB: the canary is checked from the inside.
        report = verify_run(state.canary, config, with_http=(mode == "single"), ec2=ec2, ssm=ssm,
                            report_path=REPORTS / "verify-canary.json", say=say)
        checked(report, f"canary {state.canary}")

    def do_promote(state: State) -> None:
        state.previous = amis.read_channel(ssm, project, "latest") or ""
        amis.promote(ec2, ssm, project, verified=True, ami_id=state.ami)
        say(f"rebake: {amis.parameter_name(project, 'latest')}: {state.previous or '(none)'} -> {state.ami}")

    def do_roll(state: State) -> None:
        apply()
        if mode == "fleet":
            say(f"rebake: instance refresh of {wait_instance_refresh(autoscaling, project)} done")

    def do_verify_service(state: State, report_name: str = "verify.json") -> None:
        report = verify_run(verify.default_target(config), config, ec2=ec2, ssm=ssm,
                            report_path=REPORTS / report_name, say=say)
        checked(report, "the service")

    def do_prune(state: State) -> None:
        front.prune(config, apply=True, target=target)

    def rollback(state: State) -> None:
        if not state.previous:
            raise UserError("no previous AMI in the channel to roll back to")
        amis.write_channel(ssm, project, "latest", state.previous)
        say(f"rebake: rolling back to {state.previous}")
        do_roll(state)
        do_verify_service(state, "verify-rollback.json")  # a rollback counts once it is verified

    return ({"decide": do_decide, "bake": do_bake, "canary": do_canary, "verify-canary": do_verify_canary,
             "promote": do_promote, "roll": do_roll, "verify-service": do_verify_service, "prune": do_prune},
            rollback)
