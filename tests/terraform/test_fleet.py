"""Fleet mode applied to moto: launch template, ASG with its scaling policy, ALB + ACM + WAF
(count mode), alarms and dashboard, alias record; idempotent; checked via boto3; destroyed.
Tests run in order against one stack.

moto has no Auto Scaling instance refresh API (StartInstanceRefresh/DescribeInstanceRefreshes):
the refresh settings and what a new AMI does are checked in the plan JSON instead. The WAF's
other modes (block; off) are checked in plans of the applied stack with other values.
"""

import base64
import json
import re

import pytest
from tfstack import (
    REQUESTS_PER_TARGET,
    WAF_RATE_LIMIT,
    api_keys_parameter_arn,
    assert_alarms_notify_the_topic,
    assert_host_role_reads_only_its_parameters,
    assert_role_pulls_only_its_repository,
    assert_topic_encrypted_for_cloudwatch,
    dashboard,
    dashboard_metrics,
    no_port_22,
    planned_changes,
    resources_of_type,
)

from inferctl import cost
from inferctl import terraform as tf

INSTALLS = re.compile(r"apt-get|apt |yum |dnf |pip3? install|curl |wget |runcmd:|packages:")


@pytest.fixture(scope="module")
def stack(deployments):
    return deployments["fleet"].result()


def test_applied_outputs(stack):
    out = stack.outputs
    assert out["mode"] == "fleet" and out.get("instance_id") is None  # null outputs are left out
    assert out["url"] == "https://fleet.example.test"
    assert out["autoscaling_group_name"] == "tt-fleet" and out["alb_dns_name"]


def test_second_plan_is_empty(stack):
    assert not tf.plan(stack.ws).changes


def test_launch_template_imdsv2_encrypted_root_small_user_data(stack, seeded):
    ec2 = stack.client("ec2")
    (version,) = ec2.describe_launch_template_versions(
        LaunchTemplateId=stack.outputs["launch_template_id"], Versions=["$Latest"])["LaunchTemplateVersions"]
    data = version["LaunchTemplateData"]
    assert data["ImageId"] == seeded["amis"][0]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert int(data["MetadataOptions"]["HttpPutResponseHopLimit"]) == 1
    (root,) = data["BlockDeviceMappings"]
    assert root["DeviceName"] == "/dev/sda1"  # the AMI's own root device
    assert root["Ebs"]["Encrypted"] in (True, "true")
    assert root["Ebs"]["VolumeType"] == "gp3" and int(root["Ebs"]["VolumeSize"]) == 16
    user_data = base64.b64decode(data["UserData"]).decode()
    assert len(user_data.encode()) < 1024 and not INSTALLS.search(user_data)
    assert "DOMAIN=\n" in user_data  # the ALB terminates TLS: Caddy serves plain HTTP
    # where the hosts ship their logs and metrics, and the group their group metrics name
    assert stack.outputs["log_group_name"] == "/tt-fleet/hosts"
    assert "LOG_GROUP=/tt-fleet/hosts\n" in user_data and "METRICS_NAMESPACE=Inference\n" in user_data
    assert "PROJECT=tt-fleet\n" in user_data
    assert f"FLEET_GROUP={stack.outputs['autoscaling_group_name']}\n" in user_data
    # the ALB holds the certificate (ACM): no Caddy certificate to keep, no bucket
    assert "CERT_BUCKET" not in user_data and "TLS_ISSUER" not in user_data


def test_autoscaling_group_uses_elb_health_across_azs(stack):
    (group,) = stack.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=["tt-fleet"])["AutoScalingGroups"]
    assert group["HealthCheckType"] == "ELB"
    assert len(set(group["AvailabilityZones"])) == 2
    assert len(group["TargetGroupARNs"]) == 1
    assert group["MinSize"] == 1 and group["MaxSize"] == 2
    assert group["LaunchTemplate"]["LaunchTemplateId"] == stack.outputs["launch_template_id"]


