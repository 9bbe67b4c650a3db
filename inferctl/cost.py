"""Estimated monthly cost of a stack, from its Terraform plan, at dated AWS list prices.

Only what is billed by the hour or by the month is added up (on-demand, Linux, USD, 730 hours
a month). What is billed by use (data transfer, NAT processing, ALB LCUs, log ingestion and
storage, image storage, DNS queries, WAF requests, notifications beyond SNS's free tier) is named
on its line, never guessed. `invoke deploy` prints this before it applies; ``python -m
inferctl.cost`` prints it for a saved plan JSON or for the default stack (the README's figures).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from .config import Config

HOURS_PER_MONTH = 730
FALLBACK_REGION = "us-east-1"

# AWS list prices as known on PRICES_AS_OF (from AWS's pricing pages; unchanged for a long
# time before that date: t3 since 2018, the public IPv4 charge since 2024-02-01). AWS changes
# prices without notice: re-check every figure (AWS Price List API or the pricing pages) and
# move the date when you do. The least certain figure is c7i.large in eu-west-1.
# CloudWatch: an alarm is billed per metric it evaluates (a metric-math alarm on two metrics
# is two alarm metrics), a dashboard per month beyond the account's first 3 (free); SNS: the
# first million publishes and 1,000 email deliveries a month are free; WAF: per web ACL and
# per rule (an AWS managed rule group counts as one; the two used here have no extra fee)
# per month, plus requests. The same in both regions below.
PRICES_AS_OF = "2025-06-01"
PRICES = {
    "us-east-1": {
        "instance_hour": {
            "t3.micro": 0.0104, "t3.small": 0.0208, "t3.medium": 0.0416, "t3.large": 0.0832,
            "t3.xlarge": 0.1664, "t4g.micro": 0.0084, "t4g.small": 0.0168, "t4g.medium": 0.0336,
            "t4g.large": 0.0672, "m7i.large": 0.1008, "m7g.large": 0.0816, "c7i.large": 0.08925,
            "c7g.large": 0.0725,
        },
        "ebs_gb_month": {"gp3": 0.08},
        "public_ipv4_hour": 0.005,
        "nat_gateway_hour": 0.045,
        "nat_gateway_gb": 0.045,
        "alb_hour": 0.0225,
        "alb_lcu_hour": 0.008,
        "alarm_month": 0.10,         # standard resolution, per alarm metric
        "dashboard_month": 3.00,     # beyond the account's first 3
        "sns_million_publishes": 0.50,
        "sns_email_100k": 2.00,
        "waf_acl_month": 5.00,
        "waf_rule_month": 1.00,
        "waf_million_requests": 0.60,
        "kms_key_month": 1.00,
        "ecr_gb_month": 0.10,
        "s3_gb_month": 0.023,        # S3 Standard, first 50 TB
        "s3_thousand_puts": 0.005,
        "logs_ingested_gb": 0.50,
        "logs_stored_gb_month": 0.03,
        "custom_metric_month": 0.30,  # first 10,000 metrics, prorated by the hours a metric gets data
        "dns_million_queries": 0.40,
    },
    "eu-west-1": {
        "instance_hour": {
            "t3.micro": 0.0114, "t3.small": 0.0228, "t3.medium": 0.0456, "t3.large": 0.0912,
            "t3.xlarge": 0.1824, "t4g.micro": 0.0092, "t4g.small": 0.0184, "t4g.medium": 0.0368,
            "t4g.large": 0.0736, "m7i.large": 0.11235, "m7g.large": 0.091, "c7i.large": 0.1008,
            "c7g.large": 0.0775,
        },
        "ebs_gb_month": {"gp3": 0.088},
        "public_ipv4_hour": 0.005,
        "nat_gateway_hour": 0.048,
        "nat_gateway_gb": 0.048,
        "alb_hour": 0.0252,
        "alb_lcu_hour": 0.008,
        "alarm_month": 0.10,
        "dashboard_month": 3.00,
        "sns_million_publishes": 0.50,
        "sns_email_100k": 2.00,
        "waf_acl_month": 5.00,
        "waf_rule_month": 1.00,
        "waf_million_requests": 0.60,
        "kms_key_month": 1.00,
        "ecr_gb_month": 0.10,
        "s3_gb_month": 0.023,
        "s3_thousand_puts": 0.005,
        "logs_ingested_gb": 0.57,
        "logs_stored_gb_month": 0.03,
        "custom_metric_month": 0.30,
        "dns_million_queries": 0.40,
    },
}

# The custom metrics each host publishes into its log group (EMF; terraform/modules/monitoring/
# README.md): 7 by instance and 3 for each of 7 routes. Usage-billed: a route without traffic
# in an hour costs nothing that hour.
HOST_METRICS = 7 + 3 * 7

# Resources with no charge of their own (the launch template is priced through its Auto
# Scaling group; public ACM certificates are free; SSM parameters: standard tier; a topic's
# subscriptions through the topic's line; a web ACL's association through the web ACL's).
FREE_TYPES = {
    "aws_vpc", "aws_subnet", "aws_internet_gateway", "aws_route_table", "aws_route",
    "aws_route_table_association", "aws_default_security_group", "aws_security_group",
    "aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule",
    "aws_iam_role", "aws_iam_role_policy", "aws_iam_role_policy_attachment", "aws_iam_instance_profile",
    "aws_ecr_lifecycle_policy", "aws_ecr_repository_policy", "aws_launch_template",
    "aws_lb_target_group", "aws_lb_listener", "aws_acm_certificate", "aws_acm_certificate_validation",
    "aws_ssm_parameter", "aws_kms_alias", "aws_sns_topic_subscription", "aws_wafv2_web_acl_association",
    "aws_s3_bucket_ownership_controls", "aws_s3_bucket_public_access_block", "aws_s3_bucket_versioning",
    "aws_s3_bucket_server_side_encryption_configuration", "aws_s3_bucket_lifecycle_configuration",
    "aws_s3_bucket_policy",
}

# Plan actions after which the resource exists (a replacement counts once).
EXISTS_AFTER_APPLY = {("no-op",), ("create",), ("update",), ("delete", "create"), ("create", "delete")}


@dataclass(frozen=True)
class Line:
    """One priced line: ``monthly`` None = no list price known here; ``usage``: billed by use on top."""
    address: str
    what: str
    monthly: float | None
    usage: str = ""


@dataclass(frozen=True)
class Estimate:
    region: str
    prices_region: str  # the region whose prices were used
    lines: list[Line]
    free: int           # resources with no charge of their own

    @property
    def total(self) -> float:
        return sum(line.monthly for line in self.lines if line.monthly is not None)

    def render(self) -> list[str]:
        """One line per priced resource, then the total."""
        fallback = self.prices_region != self.region
        out = [f"monthly cost by resource (on-demand list prices, {HOURS_PER_MONTH} h a month)"
               + (f"; no prices for {self.region} here: {self.prices_region} prices shown" if fallback else "")]
        address_width = max((len(line.address) for line in self.lines), default=0)
        what_width = max((len(line.what) for line in self.lines), default=0)
        out += [f"  {line.address:{address_width}}  {line.what:{what_width}}  {_amount(line)}"
                for line in self.lines]
        if self.free:
            out.append(f"  {self.free} other resources (network, security groups, IAM, listeners, ...): "
                       "no charge of their own")
        unpriced = sum(line.monthly is None for line in self.lines)
        prices = f"{self.prices_region} list prices" if fallback else "list prices"
        out.append(f"estimated ${self.total:.2f}/month in {self.region} at {prices} of {PRICES_AS_OF}, "
                   "before usage (data transfer, LCUs, log ingestion)"
                   + (f"; {unpriced} line(s) without a price not counted" if unpriced else ""))
        return out


def _amount(line: Line) -> str:
    if line.monthly is None:
        return "price unknown"
    if line.monthly == 0 and line.usage:
        return f"usage only: {line.usage}"
    return f"${line.monthly:.2f}/month" + (f" + {line.usage}" if line.usage else "")


@dataclass(frozen=True)
class Resource:
    """A resource the plan leaves after apply: its type, address, module and planned values."""
    type: str
    address: str
    module: str
    after: dict


def _monthly(hourly: float, count: int = 1) -> float:
    return hourly * HOURS_PER_MONTH * count


def _times(count: int, what: str) -> str:
    return what if count == 1 else f"{count} x {what}"


def _variable(plan: dict, name: str):
    """A root variable's value as the plan recorded it (None if absent)."""
    return plan.get("variables", {}).get(name, {}).get("value")


