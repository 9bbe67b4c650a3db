data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  # The parameter name starts with "/", so it follows "parameter" directly in the ARN.
  api_keys_parameter_arn = "arn:${data.aws_partition.current.partition}:ssm:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:parameter${var.api_keys_parameter}"
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = "${var.name}-host"
  description        = "Service hosts of ${var.name}: pull its image, SSM sessions, its own logs, its API keys"
  assume_role_policy = data.aws_iam_policy_document.assume.json

  tags = var.tags
}

# Session Manager (no SSH anywhere) and SSM Run Command for `invoke verify`.
resource "aws_iam_role_policy_attachment" "ssm_core" {
  role       = aws_iam_role.this.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_cloudwatch_log_group" "this" {
  # checkov:skip=CKV_AWS_158: CloudWatch Logs encrypts at rest by default; set kms_key_arn for a customer-managed key.
  name              = "/${var.name}/hosts"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

data "aws_iam_policy_document" "host" {
  # The token call has no resource scope in IAM; what it allows is limited by the next statement.
  statement {
    sid       = "EcrToken"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid = "PullThisRepositoryOnly"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]
    resources = [var.repository_arn]
  }

  statement {
    sid = "WriteOwnLogGroup"
    actions = [
      "logs:CreateLogStream",
      "logs:DescribeLogStreams",
      "logs:PutLogEvents",
    ]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  # The API keys, read at every boot (inference-api-keys.service). The parameter is encrypted
  # with the AWS-managed aws/ssm key, whose key policy lets SSM decrypt for any principal
  # allowed to read the parameter: no kms:Decrypt grant.
  dynamic "statement" {
    for_each = var.api_keys_parameter != "" ? [local.api_keys_parameter_arn] : []

    content {
      sid       = "ReadApiKeys"
      actions   = ["ssm:GetParameter"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "host" {
  name   = "pull-and-log"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.host.json
}

resource "aws_iam_instance_profile" "this" {
  name = "${var.name}-host"
  role = aws_iam_role.this.name

  tags = var.tags
}
