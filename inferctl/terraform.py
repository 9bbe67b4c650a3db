"""Terraform runs against a build working copy of terraform/.

Nothing under terraform/ is edited: `prepare()` copies it into a working folder under
BUILD_DIR, with the committed provider lock file (terraform/.terraform.lock.hcl), and adds
only generated files there:
- ``terraform.tfvars.json``: the values from inferctl.config (see ``tfvars``);
- ``inferctl_override.tf.json`` (a Terraform override file), only when needed: the local
  backend instead of S3, and for the local endpoint the provider's endpoint overrides and
  fake credentials.
Providers are installed the way Terraform always installs them: from the registry, or as the
user's own CLI configuration says (TF_CLI_CONFIG_FILE, ~/.terraformrc: a mirror, a plugin
cache). The ``.terraform`` folder survives a re-copy, so a second init is quick; the lock file
is re-copied each time, so what init may add to the working copy's one never outlives a run.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from .config import Config
from .errors import UserError
from .paths import TERRAFORM_DIR, ensure
from .shell import output, require, run

OVERRIDE_FILE = "inferctl_override.tf.json"
TFVARS_FILE = "terraform.tfvars.json"
LOCK_FILE = ".terraform.lock.hcl"
PLAN_FILE = "tfplan"
KEEP = {".terraform", PLAN_FILE}

# Every service the modules call; each is pointed at the local endpoint.
LOCAL_SERVICES = ["acm", "autoscaling", "cloudwatch", "dynamodb", "ec2", "ecr", "elbv2", "iam",
                  "kms", "logs", "route53", "s3", "sns", "ssm", "sts", "wafv2"]
LOCAL_CREDENTIALS = {"access_key": "testing", "secret_key": "testing"}

# moto fidelity gaps that would show as a perpetual diff (a second plan that is never
# empty), ignored on the local endpoint only, in generated override files next to the
# module's own code. Nothing here applies to AWS.
# - moto echoes a launch template's own tags back as a "launch-template" tag
#   specification inside the template data (AWS does not allow that resource type there);
# - moto drops the description of rules that reference a security group;
# - moto's scaling policies have no Enabled flag (read as false) and an empty predictive
#   scaling configuration (read as a block) where AWS has none.
MOTO_SHIMS = {
    "modules/fleet": {"resource": {
        "aws_launch_template": {"this": {"lifecycle": {"ignore_changes": ["tag_specifications"]}}},
        "aws_autoscaling_policy": {"requests_per_target": {"lifecycle": {
            "ignore_changes": ["enabled", "predictive_scaling_configuration"]}}},
        "aws_vpc_security_group_egress_rule": {
            "alb_to_instances": {"lifecycle": {"ignore_changes": ["description"]}}},
        "aws_vpc_security_group_ingress_rule": {
            "instance_from_alb": {"lifecycle": {"ignore_changes": ["description"]}}},
    }},
}


@dataclass
class Workspace:
    """A prepared working copy: where terraform runs and with which environment."""
    dir: Path
    env: dict[str, str]
    backend_config: dict[str, str]


def local_override(endpoint: str | None, state_path: Path) -> dict:
    """Override file content: local state, plus the provider pointed at ``endpoint`` (if any)."""
    override: dict = {"terraform": {"backend": {"local": {"path": str(state_path)}}}}
    if endpoint:
        override["provider"] = {"aws": {
            **LOCAL_CREDENTIALS,
            "s3_use_path_style": True,
            "skip_credentials_validation": True,
            # The account id is NOT skipped: moto answers STS, and without the id the provider
            # reads same-account security group references as "<account>/sg-..." (a diff).
            "skip_metadata_api_check": True,
            "skip_region_validation": True,
            "endpoints": {service: endpoint for service in LOCAL_SERVICES},
        }}
    return override


def tfvars(config: Config, *, ami_id: str = "", app_image_digest: str = "",
           image_repository: str = "", registry_force_delete: bool = False,
           api_keys_parameter: str = "", bad_digests_path: str = "") -> dict:
    """Root module variables from the config (the Terraform variables re-validate them).

    ``api_keys_parameter``: the SSM parameter the hosts fetch their API keys from at boot;
    ``bad_digests_path``: where the hosts share the digests they rolled back."""
    return {
        "project": config.project.name,
        "region": config.aws.region,
        "mode": config.compute.mode,
        "ami_id": ami_id,
        "vpc_cidr": config.network.vpc_cidr,
        "az_count": config.network.az_count,
        "private_subnets": config.network.private_subnets,
        "ingress_cidrs": list(config.network.ingress_cidrs),
        "instance_type": config.compute.instance_type,
        "root_volume_size": config.compute.root_volume_gb,
        "fleet_min": config.compute.fleet_min,
        "fleet_max": config.compute.fleet_max,
        "requests_per_target": config.compute.requests_per_target,
        "certificate_arn": config.compute.certificate_arn,
        "domain": config.dns.domain,
        "subdomain": config.dns.subdomain,
        "tls_issuer": config.dns.tls_issuer,
        "repository_name": config.app.repository,
        "registry_force_delete": registry_force_delete,
        "image_repository": image_repository,
        "image_tag": config.app.tag,
        "app_image_digest": app_image_digest,
        "update_schedule": config.updater.schedule,
        "update_spread": config.updater.spread,
        "health_timeout": config.updater.health_timeout,
        "api_keys_parameter": api_keys_parameter,
        "bad_digests_path": bad_digests_path,
        "alert_email": config.alerts.email,
        "waf_enabled": config.waf.enabled,
        "waf_block": config.waf.block,
        "waf_rate_limit": config.waf.rate_limit,
    }


def s3_backend_config(config: Config) -> dict[str, str]:
    """-backend-config values for the S3 backend; lock in DynamoDB if a table is set,
    else S3's own lock file (Terraform >= 1.10)."""
    values = {"bucket": config.aws.state_bucket, "key": f"{config.project.name}/terraform.tfstate",
              "region": config.aws.region, "encrypt": "true"}
    if config.aws.state_lock_table:
        values["dynamodb_table"] = config.aws.state_lock_table
    else:
        values["use_lockfile"] = "true"
    if config.aws.profile:
        values["profile"] = config.aws.profile
    return values


