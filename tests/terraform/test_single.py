"""Single mode applied to moto: one instance, EIP, A record; idempotent; checked via boto3; destroyed.

Tests in this file run in order against one stack (module-scoped fixture).
"""

import base64
import json
import re

import pytest
from tfstack import (
    ALERT_EMAIL,
    REGION,
    alerts_topic,
    api_keys_parameter_arn,
    bad_digests_arn,
    applied_role_statements,
    assert_alarms_notify_the_topic,
    assert_host_role_reads_only_its_parameters,
    assert_role_pulls_only_its_repository,
    assert_topic_encrypted_for_cloudwatch,
    dashboard,
    dashboard_metrics,
    no_port_22,
    reads_parameters,
    resources_of_type,
)

from inferctl import cost
from inferctl import terraform as tf
from inferctl.local.docker import LOCAL_REGISTRY

INSTALLS = re.compile(r"apt-get|apt |yum |dnf |pip3? install|curl |wget |runcmd:|packages:")


@pytest.fixture(scope="module")
def stack(deployments):
    return deployments["single"].result()


def test_applied_outputs(stack, seeded):
    out = stack.outputs
    assert out["mode"] == "single"
    assert out["ami_id"] == seeded["amis"][0]  # read from /tt-single/ami/latest
    assert out["url"] == "https://single.example.test"
    assert out["instance_id"].startswith("i-") and out["public_ip"]


def test_second_plan_is_empty(stack):
    planned = tf.plan(stack.ws)
    assert not planned.changes
    stack.first_plan = planned.data  # no-op changes still carry the resources' values


