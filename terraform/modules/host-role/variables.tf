variable "name" {
  description = "Name prefix: the role and profile are <name>-host, the log group /<name>/hosts."
  type        = string
}

variable "repository_arn" {
  description = "The one ECR repository the hosts may pull from."
  type        = string
}

variable "api_keys_parameter" {
  description = "Name of the SSM SecureString parameter holding the API keys (/<project>/api-keys); the hosts get ssm:GetParameter on exactly it. Empty = no grant (each host makes its own key)."
  type        = string
  default     = ""

  validation {
    condition     = var.api_keys_parameter == "" || can(regex("^(/[A-Za-z0-9_.-]+)+$", var.api_keys_parameter))
    error_message = "api_keys_parameter must be empty or a hierarchical SSM parameter name like /inference/api-keys."
  }
}

variable "bad_digests_path" {
  description = "SSM path of the fleet's record of bad digests (/<project>/bad-digests): the hosts get ssm:GetParameter and ssm:PutParameter on the names under it, nothing else. Empty = no grant (each host decides alone)."
  type        = string
  default     = ""

  validation {
    condition     = var.bad_digests_path == "" || can(regex("^(/[A-Za-z0-9_.-]+)+$", var.bad_digests_path))
    error_message = "bad_digests_path must be empty or a hierarchical SSM path like /inference/bad-digests."
  }
}

variable "cert_bucket_arn" {
  description = "ARN of the bucket that keeps Caddy's certificates (single mode with a domain): the hosts may list, read and write under its caddy/ prefix. Empty = no grant."
  type        = string
  default     = ""

  validation {
    condition     = var.cert_bucket_arn == "" || can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.cert_bucket_arn))
    error_message = "cert_bucket_arn must be empty or an S3 bucket ARN."
  }
}

variable "log_retention_days" {
  description = "Retention of the hosts' log group."
  type        = number
  default     = 365
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for the log group; null = CloudWatch's default encryption."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for every resource of the module."
  type        = map(string)
  default     = {}
}