def _sync_sources(dest: Path) -> None:
    ensure(dest)
    for entry in dest.iterdir():
        if entry.name in KEEP:
            continue
        shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    for entry in TERRAFORM_DIR.iterdir():
        hidden = entry.name.startswith(".") and entry.name != LOCK_FILE
        if hidden or entry.name.endswith(".tfstate") or entry.name.endswith(".md"):
            continue
        target = dest / entry.name
        shutil.copytree(entry, target) if entry.is_dir() else shutil.copy2(entry, target)


def prepare(workdir: Path, variables: dict, *, config: Config, endpoint: str | None = None,
            state_path: Path | None = None) -> Workspace:
    """Make ``workdir`` a fresh working copy with its generated files.

    ``endpoint``: the local AWS endpoint URL (provider overrides + fake credentials).
    ``state_path``: local state file; None = the S3 backend from config (aws.state_bucket).
    """
    require("terraform")
    if endpoint and state_path is None:
        raise UserError("the local endpoint needs local state (internal: state_path missing)")
    _sync_sources(workdir)
    override = workdir / OVERRIDE_FILE
    if endpoint:
        for module, shim in MOTO_SHIMS.items():
            (workdir / module / OVERRIDE_FILE).write_text(json.dumps(shim, indent=2) + "\n")
    if state_path is not None:
        ensure(state_path.parent)
        override.write_text(json.dumps(local_override(endpoint, state_path), indent=2) + "\n")
        backend: dict[str, str] = {}
    else:
        override.unlink(missing_ok=True)
        backend = s3_backend_config(config)
    env = dict(os.environ, TF_IN_AUTOMATION="1", TF_INPUT="0", CHECKPOINT_DISABLE="1")
    if endpoint:
        # Never let a real profile or key reach the fake endpoint (or the real one).
        for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            env.pop(name, None)
    elif config.aws.profile:
        env["AWS_PROFILE"] = config.aws.profile
    if not sys.stdout.isatty():
        env["TF_CLI_ARGS"] = "-no-color"
    ws = Workspace(workdir, env, backend)
    write_tfvars(ws, variables)
    return ws


def write_tfvars(ws: Workspace, variables: dict) -> None:
    """(Re)write the generated variables file, e.g. once the image digest is known."""
    (ws.dir / TFVARS_FILE).write_text(json.dumps(variables, indent=2) + "\n")