# --- one pricer per resource type: (resource, plan, prices) -> lines ---------------------

def _instances(address: str, instance_type: str | None, count: int, prices: dict) -> Line:
    hourly = prices["instance_hour"].get(instance_type)
    return Line(address, _times(count, instance_type or "unknown instance type"),
                None if hourly is None else _monthly(hourly, count))


def _volumes(address: str, volume: dict, count: int, prices: dict) -> Line:
    kind, size = volume.get("volume_type"), volume.get("volume_size")
    per_gb = prices["ebs_gb_month"].get(kind)
    monthly = per_gb * size * count if per_gb is not None and size else None
    return Line(address, _times(count, f"{kind} root {size or '?'} GB"), monthly)


def _public_ipv4(address: str, count: int, prices: dict, why: str) -> Line:
    return Line(address, f"{count} public IPv4 ({why})", _monthly(prices["public_ipv4_hour"], count))


def _instance(resource: Resource, plan: dict, prices: dict) -> list[Line]:
    """The instance and its root volume; its public address is its aws_eip's line."""
    after = resource.after
    return [_instances(resource.address, after.get("instance_type"), 1, prices),
            *(_volumes(resource.address, volume, 1, prices) for volume in after.get("root_block_device") or [])]


def _fleet(resource: Resource, plan: dict, prices: dict) -> list[Line]:
    """The desired (else min) count of the launch template's instances (the one template in
    the group's module), their root volumes and, without private_subnets, their addresses:
    the public subnets map a public IPv4 on launch."""
    count = resource.after.get("desired_capacity") or resource.after.get("min_size") or 0
    template = next((other.after for other in _existing(plan)
                     if other.type == "aws_launch_template" and other.module == resource.module), {})
    lines = [_instances(resource.address, template.get("instance_type"), count, prices)]
    for mapping in template.get("block_device_mappings") or []:
        lines += [_volumes(resource.address, ebs, count, prices) for ebs in mapping.get("ebs") or []]
    if not _variable(plan, "private_subnets"):
        lines.append(_public_ipv4(resource.address, count, prices, "instances in public subnets"))
    return lines


