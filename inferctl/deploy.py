"""invoke deploy / destroy: push the app image, then Terraform with the AMI and its digest.

One code path for AWS and the local region (inferctl.target says where, with which clients,
state and image registry). Inputs are checked before anything is created: a missing AMI, a
domain without a hosted zone, a fleet without a way to get a certificate all stop with a
one-line error.
"""

from __future__ import annotations

import base64
import re
import sys
from pathlib import Path

from botocore.exceptions import ClientError

from . import api_keys, bad_digests
from . import terraform as tf
from .bake.amis import parameter_name, read_channel
from .config import Config
from .errors import UserError
from .paths import BUILD_DIR
from .shell import output, run
from .target import Target, open_target

AMI_RE = re.compile(r"^ami-[0-9a-f]{8,17}$")


def ami_parameter(config: Config) -> str:
    """The channel parameter bake writes and the rebake promotes."""
    return parameter_name(config.project.name, "latest")


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
            candidate = read_channel(ssm, config.project.name, "candidate")
            hint = (f"the baked candidate {candidate} is not promoted yet: verify a host of it, then "
                    f"invoke promote --verified (or deploy it with --ami {candidate})" if candidate else
                    "bake one first (invoke bake) or pass --ami ami-...")
            raise UserError(f"no AMI to deploy: the parameter {name} does not exist in {config.aws.region}",
                            hint=hint) from None
    images = target.client("ec2").describe_images(Filters=[{"Name": "image-id", "Values": [ami]}])["Images"]
    if not images:
        raise UserError(f"AMI {ami} does not exist in {config.aws.region}",
                        hint="check the id and region, or bake again")
    check_architecture(target, config, images[0])
    return ami


