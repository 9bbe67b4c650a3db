"""The working copy (sources, lock file, generated inputs: overrides, tfvars, backend), the
provider and Terraform versions, and the plan summary."""

import json
import re
import subprocess

import pytest
from tf_mirror import MIRROR

from inferctl import config as configuration
from inferctl import terraform as tf
from inferctl.paths import REPO

LOCK = REPO / "terraform" / tf.LOCK_FILE


def _prepare(workdir):
    return tf.prepare(workdir, {}, config=configuration.load(), state_path=workdir.parent / "state" / "x.tfstate")


def test_working_copy_gets_the_committed_lock_file_and_no_provider_settings(tmp_path, monkeypatch):
    monkeypatch.setattr(tf, "require", lambda tool: tool)
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", "/somewhere/the-users.tfrc")
    ws = _prepare(tmp_path / "w")
    assert (ws.dir / tf.LOCK_FILE).read_text() == LOCK.read_text()
    assert ws.env["TF_CLI_CONFIG_FILE"] == "/somewhere/the-users.tfrc"    # the user's choice, untouched
    generated = {p.name for p in ws.dir.iterdir()} - {p.name for p in (REPO / "terraform").iterdir()}
    assert generated == {tf.TFVARS_FILE, tf.OVERRIDE_FILE}                  # no CLI config of ours
    monkeypatch.delenv("TF_CLI_CONFIG_FILE")
    assert "TF_CLI_CONFIG_FILE" not in _prepare(tmp_path / "w").env


def test_a_lock_file_init_changed_is_replaced_and_the_providers_are_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(tf, "require", lambda tool: tool)
    ws = _prepare(tmp_path / "w")
    (ws.dir / tf.LOCK_FILE).write_text("# what init wrote\n")
    (ws.dir / ".terraform" / "providers").mkdir(parents=True)
    _prepare(tmp_path / "w")
    assert (ws.dir / tf.LOCK_FILE).read_text() == LOCK.read_text()
    assert (ws.dir / ".terraform" / "providers").is_dir()


def test_lock_file_pins_the_aws_provider_and_is_committed():
    text = LOCK.read_text()
    assert re.search(r'provider "registry.terraform.io/hashicorp/aws" \{\n  version     = "5\.100\.0"', text)
    assert len(re.findall(r'"h1:[A-Za-z0-9+/]{43}="', text)) >= 3                   # several platforms
    assert len(re.findall(r'"zh:[0-9a-f]{64}"', text)) >= 3
    ignored = subprocess.run(["git", "-C", str(REPO), "check-ignore", "-q", str(LOCK)])
    if ignored.returncode == 128:
        pytest.skip("not a git checkout")
    assert ignored.returncode == 1, ".gitignore must not ignore terraform/.terraform.lock.hcl"


def test_required_terraform_covers_the_s3_lock_file():
    """s3_backend_config asks for use_lockfile (S3's own state lock), which needs Terraform 1.10."""
    assert tf.s3_backend_config(configuration.load(overrides={"aws": {"state_bucket": "b"}}))["use_lockfile"]
    required = re.search(r'required_version = ">= (\d+)\.(\d+)"', (REPO / "terraform" / "versions.tf").read_text())
    assert required and tuple(map(int, required.groups())) >= (1, 10)


def test_the_product_never_names_the_test_machines_provider_mirror():
    files = [REPO / "tasks.py", *(REPO / "inferctl").rglob("*.py"), *(REPO / "terraform").rglob("*.tf")]
    assert [f for f in files if str(MIRROR) in f.read_text()] == []


def test_local_override_points_every_service_at_the_endpoint(tmp_path):
    override = tf.local_override("http://127.0.0.1:5555", tmp_path / "x.tfstate")
    assert override["terraform"]["backend"] == {"local": {"path": str(tmp_path / "x.tfstate")}}
    aws = override["provider"]["aws"]
    assert set(aws["endpoints"]) == set(tf.LOCAL_SERVICES)
    assert set(aws["endpoints"].values()) == {"http://127.0.0.1:5555"}
    assert aws["s3_use_path_style"] and aws["skip_credentials_validation"] and aws["skip_metadata_api_check"]
    # AWS state without a bucket: local backend, no provider override at all
    assert "provider" not in tf.local_override(None, tmp_path / "y.tfstate")


