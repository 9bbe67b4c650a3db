output "autoscaling_group_name" {
  description = "Name of the Auto Scaling group."
  value       = aws_autoscaling_group.this.name
}

output "launch_template_id" {
  description = "ID of the launch template."
  value       = aws_launch_template.this.id
}

output "launch_template_version" {
  description = "Latest launch template version (the one the group runs)."
  value       = aws_launch_template.this.latest_version
}

output "alb_dns_name" {
  description = "DNS name of the ALB."
  value       = aws_lb.this.dns_name
}

output "alb_zone_id" {
  description = "Hosted zone id of the ALB (for alias records)."
  value       = aws_lb.this.zone_id
}

output "alb_arn" {
  description = "ARN of the ALB."
  value       = aws_lb.this.arn
}

output "alb_arn_suffix" {
  description = "ARN suffix of the ALB (app/<name>/<id>): its LoadBalancer dimension in CloudWatch."
  value       = aws_lb.this.arn_suffix
}

output "target_group_arn_suffix" {
  description = "ARN suffix of the target group (targetgroup/<name>/<id>): its TargetGroup dimension in CloudWatch."
  value       = aws_lb_target_group.this.arn_suffix
}

output "scaling_policy_name" {
  description = "The target tracking policy (null when requests_per_target = 0)."
  value       = one(aws_autoscaling_policy.requests_per_target[*].name)
}

output "target_group_arn" {
  description = "ARN of the target group."
  value       = aws_lb_target_group.this.arn
}

output "certificate_arn" {
  description = "Certificate of the HTTPS listener."
  value       = aws_lb_listener.https.certificate_arn
}

output "instance_security_group_id" {
  description = "Security group of the instances (ingress only from the ALB)."
  value       = aws_security_group.instance.id
}

output "alb_security_group_id" {
  description = "Security group of the ALB."
  value       = aws_security_group.alb.id
}

output "role_name" {
  description = "IAM role of the instances."
  value       = module.host_role.role_name
}

output "role_arn" {
  description = "ARN of the instances' IAM role."
  value       = module.host_role.role_arn
}

output "log_group_name" {
  description = "CloudWatch log group of the hosts."
  value       = module.host_role.log_group_name
}
