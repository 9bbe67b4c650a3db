output "bucket" {
  description = "Name of the bucket: the hosts' CERT_BUCKET."
  value       = aws_s3_bucket.this.bucket
}

output "bucket_arn" {
  description = "ARN of the bucket, for the host role's grant on its caddy/ prefix."
  value       = aws_s3_bucket.this.arn
}
