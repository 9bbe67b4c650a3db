"""The rebake's steps for the local target: moto for the bookkeeping, nspawn hosts for instances.

bake = `bake --local` (a real Packer build on a bare local host, saved as a local AMI), the
canary = a local host booted from that AMI's disk, verify over nspawn:// and its address,
roll = the local service host replaced by one from the promoted AMI (same name and address,
its settings file and API keys carried over, as user-data would write them), like Terraform
replacing the single instance.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

from .. import verify
from ..bake import amis, front
from ..bake import local as bake_local
from ..errors import UserError
from ..local import host as local_host
from ..local import moto, netns, provision, registry
from .aws import REPORTS, checked
from .pipeline import State, Step

CANARY = "inferctl-canary"
CARRIED = ("/etc/inference/inference.env", "/etc/inference/api-keys")
MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json"])


def registry_digest(repository: str, tag: str) -> str | None:
    """Digest the local registry holds for repository:tag (a HEAD request, like ECR's lookup on
    AWS: the rebake compares what is published, it builds nothing); None when the tag is absent."""
    registry.start()
    request = urllib.request.Request(f"http://{registry.ADDRESS}/v2/{repository}/manifests/{tag}",
                                     method="HEAD", headers={"Accept": MANIFEST_TYPES})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.headers.get("Docker-Content-Digest")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise UserError(f"local registry {registry.ADDRESS}: HEAD {repository}:{tag} -> {exc.code}") from None


def replace_host(name: str, ami: str, say=print) -> local_host.LocalHost:
    """Replace local host ``name`` by one booted from ``ami``, keeping its address and settings."""
    old = local_host.LocalHost.load(name)
    guest = netns.guest(name)
    kept = {path: (Path(old.root) / path.lstrip("/")).read_bytes() for path in CARRIED
            if (Path(old.root) / path.lstrip("/")).is_file()}
    old.down()
    new = local_host.LocalHost.create(name, bake_local.ami_tar(ami), index=guest.index if guest else None)
    for path, data in kept.items():
        target = Path(new.root) / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    say(f"rebake: {name} replaced from {ami}, booted in {new.boot():.1f}s at {new.address}")
    return new


def steps(config, *, service: str = local_host.DEFAULT_NAME, say=print, verify_run=verify.run,
          bake=bake_local.bake) -> tuple[dict[str, Step], Step]:
    project = config.project.name
    moto.start()
    ec2, ssm = moto.client("ec2"), moto.client("ssm")

    def do_decide(state: State) -> None:
        digest = registry_digest(config.app.repository, config.app.tag)
        if digest is None:  # nothing published yet: publish the app as the deploy would
            digest = provision.publish_app(config)[1].rsplit("@", 1)[1]
        wanted = bake_local.current_inputs(f"{registry.ADDRESS}/{config.app.repository}@{digest}")
        state.reasons = amis.rebake_reasons(ec2, project, wanted)
        for reason in state.reasons:
            say(f"rebake: {reason}")
        if not state.reasons:
            newest = amis.baked_amis(ec2, project)[0]
            say(f"rebake: newest local AMI {newest['ImageId']} was built from the same inputs: "
                + ", ".join(f"{k} {v}" for k, v in wanted.items()))
            if state.force:
                state.reasons = ["--force given"]
                say("rebake: --force given: rebaking anyway")

    def do_bake(state: State) -> None:
        state.ami = bake(config, say=say)

    def do_canary(state: State) -> None:
        local_host.down(CANARY)  # one left by an interrupted run
        host = local_host.LocalHost.create(CANARY, bake_local.ami_tar(state.ami))
        state.canary = CANARY
        state.on_exit(f"remove canary host {CANARY}", lambda: local_host.down(CANARY))
        say(f"rebake: canary {CANARY} from {state.ami} booted in {host.boot():.1f}s at {host.address}")

    def do_verify_canary(state: State) -> None:
        report = verify_run(f"nspawn://{CANARY}", config, report_path=REPORTS / "verify-canary.json", say=say)
        checked(report, f"canary {CANARY}")
        local_host.down(CANARY)

    def do_promote(state: State) -> None:
        state.previous = amis.read_channel(ssm, project, "latest") or ""
        amis.promote(ec2, ssm, project, verified=True, ami_id=state.ami)
        say(f"rebake: local {amis.parameter_name(project, 'latest')}: {state.previous or '(none)'} -> {state.ami}")

    def do_roll(state: State) -> None:
        if service not in local_host.LocalHost.names():
            say(f"rebake: no local service host {service!r} running: the next local deploy boots {state.ami}")
            state.facts["rolled"] = False
            return
        replace_host(service, amis.read_channel(ssm, project, "latest"), say=say)
        state.facts["rolled"] = True

    def do_verify_service(state: State) -> None:
        if state.facts.get("rolled"):
            report = verify_run(f"nspawn://{service}", config, report_path=REPORTS / "verify.json", say=say)
            checked(report, f"local service host {service}")

    def do_prune(state: State) -> None:
        front.prune(config, local=True, apply=True)

    def rollback(state: State) -> None:
        if not state.previous:
            raise UserError("no previous local AMI in the channel to roll back to")
        amis.write_channel(ssm, project, "latest", state.previous)
        do_roll(state)

    return ({"decide": do_decide, "bake": do_bake, "canary": do_canary, "verify-canary": do_verify_canary,
             "promote": do_promote, "roll": do_roll, "verify-service": do_verify_service, "prune": do_prune},
            rollback)
