variable "name" {
  description = "Name of the web ACL and prefix of its metric names."
  type        = string
}

variable "resource_arn" {
  description = "ARN of the regional resource to protect (the fleet's ALB)."
  type        = string
}

variable "block" {
  description = "false = count mode: every rule only counts what it matches (see it in the metrics and sampled requests first); true = the rules block."
  type        = bool
  default     = false
}

variable "rate_limit" {
  description = "Requests per 5 minutes from one client IP above which the rate-based rule matches (counts, or blocks with block = true)."
  type        = number
  default     = 1000

  validation {
    condition     = var.rate_limit >= 100 && var.rate_limit <= 2000000000 && floor(var.rate_limit) == var.rate_limit
    error_message = "rate_limit must be a whole number of requests per 5 minutes from 100 to 2000000000."
  }
}

variable "tags" {
  description = "Tags for the web ACL."
  type        = map(string)
  default     = {}
}
