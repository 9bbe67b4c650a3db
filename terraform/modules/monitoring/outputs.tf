output "topic_arn" {
  description = "ARN of the alerts topic (every alarm's ALARM and OK action); subscribe more endpoints to it."
  value       = aws_sns_topic.alerts.arn
}

output "topic_kms_key_arn" {
  description = "The customer-managed key that encrypts the topic (its policy lets CloudWatch publish)."
  value       = aws_kms_key.alerts.arn
}

output "alarm_names" {
  description = "Alarm name by alarm (status-check-failed, unhealthy-targets, ...): the ones of this mode."
  value       = merge({ for key, alarm in aws_cloudwatch_metric_alarm.this : key => alarm.alarm_name }, { for key, alarm in aws_cloudwatch_metric_alarm.error_rate : key => alarm.alarm_name })
}

output "alarm_arns" {
  description = "ARNs of the module's alarms."
  value       = concat(values(aws_cloudwatch_metric_alarm.this)[*].arn, values(aws_cloudwatch_metric_alarm.error_rate)[*].arn)
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "dashboard_url" {
  description = "The dashboard in the CloudWatch console."
  value       = "https://${local.region}.console.aws.amazon.com/cloudwatch/home?region=${local.region}#dashboards/dashboard/${aws_cloudwatch_dashboard.this.dashboard_name}"
}

output "metrics_namespace" {
  description = "Namespace the hosts publish their metrics in (README: the metric scheme)."
  value       = var.metrics_namespace
}