def _eip(resource: Resource, plan: dict, prices: dict) -> list[Line]:
    # Charged attached or not; attached, it replaces the instance's auto-assigned address.
    return [_public_ipv4(resource.address, 1, prices, "Elastic IP")]


def _nat_gateway(resource: Resource, plan: dict, prices: dict) -> list[Line]:
    return [Line(resource.address, "NAT gateway", _monthly(prices["nat_gateway_hour"]),
                 f"${prices['nat_gateway_gb']:.3f}/GB processed")]


def _load_balancer(resource: Resource, plan: dict, prices: dict) -> list[Line]:
    """An ALB and, internet-facing, one public IPv4 per zone (before the first apply the
    subnet ids are unknown: then the plan's az_count)."""
    after = resource.after
    if after.get("load_balancer_type") != "application":
        return [Line(resource.address, f"{after.get('load_balancer_type')} load balancer", None)]
    lines = [Line(resource.address, "application load balancer", _monthly(prices["alb_hour"]),
                  f"LCU usage (${prices['alb_lcu_hour']:.3f}/LCU-hour)")]
    if not after.get("internal"):
        zones = len(after.get("subnets") or []) or _variable(plan, "az_count") or 2  # an ALB spans 2+
        lines.append(_public_ipv4(resource.address, zones, prices, "one per zone"))
    return lines


def _log_group(resource: Resource, plan: dict, prices: dict) -> list[Line]:
    days = resource.after.get("retention_in_days")
    kept = f"kept {days} days" if days else "kept forever"
    usage = (f"${prices['logs_ingested_gb']:.2f}/GB ingested, ${prices['logs_stored_gb_month']:.2f}/GB-month stored; "
             f"the hosts' metrics in it: up to {HOST_METRICS} per host at ${prices['custom_metric_month']:.2f}/month "
             f"(${HOST_METRICS * prices['custom_metric_month']:.2f}), by the hours they get data")
    return [Line(resource.address, f"log group ({kept})", 0.0, usage)]


def _repository(resource: Resource, plan: dict, prices: dict) -> list[Line]:
    return [Line(resource.address, "ECR repository", 0.0, f"storage ${prices['ecr_gb_month']:.2f}/GB-month")]