def test_tfvars_and_backend_from_config():
    config = configuration.load(overrides={"aws": {"state_bucket": "b", "state_lock_table": "locks"},
                                           "compute": {"mode": "fleet"}, "dns": {"domain": "example.com"}})
    values = tf.tfvars(config, ami_id="ami-0123456789abcdef0")
    assert values["mode"] == "fleet" and values["domain"] == "example.com" and values["ami_id"].startswith("ami-")
    json.dumps(values)  # it becomes terraform.tfvars.json
    backend = tf.s3_backend_config(config)
    assert backend == {"bucket": "b", "key": "inference/terraform.tfstate", "region": "eu-west-1",
                       "encrypt": "true", "dynamodb_table": "locks"}
    assert tf.s3_backend_config(configuration.load(overrides={"aws": {"state_bucket": "b"}}))["use_lockfile"] == "true"


def _change(address, rtype, actions, before, after, replace_paths=None):
    return {"address": address, "type": rtype, "mode": "managed",
            "change": {"actions": actions, "before": before, "after": after, "replace_paths": replace_paths}}


def test_summary_names_replacements_and_their_reasons():
    plan = {"resource_changes": [
        _change("module.compute[0].aws_instance.this", "aws_instance", ["create", "delete"],
                {"ami": "ami-1"}, {"ami": "ami-2"}, [["ami"]]),
        _change("module.fleet[0].aws_launch_template.this", "aws_launch_template", ["update"],
                {"image_id": "ami-1"}, {"image_id": "ami-2"}),
        _change("module.network.aws_vpc.this", "aws_vpc", ["no-op"], {}, {}),
        _change("module.dns[0].aws_route53_record.single[0]", "aws_route53_record", ["create"], None, {}),
        _change("module.x.aws_instance.y", "aws_instance", ["delete", "create"], {}, {}, [["user_data"]]),
    ]}
    lines = tf.summarize(plan)
    assert lines[0] == "plan: 1 to create, 1 to update in place, 2 to replace, 0 to destroy"
    assert "module.compute[0].aws_instance.this: instance will be replaced: new AMI (ami-1 -> ami-2)" in lines
    assert any("launch template gets a new AMI (ami-1 -> ami-2)" in line and "instance refresh" in line
               for line in lines)
    assert any(line.startswith("module.x.aws_instance.y: instance will be replaced: new user-data") for line in lines)


# --- the hosts' API keys parameter: granted exactly, passed through, named once ------------

def _hcl(relative):
    from inferctl.bake.render import parse
    from inferctl.paths import REPO

    return parse(REPO / "terraform" / relative)


def test_host_role_reads_only_the_api_keys_parameter_and_the_bad_digests():
    from inferctl import api_keys

    module = _hcl("modules/host-role/main.tf")
    document = next(block["aws_iam_policy_document"]["host"] for block in module["data"]
                    if "host" in block.get("aws_iam_policy_document", {}))
    statements = [s["statement"] for s in document["dynamic"]]
    assert len(statements) == 4     # the last two: the certificate bucket (test below)
    assert statements[0]["for_each"] == '${var.api_keys_parameter != "" ? [local.api_keys_parameter_arn] : []}'
    assert statements[0]["content"] == [{"sid": "ReadApiKeys", "actions": ["ssm:GetParameter"],
                                         "resources": ["${statement.value}"]}]
    assert statements[1]["for_each"] == '${var.bad_digests_path != "" ? [local.bad_digests_arn] : []}'
    assert statements[1]["content"] == [{"sid": "FleetRecordOfBadDigests",
                                         "actions": ["ssm:GetParameter", "ssm:PutParameter"],
                                         "resources": ["${statement.value}"]}]
    assert module["locals"][0]["bad_digests_arn"].endswith(":parameter${var.bad_digests_path}/*")
    # no other statement touches SSM or KMS
    assert not [a for s in document["statement"] for a in s["actions"] if a.startswith(("ssm:", "kms:"))]
    arn = module["locals"][0]["api_keys_parameter_arn"]
    assert arn == ("arn:${data.aws_partition.current.partition}:ssm:${data.aws_region.current.name}:"
                   "${data.aws_caller_identity.current.account_id}:parameter${var.api_keys_parameter}")
    # the name the ARN is built from starts with "/": arn:...:parameter/<project>/api-keys
    assert api_keys.parameter_name("inference") == "/inference/api-keys"


