terraform {
  # 1.10: the S3 backend's own lock file (use_lockfile); 1.9: validations that compare variables
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 6.0"
    }
  }

  # Partial configuration: bucket, key, region and the lock are passed at `terraform init`
  # (-backend-config) from inferctl.toml, so this code holds no account data. The local
  # target replaces this block with local state through a generated override file.
  backend "s3" {}
}
