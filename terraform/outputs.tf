output "url" {
  description = "Where the service answers."
  value       = local.fqdn != "" ? "https://${local.fqdn}" : "${var.mode == "fleet" ? "https" : "http"}://${local.service_host}"
}

output "mode" {
  description = "single or fleet."
  value       = var.mode
}

output "ami_id" {
  description = "The AMI the hosts run."
  value       = local.ami_id
}

output "instance_id" {
  description = "single: the instance id (null in fleet mode)."
  value       = one(module.compute[*].instance_id)
}

output "public_ip" {
  description = "single: the Elastic IP of the instance (null in fleet mode)."
  value       = one(module.compute[*].public_ip)
}

output "autoscaling_group_name" {
  description = "fleet: the Auto Scaling group (null in single mode)."
  value       = one(module.fleet[*].autoscaling_group_name)
}

output "launch_template_id" {
  description = "fleet: the launch template (null in single mode)."
  value       = one(module.fleet[*].launch_template_id)
}

output "alb_dns_name" {
  description = "fleet: DNS name of the ALB (null in single mode)."
  value       = one(module.fleet[*].alb_dns_name)
}

output "security_group_id" {
  description = "Security group of the service hosts."
  value       = one(concat(module.compute[*].security_group_id, module.fleet[*].instance_security_group_id))
}

output "instance_role_name" {
  description = "IAM role of the service hosts."
  value       = one(concat(module.compute[*].role_name, module.fleet[*].role_name))
}

output "log_group_name" {
  description = "CloudWatch log group the hosts write to."
  value       = local.log_group_name
}

output "repository_url" {
  description = "ECR repository of the app image."
  value       = module.registry.repository_url
}

output "repository_arn" {
  description = "ARN of the ECR repository."
  value       = module.registry.repository_arn
}

output "tracked_image" {
  description = "The image reference the hosts track (INFERENCE_IMAGE)."
  value       = local.tracked_ref
}

output "app_image_digest" {
  description = "Digest pushed by the last deploy."
  value       = var.app_image_digest
}

output "inference_env" {
  description = "Content of /etc/inference/inference.env that user-data writes (the local host gets the same file)."
  value       = local.inference_env_file
}

output "user_data" {
  description = "The complete user-data (kept under 1 KiB, settings only)."
  value       = local.user_data
}

output "fqdn" {
  description = "The service's DNS name (empty without a domain)."
  value       = local.fqdn
}

output "vpc_id" {
  description = "The VPC."
  value       = module.network.vpc_id
}

output "alerts_topic_arn" {
  description = "SNS topic every alarm notifies (ALARM and OK)."
  value       = module.monitoring.topic_arn
}

output "alarm_names" {
  description = "The monitoring alarms of this mode, by alarm (see terraform/modules/monitoring/README.md for each one's runbook)."
  value       = module.monitoring.alarm_names
}

output "dashboard_url" {
  description = "The stack's CloudWatch dashboard (golden signals)."
  value       = module.monitoring.dashboard_url
}

output "scaling_policy_name" {
  description = "fleet: the target tracking policy (null in single mode or with requests_per_target = 0)."
  value       = one(module.fleet[*].scaling_policy_name)
}

output "waf_web_acl_arn" {
  description = "fleet with waf_enabled: the web ACL on the ALB (null otherwise)."
  value       = one(module.waf[*].web_acl_arn)
}

output "waf_mode" {
  description = "fleet with waf_enabled: count or block (null otherwise)."
  value       = one(module.waf[*].mode)
}
