data "aws_region" "current" {}

data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}

locals {
  single = var.mode == "single"
  region = data.aws_region.current.name
  ns     = var.metrics_namespace

  # The hosts' own metrics (README: "Metrics the hosts publish") are read by one dimension:
  # the instance, or in a fleet the group (each host publishes both dimension sets there; the
  # group's Maximum is the fullest host). Per route there is only [InstanceId, Route].
  host_dimension_name  = local.single ? "InstanceId" : "AutoScalingGroupName"
  host_dimension_value = local.single ? var.instance_id : var.autoscaling_group_name
  host_dimensions      = { (local.host_dimension_name) = local.host_dimension_value }
  alb_dimensions       = { LoadBalancer = var.alb_arn_suffix }
  target_dimensions    = { LoadBalancer = var.alb_arn_suffix, TargetGroup = var.target_group_arn_suffix }
  runbook              = "Runbook: terraform/modules/monitoring/README.md"

  # The Route dimension's values (README: "Metrics the hosts publish"): the app's paths, and
  # "other" for every other path, so scanners cannot mint metrics.
  routes = ["/api/infer", "/health", "/ready", "/metrics", "/openapi.json", "/", "other"]

  # One-metric alarms, each for the modes listed. Every entry has the same attributes
  # (null = the provider's default) so they fit one map.
  metric_alarms = {
    status-check-failed = {
      modes       = ["single"]
      description = "The instance failed an EC2 status check (system or instance) for 2 minutes: the host is unreachable or impaired (system failures also start the auto-recovery alarm)."
      namespace   = "AWS/EC2"
      metric_name = "StatusCheckFailed"
      dimensions  = { InstanceId = var.instance_id }
      statistic   = "Maximum"
      extended    = null
      period      = 60
      evaluations = 2
      datapoints  = 2
      operator    = "GreaterThanThreshold"
      threshold   = 0
      missing     = "missing"
    }
    unhealthy-targets = {
      modes       = ["fleet"]
      description = "At least one instance of the group failed the ALB health check (/health through Caddy) for 3 minutes: the fleet's status check; the group replaces such instances, so a lasting alarm means they keep failing."
      namespace   = "AWS/ApplicationELB"
      metric_name = "UnHealthyHostCount"
      dimensions  = local.target_dimensions
      statistic   = "Maximum"
      extended    = null
      period      = 60
      evaluations = 3
      datapoints  = 3
      operator    = "GreaterThanThreshold"
      threshold   = 0
      missing     = "notBreaching"
    }
    no-healthy-targets = {
      modes       = ["fleet"]
      description = "No instance passes the ALB health check for 3 minutes: the service is down (the ALB answers 503)."
      namespace   = "AWS/ApplicationELB"
      metric_name = "HealthyHostCount"
      dimensions  = local.target_dimensions
      statistic   = "Minimum"
      extended    = null
      period      = 60
      evaluations = 3
      datapoints  = 3
      operator    = "LessThanThreshold"
      threshold   = 1
      missing     = "missing"
    }
    # fleet: the ALB's p99 at the targets (seconds); single: the worst minute's p99 at Caddy
    # the host published (latency_p99_ms, exact per minute: a p99 of five minutes' p99s is
    # no percentile, their Maximum is the honest bound).
    latency-p99 = {
      modes       = ["single", "fleet"]
      description = local.single ? "The slowest 1% of the host's requests took longer than ${var.latency_p99_threshold} s at Caddy in some minute of 2 of the last 3 five-minute periods (${local.ns} latency_p99_ms, Maximum, published by the host; no data = OK)." : "The slowest 1% of requests took longer than ${var.latency_p99_threshold} s at the targets in 2 of the last 3 five-minute periods."
      namespace   = local.single ? local.ns : "AWS/ApplicationELB"
      metric_name = local.single ? "latency_p99_ms" : "TargetResponseTime"
      dimensions  = local.single ? local.host_dimensions : local.target_dimensions
      statistic   = local.single ? "Maximum" : null
      extended    = local.single ? null : "p99"
      period      = 300
      evaluations = 3
      datapoints  = 2
      operator    = "GreaterThanThreshold"
      threshold   = local.single ? var.latency_p99_threshold * 1000 : var.latency_p99_threshold
      missing     = "notBreaching"
    }
    disk-nearly-full = {
      modes       = ["single", "fleet"]
      description = "A host's root filesystem is at least ${var.disk_used_threshold}% full for 10 minutes (${local.ns} disk_used_percent, published by the hosts; no data = OK)."
      namespace   = local.ns
      metric_name = "disk_used_percent"
      dimensions  = local.host_dimensions
      statistic   = "Maximum"
      extended    = null
      period      = 300
      evaluations = 2
      datapoints  = 2
      operator    = "GreaterThanOrEqualToThreshold"
      threshold   = var.disk_used_threshold
      missing     = "notBreaching"
    }
    updater-failures = {
      modes       = ["single", "fleet"]
      description = "The on-host updater logged an error (a failed run, a rolled-back digest) on some host in the last 15 minutes (${local.ns} updater_failures by Project, published by the hosts; no data = OK)."
      namespace   = local.ns
      metric_name = "updater_failures"
      dimensions  = { Project = var.name }
      statistic   = "Sum"
      extended    = null
      period      = 900
      evaluations = 1
      datapoints  = 1
      operator    = "GreaterThanOrEqualToThreshold"
      threshold   = 1
      missing     = "notBreaching"
    }
  }

  # 5xx answers per 100 requests over 5 minutes (metric math), each for the modes listed. The
  # ALB's count metrics are only published when not zero: FILL(..., 0). Below
  # error_rate_min_requests the rate is 0. The ALB's own 5xx (no healthy target, timeouts) are
  # not in RequestCount when no target was chosen: its denominator adds them.
  error_rate_alarms = {
    host-5xx-rate = {
      modes       = ["single"]
      description = "More than ${var.error_rate_threshold}% of requests got a 5xx from the host (the app or Caddy: ${local.ns} responses_5xx / requests, published by the host; no data = OK) in 2 of the last 3 five-minute periods."
      namespace   = local.ns
      errors      = "responses_5xx"
      requests    = "requests"
      dimensions  = { InstanceId = var.instance_id }
      total       = "FILL(requests, 0)"
    }
    target-5xx-rate = {
      modes       = ["fleet"]
      description = "More than ${var.error_rate_threshold}% of requests got a 5xx from the instances (the app or Caddy) in 2 of the last 3 five-minute periods."
      namespace   = "AWS/ApplicationELB"
      errors      = "HTTPCode_Target_5XX_Count"
      requests    = "RequestCount"
      dimensions  = local.alb_dimensions
      total       = "FILL(requests, 0)"
    }
    alb-5xx-rate = {
      modes       = ["fleet"]
      description = "More than ${var.error_rate_threshold}% of requests got a 5xx from the ALB itself (502/503/504: no healthy target, a target closed the connection or timed out) in 2 of the last 3 five-minute periods."
      namespace   = "AWS/ApplicationELB"
      errors      = "HTTPCode_ELB_5XX_Count"
      requests    = "RequestCount"
      dimensions  = local.alb_dimensions
      total       = "FILL(requests, 0) + FILL(errors, 0)"
    }
  }

  alarm_actions = [aws_sns_topic.alerts.arn]
}