def test_alb_redirects_http_and_serves_https(stack):
    elbv2 = stack.client("elbv2")
    (alb,) = elbv2.describe_load_balancers(Names=["tt-fleet"])["LoadBalancers"]
    listeners = {l["Port"]: l for l in elbv2.describe_listeners(LoadBalancerArn=alb["LoadBalancerArn"])["Listeners"]}
    assert set(listeners) == {80, 443}
    redirect = listeners[80]["DefaultActions"][0]
    assert redirect["Type"] == "redirect"
    assert redirect["RedirectConfig"]["Protocol"] == "HTTPS" and redirect["RedirectConfig"]["StatusCode"] == "HTTP_301"
    https = listeners[443]
    assert https["Protocol"] == "HTTPS" and https["SslPolicy"].startswith("ELBSecurityPolicy-TLS13")
    (cert,) = https["Certificates"]
    described = stack.client("acm").describe_certificate(CertificateArn=cert["CertificateArn"])["Certificate"]
    assert described["DomainName"] == "fleet.example.test" and described["Status"] == "ISSUED"


def test_instances_accept_traffic_only_from_the_alb(stack):
    ec2 = stack.client("ec2")
    (alb,) = stack.client("elbv2").describe_load_balancers(Names=["tt-fleet"])["LoadBalancers"]
    (alb_sg,) = alb["SecurityGroups"]
    (instance_sg,) = ec2.describe_security_groups(GroupIds=[stack.outputs["security_group_id"]])["SecurityGroups"]
    assert no_port_22(instance_sg["IpPermissions"])
    for rule in instance_sg["IpPermissions"]:
        assert not rule.get("IpRanges") and not rule.get("Ipv6Ranges")
        assert [pair["GroupId"] for pair in rule["UserIdGroupPairs"]] == [alb_sg]
    (alb_group,) = ec2.describe_security_groups(GroupIds=[alb_sg])["SecurityGroups"]
    assert no_port_22(alb_group["IpPermissions"])


def test_role_pulls_only_this_repository(stack):
    assert_role_pulls_only_its_repository(stack, "tt-fleet")


def test_host_role_reads_no_parameter(stack):
    # the fleet stack is given no API keys parameter: the role may read no parameter at all
    assert api_keys_parameter_arn(stack) is None
    assert_host_role_reads_only_its_parameters(stack)


def test_alias_record_points_at_the_alb(stack):
    route53 = stack.client("route53")
    zone = route53.list_hosted_zones_by_name(DNSName="example.test")["HostedZones"][0]["Id"]
    records = route53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    (record,) = [r for r in records if r["Name"] == "fleet.example.test." and r["Type"] == "A"]
    assert record["AliasTarget"]["DNSName"].rstrip(".") == stack.outputs["alb_dns_name"]


def test_instance_refresh_in_the_plan(stack):
    # moto lacks the instance refresh API: assert the planned configuration instead.
    (group,) = resources_of_type(stack.first_plan, "aws_autoscaling_group")
    (refresh,) = group["instance_refresh"]
    assert refresh["strategy"] == "Rolling"
    (preferences,) = refresh["preferences"]
    # full capacity throughout: new instances first (up to twice the group), rollback on failure
    assert preferences["min_healthy_percentage"] == 100
    assert preferences["max_healthy_percentage"] == 200
    assert preferences["auto_rollback"] is True
    assert group["health_check_type"] == "ELB"
    assert "desired_capacity" not in group  # left to AWS and the scaling policy, never reset by an apply


# --- the ALB's names as CloudWatch knows them ---------------------------------------------

@pytest.fixture(scope="module")
def alb(stack):
    elbv2 = stack.client("elbv2")
    (lb,) = elbv2.describe_load_balancers(Names=["tt-fleet"])["LoadBalancers"]
    (group,) = elbv2.describe_target_groups(LoadBalancerArn=lb["LoadBalancerArn"])["TargetGroups"]
    return {"arn": lb["LoadBalancerArn"],
            "suffix": lb["LoadBalancerArn"].split(":loadbalancer/")[1],               # app/<name>/<id>
            "target_group_suffix": group["TargetGroupArn"].split(":")[-1]}            # targetgroup/<name>/<id>


def test_scaling_policy_tracks_requests_per_target(stack, alb):
    (policy,) = stack.client("autoscaling").describe_policies(AutoScalingGroupName="tt-fleet")["ScalingPolicies"]
    assert policy["PolicyName"] == stack.outputs["scaling_policy_name"] == "tt-fleet-requests-per-target"
    assert policy["PolicyType"] == "TargetTrackingScaling"
    tracking = policy["TargetTrackingConfiguration"]
    assert tracking["TargetValue"] == REQUESTS_PER_TARGET
    assert tracking["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "ALBRequestCountPerTarget",
        "ResourceLabel": f"{alb['suffix']}/{alb['target_group_suffix']}"}
    # requests_per_target = 0: no policy
    changes = planned_changes(stack.plan(requests_per_target=0).data)
    assert changes["module.fleet[0].aws_autoscaling_policy.requests_per_target[0]"] == ["delete"]


