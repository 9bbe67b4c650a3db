"""`invoke up`: from an empty account to a verified service in one command; run again, it changes
nothing. Its steps are the other tasks', in order:

    checks: inputs, credentials, state bucket, hosted zone, instance type against the AMI's
            architecture, the tools a bake needs          (nothing is created before they pass)
    -> the app image built and pushed by digest (ECR: the repository is created first if missing)
    -> the promoted AMI (/<project>/ami/latest), or, when none is promoted, a bake (Packer and the
       image's testinfra suite, on the build instance)
    -> terraform plan/apply (`invoke deploy`) -> the service answers -> `invoke verify`
    -> `invoke promote` of the AMI this run baked, once the service on it has verified

A re-run finds the same digest (the push adds nothing), the promoted AMI (no bake), an empty
plan (nothing applied) and verifies again. A failure after a bake leaves that AMI as the
unpromoted candidate, and the message says how to go on.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from . import deploy, health, verify
from .bake import amis, front
from .config import Config
from .errors import UserError
from .shell import require
from .target import Target, open_target
from .verify import targets

SERVING_TIMEOUT = 600.0     # a new instance boots and pulls nothing (the AMI holds the image)


def promoted_ami(target: Target, config: Config) -> dict | None:
    """The promoted AMI's description, when the channel names one that exists here."""
    ami = amis.read_channel(target.client("ssm"), config.project.name, "latest")
    if not ami:
        return None
    found = target.client("ec2").describe_images(Filters=[{"Name": "image-id", "Values": [ami]}])["Images"]
    if not found:
        raise UserError(f"{amis.parameter_name(config.project.name, 'latest')} names {ami}, which does not "
                        f"exist in {config.aws.region}",
                        hint="bake and promote again (invoke bake, then verify and promote), or "
                             "delete the parameter so that up bakes one")
    return found[0]


def wait_healthy(url: str, timeout: float = SERVING_TIMEOUT) -> float:
    """Seconds until GET ``url`` answers 200; a UserError naming the last answer after ``timeout``."""
    waited = health.wait_for_200(url, timeout, interval=0.5, request_timeout=5)
    if waited.seconds is None:
        raise UserError(f"{url} did not answer 200 within {timeout:.0f}s (last: {waited.last})",
                        hint="see the instance's console or journal; invoke verify shows which checks fail")
    return waited.seconds


def wait_serving(target: Target, config: Config, say: Callable[[str], None]) -> None:
    """Every endpoint of the service answers /health (a new instance may still be booting)."""
    plan = targets.resolve(verify.default_target(config), config, ec2=target.client("ec2"))
    for endpoint in plan.endpoints:
        say(f"{endpoint.url}/health answered 200 after {wait_healthy(endpoint.url + '/health'):.1f}s")


def stages(label: str, say: Callable[[str], None]) -> Callable[[str, Callable[[], object]], None]:
    """A step runner reporting each step as ``[label] title ...`` then ``[label] title: done in N s``."""
    def stage(title: str, action: Callable[[], object]) -> None:
        started = time.monotonic()
        say(f"[{label}] {title} ...")
        action()
        say(f"[{label}] {title}: done in {time.monotonic() - started:.1f}s")
    return stage


def up(config: Config, *, yes: bool = False, target: Target | None = None,
       say: Callable[[str], None] = print, label: str = "up") -> dict:
    """Run every step, each reported as ``[label] step ...`` and ``[label] step: done in N s``;
    returns Terraform's outputs with the ``ami`` that serves and whether this run ``baked`` it."""
    target = target or open_target(config)
    facts: dict = {}
    stage = stages(label, say)

    def checks() -> None:
        deploy.preflight(config, None)
        say(f"{label}: project {config.project.name} on {target.name}"
            + (f" ({target.endpoint})" if target.endpoint else f" (region {config.aws.region})"))
        deploy.check_state_bucket(target, config)
        if config.dns.domain:
            deploy.check_zone(target, config.dns.domain)
        facts["image"] = image = promoted_ami(target, config)
        if image:
            deploy.check_architecture(target, config, image)
            say(f"{label}: the promoted AMI {image['ImageId']} is what the stack runs (no bake)")
            return
        deploy.check_architecture(target, config, {"ImageId": "(to be baked)",
                                                   "Architecture": config.image.architecture})
        for tool in front.build_tools(target):
            require(tool)
        say(f"{label}: no promoted AMI ({amis.parameter_name(config.project.name, 'latest')}): "
            "this run bakes one")

    def publish() -> None:
        ws = deploy.workspace(config, target, deploy.stack_variables(config, target))
        facts["digest"] = deploy.publish_app(config, target, ws)
        say(f"{label}: app image {config.app.repository}:{config.app.tag} is {facts['digest']}")

    def bake() -> None:
        facts["baked"] = front.bake(config, target=target, say=say)

    def apply() -> None:
        ami = facts["baked"] or facts["image"]["ImageId"]
        facts["outputs"] = {**deploy.deploy(config, yes=yes, ami=ami, app_digest=facts["digest"], target=target),
                            "ami": ami}

    def check() -> None:
        report = verify.run(verify.default_target(config), config, ec2=target.client("ec2"), say=say)
        if not report.ok:
            left = f"; the baked AMI {facts['baked']} stays the unpromoted candidate" if facts["baked"] else ""
            raise UserError(f"the service does not verify: {', '.join(c.name for c in report.failed)}{left}",
                            hint=f"fix what the table above shows, then run invoke {label} again")

    facts["baked"] = None
    stage("checks (nothing is made before they pass)", checks)
    stage("app image -> the registry, by digest", publish)
    if not facts["image"]:
        stage("bake an AMI (Packer + the image's testinfra suite)", bake)
    stage("terraform plan and apply", apply)
    stage("the service serves", lambda: wait_serving(target, config, say))
    stage("verify the service (HTTP checks + live testinfra suite)", check)
    if facts["baked"]:
        stage("promote the AMI channel", lambda: front.promote(config, verified=True, ami=facts["baked"],
                                                               target=target))
    outputs = facts["outputs"]
    say(f"{label}: the service answers on {outputs.get('url')} and verifies")
    return {**outputs, "baked": bool(facts["baked"])}
