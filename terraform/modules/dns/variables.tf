variable "domain" {
  description = "Existing public hosted zone, e.g. example.com (looked up, not created)."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain))
    error_message = "domain must be a DNS name like example.com (lowercase, no trailing dot)."
  }
}

variable "record_name" {
  description = "Label of the record: the service answers on <record_name>.<domain>."
  type        = string
  default     = "infer"
}

variable "mode" {
  description = "single: an A record to ip_address; fleet: an alias A record to the ALB."
  type        = string

  validation {
    condition     = contains(["single", "fleet"], var.mode)
    error_message = "mode must be single or fleet."
  }
}

variable "ip_address" {
  description = "single: the instance's Elastic IP."
  type        = string
  default     = null
}

variable "alias" {
  description = "fleet: the ALB's DNS name and hosted zone id."
  type = object({
    name    = string
    zone_id = string
  })
  default = null
}