def test_alerts_topic_is_encrypted_and_has_no_subscription(stack):
    assert_topic_encrypted_for_cloudwatch(stack)
    sns = stack.client("sns")
    assert sns.list_subscriptions_by_topic(TopicArn=stack.outputs["alerts_topic_arn"])["Subscriptions"] == []


def test_alarms_on_the_load_balancer_and_group_notify_the_topic(stack, alb):
    alarms = assert_alarms_notify_the_topic(stack, {
        "unhealthy-targets", "no-healthy-targets", "latency-p99", "target-5xx-rate", "alb-5xx-rate",
        "disk-nearly-full", "updater-failures"})
    assert set(alarms) == set(stack.outputs["alarm_names"])   # no auto-recovery alarm in a fleet
    target = [{"Name": "LoadBalancer", "Value": alb["suffix"]},
              {"Name": "TargetGroup", "Value": alb["target_group_suffix"]}]
    for name, metric in (("unhealthy-targets", "UnHealthyHostCount"), ("no-healthy-targets", "HealthyHostCount"),
                         ("latency-p99", "TargetResponseTime")):
        alarm = alarms[name]
        assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/ApplicationELB", metric)
        assert sorted(alarm["Dimensions"], key=lambda d: d["Name"]) == target
    assert alarms["latency-p99"]["ExtendedStatistic"] == "p99" and alarms["latency-p99"]["Threshold"] == 1
    assert alarms["no-healthy-targets"]["ComparisonOperator"] == "LessThanThreshold"
    for name, metric in (("target-5xx-rate", "HTTPCode_Target_5XX_Count"), ("alb-5xx-rate", "HTTPCode_ELB_5XX_Count")):
        queries = {q["Id"]: q for q in alarms[name]["Metrics"]}
        assert set(queries) == {"rate", "errors", "requests"}
        assert queries["rate"]["ReturnData"] is True and "100 * FILL(errors, 0)" in queries["rate"]["Expression"]
        for query_id, metric_name in (("errors", metric), ("requests", "RequestCount")):
            stat = queries[query_id]["MetricStat"]
            assert stat["Metric"]["MetricName"] == metric_name and stat["Stat"] == "Sum"
            assert stat["Metric"]["Dimensions"] == [{"Name": "LoadBalancer", "Value": alb["suffix"]}]
    disk = alarms["disk-nearly-full"]
    assert disk["MetricName"] == "disk_used_percent" and disk["Statistic"] == "Maximum"
    assert disk["Dimensions"] == [{"Name": "AutoScalingGroupName", "Value": "tt-fleet"}]
    assert alarms["updater-failures"]["Dimensions"] == [{"Name": "Project", "Value": "tt-fleet"}]


def test_dashboard_shows_the_load_balancer_group_and_waf(stack, alb):
    body = dashboard(stack)
    rows = dashboard_metrics(body)
    named = {row[1] for row in rows}
    assert {"RequestCount", "HTTPCode_Target_5XX_Count", "HTTPCode_ELB_5XX_Count", "TargetResponseTime",
            "CPUUtilization", "disk_used_percent", "mem_used_percent", "GroupInServiceInstances",
            "BlockedRequests", "CountedRequests"} <= named
    text = json.dumps(body)
    for name in (alb["suffix"], alb["target_group_suffix"], "tt-fleet-alb"):
        assert f'"{name}"' in text
    assert all("tt-fleet" in row for row in rows if row[1] in ("CPUUtilization", "disk_used_percent",
                                                               "GroupInServiceInstances"))
    assert {row[-1]["stat"] for row in rows if row[1] == "TargetResponseTime"} == {"p50", "p99"}
    assert not [row for row in rows if "Route" in row]   # per-route series are per instance (README)
    (alarm_widget,) = [w for w in body["widgets"] if w["type"] == "alarm"]
    assert len(alarm_widget["properties"]["alarms"]) == 7
    # the ASG publishes the capacity metrics the dashboard shows
    (group,) = stack.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=["tt-fleet"])["AutoScalingGroups"]
    assert {"GroupInServiceInstances", "GroupDesiredCapacity"} <= {m["Metric"] for m in group["EnabledMetrics"]}