def test_host_role_lists_reads_and_writes_only_the_certificates():
    module = _hcl("modules/host-role/main.tf")
    document = next(block["aws_iam_policy_document"]["host"] for block in module["data"]
                    if "host" in block.get("aws_iam_policy_document", {}))
    listing, objects = [s["statement"] for s in document["dynamic"]][2:]
    for statement in (listing, objects):
        assert statement["for_each"] == '${var.cert_bucket_arn != "" ? [var.cert_bucket_arn] : []}'
    assert listing["content"] == [{"sid": "ListCertificates", "actions": ["s3:ListBucket"],
                                   "resources": ["${statement.value}"],
                                   "condition": [{"test": "StringLike", "variable": "s3:prefix",
                                                  "values": ["caddy/*"]}]}]
    assert objects["content"] == [{"sid": "ReadWriteCertificates", "actions": ["s3:GetObject", "s3:PutObject"],
                                   "resources": ["${statement.value}/caddy/*"]}]
    assert not [a for s in document["statement"] for a in s["actions"] if a.startswith("s3:")]


def test_only_a_single_instance_with_a_domain_keeps_its_certificates():
    root = _hcl("main.tf")
    assert root["locals"][0]["keeps_certificates"] == '${var.mode == "single" && var.domain != ""}'
    (store,) = [b["cert_store"] for b in root["module"] if "cert_store" in b]
    assert store["count"] == "${local.keeps_certificates ? 1 : 0}"
    assert store["host_role_arn"] == "${module.compute[0].role_arn}"
    policy = _hcl("modules/cert-store/main.tf")
    document = next(b["aws_iam_policy_document"]["this"] for b in policy["data"] if "aws_iam_policy_document" in b)
    only = next(s for s in document["statement"] if s["sid"] == "ObjectsForTheHostRoleOnly")
    assert only["effect"] == "Deny" and only["condition"] == [
        {"test": "ArnNotEquals", "variable": "aws:PrincipalArn", "values": ["${var.host_role_arn}"]}]


@pytest.mark.parametrize("variable,env_key", [("api_keys_parameter", "API_KEYS_PARAMETER"),
                                               ("bad_digests_path", "BAD_DIGESTS_PATH")])
def test_root_passes_the_ssm_names_to_the_hosts_and_their_role(variable, env_key):
    root = _hcl("main.tf")
    modules = {name: body for block in root["module"] for name, body in block.items()}
    assert modules["compute"][variable] == modules["fleet"][variable] == f"${{var.{variable}}}"
    for name in ("compute", "fleet"):
        child = _hcl(f"modules/{name}/main.tf")
        role = next(block["host_role"] for block in child["module"] if "host_role" in block)
        assert role[variable] == f"${{var.{variable}}}"
    env = root["locals"][0]["inference_env"]
    assert f'var.{variable} != "" ? {{{env_key} = var.{variable}}} : {{}}' in env
    variables = {name: body for block in _hcl("variables.tf")["variable"] for name, body in block.items()}
    assert variables[variable]["default"] == ""
    # deploy fills it (stack_variables); the bare tfvars leave it empty
    assert tf.tfvars(configuration.load())[variable] == ""


