"""Helpers of the terraform tier: one stack (single or fleet) applied to moto, and checks."""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
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


ALERT_EMAIL = "oncall@example.test"   # the single stack's alerts subscription
REQUESTS_PER_TARGET = 500             # the fleet stack's scaling target
WAF_RATE_LIMIT = 2000                 # the fleet stack's WAF (on, count mode)


def stack_config(mode: str, name: str = "") -> configuration.Config:
    """single: alerts mailed to ALERT_EMAIL; fleet: the WAF in count mode and a scaling target."""
    name = name or f"tt-{mode}"
    extra = ({"alerts": {"email": ALERT_EMAIL}} if mode == "single" else
             {"waf": {"enabled": True, "rate_limit": WAF_RATE_LIMIT}})
    return configuration.load(overrides={
        "project": {"name": name, "target": "local"},
        "aws": {"region": REGION},
        "app": {"repository": name},
        "compute": {"mode": mode, "fleet_min": 1, "fleet_max": 2,
                    **({"requests_per_target": REQUESTS_PER_TARGET} if mode == "fleet" else {})},
        "dns": {"domain": ZONE, "subdomain": mode},
        **extra,
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


def planned_changes(plan: dict) -> dict[str, list[str]]:
    """Actions by resource address (managed resources of a plan JSON)."""
    return {c["address"]: c["change"]["actions"] for c in plan["resource_changes"] if c["mode"] == "managed"}


def alerts_topic(stack: Stack) -> dict:
    """The stack's <project>-alerts topic: its attributes, as SNS holds them."""
    sns = stack.client("sns")
    arn = stack.outputs["alerts_topic_arn"]
    assert arn.endswith(f":{stack.config.project.name}-alerts")
    return sns.get_topic_attributes(TopicArn=arn)["Attributes"]


def assert_topic_encrypted_for_cloudwatch(stack: Stack) -> str:
    """The topic is encrypted with a customer-managed key whose policy lets CloudWatch alarms
    publish (the AWS-managed alias/aws/sns cannot: its policy is AWS's). Returns the key ARN."""
    key_id = alerts_topic(stack)["KmsMasterKeyId"]
    kms = stack.client("kms")
    key = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert key["KeyManager"] == "CUSTOMER" and key["Enabled"]
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"]
    policy = json.loads(kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"])
    (for_cloudwatch,) = [s for s in policy["Statement"] if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert set(_listed(for_cloudwatch["Action"])) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    return key["Arn"]


def stack_alarms(stack: Stack) -> dict[str, dict]:
    """The stack's CloudWatch alarms by name without the "<project>-" prefix."""
    prefix = f"{stack.config.project.name}-"
    alarms = stack.client("cloudwatch").describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]
    return {alarm["AlarmName"][len(prefix):]: alarm for alarm in alarms}


def assert_alarms_notify_the_topic(stack: Stack, expected: set[str]) -> dict[str, dict]:
    """Exactly the monitoring alarms ``expected`` (as named in the alarm_names output), each
    with the alerts topic as its ALARM and OK action and a runbook anchor; returns them."""
    alarms = stack_alarms(stack)
    names = stack.outputs["alarm_names"]
    assert set(names) == expected
    topic = stack.outputs["alerts_topic_arn"]
    for key, name in names.items():
        alarm = alarms[name[len(stack.config.project.name) + 1:]]
        assert alarm["AlarmActions"] == [topic] and alarm["OKActions"] == [topic], alarm
        assert alarm["ActionsEnabled"] is True
        assert alarm["AlarmDescription"].endswith(f"terraform/modules/monitoring/README.md#{key}")
    return alarms


def dashboard(stack: Stack) -> dict:
    """The stack's dashboard body, parsed (it must be JSON)."""
    found = stack.client("cloudwatch").get_dashboard(DashboardName=stack.config.project.name)
    assert stack.outputs["dashboard_url"].endswith(f"#dashboards/dashboard/{stack.config.project.name}")
    return json.loads(found["DashboardBody"])


def dashboard_metrics(body: dict) -> list[list]:
    """Every metric row of the dashboard's metric widgets."""
    return [row for widget in body["widgets"] if widget["type"] == "metric" for row in widget["properties"]["metrics"]]


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


def _listed(value) -> list:
    """A policy element that may be one string or a list of them, as a list."""
    return value if isinstance(value, list) else [value]


def _document(document) -> dict:
    """A policy document as boto3 returns it: parsed already, or (URL-encoded) JSON text."""
    if isinstance(document, str):
        document = json.loads(urllib.parse.unquote(document))
    return document


def applied_role_statements(stack: Stack, role: str) -> list[tuple[str, dict]]:
    """Every statement in effect for ``role``, as IAM holds it after the apply: those of the
    attached managed policies (their default versions; AWS-managed ones included) and those of
    its inline policies. Each is paired with where it comes from."""
    iam = stack.client("iam")
    statements = []
    for attached in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
        policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
        version = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=policy["DefaultVersionId"])
        statements += [(attached["PolicyArn"], s)
                       for s in _listed(_document(version["PolicyVersion"]["Document"])["Statement"])]
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = _document(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"])
        statements += [(f"inline {name}", s) for s in _listed(document["Statement"])]
    return statements


# What reads a parameter's value: `ssm:GetParameter*` (IAM action names are case-insensitive).
PARAMETER_READS = ["ssm:getparameter", "ssm:getparameters", "ssm:getparametersbypath", "ssm:getparameterhistory"]
# AmazonSSMManagedInstanceCore (v2) without ssm:GetParameter and ssm:GetParameters: what the SSM
# agent needs for Session Manager and Run Command.
SSM_AGENT_ACTIONS = {
    "ssm:DescribeAssociation", "ssm:GetDeployablePatchSnapshotForInstance", "ssm:GetDocument",
    "ssm:DescribeDocument", "ssm:GetManifest", "ssm:ListAssociations", "ssm:ListInstanceAssociations",
    "ssm:PutInventory", "ssm:PutComplianceItems", "ssm:PutConfigurePackageResult",
    "ssm:UpdateAssociationStatus", "ssm:UpdateInstanceAssociationStatus", "ssm:UpdateInstanceInformation",
    "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
    "ec2messages:AcknowledgeMessage", "ec2messages:DeleteMessage", "ec2messages:FailMessage",
    "ec2messages:GetEndpoint", "ec2messages:GetMessages", "ec2messages:SendReply",
}


def reads_parameters(action: str) -> list[str]:
    """The parameter reads an action pattern of a policy covers (wildcards: `ssm:Get*`, `ssm:*`, `*`)."""
    return [read for read in PARAMETER_READS if fnmatchcase(read, action.lower())]


def _parameter_arn(stack: Stack, name: str) -> str:
    role = stack.client("iam").get_role(RoleName=stack.outputs["instance_role_name"])["Role"]
    account = role["Arn"].split(":")[4]  # arn:aws:iam::<account>:role/<name>
    return f"arn:aws:ssm:{REGION}:{account}:parameter{name}"


def api_keys_parameter_arn(stack: Stack) -> str | None:
    """ARN of the API keys parameter the stack was given (None when it was given none)."""
    name = stack.variables.get("api_keys_parameter") or ""
    return _parameter_arn(stack, name) if name else None


def bad_digests_arn(stack: Stack) -> str | None:
    """ARN pattern of the fleet's record of bad digests (None when the stack was given no path)."""
    path = stack.variables.get("bad_digests_path") or ""
    return _parameter_arn(stack, f"{path}/*") if path else None


PARAMETER_WRITES = ["ssm:putparameter", "ssm:deleteparameter", "ssm:deleteparameters", "ssm:labelparameterversion"]


def assert_host_role_reads_only_its_parameters(stack: Stack) -> None:
    """The hosts' role, as applied: no statement, managed or inline, allows reading a parameter
    (ssm:GetParameter, GetParameters, GetParameter*, ssm:*, *, ...) on anything but the API keys
    parameter (ssm:GetParameter only) and the names under the bad-digests path (ssm:GetParameter
    and ssm:PutParameter only); no parameter write anywhere else; no kms:Decrypt but through SSM.
    The SSM agent keeps what it needs for sessions and Run Command."""
    key_arn, record_arn = api_keys_parameter_arn(stack), bad_digests_arn(stack)
    statements = applied_role_statements(stack, stack.outputs["instance_role_name"])
    assert statements
    granted, grants = set(), []
    for source, statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        where = f"{source}: {statement}"
        # NotAction / NotResource allow everything they do not name: none on this role.
        assert "NotAction" not in statement and "NotResource" not in statement, where
        actions, resources = _listed(statement["Action"]), _listed(statement["Resource"])
        granted.update(a.lower() for a in actions)
        reads = sorted({read for action in actions for read in reads_parameters(action)})
        writes = sorted({w for action in actions for w in PARAMETER_WRITES if fnmatchcase(w, action.lower())})
        if reads or writes:
            if resources == [key_arn] and key_arn:
                assert actions == ["ssm:GetParameter"], where
            else:
                assert record_arn and resources == [record_arn], f"a parameter grant beyond the stack's two: {where}"
                assert sorted(actions) == ["ssm:GetParameter", "ssm:PutParameter"], where
            grants.append(statement)
        if any(fnmatchcase("kms:decrypt", a.lower()) for a in actions):
            via = statement.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService")
            assert via == f"ssm.{REGION}.amazonaws.com", where
    assert len(grants) == bool(key_arn) + bool(record_arn), grants
    missing = {a for a in SSM_AGENT_ACTIONS if a.lower() not in granted}
    assert not missing, f"the SSM agent lost {sorted(missing)}"


def assert_role_pulls_only_its_repository(stack: Stack, repository: str) -> None:
    """The hosts' role: no managed policy; its inline policies' ECR pull actions name only this
    repository, and the only actions on "*" are the token call and the SSM agent's; the
    repository policy lets exactly that role pull."""
    iam = stack.client("iam")
    role = stack.outputs["instance_role_name"]
    repo_arn = stack.outputs["repository_arn"]
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
    pull = {"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"}
    seen_pull = False
    for _source, statement in applied_role_statements(stack, role):
        actions, resources = _listed(statement["Action"]), _listed(statement["Resource"])
        assert not any(a in ("*", "ecr:*") or a.endswith(":*") for a in actions), statement
        ecr_actions = [a for a in actions if a.startswith("ecr:") and a != "ecr:GetAuthorizationToken"]
        if ecr_actions:
            seen_pull = True
            assert resources == [repo_arn], statement
            assert set(ecr_actions) <= pull, statement
        if "ecr:GetAuthorizationToken" in actions:
            assert actions == ["ecr:GetAuthorizationToken"]  # alone in its statement
        if resources == ["*"]:
            assert actions == ["ecr:GetAuthorizationToken"] or set(actions) <= SSM_AGENT_ACTIONS, statement
    assert seen_pull
    policy = json.loads(stack.client("ecr").get_repository_policy(repositoryName=repository)["policyText"])
    role_arn = iam.get_role(RoleName=role)["Role"]["Arn"]
    for statement in policy["Statement"]:
        principal = statement["Principal"]["AWS"]
        assert principal in (role_arn, [role_arn]), statement
        assert set(_listed(statement["Action"])) <= pull


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
