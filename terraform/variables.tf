variable "project" {
  description = "Name prefix of every resource; also names the channel SSM parameter /<project>/ami/latest."
  type        = string
  default     = "inference"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.project))
    error_message = "project must be 3-32 characters: lowercase letters, digits and dashes, starting with a letter."
  }
}

variable "region" {
  description = "AWS region of every resource."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like eu-west-1."
  }
}

variable "mode" {
  description = "single: one instance with an Elastic IP (Caddy terminates TLS); fleet: an Auto Scaling group behind an ALB with an ACM certificate."
  type        = string
  default     = "single"

  validation {
    condition     = contains(["single", "fleet"], var.mode)
    error_message = "mode must be single or fleet."
  }

  validation {
    condition     = var.mode == "single" || var.domain != "" || var.certificate_arn != ""
    error_message = "fleet mode needs HTTPS on the ALB: set domain (a certificate is requested for <subdomain>.<domain>) or certificate_arn."
  }

  validation {
    condition     = var.mode == "single" || var.az_count >= 2
    error_message = "fleet mode needs az_count >= 2 (an ALB spans at least two availability zones)."
  }
}

variable "ami_id" {
  description = "The baked AMI to run; empty = read the channel parameter /<project>/ami/latest. A new AMI replaces the instance (single) or starts an instance refresh (fleet): that is the intended roll."
  type        = string
  default     = ""

  validation {
    condition     = var.ami_id == "" || can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must be an AMI id like ami-0123456789abcdef0 (or empty to use the channel parameter)."
  }
}

variable "api_keys_parameter" {
  description = "SSM SecureString parameter holding the service's API keys, one per line (deploy sets /<project>/api-keys on AWS and creates it if missing). The hosts get its name (API_KEYS_PARAMETER) and ssm:GetParameter on exactly it, and fetch it at every boot. Empty = each host makes its own key at first boot (the local target: no instance metadata there)."
  type        = string
  default     = ""

  validation {
    condition     = var.api_keys_parameter == "" || can(regex("^(/[A-Za-z0-9_.-]+)+$", var.api_keys_parameter))
    error_message = "api_keys_parameter must be empty or a hierarchical SSM parameter name like /inference/api-keys."
  }
}

variable "bad_digests_path" {
  description = "SSM path under which the hosts record digests they rolled back, so the others refuse them (/<project>/bad-digests; deploy sets it). Empty = each host decides alone."
  type        = string
  default     = ""

  validation {
    condition     = var.bad_digests_path == "" || can(regex("^(/[A-Za-z0-9_.-]+)+$", var.bad_digests_path))
    error_message = "bad_digests_path must be empty or a hierarchical SSM path like /inference/bad-digests."
  }
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC (a /16 to /24)."
  type        = string
  default     = "10.20.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && try(tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 24, false)
    error_message = "vpc_cidr must be a valid IPv4 CIDR block between /16 and /24, e.g. 10.20.0.0/16."
  }
}

variable "az_count" {
  description = "Availability zones to spread subnets over (fleet mode needs at least 2 for the ALB)."
  type        = number
  default     = 2

  validation {
    condition     = var.az_count >= 1 && var.az_count <= 6 && floor(var.az_count) == var.az_count
    error_message = "az_count must be a whole number from 1 to 6."
  }
}

variable "private_subnets" {
  description = "Add private subnets and a NAT gateway (fleet instances then live there). Off by default: a NAT gateway costs ~$32/month plus traffic."
  type        = bool
  default     = false
}

variable "ingress_cidrs" {
  description = "Who may reach the service on 80/443."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.ingress_cidrs) > 0 && alltrue([for cidr in var.ingress_cidrs : can(cidrhost(cidr, 0))])
    error_message = "ingress_cidrs must be a non-empty list of valid CIDR blocks, e.g. [\"203.0.113.0/24\"]."
  }
}

variable "instance_type" {
  description = "EC2 instance type of the service hosts."
  type        = string
  default     = "t3.small"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[0-9][a-z0-9-]*\\.(nano|micro|small|medium|large|metal|[0-9]*xlarge)$", var.instance_type))
    error_message = "instance_type must be an EC2 instance type like t3.small or m7g.2xlarge."
  }
}

variable "root_volume_size" {
  description = "Size in GiB of the encrypted gp3 root volume."
  type        = number
  default     = 16

  validation {
    condition     = var.root_volume_size >= 8 && var.root_volume_size <= 16384
    error_message = "root_volume_size must be between 8 and 16384 GiB."
  }
}

variable "fleet_min" {
  description = "fleet: minimum (and initial) number of instances."
  type        = number
  default     = 2

  validation {
    condition     = var.fleet_min >= 1
    error_message = "fleet_min must be at least 1."
  }
}

variable "fleet_max" {
  description = "fleet: maximum number of instances."
  type        = number
  default     = 4

  validation {
    condition     = var.fleet_max >= 1 && var.fleet_max >= var.fleet_min
    error_message = "fleet_max must be at least 1 and not below fleet_min."
  }
}

variable "requests_per_target" {
  description = "fleet: target of the scaling policy, requests per instance and minute (ALBRequestCountPerTarget), within fleet_min..fleet_max; 0 = no scaling policy."
  type        = number
  default     = 1000

  validation {
    condition     = var.requests_per_target >= 0 && floor(var.requests_per_target) == var.requests_per_target
    error_message = "requests_per_target must be 0 (no scaling policy) or a whole number of requests per instance and minute."
  }
}

variable "certificate_arn" {
  description = "fleet: an existing ACM certificate for the ALB; empty = request one for <subdomain>.<domain>, validated through DNS."
  type        = string
  default     = ""

  validation {
    condition     = var.certificate_arn == "" || can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN (or empty)."
  }
}