def test_host_role_has_the_ssm_agents_actions_but_no_managed_policy():
    """AmazonSSMManagedInstanceCore grants ssm:GetParameter(s) on "*", which would make the grant
    above meaningless: the role attaches no managed policy and gets that policy's statements
    (moto's copy of it, v2) without those two actions, as its own inline policy."""
    import json

    from moto.iam.aws_managed_policies import aws_managed_policies_data

    module = _hcl("modules/host-role/main.tf")
    resources = {}
    for block in module["resource"]:
        for rtype, named in block.items():
            resources.setdefault(rtype, {}).update(named)
    assert "aws_iam_role_policy_attachment" not in resources and "aws_iam_policy" not in resources
    document = next(block["aws_iam_policy_document"]["ssm_agent"] for block in module["data"]
                    if "ssm_agent" in block.get("aws_iam_policy_document", {}))
    assert "dynamic" not in document
    ours = [(s["actions"], s["resources"]) for s in document["statement"]]
    managed = json.loads(aws_managed_policies_data)["AmazonSSMManagedInstanceCore"]["Document"]["Statement"]
    expected = [(sorted(a for a in s["Action"] if a not in ("ssm:GetParameter", "ssm:GetParameters")), ["*"])
                for s in managed]
    assert [(sorted(actions), res) for actions, res in ours] == expected
    assert not [a for actions, _ in ours for a in actions if a.lower().startswith("ssm:getparameter")]
    policy = resources["aws_iam_role_policy"]
    assert policy["ssm_agent"]["policy"] == "${data.aws_iam_policy_document.ssm_agent.json}"
    assert policy["ssm_agent"]["role"] == policy["host"]["role"] == "${aws_iam_role.this.id}"


# --- issue 14: monitoring, WAF, scaling: plumbing, endpoints, docs --------------------------

def _blocks(parsed: dict, kind: str) -> dict:
    """name -> body of the parsed file's blocks of one kind (variable, output, module)."""
    return {name: body for block in parsed.get(kind, []) for name, body in block.items()}


def test_tfvars_pass_the_alerts_waf_and_scaling_keys():
    config = configuration.load(overrides={"compute": {"mode": "fleet", "requests_per_target": 250},
                                           "dns": {"domain": "example.com"},
                                           "alerts": {"email": "oncall@example.com"},
                                           "waf": {"enabled": True, "block": True, "rate_limit": 300}})
    values = tf.tfvars(config)
    assert {key: values[key] for key in ("alert_email", "waf_enabled", "waf_block", "waf_rate_limit",
                                         "requests_per_target")} == {
        "alert_email": "oncall@example.com", "waf_enabled": True, "waf_block": True, "waf_rate_limit": 300,
        "requests_per_target": 250}
    defaults = tf.tfvars(configuration.load())
    assert (defaults["alert_email"], defaults["waf_enabled"], defaults["waf_block"]) == ("", False, False)
    assert (defaults["waf_rate_limit"], defaults["requests_per_target"]) == (1000, 1000)
    # every value deploy writes is a root variable, with the same default as the config's
    variables = _blocks(_hcl("variables.tf"), "variable")
    assert set(values) <= set(variables)
    for key in ("alert_email", "waf_enabled", "waf_block", "waf_rate_limit", "requests_per_target"):
        assert variables[key]["default"] == defaults[key], key


def test_the_email_check_is_the_same_in_the_config_and_in_terraform():
    for relative in ("variables.tf", "modules/monitoring/variables.tf"):
        (validation,) = _blocks(_hcl(relative), "variable")["alert_email"]["validation"]
        pattern = re.search(r'regex\("(.*)", var\.alert_email\)', validation["condition"]).group(1)
        assert pattern.replace("\\\\", "\\") == configuration.EMAIL_RE.pattern, relative


def test_root_wires_monitoring_for_both_modes_and_the_waf_for_a_fleet_only():
    modules = _blocks(_hcl("main.tf"), "module")
    monitoring = modules["monitoring"]
    assert "count" not in monitoring and monitoring["mode"] == "${var.mode}"
    assert monitoring["instance_id"] == "${one(module.compute[*].instance_id)}"
    assert monitoring["autoscaling_group_name"] == "${one(module.fleet[*].autoscaling_group_name)}"
    assert monitoring["alert_email"] == "${var.alert_email}"
    waf = modules["waf"]
    assert waf["count"] == '${var.mode == "fleet" && var.waf_enabled ? 1 : 0}'
    assert (waf["block"], waf["rate_limit"]) == ("${var.waf_block}", "${var.waf_rate_limit}")
    assert modules["fleet"]["requests_per_target"] == "${var.requests_per_target}"