def test_instance_imdsv2_and_encrypted_gp3_root(stack):
    ec2 = stack.client("ec2")
    instance = ec2.describe_instances(InstanceIds=[stack.outputs["instance_id"]])["Reservations"][0]["Instances"][0]
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    assert instance["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
    assert instance["IamInstanceProfile"]["Arn"].endswith("/tt-single-host")
    root = [m for m in instance["BlockDeviceMappings"] if m["DeviceName"] == instance["RootDeviceName"]]
    volume = ec2.describe_volumes(VolumeIds=[root[0]["Ebs"]["VolumeId"]])["Volumes"][0]
    assert volume["Encrypted"] is True
    assert volume["VolumeType"] == "gp3" and volume["Size"] == 16


def test_security_group_has_80_443_and_no_22(stack):
    group = stack.client("ec2").describe_security_groups(
        GroupIds=[stack.outputs["security_group_id"]])["SecurityGroups"][0]
    assert no_port_22(group["IpPermissions"])
    assert sorted(rule["FromPort"] for rule in group["IpPermissions"]) == [80, 443]
    # the plan's view too (catches rules made by dynamic blocks, which checkov misses)
    sgs = resources_of_type(stack.first_plan or tf.plan(stack.ws).data, "aws_security_group")
    assert sgs
    for sg in sgs:
        assert all(not (r["from_port"] <= 22 <= r["to_port"]) and r["protocol"] != "-1" for r in sg["ingress"])


def test_role_pulls_only_this_repository(stack):
    assert_role_pulls_only_its_repository(stack, "tt-single")


def test_host_role_reads_no_parameter_but_the_api_keys_and_the_bad_digests(stack):
    # deploy gives the single stack /tt-single/api-keys and /tt-single/bad-digests: one grant each
    assert api_keys_parameter_arn(stack).endswith(":parameter/tt-single/api-keys")
    assert bad_digests_arn(stack).endswith(":parameter/tt-single/bad-digests/*")
    assert_host_role_reads_only_its_parameters(stack)
    applied = [s for _, s in applied_role_statements(stack, stack.outputs["instance_role_name"])]
    assert {"Sid": "ReadApiKeys", "Effect": "Allow", "Action": "ssm:GetParameter",
            "Resource": api_keys_parameter_arn(stack)} in applied
    (record,) = [s for s in applied if s.get("Sid") == "FleetRecordOfBadDigests"]
    assert (record["Effect"], sorted(record["Action"]), record["Resource"]) == \
        ("Allow", ["ssm:GetParameter", "ssm:PutParameter"], bad_digests_arn(stack))


def test_the_role_check_catches_the_managed_ssm_policy(stack):
    """The check above reads the managed policies too; AmazonSSMManagedInstanceCore, which the
    role had before, is what it must catch (its ssm:GetParameter and GetParameters on "*")."""
    iam = stack.client("iam")
    arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    caught = {read for s in document["Statement"] for a in s["Action"] for read in reads_parameters(a)}
    assert caught == {"ssm:getparameter", "ssm:getparameters"}
    assert reads_parameters("ssm:GetParameter*") and reads_parameters("ssm:*") and reads_parameters("*")
    assert not reads_parameters("ssm:PutParameter") and not reads_parameters("ssm:GetDocument")


def test_registry_settings(stack):
    repo = stack.client("ecr").describe_repositories(repositoryNames=["tt-single"])["repositories"][0]
    assert repo["imageScanningConfiguration"]["scanOnPush"] is True
    assert repo["encryptionConfiguration"]["encryptionType"] in ("AES256", "KMS")
    rules = json.loads(stack.client("ecr").get_lifecycle_policy(repositoryName="tt-single")["lifecyclePolicyText"])
    assert [r["selection"]["tagStatus"] for r in rules["rules"]] == ["untagged", "tagged"]


def test_user_data_only_writes_the_env_file(stack):
    raw = stack.client("ec2").describe_instance_attribute(
        InstanceId=stack.outputs["instance_id"], Attribute="userData")["UserData"]["Value"]
    user_data = base64.b64decode(raw).decode()
    assert len(user_data.encode()) < 1024
    assert not INSTALLS.search(user_data)
    assert user_data.startswith("#cloud-config")
    assert "path: /etc/inference/inference.env" in user_data
    # deploy on the local region points the hosts at the region's registry (no ECR data plane)
    assert stack.outputs["tracked_image"] == f"{LOCAL_REGISTRY}/tt-single:stable"
    assert "INFERENCE_IMAGE=" + stack.outputs["tracked_image"] + "\n" in user_data
    assert "DOMAIN=single.example.test" in user_data
    assert "UPDATE_SCHEDULE=hourly\n" in user_data and "UPDATE_SPREAD=15min\n" in user_data  # unquoted
    # where the host ships its logs and metrics: its role's log group, the monitoring namespace
    assert stack.outputs["log_group_name"] == "/tt-single/hosts"
    assert "LOG_GROUP=/tt-single/hosts\n" in user_data and "METRICS_NAMESPACE=Inference\n" in user_data
    assert "PROJECT=tt-single\n" in user_data
    assert "FLEET_GROUP" not in user_data


def test_the_certificate_bucket_is_private_encrypted_and_the_host_roles_alone(stack):
    """With a domain, Caddy's certificates are kept in <project>-tls-<account> for the next
    instance (the host tier rolls one and finds the same certificate): the hosts get its name,
    the role its caddy/ prefix, and the bucket denies its objects to every other principal."""
    account = stack.client("sts").get_caller_identity()["Account"]
    bucket = f"tt-single-tls-{account}"
    s3 = stack.client("s3")
    raw = stack.client("ec2").describe_instance_attribute(
        InstanceId=stack.outputs["instance_id"], Attribute="userData")["UserData"]["Value"]
    user_data = base64.b64decode(raw).decode()
    assert f"CERT_BUCKET={bucket}\n" in user_data and "TLS_ISSUER=acme\n" in user_data
    [rule] = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms" and rule["BucketKeyEnabled"]
    assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    role_arn = stack.client("iam").get_role(RoleName=stack.outputs["instance_role_name"])["Role"]["Arn"]
    (only,) = [s for s in policy if s["Sid"] == "ObjectsForTheHostRoleOnly"]
    assert only["Effect"] == "Deny" and only["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": role_arn}}
    assert sorted(only["Action"]) == ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"]
    (tls,) = [s for s in policy if s["Sid"] == "TlsOnly"]
    assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    applied = {s.get("Sid"): s for _, s in applied_role_statements(stack, stack.outputs["instance_role_name"])}
    assert sorted(applied["ReadWriteCertificates"]["Action"]) == ["s3:GetObject", "s3:PutObject"]
    assert applied["ReadWriteCertificates"]["Resource"] == f"arn:aws:s3:::{bucket}/caddy/*"
    assert applied["ListCertificates"]["Condition"] == {"StringLike": {"s3:prefix": "caddy/*"}}


