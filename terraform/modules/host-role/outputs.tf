output "role_name" {
  description = "Name of the hosts' IAM role."
  value       = aws_iam_role.this.name
}

output "role_arn" {
  description = "ARN of the hosts' IAM role (the registry's pull principal)."
  value       = aws_iam_role.this.arn
}

output "instance_profile_name" {
  description = "Instance profile wrapping the role."
  value       = aws_iam_instance_profile.this.name
}

output "instance_profile_arn" {
  description = "ARN of the instance profile."
  value       = aws_iam_instance_profile.this.arn
}

output "log_group_name" {
  description = "The hosts' CloudWatch log group."
  value       = aws_cloudwatch_log_group.this.name
}