# The AWS service each resource or data source type calls (None: computed locally, no call).
SERVICE_BY_PREFIX = {
    "aws_acm_": "acm", "aws_autoscaling_": "autoscaling", "aws_cloudwatch_log_": "logs",
    "aws_cloudwatch_": "cloudwatch", "aws_ecr_": "ecr", "aws_lb": "elbv2", "aws_lb_": "elbv2",
    "aws_iam_policy_document": None,
    "aws_iam_": "iam", "aws_kms_": "kms", "aws_route53_": "route53", "aws_sns_": "sns", "aws_ssm_": "ssm",
    "aws_wafv2_": "wafv2", "aws_s3_": "s3", "aws_caller_identity": "sts", "aws_partition": None, "aws_region": None,
    **{name: "ec2" for name in ("aws_instance", "aws_eip", "aws_vpc", "aws_subnet", "aws_internet_gateway",
                                "aws_nat_gateway", "aws_route", "aws_route_table", "aws_default_security_group",
                                "aws_security_group", "aws_launch_template", "aws_ami", "aws_availability_zones")},
    "aws_vpc_security_group_": "ec2", "aws_route_table_association": "ec2",
}


def _service(rtype: str) -> str | None:
    if rtype in SERVICE_BY_PREFIX:
        return SERVICE_BY_PREFIX[rtype]
    prefixes = sorted((p for p in SERVICE_BY_PREFIX if p.endswith("_") and rtype.startswith(p)), key=len)
    assert prefixes, f"{rtype}: which AWS service does it call? add it to SERVICE_BY_PREFIX"
    return SERVICE_BY_PREFIX[prefixes[-1]]


def test_the_local_endpoint_covers_every_service_the_configuration_calls():
    """A service missing from LOCAL_SERVICES would be called on real AWS with fake credentials."""
    types = set()
    for path in (REPO / "terraform").rglob("*.tf"):
        parsed = _hcl(path.relative_to(REPO / "terraform"))
        types |= {rtype for kind in ("resource", "data") for block in parsed.get(kind, []) for rtype in block}
    assert {"aws_sns_topic", "aws_wafv2_web_acl", "aws_cloudwatch_dashboard", "aws_autoscaling_policy"} <= types
    needed = {_service(rtype) for rtype in types} - {None}
    assert needed <= set(tf.LOCAL_SERVICES), sorted(needed - set(tf.LOCAL_SERVICES))


@pytest.mark.parametrize("folder", ["."] + sorted(p.name for p in (REPO / "terraform" / "modules").iterdir()))
def test_readme_tables_list_every_variable_and_output(folder):
    base = REPO / "terraform" if folder == "." else REPO / "terraform" / "modules" / folder
    relative = base.relative_to(REPO / "terraform")
    readme = (base / "README.md").read_text()
    sections = dict(re.findall(r"^## (Inputs|Outputs)\n(.*?)(?=^## |\Z)", readme, re.M | re.S))
    inputs = re.findall(r"^\| `([a-z0-9_]+)` \|", sections["Inputs"], re.M)
    outputs = re.findall(r"^\| `([a-z0-9_]+)` \|", sections["Outputs"], re.M)
    assert sorted(inputs) == sorted(_blocks(_hcl(relative / "variables.tf"), "variable")), "README inputs"
    assert sorted(outputs) == sorted(_blocks(_hcl(relative / "outputs.tf"), "output")), "README outputs"


def test_every_alarm_has_its_runbook_entry():
    """The alarms' descriptions point at terraform/modules/monitoring/README.md#<alarm>."""
    module = _hcl("modules/monitoring/main.tf")
    local = {name: value for block in module["locals"] for name, value in block.items()}
    alarms = [*local["metric_alarms"], *local["error_rate_alarms"]]
    assert len(alarms) == 9
    assert local["runbook"] == "Runbook: terraform/modules/monitoring/README.md"
    headings = re.findall(r"^### `([a-z0-9-]+)`", (REPO / "terraform/modules/monitoring/README.md").read_text(), re.M)
    assert sorted(headings) == sorted(alarms)
    readme = (REPO / "README.md").read_text()
    assert all(f"`{alarm}`" in readme for alarm in alarms), "README.md: Alarms and runbook"


# --- where the hosts publish: named once, passed to the hosts and to monitoring -------------

