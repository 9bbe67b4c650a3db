variable "name" {
  description = "The project: prefix of every name here (<name>-alerts, <name>-<alarm>, the dashboard) and the Project dimension of the updater metric."
  type        = string
}

variable "mode" {
  description = "single (alarms on the instance) or fleet (alarms on the ALB, its target group and the Auto Scaling group)."
  type        = string

  validation {
    condition     = contains(["single", "fleet"], var.mode)
    error_message = "mode must be single or fleet."
  }
}

variable "instance_id" {
  description = "single: the instance (status check, latency, 5xx rate and disk alarms, the dashboard's host and route widgets); null in fleet mode."
  type        = string
  default     = null

  validation {
    condition     = var.mode != "single" || var.instance_id != null
    error_message = "single mode needs instance_id."
  }
}

variable "autoscaling_group_name" {
  description = "fleet: the Auto Scaling group (disk alarm, CPU and capacity widgets); null in single mode."
  type        = string
  default     = null

  validation {
    condition     = var.mode != "fleet" || var.autoscaling_group_name != null
    error_message = "fleet mode needs autoscaling_group_name."
  }
}

variable "alb_arn_suffix" {
  description = "fleet: the ALB's ARN suffix (app/<name>/<id>), its CloudWatch LoadBalancer dimension; null in single mode."
  type        = string
  default     = null

  validation {
    condition     = var.mode != "fleet" || var.alb_arn_suffix != null
    error_message = "fleet mode needs alb_arn_suffix."
  }
}

variable "target_group_arn_suffix" {
  description = "fleet: the target group's ARN suffix (targetgroup/<name>/<id>), its CloudWatch TargetGroup dimension; null in single mode."
  type        = string
  default     = null

  validation {
    condition     = var.mode != "fleet" || var.target_group_arn_suffix != null
    error_message = "fleet mode needs target_group_arn_suffix."
  }
}

variable "alert_email" {
  description = "Address subscribed to the alerts topic (AWS mails a confirmation link first); empty = no subscription."
  type        = string
  default     = ""

  validation {
    condition     = var.alert_email == "" || can(regex("^[A-Za-z0-9._%+'-]+@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\\.[A-Za-z]{2,63}$", var.alert_email))
    error_message = "alert_email must be an email address like ops@example.com (or empty)."
  }
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the metrics the hosts publish (disk_used_percent, mem_used_percent, requests, responses_4xx, responses_5xx, latency_p50_ms, latency_p99_ms, updater_failures); see the README."
  type        = string
  default     = "Inference"

  validation {
    condition     = can(regex("^[A-Za-z0-9._/#:-]{1,255}$", var.metrics_namespace)) && !startswith(var.metrics_namespace, "AWS/")
    error_message = "metrics_namespace must be a custom CloudWatch namespace (not AWS/...)."
  }
}

variable "error_rate_threshold" {
  description = "Percent of requests answered 5xx over 5 minutes that alarms: by the host (single), by the targets or by the ALB itself (fleet)."
  type        = number
  default     = 5

  validation {
    condition     = var.error_rate_threshold > 0 && var.error_rate_threshold <= 100
    error_message = "error_rate_threshold must be a percentage above 0 and at most 100."
  }
}

variable "error_rate_min_requests" {
  description = "Requests in 5 minutes below which the 5xx rates count as 0 (a single failed request at night is no outage)."
  type        = number
  default     = 20

  validation {
    condition     = var.error_rate_min_requests >= 1
    error_message = "error_rate_min_requests must be at least 1."
  }
}

variable "latency_p99_threshold" {
  description = "Seconds of p99 latency over 5 minutes that alarm: the ALB's p99 target response time (fleet), the host's worst minute's p99 at Caddy (single; compared in ms)."
  type        = number
  default     = 1

  validation {
    condition     = var.latency_p99_threshold > 0
    error_message = "latency_p99_threshold must be above 0 seconds."
  }
}

variable "disk_used_threshold" {
  description = "Percent of the root filesystem used (the fullest host) that alarms."
  type        = number
  default     = 85

  validation {
    condition     = var.disk_used_threshold > 0 && var.disk_used_threshold < 100
    error_message = "disk_used_threshold must be a percentage between 0 and 100."
  }
}

variable "extra_alarm_arns" {
  description = "Alarms made elsewhere (the single instance's auto-recovery alarm) to show in the dashboard's alarm widget."
  type        = list(string)
  default     = []
}

variable "web_acl_name" {
  description = "fleet: name of the WAF web ACL on the ALB, for the dashboard's WAF widget; null = no WAF."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for every resource of the module that takes tags."
  type        = map(string)
  default     = {}
}
