variable "name" {
  description = "Name of the ECR repository."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]+([._/-][a-z0-9]+)*$", var.name))
    error_message = "name must be a valid ECR repository name (lowercase letters, digits, . _ / -)."
  }
}

variable "image_tag_mutability" {
  description = "IMMUTABLE (default) or MUTABLE; a root that tracks a moving tag must say MUTABLE and why."
  type        = string
  default     = "IMMUTABLE"

  validation {
    condition     = contains(["MUTABLE", "IMMUTABLE"], var.image_tag_mutability)
    error_message = "image_tag_mutability must be MUTABLE or IMMUTABLE."
  }
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for the images; null = AES256 (S3-managed keys)."
  type        = string
  default     = null
}

variable "pull_principal_arns" {
  description = "IAM principals (the service hosts' role) allowed to pull by the repository policy."
  type        = list(string)

  validation {
    condition     = length(var.pull_principal_arns) > 0
    error_message = "pull_principal_arns must name at least one principal."
  }
}

variable "keep_tagged" {
  description = "Lifecycle: tagged images kept (newest first)."
  type        = number
  default     = 20

  validation {
    condition     = var.keep_tagged >= 1
    error_message = "keep_tagged must be at least 1."
  }
}

variable "untagged_expiry_days" {
  description = "Lifecycle: days after which untagged images expire."
  type        = number
  default     = 7

  validation {
    condition     = var.untagged_expiry_days >= 1
    error_message = "untagged_expiry_days must be at least 1."
  }
}

variable "force_delete" {
  description = "Delete the repository on destroy even if it holds images."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for the repository."
  type        = map(string)
  default     = {}
}
