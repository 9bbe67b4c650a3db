"""The estimated monthly cost deploy prints before applying, from hand-written plan JSON."""

import json

import pytest

from inferctl import cost, deploy


def _change(address, rtype, after, actions=("create",), module=""):
    return {"address": address, "mode": "managed", "type": rtype, "module_address": module,
            "change": {"actions": list(actions), "before": None, "after": after}}


def _plan(*changes, **variables):
    return {"variables": {name: {"value": value} for name, value in variables.items()},
            "resource_changes": list(changes)}


def _instance(address="module.compute[0].aws_instance.this", instance_type="t3.small", actions=("create",)):
    return _change(address, "aws_instance", {
        "instance_type": instance_type, "root_block_device": [{"volume_type": "gp3", "volume_size": 16}]},
        actions, "module.compute[0]")


def _eip(address="module.compute[0].aws_eip.this"):
    return _change(address, "aws_eip", {"domain": "vpc"})


def _fleet(desired=2):
    module = "module.fleet[0]"
    return [
        _change(f"{module}.aws_lb.this", "aws_lb", {"load_balancer_type": "application", "internal": False},
                module=module),
        _change(f"{module}.aws_launch_template.this", "aws_launch_template", {
            "instance_type": "t3.small",
            "block_device_mappings": [{"device_name": "/dev/sda1",
                                       "ebs": [{"volume_type": "gp3", "volume_size": 16}]}]}, module=module),
        _change(f"{module}.aws_autoscaling_group.this", "aws_autoscaling_group",
                {"min_size": desired, "max_size": 4, "desired_capacity": desired}, module=module),
        _change(f"{module}.aws_lb_listener.https", "aws_lb_listener", {"port": 443}, module=module),
    ]


def _nat():
    return [_change("module.network.aws_nat_gateway.this[0]", "aws_nat_gateway", {"connectivity_type": "public"},
                    module="module.network"),
            _eip("module.network.aws_eip.nat[0]")]


def _single():
    """What a new AMI's plan shows: the instance replaced, its EIP and a free VPC kept, a data read."""
    return _plan(_instance(actions=("create", "delete")), _eip(),
                 _change("module.network.aws_vpc.this", "aws_vpc", {"cidr_block": "10.20.0.0/16"}, ("no-op",)),
                 {"address": "data.aws_ssm_parameter.ami[0]", "mode": "data", "type": "aws_ssm_parameter",
                  "change": {"actions": ["read"], "before": None, "after": {}}},
                 az_count=2, private_subnets=False)


@pytest.mark.parametrize("region, total", [("us-east-1", 20.114), ("eu-west-1", 21.702)])
def test_single_instance_gp3_and_elastic_ip(region, total):
    # t3.small 730 h + 16 GB gp3 + one public IPv4 at $0.005/h; the replaced instance counts once
    estimate = cost.estimate(_single(), region)
    assert estimate.total == pytest.approx(total)
    assert estimate.free == 1
    lines = estimate.render()
    assert any(line.split() == ["module.compute[0].aws_instance.this", "t3.small",
                                "$15.18/month" if region == "us-east-1" else "$16.64/month"] for line in lines)
    assert any("aws_eip.this" in line and "1 public IPv4 (Elastic IP)" in line and "$3.65/month" in line
               for line in lines)
    assert lines[-1] == (f"estimated ${total:.2f}/month in {region} at list prices of {cost.PRICES_AS_OF}, "
                         "before usage (data transfer, LCUs, log ingestion)")


@pytest.mark.parametrize("region, total", [("us-east-1", 63.953), ("eu-west-1", 69.10)])
def test_fleet_in_public_subnets(region, total):
    # ALB 730 h + its 2 zone addresses (subnet ids unknown before the first apply: az_count),
    # 2 x (t3.small + 16 GB gp3 + a public IPv4 mapped on launch)
    estimate = cost.estimate(_plan(*_fleet(), az_count=2, private_subnets=False), region)
    assert estimate.total == pytest.approx(total)
    by_what = {line.what: line for line in estimate.lines}
    assert set(by_what) == {"application load balancer", "2 public IPv4 (one per zone)", "2 x t3.small",
                            "2 x gp3 root 16 GB", "2 public IPv4 (instances in public subnets)"}
    assert by_what["application load balancer"].usage.startswith("LCU usage")
    assert estimate.free == 2  # launch template and listener: no charge of their own


