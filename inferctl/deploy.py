"""invoke deploy / destroy: push the app image, then Terraform with the AMI and its digest.

The same root configuration serves both targets:
- aws: the account of the default credential chain (or aws.profile); state in S3 when
  aws.state_bucket is set, else a local state file in the build folder;
- local: a moto server on loopback (inferctl.local.moto); the image goes to the local
  registry; state lives beside moto's pid under STATE_DIR and is dropped when moto
  restarted (moto forgets everything it held).
Inputs are checked before anything is created: a missing AMI, a domain without a hosted
zone, a fleet without a way to get a certificate all stop with a one-line error.
"""

from __future__ import annotations

import base64
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import api_keys
from . import terraform as tf
from .config import Config
from .errors import UserError
from .paths import BUILD_DIR
from .shell import output, run

AMI_RE = re.compile(r"^ami-[0-9a-f]{8,17}$")


@dataclass
class Target:
    """Where a deploy acts: the name, the AWS endpoint (None = real AWS), a boto3 client factory."""
    name: str
    endpoint: str | None
    client: Callable
    state_path: Path | None  # None = S3 backend


def ami_parameter(config: Config) -> str:
    """The channel parameter bake writes and the rebake promotes."""
    return f"/{config.project.name}/ami/latest"


def open_target(config: Config, local: bool | None = None, server=None) -> Target:
    """Resolve the target (flag, else project.target); for local, start moto if needed.

    ``server``: the inferctl.local.moto.Moto to use (default: the machine's one)."""
    is_local = local if local is not None else config.project.target == "local"
    if is_local:
        from .local import moto
        server = server or moto.DEFAULT
        endpoint = server.start()
        state = server.state_dir / f"terraform-{config.project.name}.tfstate"
        if server.fresh and state.exists():
            print(f"deploy: moto was restarted, dropping stale local state {state}", flush=True)
            state.unlink()
        return Target("local", endpoint, lambda service: server.client(service, config.aws.region), state)
    import boto3
    session = boto3.Session(profile_name=config.aws.profile or None, region_name=config.aws.region)
    try:
        session.client("sts").get_caller_identity()
    except Exception as exc:  # botocore raises several unrelated types for missing credentials
        raise UserError(f"no usable AWS credentials ({type(exc).__name__}: {exc})",
                        hint="configure credentials (aws configure / AWS_PROFILE), or deploy --local") from None
    state = None if config.aws.state_bucket else BUILD_DIR / "terraform-state" / f"{config.project.name}.tfstate"
    return Target("aws", None, session.client, state)


# --- checks before anything is created ------------------------------------------------

def preflight(config: Config, ami: str | None) -> None:
    """Static checks the config file cannot express on its own."""
    if ami and not AMI_RE.match(ami):
        raise UserError(f"--ami {ami!r} is not an AMI id", hint="expected ami-0123456789abcdef0")
    if config.compute.mode == "fleet":
        if not (config.dns.domain or config.compute.certificate_arn):
            raise UserError("fleet mode serves HTTPS from an ALB and needs a certificate",
                            hint="set dns.domain (a certificate is requested) or compute.certificate_arn")
        if config.network.az_count < 2:
            raise UserError("fleet mode needs network.az_count >= 2 (an ALB spans two zones)")


def resolve_ami(target: Target, config: Config, ami: str | None) -> str:
    """The explicit AMI (checked to exist) or the channel parameter's value."""
    if not ami:
        name = ami_parameter(config)
        ssm = target.client("ssm")
        try:
            ami = ssm.get_parameter(Name=name)["Parameter"]["Value"]
        except ssm.exceptions.ParameterNotFound:
            raise UserError(f"no AMI to deploy: the parameter {name} does not exist in {config.aws.region}",
                            hint="bake one first (invoke bake" + (" --local" if target.endpoint else "")
                                 + ") or pass --ami ami-...") from None
    images = target.client("ec2").describe_images(Filters=[{"Name": "image-id", "Values": [ami]}])["Images"]
    if not images:
        raise UserError(f"AMI {ami} does not exist in {config.aws.region}",
                        hint="check the id and region, or bake again")
    return ami