# --- the alerts topic, encrypted with a key CloudWatch may use ---

# A customer-managed key, not the AWS-managed alias/aws/sns: CloudWatch alarms publish to an
# encrypted topic only when the key policy lets cloudwatch.amazonaws.com use the key, and the
# policy of an AWS-managed key cannot be changed (with alias/aws/sns the alarms' notifications
# are silently dropped). Costs $1/month.
data "aws_iam_policy_document" "alerts_key" {
  # checkov:skip=CKV_AWS_109: a key policy: "*" is this key only, and the account (its IAM policies) administers it, as in AWS's default key policy.
  # checkov:skip=CKV_AWS_111: a key policy: "*" is this key only, and the account (its IAM policies) administers it, as in AWS's default key policy.
  # checkov:skip=CKV_AWS_356: a key policy: "*" is this key only (a key policy cannot name the key it belongs to).
  statement {
    sid       = "AccountAdministersTheKey"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  # As AWS documents it for alarms and encrypted topics. Another account's alarms cannot use
  # the key: the topic's default policy admits publishers of this account only.
  statement {
    sid       = "CloudWatchAlarmsPublishToTheTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "alerts" {
  description             = "Encrypts the ${var.name}-alerts topic; CloudWatch alarms may use it"
  enable_key_rotation     = true
  deletion_window_in_days = 7
  policy                  = data.aws_iam_policy_document.alerts_key.json

  tags = var.tags
}

resource "aws_kms_alias" "alerts" {
  name          = "alias/${var.name}-alerts"
  target_key_id = aws_kms_key.alerts.key_id
}

resource "aws_sns_topic" "alerts" {
  name              = "${var.name}-alerts"
  display_name      = "${var.name} alerts"
  kms_master_key_id = aws_kms_key.alerts.arn

  tags = var.tags
}

resource "aws_sns_topic_subscription" "email" {
  count = var.alert_email != "" ? 1 : 0

  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = var.alert_email
}

# --- alarms: ALARM and back to OK both notify ---

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = { for key, alarm in local.metric_alarms : key => alarm if contains(alarm.modes, var.mode) }

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = "${each.value.description} ${local.runbook}#${each.key}"
  namespace           = each.value.namespace
  metric_name         = each.value.metric_name
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  extended_statistic  = each.value.extended
  period              = each.value.period
  evaluation_periods  = each.value.evaluations
  datapoints_to_alarm = each.value.datapoints
  comparison_operator = each.value.operator
  threshold           = each.value.threshold
  treat_missing_data  = each.value.missing
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "error_rate" {
  for_each = { for key, alarm in local.error_rate_alarms : key => alarm if contains(alarm.modes, var.mode) }

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = "${each.value.description} ${local.runbook}#${each.key}"
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.error_rate_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "rate"
    label       = "5xx per 100 requests"
    expression  = "IF(${each.value.total} >= ${var.error_rate_min_requests}, 100 * FILL(errors, 0) / (${each.value.total}), 0)"
    return_data = true
  }

  metric_query {
    id          = "errors"
    return_data = false

    metric {
      namespace   = each.value.namespace
      metric_name = each.value.errors
      dimensions  = each.value.dimensions
      period      = 300
      stat        = "Sum"
    }
  }

  metric_query {
    id          = "requests"
    return_data = false

    metric {
      namespace   = each.value.namespace
      metric_name = each.value.requests
      dimensions  = each.value.dimensions
      period      = 300
      stat        = "Sum"
    }
  }

  tags = var.tags
}

# --- one dashboard: the golden signals ---

locals {
  alarm_arns = concat(values(aws_cloudwatch_metric_alarm.this)[*].arn, values(aws_cloudwatch_metric_alarm.error_rate)[*].arn,
  var.extra_alarm_arns)

  # Each widget: [title, x, y, width, height, stat/period defaults, metrics]; rows of 3 x 8 columns.
  alarm_widget = {
    type       = "alarm", x = 0, y = 0, width = 24, height = 3
    properties = { title = "Alarms of ${var.name}", alarms = local.alarm_arns, sortBy = "stateUpdatedTimestamp" }
  }

  host = [local.host_dimension_name, local.host_dimension_value]

  saturation_widgets = [
    { type = "metric", x = 0, y = 9, width = 8, height = 6, properties = {
      title = "Saturation: CPU %", region = local.region, view = "timeSeries", period = 300, yAxis = { left = { min = 0, max = 100 } },
      metrics = [
        ["AWS/EC2", "CPUUtilization", local.host[0], local.host[1], { stat = "Average", label = "average" }],
        ["AWS/EC2", "CPUUtilization", local.host[0], local.host[1], { stat = "Maximum", label = "busiest" }],
      ]
    } },
    { type = "metric", x = 8, y = 9, width = 8, height = 6, properties = {
      title       = "Saturation: disk used % (root)", region = local.region, view = "timeSeries", period = 300, yAxis = { left = { min = 0, max = 100 } },
      annotations = { horizontal = [{ label = "alarm", value = var.disk_used_threshold }] },
      metrics     = [[local.ns, "disk_used_percent", local.host[0], local.host[1], { stat = "Maximum", label = "fullest host" }]]
    } },
    { type = "metric", x = 16, y = 9, width = 8, height = 6, properties = {
      title   = "Saturation: memory used %", region = local.region, view = "timeSeries", period = 300, yAxis = { left = { min = 0, max = 100 } },
      metrics = [[local.ns, "mem_used_percent", local.host[0], local.host[1], { stat = "Maximum", label = "fullest host" }]]
    } },
  ]

  # single: no load balancer; traffic, errors and latency are what the host publishes
  # (README), the status checks and the network are EC2's.
  single_widgets = [
    { type = "metric", x = 0, y = 3, width = 8, height = 6, properties = {
      title = "Traffic: requests", region = local.region, view = "timeSeries", period = 60,
      metrics = [
        [local.ns, "requests", "InstanceId", var.instance_id, { stat = "Sum", label = "requests / min" }],
        ["AWS/EC2", "NetworkIn", "InstanceId", var.instance_id, { stat = "Sum", label = "bytes in", yAxis = "right" }],
      ]
    } },
    { type = "metric", x = 8, y = 3, width = 8, height = 6, properties = {
      title = "Errors: 4xx, 5xx and status checks", region = local.region, view = "timeSeries", period = 60,
      metrics = [
        [local.ns, "responses_5xx", "InstanceId", var.instance_id, { stat = "Sum", label = "5xx / min" }],
        [local.ns, "responses_4xx", "InstanceId", var.instance_id, { stat = "Sum", label = "4xx / min" }],
        ["AWS/EC2", "StatusCheckFailed", "InstanceId", var.instance_id, { stat = "Maximum", label = "status check failed", yAxis = "right" }],
      ]
    } },
    # The host publishes each minute's exact p50 and p99: their Maximum is the worst minute.
    { type = "metric", x = 16, y = 3, width = 8, height = 6, properties = {
      title       = "Latency at Caddy (ms), worst minute", region = local.region, view = "timeSeries", period = 300,
      annotations = { horizontal = [{ label = "p99 alarm", value = var.latency_p99_threshold * 1000 }] },
      metrics = [
        [local.ns, "latency_p50_ms", "InstanceId", var.instance_id, { stat = "Maximum", label = "p50" }],
        [local.ns, "latency_p99_ms", "InstanceId", var.instance_id, { stat = "Maximum", label = "p99" }],
      ]
    } },
  ]

  # single: the instance's traffic, 5xx and p99 by route (README: the routes). A fleet has no
  # such row: per-route series carry only InstanceId and Route, no group or project, so a
  # SEARCH could not tell this fleet's hosts from another stack's in the same namespace.
  route_widgets = [
    for index, widget in [
      { title = "Requests by route (per minute)", metric = "requests", stat = "Sum" },
      { title = "5xx by route (per minute)", metric = "responses_5xx", stat = "Sum" },
      { title = "Latency p99 by route (ms), worst minute", metric = "latency_p99_ms", stat = "Maximum" },
    ] :
    { type = "metric", x = index * 8, y = 15, width = 8, height = 6, properties = {
      title = widget.title, region = local.region, view = "timeSeries", period = widget.metric == "latency_p99_ms" ? 300 : 60,
      metrics = [
        for route in local.routes :
        [local.ns, widget.metric, "InstanceId", var.instance_id, "Route", route, { stat = widget.stat, label = route }]
      ]
    } }
  ]

  fleet_widgets = concat([
    { type = "metric", x = 0, y = 3, width = 8, height = 6, properties = {
      title = "Traffic: requests", region = local.region, view = "timeSeries", period = 60,
      metrics = [
        ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", var.alb_arn_suffix, { stat = "Sum", label = "requests / min" }],
        ["AWS/ApplicationELB", "RequestCountPerTarget", "TargetGroup", var.target_group_arn_suffix, { stat = "Sum", label = "per instance", yAxis = "right" }],
      ]
    } },
    { type = "metric", x = 8, y = 3, width = 8, height = 6, properties = {
      title = "Errors: 5xx and unhealthy targets", region = local.region, view = "timeSeries", period = 60,
      metrics = [
        ["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "LoadBalancer", var.alb_arn_suffix, { stat = "Sum", label = "5xx from instances" }],
        ["AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "LoadBalancer", var.alb_arn_suffix, { stat = "Sum", label = "5xx from the ALB" }],
        ["AWS/ApplicationELB", "UnHealthyHostCount", "TargetGroup", var.target_group_arn_suffix, "LoadBalancer", var.alb_arn_suffix, { stat = "Maximum", label = "unhealthy targets", yAxis = "right" }],
      ]
    } },
    { type = "metric", x = 16, y = 3, width = 8, height = 6, properties = {
      title       = "Latency at the targets (s)", region = local.region, view = "timeSeries", period = 300,
      annotations = { horizontal = [{ label = "p99 alarm", value = var.latency_p99_threshold }] },
      metrics = [
        ["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", var.alb_arn_suffix, { stat = "p50", label = "p50" }],
        ["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", var.alb_arn_suffix, { stat = "p99", label = "p99" }],
      ]
    } },
    { type = "metric", x = 0, y = 15, width = 12, height = 6, properties = {
      title = "Capacity: instances", region = local.region, view = "timeSeries", period = 60,
      metrics = [
        ["AWS/AutoScaling", "GroupInServiceInstances", "AutoScalingGroupName", var.autoscaling_group_name, { stat = "Maximum", label = "in service" }],
        ["AWS/AutoScaling", "GroupDesiredCapacity", "AutoScalingGroupName", var.autoscaling_group_name, { stat = "Maximum", label = "desired" }],
        ["AWS/ApplicationELB", "HealthyHostCount", "TargetGroup", var.target_group_arn_suffix, "LoadBalancer", var.alb_arn_suffix, { stat = "Minimum", label = "healthy targets" }],
      ]
    } },
    ], var.web_acl_name == null ? [] : [
    { type = "metric", x = 12, y = 15, width = 12, height = 6, properties = {
      title = "WAF: requests by outcome", region = local.region, view = "timeSeries", period = 300,
      metrics = [
        for outcome in ["AllowedRequests", "CountedRequests", "BlockedRequests"] :
        ["AWS/WAFV2", outcome, "WebACL", var.web_acl_name, "Region", local.region, "Rule", "ALL", { stat = "Sum", label = outcome }]
      ]
    } },
  ])

  # Two strings, not two lists: the widgets of the two modes have different shapes.
  dashboard_body = local.single ? jsonencode({ widgets = concat([local.alarm_widget], local.single_widgets, local.saturation_widgets, local.route_widgets) }) : jsonencode({ widgets = concat([local.alarm_widget], local.fleet_widgets, local.saturation_widgets) })
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = local.dashboard_body
}
