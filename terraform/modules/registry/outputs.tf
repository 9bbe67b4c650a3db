output "repository_url" {
  description = "URL to push to and pull from (<account>.dkr.ecr.<region>.amazonaws.com/<name>)."
  value       = aws_ecr_repository.this.repository_url
}

output "repository_arn" {
  description = "ARN of the repository (the hosts' pull permission is scoped to it)."
  value       = aws_ecr_repository.this.arn
}

output "repository_name" {
  description = "Name of the repository."
  value       = aws_ecr_repository.this.name
}

output "registry_id" {
  description = "Account id of the registry."
  value       = aws_ecr_repository.this.registry_id
}
