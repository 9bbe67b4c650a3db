output "web_acl_arn" {
  description = "ARN of the web ACL."
  value       = aws_wafv2_web_acl.this.arn
}

output "web_acl_name" {
  description = "Name of the web ACL (the WebACL dimension of its AWS/WAFV2 metrics)."
  value       = aws_wafv2_web_acl.this.name
}

output "mode" {
  description = "count (the rules only count) or block."
  value       = var.block ? "block" : "count"
}