def test_root_tells_the_hosts_where_to_publish_and_monitoring_reads_the_same():
    root = _hcl("main.tf")
    local = {name: value for block in root["locals"] for name, value in block.items()}
    env = local["inference_env"]
    assert "LOG_GROUP = local.log_group_name" in " ".join(env.split())
    assert "METRICS_NAMESPACE = var.metrics_namespace" in " ".join(env.split())
    assert 'var.mode == "fleet" ? {FLEET_GROUP = local.autoscaling_group_name} : {}' in env
    # the host role's log group, by indexed outputs (a splat over the module would be a cycle)
    assert local["log_group_name"] == ('${var.mode == "single" ? module.compute[0].log_group_name : '
                                       'module.fleet[0].log_group_name}')
    assert local["autoscaling_group_name"] == "${var.project}"
    modules = _blocks(root, "module")
    assert modules["fleet"]["autoscaling_group_name"] == "${local.autoscaling_group_name}"
    assert modules["monitoring"]["metrics_namespace"] == "${var.metrics_namespace}"
    fleet = _hcl("modules/fleet/main.tf")
    group = next(block["aws_autoscaling_group"]["this"] for block in fleet["resource"] if "aws_autoscaling_group" in block)
    assert group["name"] == "${var.autoscaling_group_name}"
    assert _hcl("outputs.tf")["output"] and _blocks(_hcl("outputs.tf"), "output")["log_group_name"]["value"] == \
        "${local.log_group_name}"
    root_default = _blocks(_hcl("variables.tf"), "variable")["metrics_namespace"]["default"]
    module_default = _blocks(_hcl("modules/monitoring/variables.tf"), "variable")["metrics_namespace"]["default"]
    assert root_default == module_default == "Inference"
    host_role = _hcl("modules/host-role/main.tf")
    log_group = next(block["aws_cloudwatch_log_group"]["this"] for block in host_role["resource"]
                     if "aws_cloudwatch_log_group" in block)
    assert log_group["name"] == "/${var.name}/hosts"


def _metric_scheme() -> tuple[set[str], list[str]]:
    """The metric names and the Route values of the monitoring README's metric scheme."""
    readme = (REPO / "terraform/modules/monitoring/README.md").read_text()
    section = re.search(r"^## Metrics the hosts publish\n(.*?)(?=^## )", readme, re.M | re.S).group(1)
    names = set()
    for row in re.findall(r"^\| (`[a-z0-9_]+`.*?) \|", section, re.M):
        names |= set(re.findall(r"`([a-z0-9_]+)`", row.split(" | ")[0]))
    routes = re.search(r"^`Route` is one of (.*?) \(every", section, re.M | re.S).group(1)
    return names, re.findall(r"`([^`]+)`", routes)


def test_monitoring_reads_only_metrics_of_the_scheme_and_its_routes():
    names, routes = _metric_scheme()
    assert names == {"disk_used_percent", "mem_used_percent", "requests", "responses_4xx", "responses_5xx",
                     "latency_p50_ms", "latency_p99_ms", "updater_failures"}
    assert routes == ["/api/infer", "/health", "/ready", "/metrics", "/openapi.json", "/", "other"]
    module = _hcl("modules/monitoring/main.tf")
    local = {name: value for block in module["locals"] for name, value in block.items()}
    assert local["routes"] == routes
    text = (REPO / "terraform/modules/monitoring/main.tf").read_text()
    used = set(re.findall(r'\[local\.ns, "([a-z0-9_]+)"', text))              # dashboard rows
    used |= set(re.findall(r'local\.single \? "([a-z0-9_]+)"', text))          # single mode's latency alarm
    used |= {alarm["metric_name"] for alarm in local["metric_alarms"].values() if alarm["namespace"] == "${local.ns}"}
    used |= {alarm[key] for alarm in local["error_rate_alarms"].values() if alarm["namespace"] == "${local.ns}"
             for key in ("errors", "requests")}
    used.discard("")
    assert {"latency_p99_ms", "responses_5xx", "requests", "disk_used_percent", "updater_failures"} <= used
    assert used <= names, used - names
    assert "latency_ms" not in text