@pytest.mark.parametrize("region, total", [("us-east-1", 93.153), ("eu-west-1", 100.49)])
def test_fleet_in_private_subnets_behind_a_nat_gateway(region, total):
    estimate = cost.estimate(_plan(*_fleet(), *_nat(), az_count=2, private_subnets=True), region)
    assert estimate.total == pytest.approx(total)
    assert not any("instances in public subnets" in line.what for line in estimate.lines)
    nat = next(line for line in estimate.render() if "aws_nat_gateway" in line)
    assert nat.endswith("$32.85/month + $0.045/GB processed" if region == "us-east-1"
                        else "$35.04/month + $0.048/GB processed")


def test_known_alb_subnets_count_one_address_each():
    changes = _fleet()
    changes[0]["change"]["after"]["subnets"] = ["subnet-a", "subnet-b", "subnet-c"]
    estimate = cost.estimate(_plan(*changes, az_count=2, private_subnets=True), "us-east-1")
    assert "3 public IPv4 (one per zone)" in {line.what for line in estimate.lines}


def test_deleted_resources_are_not_counted():
    def deleted(change):
        return change | {"change": {"actions": ["delete"], "before": change["change"]["after"], "after": None}}

    plan = _plan(_instance(), _eip(), deleted(_instance("module.compute[0].aws_instance.old")),
                 deleted(_eip("module.compute[0].aws_eip.old")))
    assert cost.estimate(plan, "us-east-1").total == pytest.approx(20.114)
    assert cost.estimate(plan, "us-east-1").total == cost.estimate(_single(), "us-east-1").total


def test_unknown_instance_type_and_resource_type_are_said_and_not_counted():
    plan = _plan(_instance(instance_type="x9z.large"), _eip(),
                 _change("aws_sqs_queue.jobs", "aws_sqs_queue", {"name": "jobs"}))
    estimate = cost.estimate(plan, "eu-west-1")
    lines = estimate.render()
    assert any("x9z.large" in line and line.endswith("price unknown") for line in lines)
    assert any("aws_sqs_queue.jobs" in line and "type not priced" in line for line in lines)
    assert estimate.total == pytest.approx(16 * 0.088 + 3.65)
    assert lines[-1].endswith("; 2 line(s) without a price not counted")


def test_unknown_region_falls_back_to_us_east_1_and_says_so():
    estimate = cost.estimate(_single(), "ap-south-1")
    assert estimate.prices_region == "us-east-1"
    assert estimate.total == cost.estimate(_single(), "us-east-1").total
    lines = estimate.render()
    assert "no prices for ap-south-1 here: us-east-1 prices shown" in lines[0]
    assert lines[-1].startswith(f"estimated $20.11/month in ap-south-1 at us-east-1 list prices of {cost.PRICES_AS_OF}")


def test_usage_only_resources_name_their_usage():
    plan = _plan(_change("module.registry.aws_ecr_repository.this", "aws_ecr_repository", {}),
                 _change("module.x.aws_cloudwatch_log_group.this", "aws_cloudwatch_log_group", {}),
                 _change("module.dns[0].aws_route53_record.fleet[0]", "aws_route53_record",
                         {"type": "A", "alias": [{"name": "alb.example", "zone_id": "Z1"}]}),
                 _change("module.dns[0].aws_route53_record.single[0]", "aws_route53_record", {"type": "A"}),
                 _change("aws_kms_key.this", "aws_kms_key", {}),
                 _change("aws_cloudwatch_metric_alarm.recover", "aws_cloudwatch_metric_alarm", {}))
    estimate = cost.estimate(plan, "us-east-1")
    assert estimate.total == pytest.approx(1.10)  # the KMS key and the alarm
    text = "\n".join(" ".join(line.split()) for line in estimate.render())  # columns padded
    assert "ECR repository usage only: storage $0.10/GB-month" in text
    assert "usage only: $0.50/GB ingested" in text
    assert "alias record (its queries are free)" in text and "usage only: $0.40/million queries" in text


# --- monitoring, WAF and scaling: what issue 14 adds -------------------------------------