def _bucket(resource: Resource, plan: dict, prices: dict) -> list[Line]:
    """The certificate bucket: a few KB of certificates and keys, a PUT per renewal."""
    return [Line(resource.address, "S3 bucket (certificates)", 0.0,
                 f"${prices['s3_gb_month']:.3f}/GB-month, ${prices['s3_thousand_puts']:.3f}/1,000 PUTs: "
                 f"cents a year for a few KB renewed every 60 days")]


def _dns_record(resource: Resource, plan: dict, prices: dict) -> list[Line]:
    if resource.after.get("alias"):
        return [Line(resource.address, "alias record (its queries are free)", 0.0)]
    return [Line(resource.address, f"{resource.after.get('type')} record", 0.0,
                 f"${prices['dns_million_queries']:.2f}/million queries")]


def _kms_key(resource: Resource, plan: dict, prices: dict) -> list[Line]:
    return [Line(resource.address, "KMS key", prices["kms_key_month"], "requests")]


def _alarm(resource: Resource, plan: dict, prices: dict) -> list[Line]:
    """Billed per metric the alarm evaluates: one, or each metric of its metric-math queries."""
    metrics = sum(1 for query in resource.after.get("metric_query") or [] if query.get("metric")) or 1
    what = "alarm (standard resolution" + (f", {metrics} metrics)" if metrics > 1 else ")")
    return [Line(resource.address, what, prices["alarm_month"] * metrics)]


def _dashboard(resource: Resource, plan: dict, prices: dict) -> list[Line]:
    # Counted: whether it falls within the account's 3 free ones cannot be known from the plan.
    return [Line(resource.address, "dashboard (an account's first 3 are free)", prices["dashboard_month"])]


def _topic(resource: Resource, plan: dict, prices: dict) -> list[Line]:
    return [Line(resource.address, "SNS topic", 0.0,
                 f"within the free tier (1M publishes, 1,000 emails a month); beyond it "
                 f"${prices['sns_million_publishes']:.2f}/million publishes, "
                 f"${prices['sns_email_100k']:.2f}/100,000 emails")]


def _web_acl(resource: Resource, plan: dict, prices: dict) -> list[Line]:
    rules = len(resource.after.get("rule") or [])
    return [Line(resource.address, f"WAF web ACL + {rules} rules",
                 prices["waf_acl_month"] + prices["waf_rule_month"] * rules,
                 f"${prices['waf_million_requests']:.2f}/million requests")]


def _scaling_policy(resource: Resource, plan: dict, prices: dict) -> list[Line]:
    """Target tracking: Auto Scaling makes and keeps two alarms for it (high and low)."""
    if resource.after.get("policy_type") != "TargetTrackingScaling":
        return [Line(resource.address, "scaling policy", 0.0)]
    return [Line(resource.address, "target tracking (its 2 alarms)", prices["alarm_month"] * 2)]


PRICERS = {
    "aws_instance": _instance,
    "aws_autoscaling_group": _fleet,
    "aws_eip": _eip,
    "aws_nat_gateway": _nat_gateway,
    "aws_lb": _load_balancer,
    "aws_cloudwatch_log_group": _log_group,
    "aws_ecr_repository": _repository,
    "aws_s3_bucket": _bucket,
    "aws_route53_record": _dns_record,
    "aws_kms_key": _kms_key,
    "aws_cloudwatch_metric_alarm": _alarm,
    "aws_cloudwatch_dashboard": _dashboard,
    "aws_sns_topic": _topic,
    "aws_wafv2_web_acl": _web_acl,
    "aws_autoscaling_policy": _scaling_policy,
}


def _existing(plan: dict) -> list[Resource]:
    """Managed resources the plan keeps or creates (not deleted)."""
    return [Resource(change["type"], change["address"], change.get("module_address", ""), change["change"]["after"])
            for change in plan.get("resource_changes", [])
            if change.get("mode") == "managed" and tuple(change["change"]["actions"]) in EXISTS_AFTER_APPLY]


def estimate(plan: dict, region: str) -> Estimate:
    """Price every resource the plan (`terraform show -json`) leaves after apply, in ``region``
    (a region without a price table here gets FALLBACK_REGION's prices, and says so)."""
    prices_region = region if region in PRICES else FALLBACK_REGION
    prices = PRICES[prices_region]
    lines, free = [], 0
    for resource in _existing(plan):
        if resource.type in PRICERS:
            lines += PRICERS[resource.type](resource, plan, prices)
        elif resource.type in FREE_TYPES:
            free += 1
        else:
            lines.append(Line(resource.address, "type not priced by inferctl.cost", None))
    return Estimate(region, prices_region, lines, free)


