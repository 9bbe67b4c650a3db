data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  # The parameter name starts with "/", so it follows "parameter" directly in the ARN.
  api_keys_parameter_arn = "arn:${data.aws_partition.current.partition}:ssm:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:parameter${var.api_keys_parameter}"
  bad_digests_arn        = "arn:${data.aws_partition.current.partition}:ssm:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:parameter${var.bad_digests_path}/*"
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

# The SSM agent: Session Manager (no SSH anywhere) and Run Command (`invoke verify` runs the host
# spec through AWS-RunShellScript). This is AWS's AmazonSSMManagedInstanceCore (v2) without
# ssm:GetParameter and ssm:GetParameters, which that policy grants on "*": attached, it let every
# host read every parameter of the account and made the narrow grant on the API keys parameter
# (below) meaningless. The agent does not need them for sessions or for Run Command documents
# whose parameters name no {{ssm:...}} value (ours name none). The actions stay on "*" as in the
# managed policy: the agent's calls name its own instance, AWS's documents and associations.
data "aws_iam_policy_document" "ssm_agent" {
  # checkov:skip=CKV_AWS_356: the SSM agent's actions on "*" as AmazonSSMManagedInstanceCore grants them (the instance, its documents and associations are not known here).
  # checkov:skip=CKV_AWS_111: the agent's writes (inventory, compliance, association and instance status) concern its own instance; AmazonSSMManagedInstanceCore grants them on "*" too.
  statement {
    sid = "SsmAgentCore"
    actions = [
      "ssm:DescribeAssociation",
      "ssm:DescribeDocument",
      "ssm:GetDeployablePatchSnapshotForInstance",
      "ssm:GetDocument",
      "ssm:GetManifest",
      "ssm:ListAssociations",
      "ssm:ListInstanceAssociations",
      "ssm:PutComplianceItems",
      "ssm:PutConfigurePackageResult",
      "ssm:PutInventory",
      "ssm:UpdateAssociationStatus",
      "ssm:UpdateInstanceAssociationStatus",
      "ssm:UpdateInstanceInformation",
    ]
    resources = ["*"]
  }

  statement {
    sid = "SessionManagerChannels"
    actions = [
      "ssmmessages:CreateControlChannel",
      "ssmmessages:CreateDataChannel",
      "ssmmessages:OpenControlChannel",
      "ssmmessages:OpenDataChannel",
    ]
    resources = ["*"]
  }

  statement {
    sid = "RunCommandMessages"
    actions = [
      "ec2messages:AcknowledgeMessage",
      "ec2messages:DeleteMessage",
      "ec2messages:FailMessage",
      "ec2messages:GetEndpoint",
      "ec2messages:GetMessages",
      "ec2messages:SendReply",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "ssm_agent" {
  name   = "ssm-agent"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.ssm_agent.json
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

  # The fleet's record of bad digests: a host that rolls a digest back creates one String
  # parameter under the path (never overwriting: PutParameter with Overwrite=false), and every
  # host reads the one name of a digest before it tries it. No listing, no delete.
  dynamic "statement" {
    for_each = var.bad_digests_path != "" ? [local.bad_digests_arn] : []

    content {
      sid       = "FleetRecordOfBadDigests"
      actions   = ["ssm:GetParameter", "ssm:PutParameter"]
      resources = [statement.value]
    }
  }

  # Caddy's certificates and keys (inference-certstore): list, read and write under caddy/ of the
  # certificate bucket, nothing else (the bucket policy denies every other principal its objects).
  dynamic "statement" {
    for_each = var.cert_bucket_arn != "" ? [var.cert_bucket_arn] : []

    content {
      sid       = "ListCertificates"
      actions   = ["s3:ListBucket"]
      resources = [statement.value]

      condition {
        test     = "StringLike"
        variable = "s3:prefix"
        values   = ["caddy/*"]
      }
    }
  }

  dynamic "statement" {
    for_each = var.cert_bucket_arn != "" ? [var.cert_bucket_arn] : []

    content {
      sid       = "ReadWriteCertificates"
      actions   = ["s3:GetObject", "s3:PutObject"]
      resources = ["${statement.value}/caddy/*"]
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