def _monitoring(mode="fleet"):
    """The monitoring module's priced resources as a plan lists them (fleet: 5 one-metric
    alarms and 2 metric-math ones on two metrics each; single: 4 one-metric alarms and 1
    metric-math one on two metrics)."""
    module = "module.monitoring"
    one_metric = (["unhealthy-targets", "no-healthy-targets", "latency-p99", "disk-nearly-full", "updater-failures"]
                  if mode == "fleet" else ["status-check-failed", "latency-p99", "disk-nearly-full", "updater-failures"])
    error_rates = ["target-5xx-rate", "alb-5xx-rate"] if mode == "fleet" else ["host-5xx-rate"]
    metric_math = {"metric_query": [
        {"id": "rate", "expression": "100 * errors / requests", "metric": []},
        {"id": "errors", "expression": "", "metric": [{"metric_name": "HTTPCode_ELB_5XX_Count"}]},
        {"id": "requests", "expression": "", "metric": [{"metric_name": "RequestCount"}]}]}
    return [
        _change(f"{module}.aws_kms_key.alerts", "aws_kms_key", {}, module=module),
        _change(f"{module}.aws_kms_alias.alerts", "aws_kms_alias", {}, module=module),
        _change(f"{module}.aws_sns_topic.alerts", "aws_sns_topic", {"name": "x-alerts"}, module=module),
        _change(f"{module}.aws_sns_topic_subscription.email[0]", "aws_sns_topic_subscription", {"protocol": "email"},
                module=module),
        *(_change(f'{module}.aws_cloudwatch_metric_alarm.this["{name}"]', "aws_cloudwatch_metric_alarm",
                  {"metric_name": name, "metric_query": []}, module=module) for name in one_metric),
        *(_change(f'{module}.aws_cloudwatch_metric_alarm.error_rate["{name}"]', "aws_cloudwatch_metric_alarm",
                  metric_math, module=module) for name in error_rates),
        _change(f"{module}.aws_cloudwatch_dashboard.this", "aws_cloudwatch_dashboard", {"dashboard_name": "x"},
                module=module),
    ]


def _waf(rules=3):
    module = "module.waf[0]"
    return [_change(f"{module}.aws_wafv2_web_acl.this", "aws_wafv2_web_acl",
                    {"scope": "REGIONAL", "rule": [{"name": f"rule-{n}"} for n in range(rules)]}, module=module),
            _change(f"{module}.aws_wafv2_web_acl_association.this", "aws_wafv2_web_acl_association", {}, module=module)]


def _scaling(policy_type="TargetTrackingScaling"):
    return _change("module.fleet[0].aws_autoscaling_policy.requests_per_target[0]", "aws_autoscaling_policy",
                   {"policy_type": policy_type}, module="module.fleet[0]")


def _line(estimate, address_part):
    (line,) = [line for line in estimate.lines if address_part in line.address]
    return line


def test_alarms_are_priced_per_metric_they_evaluate():
    estimate = cost.estimate(_plan(*_monitoring("fleet")), "us-east-1")
    single_metric = _line(estimate, '"latency-p99"')
    assert (single_metric.what, single_metric.monthly) == ("alarm (standard resolution)", pytest.approx(0.10))
    metric_math = _line(estimate, '"alb-5xx-rate"')
    assert (metric_math.what, metric_math.monthly) == ("alarm (standard resolution, 2 metrics)", pytest.approx(0.20))
    alarms = [line for line in estimate.lines if "alarm" in line.what]
    assert sum(line.monthly for line in alarms) == pytest.approx(0.90)   # 5 x 1 + 2 x 2 alarm metrics


def test_dashboard_topic_and_key_of_the_monitoring_module():
    estimate = cost.estimate(_plan(*_monitoring("single")), "eu-west-1")
    dashboard = _line(estimate, "aws_cloudwatch_dashboard")
    assert dashboard.monthly == pytest.approx(3.00) and "first 3 are free" in dashboard.what
    topic = _line(estimate, "aws_sns_topic.alerts")
    assert topic.monthly == 0.0 and topic.usage.startswith("within the free tier (1M publishes, 1,000 emails a month)")
    assert "$2.00/100,000 emails" in topic.usage
    assert _line(estimate, "aws_kms_key").monthly == pytest.approx(1.00)
    assert estimate.free == 2                                               # the key's alias, the subscription
    assert estimate.total == pytest.approx(3.00 + 1.00 + 0.40 + 0.20)   # 4 x 1 + 1 x 2 alarm metrics
    text = "\n".join(" ".join(line.split()) for line in estimate.render())
    assert "SNS topic usage only: within the free tier" in text


