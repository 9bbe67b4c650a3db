variable "bucket_name" {
  description = "Name of the bucket (S3 names are global: the root module names it <project>-tls-<account id>)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be 3-63 characters: lowercase letters, digits and dashes."
  }
}

variable "host_role_arn" {
  description = "The role of the instances that serve the domain: the only principal that may read or write the bucket's objects."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", var.host_role_arn))
    error_message = "host_role_arn must be an IAM role ARN."
  }
}

variable "noncurrent_version_days" {
  description = "Days a replaced or deleted object version is kept before it expires."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_days >= 1
    error_message = "noncurrent_version_days must be at least 1."
  }
}

variable "force_destroy" {
  description = "Let a destroy delete the bucket with its objects (the next stack issues its certificate anew)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags for every resource of the module."
  type        = map(string)
  default     = {}
}
