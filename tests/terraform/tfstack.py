"""Helpers of the terraform tier: one stack (single or fleet) applied to moto, and checks."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from inferctl import config as configuration
from inferctl import deploy
from inferctl import terraform as tf
from inferctl.local.moto import Moto
from inferctl.target import open_target

REGION = "eu-west-1"
ZONE = "example.test"


def register_ami(ec2, name: str) -> str:
    """moto has no baked AMI of ours: register one (with a sized root device, which moto needs)."""
    return ec2.register_image(
        Name=name, RootDeviceName="/dev/sda1", Architecture="x86_64", VirtualizationType="hvm",
        BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 8, "VolumeType": "gp3"}}],
    )["ImageId"]


@dataclass
class Stack:
    """One deployment of the root configuration (single or fleet) into moto."""
    server: Moto
    config: configuration.Config
    ws: tf.Workspace
    variables: dict
    first_plan: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)
    destroyed: bool = False

    def client(self, service: str):
        return self.server.client(service, REGION)

    def plan(self, **overrides) -> tf.Plan:
        """A plan with other variable values, against the state as it is (no refresh)."""
        tf.write_tfvars(self.ws, {**self.variables, **overrides})
        try:
            return tf.plan(self.ws, refresh=False)
        finally:
            tf.write_tfvars(self.ws, self.variables)

    def destroy(self) -> None:
        if not self.destroyed:
            self.destroyed = True
            tf.apply(self.ws, tf.plan(self.ws, destroy=True))


def stack_config(mode: str, name: str = "") -> configuration.Config:
    name = name or f"tt-{mode}"
    return configuration.load(overrides={
        "project": {"name": name, "target": "local"},
        "aws": {"region": REGION},
        "app": {"repository": name},
        "compute": {"mode": mode, "fleet_min": 1, "fleet_max": 2},
        "dns": {"domain": ZONE, "subdomain": mode},
    })


def open_stack(server: Moto, workdir: Path, config: configuration.Config, variables: dict) -> Stack:
    """Prepare and init a working copy; state beside the server's pid, as `deploy --local` keeps it."""
    ws = tf.prepare(workdir, variables, config=config, endpoint=server.endpoint_url(),
                    state_path=server.state_dir / f"terraform-{config.project.name}.tfstate")
    tf.init(ws)
    return Stack(server, config, ws, variables)


def make_stack(server: Moto, workdir: Path, mode: str, variables_extra: dict, name: str = "") -> Stack:
    """A validated working copy for ``mode`` (no apply yet)."""
    config = stack_config(mode, name)
    stack = open_stack(server, workdir, config, {**tf.tfvars(config, registry_force_delete=True), **variables_extra})
    tf.validate(stack.ws)
    return stack


def apply_stack(stack: Stack) -> Stack:
    planned = tf.plan(stack.ws)
    stack.first_plan = planned.data
    tf.apply(stack.ws, planned)
    stack.outputs = tf.outputs(stack.ws)
    return stack


def no_port_22(permissions: list[dict]) -> bool:
    """True when no rule of a security group (boto3 IpPermissions) admits TCP 22."""
    for rule in permissions:
        if rule.get("IpProtocol") in ("-1", "all"):
            return False
        if rule.get("FromPort", 0) <= 22 <= rule.get("ToPort", 65535):
            return False
    return True


def resources_of_type(plan: dict, rtype: str) -> list[dict]:
    """`after` values of every planned resource of a type (from the plan JSON)."""
    return [change["change"]["after"] for change in plan["resource_changes"]
            if change["type"] == rtype and change["mode"] == "managed"]


def assert_role_pulls_only_its_repository(stack: Stack, repository: str) -> None:
    """The hosts' role: SSM core + one inline policy whose ECR pull actions name only this
    repository; the repository policy lets exactly that role pull."""
    iam = stack.client("iam")
    role = stack.outputs["instance_role_name"]
    repo_arn = stack.outputs["repository_arn"]
    attached = [p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]]
    assert attached == ["AmazonSSMManagedInstanceCore"]
    (name,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
    document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    if isinstance(document, str):
        document = json.loads(document)
    pull = {"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"}
    seen_pull = False
    for statement in document["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        assert not any(a in ("*", "ecr:*") or a.endswith(":*") for a in actions), statement
        ecr_actions = [a for a in actions if a.startswith("ecr:") and a != "ecr:GetAuthorizationToken"]
        if ecr_actions:
            seen_pull = True
            assert resources == [repo_arn], statement
            assert set(ecr_actions) <= pull, statement
        if "ecr:GetAuthorizationToken" in actions:
            assert actions == ["ecr:GetAuthorizationToken"]  # the only action allowed on "*"
        if resources == ["*"]:
            assert actions == ["ecr:GetAuthorizationToken"], statement
    assert seen_pull
    policy = json.loads(stack.client("ecr").get_repository_policy(repositoryName=repository)["policyText"])
    role_arn = iam.get_role(RoleName=role)["Role"]["Arn"]
    for statement in policy["Statement"]:
        principal = statement["Principal"]["AWS"]
        assert principal in (role_arn, [role_arn]), statement
        assert set(statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]) <= pull


def deploy_single(server: Moto, seeded: dict, folder: Path) -> Stack:
    """Single mode through `invoke deploy --local --yes --no-image`'s code path; the AMI comes
    from the channel parameter (no --ami), as after `invoke bake` + `promote`."""
    server.client("ssm", REGION).put_parameter(
        Name="/tt-single/ami/latest", Value=seeded["amis"][0], Type="String", Overwrite=True)
    config = stack_config("single")
    workdir = folder / "work"
    target = open_target(config, server=server)
    outputs = deploy.deploy(config, yes=True, image=False, target=target, workdir=workdir)
    stack = open_stack(server, workdir, config, deploy.stack_variables(config, target))
    stack.outputs = outputs
    return stack


def deploy_fleet(server: Moto, seeded: dict, folder: Path) -> Stack:
    """Fleet mode applied step by step (init, validate, plan, apply), the AMI given explicitly."""
    return apply_stack(make_stack(server, folder / "work", "fleet", {"ami_id": seeded["amis"][0]}))
