locals {
  # AWS managed rule groups with no subscription fee, in evaluation order after the rate rule.
  # SizeRestrictions_BODY (bodies over 8 KB) always only counts: inference requests are larger
  # than that, and the app bounds its request bodies itself (MAX_BODY_BYTES, 1 MiB).
  managed_rule_groups = {
    AWSManagedRulesCommonRuleSet         = { priority = 10, count_only = ["SizeRestrictions_BODY"] }
    AWSManagedRulesKnownBadInputsRuleSet = { priority = 20, count_only = [] }
  }
}

resource "aws_wafv2_web_acl" "this" {
  # checkov:skip=CKV2_AWS_31: request logs would copy the clients' API keys (Authorization, X-API-Key) and cost per GB; the per-rule metrics and sampled requests show what the rules match.
  # checkov:skip=CKV_AWS_192: the Log4j rule (KnownBadInputs) is there; it only counts until the operator sets [waf] block = true, by design (count mode first).
  name        = var.name
  description = "ALB of ${var.name}: AWS common and known-bad-inputs rules, ${var.rate_limit} requests / 5 min per IP; ${var.block ? "blocking" : "count mode"}"
  scope       = "REGIONAL"

  default_action {
    allow {}
  }

  rule {
    name     = "rate-limit-per-ip"
    priority = 1

    action {
      dynamic "count" {
        for_each = var.block ? [] : [1]
        content {}
      }

      dynamic "block" {
        for_each = var.block ? [1] : []
        content {}
      }
    }

    statement {
      rate_based_statement {
        limit              = var.rate_limit
        aggregate_key_type = "IP"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-rate-limit-per-ip"
      sampled_requests_enabled   = true
    }
  }

  dynamic "rule" {
    for_each = local.managed_rule_groups

    content {
      name     = rule.key
      priority = rule.value.priority

      # count mode: the whole group only counts; block: the group's own actions.
      override_action {
        dynamic "count" {
          for_each = var.block ? [] : [1]
          content {}
        }

        dynamic "none" {
          for_each = var.block ? [1] : []
          content {}
        }
      }

      statement {
        managed_rule_group_statement {
          name        = rule.key
          vendor_name = "AWS"

          dynamic "rule_action_override" {
            for_each = rule.value.count_only

            content {
              name = rule_action_override.value

              action_to_use {
                count {}
              }
            }
          }
        }
      }

      visibility_config {
        cloudwatch_metrics_enabled = true
        metric_name                = "${var.name}-${rule.key}"
        sampled_requests_enabled   = true
      }
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = var.name
    sampled_requests_enabled   = true
  }

  tags = var.tags
}

resource "aws_wafv2_web_acl_association" "this" {
  resource_arn = var.resource_arn
  web_acl_arn  = aws_wafv2_web_acl.this.arn
}