def test_dns_a_record_and_recovery_alarm(stack):
    route53 = stack.client("route53")
    zone = route53.list_hosted_zones_by_name(DNSName="example.test")["HostedZones"][0]["Id"]
    records = route53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    (record,) = [r for r in records if r["Name"] == "single.example.test." and r["Type"] == "A"]
    assert record["ResourceRecords"] == [{"Value": stack.outputs["public_ip"]}]
    (alarm,) = stack.client("cloudwatch").describe_alarms(AlarmNames=["tt-single-auto-recovery"])["MetricAlarms"]
    assert alarm["AlarmActions"][0].endswith(":ec2:recover")
    assert alarm["Dimensions"] == [{"Name": "InstanceId", "Value": stack.outputs["instance_id"]}]


def test_alerts_topic_is_encrypted_and_mails_the_configured_address(stack):
    key_arn = assert_topic_encrypted_for_cloudwatch(stack)
    assert key_arn == stack.client("kms").describe_key(KeyId="alias/tt-single-alerts")["KeyMetadata"]["Arn"]
    subscriptions = stack.client("sns").list_subscriptions_by_topic(
        TopicArn=stack.outputs["alerts_topic_arn"])["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", ALERT_EMAIL)]
    assert alerts_topic(stack)["DisplayName"] == "tt-single alerts"


def test_alarms_on_the_instance_notify_the_topic(stack):
    alarms = assert_alarms_notify_the_topic(stack, {"status-check-failed", "latency-p99", "host-5xx-rate",
                                                    "disk-nearly-full", "updater-failures"})
    instance = [{"Name": "InstanceId", "Value": stack.outputs["instance_id"]}]
    status = alarms["status-check-failed"]
    assert (status["Namespace"], status["MetricName"]) == ("AWS/EC2", "StatusCheckFailed")
    assert status["Dimensions"] == instance
    disk = alarms["disk-nearly-full"]
    assert (disk["Namespace"], disk["MetricName"], disk["Dimensions"]) == ("Inference", "disk_used_percent", instance)
    assert disk["Threshold"] == 85 and disk["TreatMissingData"] == "notBreaching"
    updater = alarms["updater-failures"]
    assert (updater["Namespace"], updater["MetricName"]) == ("Inference", "updater_failures")
    assert updater["Dimensions"] == [{"Name": "Project", "Value": "tt-single"}]
    assert updater["Statistic"] == "Sum" and updater["TreatMissingData"] == "notBreaching"
    # latency and 5xx from what the host publishes: its worst minute's p99, its 5xx per 100 requests
    latency = alarms["latency-p99"]
    assert (latency["Namespace"], latency["MetricName"], latency["Dimensions"]) == ("Inference", "latency_p99_ms",
                                                                                   instance)
    assert latency["Statistic"] == "Maximum" and "ExtendedStatistic" not in latency
    assert (latency["Period"], latency["EvaluationPeriods"], latency["DatapointsToAlarm"]) == (300, 3, 2)
    assert latency["Threshold"] == 1000 and latency["ComparisonOperator"] == "GreaterThanThreshold"
    assert latency["TreatMissingData"] == "notBreaching"
    rate = alarms["host-5xx-rate"]
    assert (rate["Threshold"], rate["EvaluationPeriods"], rate["DatapointsToAlarm"]) == (5, 3, 2)
    assert rate["TreatMissingData"] == "notBreaching"
    queries = {q["Id"]: q for q in rate["Metrics"]}
    assert set(queries) == {"rate", "errors", "requests"}
    assert queries["rate"]["ReturnData"] is True
    assert queries["rate"]["Expression"] == "IF(FILL(requests, 0) >= 20, 100 * FILL(errors, 0) / (FILL(requests, 0)), 0)"
    for query_id, metric_name in (("errors", "responses_5xx"), ("requests", "requests")):
        stat = queries[query_id]["MetricStat"]
        assert (stat["Metric"]["Namespace"], stat["Metric"]["MetricName"]) == ("Inference", metric_name)
        assert stat["Metric"]["Dimensions"] == instance and (stat["Stat"], stat["Period"]) == ("Sum", 300)
    # the auto-recovery alarm stays as it was: recover, no notification of its own
    assert alarms["auto-recovery"]["AlarmActions"][0].endswith(":ec2:recover")
    assert set(alarms) == {"status-check-failed", "latency-p99", "host-5xx-rate", "disk-nearly-full",
                           "updater-failures", "auto-recovery"}


