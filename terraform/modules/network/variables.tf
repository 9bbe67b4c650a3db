variable "name" {
  description = "Name prefix of the network's resources."
  type        = string
}

variable "cidr" {
  description = "IPv4 CIDR block of the VPC, /16 to /24 (split into /20../28 subnets)."
  type        = string

  validation {
    condition     = can(cidrhost(var.cidr, 0)) && try(tonumber(split("/", var.cidr)[1]) >= 16 && tonumber(split("/", var.cidr)[1]) <= 24, false)
    error_message = "cidr must be a valid IPv4 CIDR block between /16 and /24, e.g. 10.20.0.0/16."
  }
}

variable "az_count" {
  description = "Number of availability zones (one public subnet each, plus one private subnet each when private_subnets is set)."
  type        = number
  default     = 2

  validation {
    condition     = var.az_count >= 1 && var.az_count <= 6 && floor(var.az_count) == var.az_count
    error_message = "az_count must be a whole number from 1 to 6."
  }
}

variable "private_subnets" {
  description = "Add private subnets routed through one NAT gateway (~$32/month plus traffic)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every resource of the module."
  type        = map(string)
  default     = {}
}
