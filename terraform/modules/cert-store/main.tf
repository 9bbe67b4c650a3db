# Caddy's certificates, ACME account and internal CA of a single-instance stack with a domain,
# kept by the host's inference-certstore (restored before Caddy starts, saved each minute) so the
# next instance serves the same certificate from its first second. Private keys live here: the
# bucket is private, encrypted, TLS-only, and no principal but the host role may read or write
# its objects (the deny below holds even against an account-wide s3:* grant).
resource "aws_s3_bucket" "this" {
  # checkov:skip=CKV_AWS_18: access logs would need a second bucket for a handful of tiny objects that only the host role can read; CloudTrail data events are the place for that audit if wanted.
  # checkov:skip=CKV_AWS_144: certificates are reissued by the issuer if this region is lost; replicating private keys to a second region widens where they live.
  # checkov:skip=CKV2_AWS_62: nothing consumes events about certificate renewals; the host saves them itself.
  bucket        = var.bucket_name
  force_destroy = var.force_destroy

  tags = var.tags
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket = aws_s3_bucket.this.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id

  versioning_configuration {
    status = "Enabled"
  }
}

# SSE-KMS with the AWS-managed aws/s3 key: its key policy lets S3 use it for any principal of
# the account that may use the bucket, so the host role needs no kms: grant; a bucket key keeps
# KMS requests (and their cost) down.
resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "aws:kms"
    }
    bucket_key_enabled = true
  }
}

# Versions replaced by a renewal are kept a while (a bad save can be undone), then expire.
resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    id     = "expire-replaced-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

data "aws_iam_policy_document" "this" {
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.this.arn, "${aws_s3_bucket.this.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  # Reading or writing the objects (private keys): the host role only. Deleting them and managing
  # the bucket stay with the account's IAM (Terraform's destroy empties it).
  statement {
    sid       = "ObjectsForTheHostRoleOnly"
    effect    = "Deny"
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"]
    resources = ["${aws_s3_bucket.this.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = [var.host_role_arn]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = data.aws_iam_policy_document.this.json

  depends_on = [aws_s3_bucket_public_access_block.this]
}
