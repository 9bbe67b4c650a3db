terraform {
  required_version = ">= 1.9" # one floor for every module (fleet's validations compare variables)

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40"
    }
  }
}