def test_dashboard_shows_the_instance(stack):
    body = dashboard(stack)
    instance = stack.outputs["instance_id"]
    rows = dashboard_metrics(body)
    assert {row[1] for row in rows} >= {"requests", "responses_4xx", "responses_5xx", "latency_p50_ms",
                                        "latency_p99_ms", "CPUUtilization", "disk_used_percent", "mem_used_percent",
                                        "StatusCheckFailed"}
    assert "latency_ms" not in {row[1] for row in rows}
    assert all(row[2:4] == ["InstanceId", instance] for row in rows)
    # the instance's latency: the Maximum of the minutes' exact percentiles, the alarm's line in ms
    (latency,) = [w for w in body["widgets"] if w["properties"].get("title", "").startswith("Latency at Caddy")]
    assert [(row[1], row[-1]["stat"]) for row in latency["properties"]["metrics"]] == [
        ("latency_p50_ms", "Maximum"), ("latency_p99_ms", "Maximum")]
    assert latency["properties"]["annotations"]["horizontal"][0]["value"] == 1000
    # by route: requests, 5xx and p99 of every route, each a line
    routes = ["/api/infer", "/health", "/ready", "/metrics", "/openapi.json", "/", "other"]
    by_route = [row for row in rows if "Route" in row]
    assert {row[1] for row in by_route} == {"requests", "responses_5xx", "latency_p99_ms"}
    for metric in ("requests", "responses_5xx", "latency_p99_ms"):
        assert [row[5] for row in by_route if row[1] == metric] == routes
        assert all(row[4] == "Route" and row[-1]["label"] == row[5] for row in by_route)
    (alarm_widget,) = [w for w in body["widgets"] if w["type"] == "alarm"]
    recovery = stack.client("cloudwatch").describe_alarms(AlarmNames=["tt-single-auto-recovery"])["MetricAlarms"][0]
    assert recovery["AlarmArn"] in alarm_widget["properties"]["alarms"]
    assert len(alarm_widget["properties"]["alarms"]) == 6
    assert not any("ApplicationELB" in row[0] for row in rows)


def test_cost_estimate_prices_every_resource_of_the_plan(stack):
    # the plan of test_second_plan_is_empty (deploy's own plan was printed, not kept)
    estimate = cost.estimate(stack.first_plan or tf.plan(stack.ws).data, "eu-west-1")
    assert not [line for line in estimate.lines if line.monthly is None]
    assert sum(line.what.startswith("alarm") for line in estimate.lines) == 6   # 5 + the auto-recovery alarm
    assert "alarm (standard resolution, 2 metrics)" in {line.what for line in estimate.lines}   # host-5xx-rate
    assert "log group (kept 365 days)" in {line.what for line in estimate.lines}


def test_no_waf_and_no_scaling_in_single_mode(stack):
    planned = stack.first_plan or tf.plan(stack.ws).data
    assert not [c for c in planned["resource_changes"]
                if c["type"].startswith("aws_wafv2") or c["type"] == "aws_autoscaling_policy"]
    assert stack.outputs.get("waf_web_acl_arn") is None and stack.outputs.get("scaling_policy_name") is None


def test_new_ami_replaces_the_instance_and_says_so(stack, seeded, moto_server):
    ssm = moto_server.client("ssm", REGION)
    ssm.put_parameter(Name="/tt-single/ami/latest", Value=seeded["amis"][1], Type="String", Overwrite=True)
    try:
        planned = tf.plan(stack.ws, refresh=False)  # the parameter (a data source) is still read
    finally:
        ssm.put_parameter(Name="/tt-single/ami/latest", Value=seeded["amis"][0], Type="String", Overwrite=True)
    lines = tf.summarize(planned.data)
    expected = (f"module.compute[0].aws_instance.this: instance will be replaced: new AMI "
                f"({seeded['amis'][0]} -> {seeded['amis'][1]})")
    assert expected in lines
    (change,) = [c for c in planned.data["resource_changes"] if c["type"] == "aws_instance"]
    assert change["change"]["actions"] == ["create", "delete"]  # create_before_destroy: new one first