# --- synthetic plans for the README: the default stack and the seed design -----------------

def _created(address: str, rtype: str, after: dict, module: str = "") -> dict:
    return {"address": address, "module_address": module, "mode": "managed", "type": rtype,
            "change": {"actions": ["create"], "before": None, "after": after}}


def default_single_plan() -> dict:
    """The priced resources of the single-instance stack with the default config, as
    `terraform show -json` lists them on a first deploy (the free ones left out)."""
    config = Config()
    compute, host_role = "module.compute[0]", "module.compute[0].module.host_role"
    monitoring = "module.monitoring"
    alarms = [_created(f"{monitoring}.aws_cloudwatch_metric_alarm.this[\"{name}\"]", "aws_cloudwatch_metric_alarm",
                       {}, monitoring)
              for name in ("status-check-failed", "latency-p99", "disk-nearly-full", "updater-failures")]
    # the 5xx rate: metric math on two metrics (responses_5xx and requests), two alarm metrics
    alarms.append(_created(f"{monitoring}.aws_cloudwatch_metric_alarm.error_rate[\"host-5xx-rate\"]",
                           "aws_cloudwatch_metric_alarm", {"metric_query": [
                               {"id": "rate", "metric": []},
                               {"id": "errors", "metric": [{"metric_name": "responses_5xx"}]},
                               {"id": "requests", "metric": [{"metric_name": "requests"}]}]}, monitoring))
    return {"variables": {"region": {"value": config.aws.region}}, "resource_changes": [
        _created(f"{compute}.aws_instance.this", "aws_instance", {
            "instance_type": config.compute.instance_type,
            "root_block_device": [{"volume_type": "gp3", "volume_size": config.compute.root_volume_gb}]}, compute),
        _created(f"{compute}.aws_eip.this", "aws_eip", {"domain": "vpc"}, compute),
        _created(f"{compute}.aws_cloudwatch_metric_alarm.recover", "aws_cloudwatch_metric_alarm", {}, compute),
        _created(f"{host_role}.aws_cloudwatch_log_group.this", "aws_cloudwatch_log_group",
                 {"retention_in_days": 365}, host_role),
        _created("module.registry.aws_ecr_repository.this", "aws_ecr_repository", {}, "module.registry"),
        _created(f"{monitoring}.aws_kms_key.alerts", "aws_kms_key", {}, monitoring),
        _created(f"{monitoring}.aws_sns_topic.alerts", "aws_sns_topic", {}, monitoring),
        *alarms,
        _created(f"{monitoring}.aws_cloudwatch_dashboard.this", "aws_cloudwatch_dashboard", {}, monitoring),
    ]}


def seed_plan() -> dict:
    """The seed design, as reconstructed to match the issue's "about $57/month in us-east-1,
    most of it the NAT gateway": one t3.small with a 20 GB gp3 root and an Elastic IP, and a
    NAT gateway with its own Elastic IP."""
    return {"resource_changes": [
        _created("aws_nat_gateway.this", "aws_nat_gateway", {"connectivity_type": "public"}),
        _created("aws_eip.nat", "aws_eip", {"domain": "vpc"}),
        _created("aws_instance.this", "aws_instance", {
            "instance_type": "t3.small", "root_block_device": [{"volume_type": "gp3", "volume_size": 20}]}),
        _created("aws_eip.this", "aws_eip", {"domain": "vpc"}),
    ]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m inferctl.cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("plan", nargs="?", type=Path,
                        help="`terraform show -json` of a plan; default: the default single-instance stack")
    parser.add_argument("--seed", action="store_true", help="the seed design instead of the default stack")
    parser.add_argument("--region", help="default: the plan's region variable, else " + Config().aws.region)
    args = parser.parse_args(argv)
    plan = json.loads(args.plan.read_text()) if args.plan else seed_plan() if args.seed else default_single_plan()
    region = args.region or _variable(plan, "region") or Config().aws.region
    for line in estimate(plan, region).render():
        print(line)


if __name__ == "__main__":
    main()
