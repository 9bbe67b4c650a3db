"""`invoke demo`: the whole pipeline on one machine, no AWS account.

    moto on loopback -> app image -> local registry -> bake --local (Packer + testinfra)
    -> terraform apply to moto -> the instance boots from the baked disk with its user-data
    -> verify (HTTP + live testinfra) -> promote the AMI channel

Each stage prints one progress line with its time. The stack stays up until
`invoke demo --down`, which removes every host, namespace, daemon and container it made.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from . import deploy, health, verify
from .bake import front
from .bake import local as bake_local
from .bootstrap import HOST_PACKAGES, missing_packages
from .config import Config
from .errors import UserError
from .local import docker, moto, netns, registry, user_data
from .local import host as local_host
from .paths import BUILD_DIR, STATE_DIR, ensure
from .rebake.local import CANARY

RECORD = STATE_DIR / "demo.json"
HEALTH_TIMEOUT = 90.0


def check_prerequisites() -> None:
    """Root and the host packages: a clear error naming the fix, before anything starts."""
    if os.geteuid() != 0:
        raise UserError("the local demo needs root (network namespaces, systemd-nspawn, dockerd)",
                        hint="run it as root")
    missing = missing_packages(HOST_PACKAGES)
    if missing:
        raise UserError(f"missing packages: {' '.join(missing)}", hint="run: python3 -m inferctl.bootstrap")


def wait_healthy(url: str, timeout: float = HEALTH_TIMEOUT) -> float:
    """Seconds until GET url answers 200; UserError after ``timeout``."""
    waited = health.wait_for_200(url, timeout, interval=0.5, request_timeout=3)
    if waited.seconds is None:
        raise UserError(f"{url} did not answer 200 within {timeout:.0f}s (last: {waited.last})",
                        hint="inspect the host: invoke local.host-shell")
    return waited.seconds


def boot_instance(config: Config, instance_id: str, ami: str, say) -> local_host.LocalHost:
    """What EC2 does for RunInstances: a host from the AMI's disk, its user-data applied."""
    local_host.down(local_host.DEFAULT_NAME)
    host = local_host.LocalHost.create(local_host.DEFAULT_NAME, bake_local.ami_tar(ami))
    text = user_data.of_instance(moto.client("ec2", config.aws.region), instance_id)
    written = user_data.apply(Path(host.root), text)
    say(f"demo: {instance_id} user-data ({len(text.encode())} bytes) wrote {', '.join(written)}")
    say(f"demo: host booted (systemd running) in {host.boot():.1f}s at {host.address}")
    return host


def up(config: Config, say: Callable[[str], None] = print) -> dict:
    """Run every stage; returns the record of what runs (also saved for --down)."""
    facts: dict = {}
    started = time.monotonic()

    def stage(title: str, action: Callable[[], None]) -> None:
        t0 = time.monotonic()
        say(f"[demo] {title} ...")
        action()
        say(f"[demo] {title}: done in {time.monotonic() - t0:.1f}s")

    def bake() -> None:
        facts["ami"] = bake_local.bake(config, say=say)

    def apply() -> None:
        outputs = deploy.deploy(config, local=True, yes=True, ami=facts["ami"])
        facts["instance_id"] = outputs["instance_id"]

    def boot() -> None:
        host = boot_instance(config, facts["instance_id"], facts["ami"], say)
        facts["host"], facts["url"] = host.name, f"http://{host.address}"
        say(f"demo: {facts['url']}/health answered 200 after {wait_healthy(facts['url'] + '/health'):.1f}s")

    def check() -> None:
        report = verify.run(f"nspawn://{facts['host']}", config,
                            report_path=BUILD_DIR / "reports" / "demo-verify.json", say=say)
        if not report.ok:
            raise UserError("the demo host failed verification: "
                            + ", ".join(c.name for c in report.failed),
                            hint="see the table above; the stack is left up for inspection")

    stage("prerequisites", check_prerequisites)
    stage("local AWS endpoint (moto on loopback)", lambda: say(f"demo: moto at {moto.start()}"))
    stage("bake a local AMI (app image -> registry -> Packer -> testinfra)", bake)
    stage("terraform apply to the local endpoint", apply)
    stage("boot the instance from the baked disk", boot)
    stage("verify (HTTP checks + live testinfra suite)", check)
    stage("promote the AMI channel", lambda: front.promote(config, local=True, verified=True, ami=facts["ami"]))
    ensure(RECORD.parent)
    RECORD.write_text(json.dumps(facts, indent=1))
    key = local_host.LocalHost.load(facts["host"]).exec("head -n1 /etc/inference/api-keys").stdout.strip()
    say(f"\ndemo: up in {time.monotonic() - started:.0f}s. The service: {facts['url']}\n"
        f"  curl -s {facts['url']}/health\n"
        f"  curl -s -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\\n"
        f"       -d '{{\"instances\": [[5.1, 3.5, 1.4, 0.2]]}}' {facts['url']}/api/infer\n"
        f"  invoke verify            # prove it again\n"
        f"  invoke local.host-shell  # look inside (no SSH: nsenter)\n"
        f"  invoke demo --down       # remove everything")
    return facts


def down(config: Config, say: Callable[[str], None] = print) -> None:
    """Remove everything the demo (and a half-finished one) started; reports each step."""
    problems = []

    def step(title: str, action: Callable[[], object]) -> None:
        try:
            action()
            say(f"demo --down: {title}")
        except (UserError, OSError) as exc:
            problems.append(f"{title}: {exc}")

    for name in (local_host.DEFAULT_NAME, bake_local.BAKE_HOST, CANARY):
        step(f"host {name} removed", lambda name=name: local_host.down(name))
    if moto.running():
        step("terraform state destroyed", lambda: deploy.destroy(config, local=True, yes=True))
    step("moto stopped", moto.stop)
    step("registry stopped", lambda: registry.stop(force=True))
    step("dockerd stopped (if this project started it)", docker.stop_daemon)
    step("network namespaces, veths and NAT rules removed", netns.teardown)
    if RECORD.exists():  # moto forgot the AMI with its restart: its disk would only take space
        ami = json.loads(RECORD.read_text()).get("ami")
        if ami:
            step(f"local AMI disk {ami} removed", lambda: bake_local.remove_disk(ami))
    RECORD.unlink(missing_ok=True)
    if problems:
        raise UserError("demo --down left something behind: " + "; ".join(problems))