variable "domain" {
  description = "An existing public Route 53 hosted zone (looked up, not created) to publish <subdomain>.<domain> in; empty = no DNS, plain HTTP on the instance address (single mode)."
  type        = string
  default     = ""

  validation {
    condition     = var.domain == "" || can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain))
    error_message = "domain must be a DNS name like example.com (lowercase, no trailing dot), or empty."
  }
}

variable "subdomain" {
  description = "Record name inside the zone: the service answers on <subdomain>.<domain>."
  type        = string
  default     = "infer"

  validation {
    condition     = can(regex("^[a-z0-9-]{1,63}$", var.subdomain))
    error_message = "subdomain must be one DNS label (lowercase letters, digits, dashes)."
  }
}

variable "tls_issuer" {
  description = "single mode with a domain: who issues the instance's certificate. acme = Let's Encrypt; internal = Caddy's own CA (private networks whose clients trust its root, or a region with no internet). Either way the certificate and keys are kept in the <project>-tls-<account> bucket and handed to the next instance."
  type        = string
  default     = "acme"

  validation {
    condition     = contains(["acme", "internal"], var.tls_issuer)
    error_message = "tls_issuer must be acme or internal."
  }
}

variable "repository_name" {
  description = "Name of the ECR repository holding the app image."
  type        = string
  default     = "inference"

  validation {
    condition     = can(regex("^[a-z0-9]+([._/-][a-z0-9]+)*$", var.repository_name))
    error_message = "repository_name must be a valid ECR repository name (lowercase)."
  }
}

variable "registry_force_delete" {
  description = "Let destroy delete the ECR repository even when it still holds images."
  type        = bool
  default     = false
}

variable "image_repository" {
  description = "Repository the hosts pull from; empty = the ECR repository created here. The local target sets its own registry."
  type        = string
  default     = ""
}

variable "image_tag" {
  description = "The tag the hosts track; the on-host updater follows its digest."
  type        = string
  default     = "stable"

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag))
    error_message = "image_tag must be a valid image tag."
  }
}

variable "app_image_digest" {
  description = "Digest of the app image pushed by this deploy (recorded as a tag on the hosts; what runs is pinned on the host by the updater)."
  type        = string
  default     = ""

  validation {
    condition     = var.app_image_digest == "" || can(regex("^sha256:[0-9a-f]{64}$", var.app_image_digest))
    error_message = "app_image_digest must look like sha256:<64 hex digits> (or be empty)."
  }
}

variable "update_schedule" {
  description = "When the on-host updater runs: a systemd calendar expression (hourly, *:17, Mon..Fri 03:00) or a 5-field cron schedule."
  type        = string
  default     = "hourly"

  validation {
    condition     = can(regex("^[A-Za-z0-9*:,./~ -]+$", var.update_schedule))
    error_message = "update_schedule must be a calendar expression (e.g. hourly, *:17) or a 5-field cron schedule."
  }
}

variable "update_spread" {
  description = "Random delay of each updater run, drawn per run and host (systemd RandomizedDelaySec), so a fleet never takes a new digest at once."
  type        = string
  default     = "15min"

  validation {
    condition     = can(regex("^[0-9]+(s|sec|min|m|h)?$", var.update_spread))
    error_message = "update_spread must be a time span such as 900s, 15min or 1h."
  }
}

variable "health_timeout" {
  description = "Seconds a new container gets to become healthy before the updater rolls back."
  type        = number
  default     = 90

  validation {
    condition     = var.health_timeout >= 1
    error_message = "health_timeout must be at least 1 second."
  }
}

variable "log_retention_days" {
  description = "Retention of the hosts' CloudWatch log group."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ..., 365, ...)."
  }
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the metrics the hosts publish (METRICS_NAMESPACE in their inference.env) and the monitoring module's alarms and dashboard read. No \"#\": the hosts' env file would read it as a comment."
  type        = string
  default     = "Inference"

  validation {
    condition     = can(regex("^[A-Za-z0-9._/:-]{1,255}$", var.metrics_namespace)) && !startswith(var.metrics_namespace, "AWS/")
    error_message = "metrics_namespace must be a custom CloudWatch namespace (letters, digits, . _ / : -; not AWS/...)."
  }
}

variable "alert_email" {
  description = "Email address subscribed to the alerts topic <project>-alerts (AWS mails a confirmation link first); empty = no subscription."
  type        = string
  default     = ""

  validation {
    condition     = var.alert_email == "" || can(regex("^[A-Za-z0-9._%+'-]+@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\\.[A-Za-z]{2,63}$", var.alert_email))
    error_message = "alert_email must be an email address like ops@example.com (or empty)."
  }
}

variable "waf_enabled" {
  description = "fleet: put a WAF web ACL on the ALB (AWS common and known-bad-inputs rules, a rate limit per IP); about $8/month plus $0.60 per million requests."
  type        = bool
  default     = false

  validation {
    condition     = !var.waf_enabled || var.mode == "fleet"
    error_message = "waf_enabled needs mode = fleet: the web ACL sits on the ALB, and a single instance has none."
  }
}

variable "waf_block" {
  description = "false = count mode (the WAF's rules only count what they match); true = they block."
  type        = bool
  default     = false
}

variable "waf_rate_limit" {
  description = "Requests per 5 minutes from one IP above which the WAF's rate rule matches."
  type        = number
  default     = 1000

  validation {
    condition     = var.waf_rate_limit >= 100 && var.waf_rate_limit <= 2000000000 && floor(var.waf_rate_limit) == var.waf_rate_limit
    error_message = "waf_rate_limit must be a whole number of requests per 5 minutes from 100 to 2000000000."
  }
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}
