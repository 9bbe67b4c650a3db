variable "name" {
  description = "Name prefix of the host's resources."
  type        = string
}

variable "ami_id" {
  description = "The baked AMI (changing it replaces the instance: the intended roll)."
  type        = string

  validation {
    condition     = can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id is missing or malformed: bake an AMI first (invoke bake) or pass an id like ami-0123456789abcdef0."
  }
}

variable "instance_type" {
  description = "EC2 instance type."
  type        = string
  default     = "t3.small"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[0-9][a-z0-9-]*\\.(nano|micro|small|medium|large|metal|[0-9]*xlarge)$", var.instance_type))
    error_message = "instance_type must be an EC2 instance type like t3.small or m7g.2xlarge."
  }
}

variable "vpc_id" {
  description = "VPC of the security group."
  type        = string
}

variable "subnet_id" {
  description = "Public subnet of the instance."
  type        = string
}

variable "ingress_cidrs" {
  description = "CIDR blocks allowed on 80/443 (there is no port 22)."
  type        = list(string)

  validation {
    condition     = length(var.ingress_cidrs) > 0 && alltrue([for cidr in var.ingress_cidrs : can(cidrhost(cidr, 0))])
    error_message = "ingress_cidrs must be a non-empty list of valid CIDR blocks."
  }
}

variable "root_volume_size" {
  description = "GiB of the encrypted gp3 root volume."
  type        = number
  default     = 16

  validation {
    condition     = var.root_volume_size >= 8
    error_message = "root_volume_size must be at least 8 GiB."
  }
}

variable "root_volume_kms_key_arn" {
  description = "Customer-managed KMS key for the root volume; null = the AWS-managed EBS key."
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

variable "cert_bucket_arn" {
  description = "ARN of the bucket that keeps Caddy's certificates (a domain is set), passed to the host role; empty = none."
  type        = string
  default     = ""
}

variable "api_keys_parameter" {
  description = "SSM SecureString parameter with the API keys the hosts read at boot (ssm:GetParameter on exactly it); empty = each host makes its own key."
  type        = string
  default     = ""
}

variable "log_retention_days" {
  description = "Retention of the host's CloudWatch log group."
  type        = number
  default     = 365
}

variable "app_image_digest" {
  description = "Digest of the app image of this deploy, recorded as a tag (no replacement when it changes)."
  type        = string
  default     = ""
}

variable "tags" {
  description = "Tags for every resource of the module."
  type        = map(string)
  default     = {}
}
