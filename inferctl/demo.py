"""`invoke demo`: the whole pipeline on one machine, no AWS account: `invoke up` (the AWS code
path: checks, app image, bake, deploy, verify, promote) run against the local region.

    local region (moto + data plane) -> app image -> local registry -> bake (Packer + testinfra)
    -> terraform apply: the region boots the instance from the baked disk with its user-data
    -> verify the service (HTTP + live testinfra, by instance id) -> promote the AMI channel

Each stage prints one progress line with its time. The stack stays up until
`invoke demo --down`, which removes every host, namespace, daemon and container it made.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable

from . import deploy
from . import up as stack_up
from .bootstrap import HOST_PACKAGES, missing_packages
from .config import Config
from .errors import UserError
from .local import docker, moto, netns, registry
from .local import host as local_host
from .paths import STATE_DIR, ensure
from .region import disks
from .target import open_target, with_target
from .verify import keys, targets

RECORD = STATE_DIR / "demo.json"


def check_prerequisites() -> None:
    """Root and the host packages: a clear error naming the fix, before anything starts."""
    if os.geteuid() != 0:
        raise UserError("the local demo needs root (network namespaces, systemd-nspawn, dockerd)",
                        hint="run it as root")
    missing = missing_packages(HOST_PACKAGES)
    if missing:
        raise UserError(f"missing packages: {' '.join(missing)}", hint="run: python3 -m inferctl.bootstrap")


def up(config: Config, say: Callable[[str], None] = print) -> dict:
    """Run every stage (`invoke up`'s, on the local region); returns the record of what runs
    (also saved for --down)."""
    config = with_target(config, local=True)
    facts: dict = {}
    started = time.monotonic()

    stage = stack_up.stages("demo", say)

    def region() -> None:
        facts["target"] = open_target(config)
        say(f"demo: local region at {facts['target'].endpoint}")

    stage("prerequisites", check_prerequisites)
    stage("local AWS region (moto + data plane on loopback)", region)
    outputs = stack_up.up(config, yes=True, target=facts["target"], say=say, label="demo")
    facts.update(ami=outputs["ami"], instance_id=outputs["instance_id"])
    plan = targets.resolve(facts["instance_id"], config, ec2=facts["target"].client("ec2"))
    facts["endpoint"], facts["url"] = plan.endpoints[0], plan.endpoints[0].url
    key = keys.api_key(config, facts["endpoint"])
    record = {name: facts[name] for name in ("ami", "instance_id", "url")}
    ensure(RECORD.parent)
    RECORD.write_text(json.dumps(record, indent=1))
    say(f"\ndemo: up in {time.monotonic() - started:.0f}s. The service: {facts['url']} "
        f"(instance {facts['instance_id']})\n"
        f"  curl -s {facts['url']}/health\n"
        f"  curl -s -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\\n"
        f"       -d '{{\"instances\": [[5.1, 3.5, 1.4, 0.2]]}}' {facts['url']}/api/infer\n"
        f"  invoke verify --local    # prove it again (every instance of the service)\n"
        f"  invoke local.host-shell --name {facts['instance_id']}  # look inside (no SSH: nsenter)\n"
        f"  invoke demo --down       # remove everything")
    return record


def down(config: Config, say: Callable[[str], None] = print) -> None:
    """Remove everything the demo (and a half-finished one) started; reports each step."""
    problems = []

    def step(title: str, action: Callable[[], object]) -> None:
        try:
            action()
            say(f"demo --down: {title}")
        except (UserError, OSError) as exc:
            problems.append(f"{title}: {exc}")

    config = with_target(config, local=True)
    step(f"host {local_host.DEFAULT_NAME} removed", lambda: local_host.down(local_host.DEFAULT_NAME))
    if moto.running():
        step("terraform state destroyed", lambda: deploy.destroy(config, yes=True))
    step("local region stopped (its instances' hosts with it)", moto.stop)
    step("registry stopped", lambda: registry.stop(force=True))
    step("dockerd stopped (if this project started it)", docker.stop_daemon)
    step("network namespaces, veths and NAT rules removed", netns.teardown)
    if RECORD.exists():  # moto forgot the AMI with its restart: its disk would only take space
        ami = json.loads(RECORD.read_text()).get("ami")
        if ami:
            step(f"local AMI disk {ami} removed", lambda: disks.remove(ami))
    RECORD.unlink(missing_ok=True)
    if problems:
        raise UserError("demo --down left something behind: " + "; ".join(problems))
