"""The rebake's steps for the local target: moto for the bookkeeping, nspawn hosts for instances.

bake = `bake --local` (a real Packer build on a bare local host, saved as a local AMI), the
canary = a local host booted from that AMI's disk, verify over nspawn:// and its address,
roll = what `invoke demo` does for a deploy: Terraform applied to moto replaces the instance
(the AMI comes from the promoted channel), then the local host is booted from that AMI's disk
with the new instance's user-data (inferctl.demo.boot_instance).
"""

from __future__ import annotations

import urllib.error
import urllib.request

from .. import verify
from ..bake import amis, front
from ..bake import local as bake_local
from ..errors import UserError
from ..local import host as local_host
from ..local import moto, provision, registry
from .aws import REPORTS, checked
from .pipeline import State, Step

CANARY = "inferctl-canary"
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


def steps(config, *, say=print, verify_run=verify.run, bake=bake_local.bake) -> tuple[dict[str, Step], Step]:
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
        from .. import deploy, demo  # demo imports this module: import on use

        ami = amis.read_channel(ssm, project, "latest")
        state_file = deploy.open_target(config, local=True).state_path
        if not state_file.exists() or local_host.DEFAULT_NAME not in local_host.LocalHost.names():
            say(f"rebake: nothing deployed locally: the next `invoke demo` (or deploy --local) boots {ami}")
            state.facts["service"] = ""
            return
        outputs = deploy.deploy(config, local=True, yes=True, image=False)
        host = demo.boot_instance(config, outputs["instance_id"], ami, say)
        url = f"http://{host.address}"
        say(f"rebake: {url}/health answered after {demo.wait_healthy(url + '/health'):.1f}s")
        state.facts["service"] = host.name

    def do_verify_service(state: State) -> None:
        if state.facts.get("service"):
            report = verify_run(f"nspawn://{state.facts['service']}", config,
                                report_path=REPORTS / "verify.json", say=say)
            checked(report, f"local service host {state.facts['service']}")

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