def _terraform(ws: Workspace, *args: str, capture: bool = False, ok_codes=(0,)):
    proc = run(["terraform", f"-chdir={ws.dir}", *args], env=ws.env, capture=capture, check=False)
    if proc.returncode not in ok_codes:
        detail = ""
        if capture:
            lines = [line for line in (proc.stderr or "").splitlines() if line.strip()]
            detail = ": " + " | ".join(lines[-4:]) if lines else ""
        raise UserError(f"terraform {args[0]} failed (exit {proc.returncode}){detail}",
                        hint="see Terraform's message above" if not capture else None)
    return proc


def init(ws: Workspace) -> None:
    args = ["init", "-input=false", "-reconfigure"]
    args += [f"-backend-config={key}={value}" for key, value in ws.backend_config.items()]
    _terraform(ws, *args)


def validate(ws: Workspace) -> None:
    _terraform(ws, "validate")


@dataclass
class Plan:
    path: Path
    changes: bool
    data: dict  # `terraform show -json` of the plan


def plan(ws: Workspace, *, destroy: bool = False, targets: list[str] = (), refresh: bool = True) -> Plan:
    """Plan into ws.dir/tfplan (output streamed); returns it with its JSON form.
    ``refresh=False`` compares the configuration with the state only (no API reads)."""
    path = ws.dir / PLAN_FILE
    args = ["plan", "-input=false", f"-out={PLAN_FILE}", "-detailed-exitcode"]
    if destroy:
        args.append("-destroy")
    if not refresh:
        args.append("-refresh=false")
    args += [f"-target={target}" for target in targets]
    proc = _terraform(ws, *args, ok_codes=(0, 2))
    data = json.loads(output(["terraform", f"-chdir={ws.dir}", "show", "-json", PLAN_FILE], env=ws.env))
    return Plan(path, proc.returncode == 2, data)


def apply(ws: Workspace, planned: Plan) -> None:
    _terraform(ws, "apply", "-input=false", planned.path.name)
    planned.path.unlink(missing_ok=True)


def outputs(ws: Workspace) -> dict:
    """Root outputs as plain values."""
    raw = json.loads(output(["terraform", f"-chdir={ws.dir}", "output", "-json"], env=ws.env))
    return {name: item["value"] for name, item in raw.items()}


# --- plan summary --------------------------------------------------------------------

REASONS = {
    "ami": "new AMI",
    "image_id": "new AMI",
    "user_data": "new user-data (settings in /etc/inference/inference.env changed)",
    "instance_type": "new instance type",
}


def _reason(change: dict) -> str:
    paths = change["change"].get("replace_paths") or []
    attrs = [p[0] for p in paths if p and isinstance(p[0], str)]
    before, after = change["change"].get("before") or {}, change["change"].get("after") or {}
    parts = []
    for attr in attrs:
        label = REASONS.get(attr, f"{attr} changed")
        if attr in ("ami", "image_id", "instance_type"):
            label += f" ({before.get(attr)} -> {after.get(attr)})"
        parts.append(label)
    if not parts:
        reason = change.get("action_reason", "")
        parts.append({"replace_because_tainted": "tainted", "replace_by_request": "replace requested"}
                     .get(reason, "a change that cannot be made in place"))
    return ", ".join(dict.fromkeys(parts))


def summarize(data: dict) -> list[str]:
    """Human lines: counts, then every replacement with its reason, and what a new AMI does."""
    counts = {"create": 0, "update": 0, "replace": 0, "delete": 0}
    details = []
    for change in data.get("resource_changes", []):
        actions = change["change"]["actions"]
        if change.get("mode") == "data" or actions in (["no-op"], ["read"]):
            continue
        address, rtype = change["address"], change["type"]
        if "create" in actions and "delete" in actions:
            counts["replace"] += 1
            what = "instance" if rtype == "aws_instance" else rtype
            details.append(f"{address}: {what} will be replaced: {_reason(change)}")
        elif actions == ["update"]:
            counts["update"] += 1
            before, after = change["change"]["before"] or {}, change["change"]["after"] or {}
            if rtype == "aws_launch_template" and before.get("image_id") != after.get("image_id"):
                details.append(f"{address}: launch template gets a new AMI ({before.get('image_id')} -> "
                               f"{after.get('image_id')}): the Auto Scaling group replaces its instances "
                               "by a rolling instance refresh")
        elif actions == ["create"]:
            counts["create"] += 1
        elif actions == ["delete"]:
            counts["delete"] += 1
    head = (f"plan: {counts['create']} to create, {counts['update']} to update in place, "
            f"{counts['replace']} to replace, {counts['delete']} to destroy")
    return [head, *details]