def test_waf_on_the_alb_in_count_mode(stack, alb):
    wafv2 = stack.client("wafv2")
    acl = wafv2.get_web_acl_for_resource(ResourceArn=alb["arn"])["WebACL"]
    assert acl["ARN"] == stack.outputs["waf_web_acl_arn"] and acl["Name"] == "tt-fleet-alb"
    assert stack.outputs["waf_mode"] == "count"
    assert acl["DefaultAction"] == {"Allow": {}}
    assert acl["VisibilityConfig"]["CloudWatchMetricsEnabled"] is True
    rules = {rule["Name"]: rule for rule in acl["Rules"]}
    assert set(rules) == {"rate-limit-per-ip", "AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"}
    rate = rules["rate-limit-per-ip"]
    assert rate["Action"] == {"Count": {}}
    assert rate["Statement"]["RateBasedStatement"]["Limit"] == WAF_RATE_LIMIT
    assert rate["Statement"]["RateBasedStatement"]["AggregateKeyType"] == "IP"
    for name in ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"):
        assert rules[name]["OverrideAction"] == {"Count": {}}
        assert rules[name]["Statement"]["ManagedRuleGroupStatement"]["VendorName"] == "AWS"
    assert all(rule["VisibilityConfig"]["CloudWatchMetricsEnabled"] for rule in rules.values())


def test_cost_estimate_prices_every_resource_of_the_plan(stack):
    estimate = cost.estimate(stack.first_plan, "eu-west-1")
    assert not [line for line in estimate.lines if line.monthly is None]
    whats = {line.what for line in estimate.lines}
    assert {"WAF web ACL + 3 rules", "target tracking (its 2 alarms)", "SNS topic", "KMS key",
            "alarm (standard resolution, 2 metrics)", "dashboard (an account's first 3 are free)"} <= whats
    alarm_metrics = sum(round(line.monthly / 0.10) for line in estimate.lines if line.what.startswith("alarm"))
    assert alarm_metrics == 9   # 5 one-metric alarms + 2 on two metrics each


def _acl_rules(plan: dict) -> dict[str, dict]:
    (acl,) = resources_of_type(plan, "aws_wafv2_web_acl")
    return {rule["name"]: rule for rule in acl["rule"]}


def test_waf_blocks_only_when_told_to(stack):
    rules = _acl_rules(stack.plan(waf_block=True).data)
    (action,) = rules["rate-limit-per-ip"]["action"]
    assert action["block"] and not action["count"]
    common = rules["AWSManagedRulesCommonRuleSet"]
    (override,) = common["override_action"]
    assert override["none"] and not override["count"]
    # inference bodies are larger than the common rules' 8 KB: that rule only ever counts
    (overridden,) = common["statement"][0]["managed_rule_group_statement"][0]["rule_action_override"]
    assert overridden["name"] == "SizeRestrictions_BODY" and overridden["action_to_use"][0]["count"]


def test_waf_off_removes_the_acl_and_its_association(stack):
    changes = planned_changes(stack.plan(waf_enabled=False).data)
    assert changes["module.waf[0].aws_wafv2_web_acl.this"] == ["delete"]
    assert changes["module.waf[0].aws_wafv2_web_acl_association.this"] == ["delete"]
    assert {address for address, actions in changes.items() if actions == ["delete"]} == {
        "module.waf[0].aws_wafv2_web_acl.this", "module.waf[0].aws_wafv2_web_acl_association.this"}


def test_new_ami_rolls_by_instance_refresh_and_says_so(stack, seeded):
    planned = stack.plan(ami_id=seeded["amis"][1])
    lines = tf.summarize(planned.data)
    assert any(line.startswith("module.fleet[0].aws_launch_template.this: launch template gets a new AMI ("
                               f"{seeded['amis'][0]} -> {seeded['amis'][1]})") and "instance refresh" in line
               for line in lines), lines
    changes = {c["address"]: c["change"]["actions"] for c in planned.data["resource_changes"]}
    assert changes["module.fleet[0].aws_launch_template.this"] == ["update"]
    assert changes["module.fleet[0].aws_autoscaling_group.this"] == ["update"]  # not replaced: refreshed
