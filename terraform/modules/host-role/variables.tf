variable "name" {
  description = "Name prefix: the role and profile are <name>-host, the log group /<name>/hosts."
  type        = string
}

variable "repository_arn" {
  description = "The one ECR repository the hosts may pull from."
  type        = string
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