def test_waf_is_priced_per_web_acl_and_rule_plus_requests():
    estimate = cost.estimate(_plan(*_waf(rules=3)), "us-east-1")
    acl = _line(estimate, "aws_wafv2_web_acl.this")
    assert acl.what == "WAF web ACL + 3 rules" and acl.monthly == pytest.approx(8.00)
    assert acl.usage == "$0.60/million requests"
    assert estimate.free == 1                                               # the association
    assert any(line.endswith("$8.00/month + $0.60/million requests") for line in estimate.render())


def test_target_tracking_counts_the_alarms_auto_scaling_makes():
    line = _line(cost.estimate(_plan(_scaling()), "us-east-1"), "aws_autoscaling_policy")
    assert line.what == "target tracking (its 2 alarms)" and line.monthly == pytest.approx(0.20)
    assert _line(cost.estimate(_plan(_scaling("SimpleScaling")), "us-east-1"), "aws_autoscaling_policy").monthly == 0


def test_log_group_line_names_its_retention_and_usage():
    plan = _plan(*(_change(f"module.{name}.aws_cloudwatch_log_group.this", "aws_cloudwatch_log_group",
                           {"retention_in_days": days}) for name, days in (("x", 365), ("y", 0))))
    estimate = cost.estimate(plan, "us-east-1")
    kept, forever = estimate.lines
    assert kept.what == "log group (kept 365 days)" and forever.what == "log group (kept forever)"
    assert kept.monthly == 0.0 and kept.usage == ("$0.50/GB ingested, $0.03/GB-month stored; the hosts' metrics in "
                                                  "it: up to 28 per host at $0.30/month ($8.40), by the hours they get data")


@pytest.mark.parametrize("region, total", [("us-east-1", 63.953 + 0.90 + 3.00 + 1.00 + 0.20 + 8.00),
                                           ("eu-west-1", 69.10 + 0.90 + 3.00 + 1.00 + 0.20 + 8.00)])
def test_fleet_with_monitoring_scaling_and_waf(region, total):
    plan = _plan(*_fleet(), *_monitoring("fleet"), _scaling(), *_waf(), az_count=2, private_subnets=False)
    estimate = cost.estimate(plan, region)
    assert estimate.total == pytest.approx(total)
    assert not [line for line in estimate.lines if line.monthly is None]     # every new type is priced


def test_default_stack_and_seed_design_for_the_readme():
    # t3.small + 16 GB gp3 + EIP + recovery alarm ($20.21 in us-east-1), plus the monitoring
    # module: KMS key $1, 5 alarms on 6 alarm metrics $0.60, the dashboard $3 (SNS topic: free tier)
    assert cost.estimate(cost.default_single_plan(), "us-east-1").total == pytest.approx(24.814)
    assert cost.estimate(cost.default_single_plan(), "eu-west-1").total == pytest.approx(26.402)
    alarms = [line for line in cost.estimate(cost.default_single_plan(), "us-east-1").lines if "alarm" in line.what]
    assert [line.address.split(".")[-1] for line in alarms if "monitoring" in line.address] == [
        'this["status-check-failed"]', 'this["latency-p99"]', 'this["disk-nearly-full"]',
        'this["updater-failures"]', 'error_rate["host-5xx-rate"]']
    assert _line(cost.estimate(cost.default_single_plan(), "us-east-1"), '"host-5xx-rate"').monthly == \
        pytest.approx(0.20)
    seed = cost.estimate(cost.seed_plan(), "us-east-1")
    assert seed.total == pytest.approx(56.934)  # the issue: "about $57/month, most of it the NAT gateway"
    assert max(seed.lines, key=lambda line: line.monthly).what == "NAT gateway"


def test_entry_point_reads_a_plan_file_and_its_region(tmp_path, capsys):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(_single() | {"variables": {"region": {"value": "eu-west-1"}}}))
    cost.main([str(path)])
    assert capsys.readouterr().out.splitlines()[-1].startswith("estimated $21.70/month in eu-west-1")
    cost.main(["--region", "us-east-1"])
    assert capsys.readouterr().out.splitlines()[-1].startswith("estimated $24.81/month in us-east-1")


def test_deploy_prints_the_estimate_prefixed(capsys):
    from inferctl import config as configuration
    target = deploy.Target("local", "eu-west-1", session=None, endpoint="http://127.0.0.1:1")
    deploy.print_cost_estimate(target, configuration.Config(), _single())
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "deploy: on AWS, this stack would cost:"
    assert all(line.startswith("deploy: ") for line in out)
    assert out[-1].startswith("deploy: estimated $21.70/month in eu-west-1")