def check_zone(target: Target, domain: str) -> str:
    """The public hosted zone id for ``domain``; the zone is looked up, never created."""
    zones = target.client("route53").list_hosted_zones_by_name(DNSName=domain)["HostedZones"]
    for zone in zones:
        if zone["Name"].rstrip(".") == domain and not zone.get("Config", {}).get("PrivateZone"):
            return zone["Id"].split("/")[-1]
    raise UserError(f"no public Route 53 hosted zone for {domain}",
                    hint="create (or delegate) the zone first, or set dns.domain = \"\" for no DNS")


def keys_parameter(target: Target, config: Config) -> str:
    """The API keys parameter the hosts read at boot: on AWS only (a local host has no
    instance metadata and makes its own key)."""
    return "" if target.name == "local" else api_keys.parameter_name(config.project.name)


def ensure_api_keys(target: Target, config: Config) -> None:
    """Create the API keys parameter with one random key if it is missing (never overwritten)."""
    name = keys_parameter(target, config)
    if name and api_keys.ensure_parameter(target.client("ssm"), name):
        print(f"deploy: created the SSM parameter {name} with one random API key "
              f"(read it with: aws ssm get-parameter --with-decryption --name {name})", flush=True)


# --- the app image ----------------------------------------------------------------------

def build_app_image(config: Config) -> str:
    """Build the app image (inferctl.app_image); returns the local image reference."""
    from . import app_image
    built = app_image.build(tag=f"{config.app.repository}:deploy", extra_ca=app_image.host_ca_bundle())
    print(f"deploy: built {built}", flush=True)
    return built.ref


def push_local(config: Config, image_ref: str) -> tuple[str, str]:
    """Push to the local registry; returns (repository, digest)."""
    from .local import registry
    pinned = registry.push(image_ref, config.app.repository, config.app.tag)
    repository, digest = pinned.split("@", 1)
    return repository, digest


def ecr_login(target: Target) -> str:
    """docker login to ECR with a fresh token (valid 12 h); returns the registry host."""
    data = target.client("ecr").get_authorization_token()["authorizationData"][0]
    user, password = base64.b64decode(data["authorizationToken"]).decode().split(":", 1)
    registry = data["proxyEndpoint"].removeprefix("https://")
    run(["docker", "login", "--username", user, "--password-stdin", registry], input=password, capture=True)
    return registry


def push_ecr(target: Target, config: Config, image_ref: str, repository_url: str) -> str:
    """Push ``image_ref`` as <repository_url>:<tag>; returns the digest."""
    ecr_login(target)
    remote = f"{repository_url}:{config.app.tag}"
    run(["docker", "tag", image_ref, remote], capture=True)
    print(f"deploy: pushing {remote}", flush=True)
    run(["docker", "push", "--quiet", remote], capture=True)
    for line in output(["docker", "image", "inspect", "--format",
                        "{{range .RepoDigests}}{{println .}}{{end}}", remote]).split():
        if line.startswith(f"{repository_url}@sha256:"):
            return line.split("@", 1)[1]
    raise UserError(f"pushed {remote} but docker reports no digest for it")


def ensure_repository(target: Target, ws: tf.Workspace, config: Config) -> str:
    """The ECR repository URL; created first by a targeted apply when it does not exist yet
    (the image must be in it before the hosts are planned)."""
    ecr = target.client("ecr")
    try:
        return ecr.describe_repositories(repositoryNames=[config.app.repository])["repositories"][0]["repositoryUri"]
    except ecr.exceptions.RepositoryNotFoundException:
        pass
    print(f"deploy: creating the ECR repository {config.app.repository} first (targeted apply)", flush=True)
    tf.apply(ws, tf.plan(ws, targets=["module.registry.aws_ecr_repository.this"]))
    return ecr.describe_repositories(repositoryNames=[config.app.repository])["repositories"][0]["repositoryUri"]


# --- deploy / destroy ---------------------------------------------------------------------