def check_architecture(target: Target, config: Config, image: dict) -> None:
    """The instance type runs the AMI's architecture (else AWS refuses the launch, for a fleet
    only later and asynchronously, in the Auto Scaling group's activity)."""
    kind = config.compute.instance_type
    try:
        found = target.client("ec2").describe_instance_types(InstanceTypes=[kind])["InstanceTypes"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "InvalidInstanceType":
            raise UserError(f"[compute] instance_type {kind} does not exist in {config.aws.region}",
                            hint="pick a type offered in the region, e.g. t3.small (x86_64) or t4g.small (arm64)") from None
        raise
    supported = found[0]["ProcessorInfo"]["SupportedArchitectures"] if found else []
    architecture = image.get("Architecture", "x86_64")
    if supported and architecture not in supported:
        raise UserError(f"[compute] instance_type {kind} runs {', '.join(supported)}, but AMI {image['ImageId']} "
                        f"is {architecture}", hint=f"choose an {architecture} instance type, or bake for "
                        f"{supported[0]} ([image] architecture = \"{supported[0]}\")")


def check_state_bucket(target: Target, config: Config) -> None:
    """The S3 bucket of the Terraform state exists and is reachable (it is never created here)."""
    bucket = config.aws.state_bucket
    if target.state_path is not None or not bucket:
        return
    try:
        target.client("s3").head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code in ("404", "NoSuchBucket"):
            raise UserError(f"the Terraform state bucket {bucket} ([aws] state_bucket) does not exist",
                            hint=f"create it once, versioned and private: aws s3 mb s3://{bucket} "
                                 f"--region {config.aws.region}") from None
        raise UserError(f"the Terraform state bucket {bucket} ([aws] state_bucket) is not readable with these "
                        f"credentials ({code})", hint="check the bucket name and your role's s3 permissions") from None


def check_zone(target: Target, domain: str) -> str:
    """The public hosted zone id for ``domain``; the zone is looked up, never created."""
    zones = target.client("route53").list_hosted_zones_by_name(DNSName=domain)["HostedZones"]
    for zone in zones:
        if zone["Name"].rstrip(".") == domain and not zone.get("Config", {}).get("PrivateZone"):
            return zone["Id"].split("/")[-1]
    raise UserError(f"no public Route 53 hosted zone for {domain}",
                    hint="create (or delegate) the zone first, or set dns.domain = \"\" for no DNS")


def ensure_api_keys(target: Target, config: Config) -> None:
    """Create the API keys parameter the hosts read at boot (through their instance metadata's
    role credentials) with one random key if it is missing (never overwritten)."""
    name = api_keys.parameter_name(config.project.name)
    if api_keys.ensure_parameter(target.client("ssm"), name):
        print(f"deploy: created the SSM parameter {name} with one random API key "
              f"(read it with: aws ssm get-parameter --with-decryption --name {name})", flush=True)


# --- the app image ----------------------------------------------------------------------

def build_app_image(config: Config) -> str:
    """Build the app image (inferctl.app_image); returns the local image reference."""
    from . import app_image
    built = app_image.build_for(config, f"{config.app.repository}:deploy")
    print(f"deploy: built {built}", flush=True)
    return built.ref


def image_repository(target: Target, config: Config) -> str:
    """The repository the hosts pull from when it is not the stack's ECR repository ("" = ECR)."""
    return f"{target.registry}/{config.app.repository}" if target.registry else ""


def push_local(config: Config, image_ref: str) -> str:
    """Push to the local registry (the local region has no ECR data plane); returns the digest."""
    from .local import registry
    return registry.push(image_ref, config.app.repository, config.app.tag).split("@", 1)[1]


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


def publish_app(config: Config, target: Target, ws: tf.Workspace | None = None) -> str:
    """Build the app image and push it where the hosts pull from (ECR, or the local region's
    registry); returns its digest. A first push to ECR creates the repository through ``ws``."""
    image_ref = build_app_image(config)
    if target.registry:
        return push_local(config, image_ref)
    if ws is None:
        raise UserError("publishing to ECR needs the Terraform workspace (internal)")
    return push_ecr(target, config, image_ref, ensure_repository(target, ws, config))


# --- deploy / destroy ---------------------------------------------------------------------

def _confirm(question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        raise UserError("not asking on a non-interactive terminal", hint="review the plan, then pass --yes")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def stack_variables(config: Config, target: Target, ami: str = "") -> dict:
    return tf.tfvars(config, ami_id=ami,
                     image_repository=image_repository(target, config),
                     api_keys_parameter=api_keys.parameter_name(config.project.name),
                     bad_digests_path=bad_digests.path(config.project.name))


def workspace(config: Config, target: Target, variables: dict, workdir: Path | None = None) -> tf.Workspace:
    """The stack's Terraform working copy (build/terraform/<target>-<project>), initialised."""
    workdir = workdir or BUILD_DIR / "terraform" / f"{target.name}-{config.project.name}"
    ws = tf.prepare(workdir, variables, config=config, endpoint=target.endpoint, state_path=target.state_path)
    tf.init(ws)
    return ws


def deploy(config: Config, *, yes: bool = False, ami: str | None = None, image: bool = True,
           app_digest: str = "", target: Target | None = None, workdir: Path | None = None) -> dict:
    """Push the app image, then plan, show, confirm and apply; returns the outputs.

    ``app_digest``: the digest already pushed (no build, no push). ``target``/``workdir``: an open
    target / another Terraform working folder (tests)."""
    preflight(config, ami)
    target = target or open_target(config)
    print(f"deploy: target {target.name}" + (f" ({target.endpoint})" if target.endpoint else
                                             f" (region {config.aws.region})"), flush=True)
    check_state_bucket(target, config)
    ami_id = resolve_ami(target, config, ami)
    print(f"deploy: AMI {ami_id}" + ("" if ami else f" (from {ami_parameter(config)})"), flush=True)
    if config.dns.domain:
        check_zone(target, config.dns.domain)
    ensure_api_keys(target, config)
    # Without --ami, Terraform reads the channel parameter itself (checked to exist above).
    variables = stack_variables(config, target, ami or "")
    ws = workspace(config, target, variables, workdir)

    if image or app_digest:
        digest = app_digest or publish_app(config, target, ws)
        variables["app_image_digest"] = digest
        print(f"deploy: app image digest {digest}", flush=True)
        tf.write_tfvars(ws, variables)

    planned = tf.plan(ws)
    for line in tf.summarize(planned.data):
        print(f"deploy: {line}", flush=True)
    print_cost_estimate(target, config, planned.data)
    if planned.changes:
        if not _confirm("apply this plan?", yes):
            raise UserError("deploy cancelled, nothing applied")
        tf.apply(ws, planned)
    else:
        print("deploy: nothing to change", flush=True)
    values = tf.outputs(ws)
    print(f"deploy: done; the service answers on {values.get('url')}", flush=True)
    for name in ("mode", "ami_id", "instance_id", "public_ip", "autoscaling_group_name", "alb_dns_name",
                 "repository_url", "tracked_image", "app_image_digest", "log_group_name", "dashboard_url",
                 "alerts_topic_arn", "waf_mode"):
        if values.get(name):
            print(f"  {name:24} {values[name]}", flush=True)
    return values


def destroy(config: Config, *, yes: bool = False, target: Target | None = None,
            workdir: Path | None = None) -> None:
    """Plan the teardown of everything deploy made, show it, confirm, apply."""
    target = target or open_target(config)
    if target.state_path is not None and not target.state_path.exists():
        print(f"destroy: no state at {target.state_path}: nothing deployed on {target.name}", flush=True)
        return
    variables = stack_variables(config, target)
    ws = workspace(config, target, variables, workdir)
    deployed = tf.outputs(ws)
    if not deployed:
        print("destroy: the state is empty: nothing to destroy", flush=True)
        return
    # Plan with what is deployed, so the teardown does not depend on the channel parameter.
    tf.write_tfvars(ws, {**variables, "ami_id": deployed.get("ami_id", "")})
    planned = tf.plan(ws, destroy=True)
    for line in tf.summarize(planned.data):
        print(f"destroy: {line}", flush=True)
    # Terraform deletes the ECR repository only when it is empty (force_delete is off on AWS).
    ecr = target.client("ecr")
    images = repository_images(ecr, config.app.repository)
    for line in teardown_notes(target, config, images):
        print(f"destroy: {line}", flush=True)
    question = f"destroy everything of {config.project.name} on {target.name}"
    if images:
        question += f", {len(images)} ECR image(s) included"
    if not _confirm(f"{question}?", yes):
        raise UserError("destroy cancelled, nothing changed")
    delete_images(ecr, config.app.repository, list(images))
    tf.apply(ws, planned)
    records = bad_digests.delete_all(target.client("ssm"), config.project.name)
    if records:
        print(f"destroy: deleted the hosts' {records} record(s) of bad digests "
              f"({bad_digests.path(config.project.name)})", flush=True)
    print("destroy: done", flush=True)


# --- cost before deploy, what destroy deletes and keeps ------------------------------------

def print_cost_estimate(target: Target, config: Config, plan: dict) -> None:
    """The plan's estimated monthly cost at AWS list prices (inferctl.cost); on the local
    target, what the same stack would cost on AWS."""
    from . import cost
    if target.local:
        print("deploy: on AWS, this stack would cost:", flush=True)
    for line in cost.estimate(plan, config.aws.region).render():
        print(f"deploy: {line}", flush=True)


def repository_images(ecr, repository: str) -> dict[str, list[str]]:
    """The repository's images as digest -> tags, over every page; {} when it does not exist."""
    images: dict[str, list[str]] = {}
    try:
        for page in ecr.get_paginator("list_images").paginate(repositoryName=repository):
            for image in page["imageIds"]:
                tags = images.setdefault(image["imageDigest"], [])
                if image.get("imageTag"):
                    tags.append(image["imageTag"])
    except ecr.exceptions.RepositoryNotFoundException:
        return {}
    return images


def describe_images(images: dict[str, list[str]], shown: int = 3) -> str:
    """'2 images: stable (sha256:0123456789ab), sha256:89abcdef0123 (untagged)', the first ``shown``."""
    names = [f"{', '.join(tags)} ({digest[:19]})" if tags else f"{digest[:19]} (untagged)"
             for digest, tags in images.items()]
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return f"{len(names)} image{'' if len(names) == 1 else 's'}: {', '.join(names[:shown])}{more}"


def delete_images(ecr, repository: str, digests: list[str], batch: int = 100) -> None:
    """Delete images by digest (with all their tags), ``batch`` per call (batch_delete_image's
    limit); an image already gone is fine."""
    for start in range(0, len(digests), batch):
        chunk = [{"imageDigest": digest} for digest in digests[start:start + batch]]
        answer = ecr.batch_delete_image(repositoryName=repository, imageIds=chunk)
        failures = [failure for failure in answer["failures"] if failure.get("failureCode") != "ImageNotFound"]
        if failures:
            raise UserError(f"could not delete {len(failures)} image(s) from the ECR repository {repository} "
                            f"({failures[0].get('failureCode')}: {failures[0].get('failureReason')})",
                            hint="Terraform has not run yet: check ecr:BatchDeleteImage, then run destroy again")
    if digests:
        print(f"destroy: deleted {len(digests)} image(s) from the ECR repository {repository}", flush=True)


def teardown_notes(target: Target, config: Config, images: dict[str, list[str]]) -> list[str]:
    """What destroy deletes beyond the plan's lines, and what it keeps on purpose."""
    notes = []
    if images:
        notes.append(f"the ECR repository {config.app.repository} holds {describe_images(images)}; "
                     "they are deleted with it")
    keys = api_keys.parameter_name(config.project.name)
    if keys:
        notes.append(f"kept: the SSM parameter {keys} (API keys, not managed by Terraform); delete it with: "
                     f"aws ssm delete-parameter --region {config.aws.region} --name {keys}")
    notes.append(f"the hosts' records of bad digests ({bad_digests.path(config.project.name)}/*) are deleted "
                 "with the stack")
    if not target.local and config.aws.state_bucket:
        notes.append(f"kept: the Terraform state bucket {config.aws.state_bucket}")
    local = " --local" if target.local else ""
    notes.append(f"kept: the baked AMIs, their snapshots and the channel parameters /{config.project.name}/ami/*; "
                 f"invoke prune{local} --apply removes all but the newest {config.image.keep_amis} AMIs "
                 "and those a channel parameter names")
    return notes
