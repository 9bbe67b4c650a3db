variable "name" {
  description = "Name prefix of the fleet's resources (ALB and target group names are cut to 28 characters)."
  type        = string
}

variable "autoscaling_group_name" {
  description = "Name of the Auto Scaling group. Given, not derived here: the hosts' user-data carries it (FLEET_GROUP, the dimension of their group metrics), and the group's own name attribute would make a cycle through the launch template."
  type        = string

  validation {
    condition     = length(var.autoscaling_group_name) >= 1 && length(var.autoscaling_group_name) <= 255 && !can(regex(":", var.autoscaling_group_name))
    error_message = "autoscaling_group_name must be 1-255 characters without a colon."
  }
}

variable "ami_id" {
  description = "The baked AMI (a change makes a new launch template version and an instance refresh)."
  type        = string

  validation {
    condition     = can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id is missing or malformed: bake an AMI first (invoke bake) or pass an id like ami-0123456789abcdef0."
  }
}

variable "instance_type" {
  description = "EC2 instance type of the fleet."
  type        = string
  default     = "t3.small"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[0-9][a-z0-9-]*\\.(nano|micro|small|medium|large|metal|[0-9]*xlarge)$", var.instance_type))
    error_message = "instance_type must be an EC2 instance type like t3.small or m7g.2xlarge."
  }
}

variable "vpc_id" {
  description = "VPC of the fleet."
  type        = string
}

variable "alb_subnet_ids" {
  description = "Public subnets of the ALB (at least two availability zones)."
  type        = list(string)

  validation {
    condition     = length(var.alb_subnet_ids) >= 2
    error_message = "alb_subnet_ids needs subnets in at least two availability zones."
  }
}

variable "instance_subnet_ids" {
  description = "Subnets of the instances (private ones when the network has them)."
  type        = list(string)
}

variable "ingress_cidrs" {
  description = "CIDR blocks allowed to reach the ALB on 80/443."
  type        = list(string)

  validation {
    condition     = length(var.ingress_cidrs) > 0 && alltrue([for cidr in var.ingress_cidrs : can(cidrhost(cidr, 0))])
    error_message = "ingress_cidrs must be a non-empty list of valid CIDR blocks."
  }
}

variable "root_volume_size" {
  description = "GiB of each instance's encrypted gp3 root volume."
  type        = number
  default     = 16

  validation {
    condition     = var.root_volume_size >= 8
    error_message = "root_volume_size must be at least 8 GiB."
  }
}

variable "root_volume_kms_key_arn" {
  description = "Customer-managed KMS key for the root volumes; null = the AWS-managed EBS key."
  type        = string
  default     = null
}

variable "user_data" {
  description = "cloud-init user-data that only writes /etc/inference/inference.env: under 1 KiB, no package installs or downloads."
  type        = string

  validation {
    condition     = length(var.user_data) < 1024
    error_message = "user_data must stay under 1 KiB: settings only, everything else is baked into the AMI."
  }

  validation {
    condition     = !can(regex("(?m)(apt-get|apt |yum |dnf |snap |pip3? install|curl |wget |runcmd:|packages:|bootcmd:)", var.user_data))
    error_message = "user_data must not install or download anything (no apt/yum/pip/curl/wget, runcmd, packages): bake it into the AMI."
  }
}

variable "repository_arn" {
  description = "ECR repository the instance role may pull from (and nothing else)."
  type        = string
}

variable "bad_digests_path" {
  description = "SSM path of the fleet's record of bad digests, passed to the host role; empty = none."
  type        = string
  default     = ""
}

variable "api_keys_parameter" {
  description = "SSM SecureString parameter with the API keys the hosts read at boot (ssm:GetParameter on exactly it); empty = each host makes its own key."
  type        = string
  default     = ""
}

variable "log_retention_days" {
  description = "Retention of the hosts' CloudWatch log group."
  type        = number
  default     = 365
}

variable "app_image_digest" {
  description = "Digest of the app image of this deploy, recorded as an instance tag."
  type        = string
  default     = ""
}

variable "min_size" {
  description = "Minimum (and initial) number of instances."
  type        = number
  default     = 2

  validation {
    condition     = var.min_size >= 1
    error_message = "min_size must be at least 1."
  }
}

variable "max_size" {
  description = "Maximum number of instances the scaling policy may reach."
  type        = number
  default     = 4
}

variable "requests_per_target" {
  description = "Target of the scaling policy: requests per instance and minute (ALBRequestCountPerTarget); 0 = no scaling policy."
  type        = number
  default     = 1000

  validation {
    condition     = var.requests_per_target >= 0
    error_message = "requests_per_target must be 0 (no scaling policy) or a positive number of requests per instance and minute."
  }
}

variable "health_check_path" {
  description = "Path the target group checks (the app's liveness endpoint, through Caddy)."
  type        = string
  default     = "/health"
}

variable "health_check_grace_period" {
  description = "Seconds a new instance gets before ELB health checks count (also the refresh and scaling warm-up)."
  type        = number
  default     = 120
}

variable "certificate_arn" {
  description = "Existing ACM certificate for the HTTPS listener; empty = request one for domain_name, validated in zone_id."
  type        = string
  default     = ""
}

variable "domain_name" {
  description = "Name the requested certificate covers (<subdomain>.<domain>); needed when certificate_arn is empty."
  type        = string
  default     = ""

  validation {
    condition     = var.domain_name != "" || var.certificate_arn != ""
    error_message = "the HTTPS listener needs certificate_arn or a domain_name to request a certificate for."
  }
}

variable "zone_name" {
  description = "Existing public Route 53 zone (e.g. example.com) for the certificate's DNS validation records; needed when certificate_arn is empty."
  type        = string
  default     = ""
}

variable "deletion_protection" {
  description = "Protect the ALB from deletion (turn on in production)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every resource of the module."
  type        = map(string)
  default     = {}
}