def _confirm(question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        raise UserError("not asking on a non-interactive terminal", hint="review the plan, then pass --yes")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def _workspace(config: Config, target: Target, variables: dict, workdir: Path | None) -> tf.Workspace:
    workdir = workdir or BUILD_DIR / "terraform" / f"{target.name}-{config.project.name}"
    ws = tf.prepare(workdir, variables, config=config, endpoint=target.endpoint, state_path=target.state_path)
    tf.init(ws)
    return ws


def deploy(config: Config, *, local: bool | None = None, yes: bool = False, ami: str | None = None,
           image: bool = True, server=None, workdir: Path | None = None) -> dict:
    """Push the app image, then plan, show, confirm and apply; returns the outputs.

    ``server``/``workdir``: another local moto server / Terraform working folder (tests)."""
    preflight(config, ami)
    target = open_target(config, local, server)
    print(f"deploy: target {target.name}" + (f" ({target.endpoint})" if target.endpoint else
                                             f" (region {config.aws.region})"), flush=True)
    ami_id = resolve_ami(target, config, ami)
    print(f"deploy: AMI {ami_id}" + ("" if ami else f" (from {ami_parameter(config)})"), flush=True)
    if config.dns.domain:
        check_zone(target, config.dns.domain)
    ensure_api_keys(target, config)
    local_registry = target.name == "local"
    # Without --ami, Terraform reads the channel parameter itself (checked to exist above).
    variables = tf.tfvars(config, ami_id=ami or "", registry_force_delete=local_registry,
                          api_keys_parameter=keys_parameter(target, config))
    ws = _workspace(config, target, variables, workdir)

    if image:
        image_ref = build_app_image(config)
        if local_registry:
            repository, digest = push_local(config, image_ref)
            variables["image_repository"] = repository
        else:
            digest = push_ecr(target, config, image_ref, ensure_repository(target, ws, config))
        variables["app_image_digest"] = digest
        print(f"deploy: app image digest {digest}", flush=True)
        tf.write_tfvars(ws, variables)

    planned = tf.plan(ws)
    for line in tf.summarize(planned.data):
        print(f"deploy: {line}", flush=True)
    if planned.changes:
        if not _confirm("apply this plan?", yes):
            raise UserError("deploy cancelled, nothing applied")
        tf.apply(ws, planned)
    else:
        print("deploy: nothing to change", flush=True)
    values = tf.outputs(ws)
    print(f"deploy: done; the service answers on {values.get('url')}", flush=True)
    for name in ("mode", "ami_id", "instance_id", "public_ip", "autoscaling_group_name", "alb_dns_name",
                 "repository_url", "tracked_image", "app_image_digest", "log_group_name"):
        if values.get(name):
            print(f"  {name:24} {values[name]}", flush=True)
    return values


def destroy(config: Config, *, local: bool | None = None, yes: bool = False, server=None,
            workdir: Path | None = None) -> None:
    """Plan the teardown of everything deploy made, show it, confirm, apply."""
    target = open_target(config, local, server)
    if target.state_path is not None and not target.state_path.exists():
        print(f"destroy: no state at {target.state_path}: nothing deployed on {target.name}", flush=True)
        return
    variables = tf.tfvars(config, registry_force_delete=target.name == "local",
                          api_keys_parameter=keys_parameter(target, config))
    ws = _workspace(config, target, variables, workdir)
    deployed = tf.outputs(ws)
    if not deployed:
        print("destroy: the state is empty: nothing to destroy", flush=True)
        return
    # Plan with what is deployed, so the teardown does not depend on the channel parameter.
    tf.write_tfvars(ws, {**variables, "ami_id": deployed.get("ami_id", "")})
    planned = tf.plan(ws, destroy=True)
    for line in tf.summarize(planned.data):
        print(f"destroy: {line}", flush=True)
    if not _confirm(f"destroy everything of {config.project.name} on {target.name}?", yes):
        raise UserError("destroy cancelled, nothing changed")
    tf.apply(ws, planned)
    print("destroy: done", flush=True)
