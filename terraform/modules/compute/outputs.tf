output "instance_id" {
  description = "ID of the instance."
  value       = aws_instance.this.id
}

output "public_ip" {
  description = "Elastic IP of the instance (stable across AMI rolls)."
  value       = aws_eip.this.public_ip
}

output "private_ip" {
  description = "Private address of the instance."
  value       = aws_instance.this.private_ip
}

output "security_group_id" {
  description = "Security group of the instance."
  value       = aws_security_group.this.id
}

output "role_name" {
  description = "IAM role of the instance."
  value       = module.host_role.role_name
}

output "role_arn" {
  description = "ARN of the instance's IAM role."
  value       = module.host_role.role_arn
}

output "log_group_name" {
  description = "CloudWatch log group of the host."
  value       = module.host_role.log_group_name
}

output "recovery_alarm_name" {
  description = "The auto-recovery alarm."
  value       = aws_cloudwatch_metric_alarm.recover.alarm_name
}

output "recovery_alarm_arn" {
  description = "ARN of the auto-recovery alarm."
  value       = aws_cloudwatch_metric_alarm.recover.arn
}
