data "aws_region" "current" {}

data "aws_partition" "current" {}

module "host_role" {
  source = "../host-role"

  name               = var.name
  repository_arn     = var.repository_arn
  api_keys_parameter = var.api_keys_parameter
  bad_digests_path   = var.bad_digests_path
  cert_bucket_arn    = var.cert_bucket_arn
  log_retention_days = var.log_retention_days
  tags               = var.tags
}

resource "aws_security_group" "this" {
  # checkov:skip=CKV_AWS_260: port 80 stays open to the allowed CIDRs: Caddy answers the ACME HTTP-01 challenge there and redirects to HTTPS.
  name        = "${var.name}-host"
  description = "Service host: HTTP/HTTPS in from the allowed CIDRs; no SSH (Session Manager instead)"
  vpc_id      = var.vpc_id

  ingress {
    description = "HTTP (redirects to HTTPS when a domain is set; ACME HTTP-01)"
    from_port   = 80
    to_port     = 80
    protocol    = "tcp"
    cidr_blocks = var.ingress_cidrs
  }

  ingress {
    description = "HTTPS served by Caddy"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = var.ingress_cidrs
  }

  egress {
    description = "HTTPS out: ECR, SSM, CloudWatch, ACME"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  egress {
    description = "HTTP out: Ubuntu security updates (apt mirrors)"
    from_port   = 80
    to_port     = 80
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  tags = merge(var.tags, { Name = "${var.name}-host" })
}

resource "aws_instance" "this" {
  # checkov:skip=CKV_AWS_126: basic 5-minute metrics plus the status-check recovery alarm suffice for one host; detailed monitoring costs extra per instance.
  ami                    = var.ami_id
  instance_type          = var.instance_type
  subnet_id              = var.subnet_id
  vpc_security_group_ids = [aws_security_group.this.id]
  iam_instance_profile   = module.host_role.instance_profile_name
  ebs_optimized          = true

  # Settings only (< 1 KiB, validated). A change replaces the instance, like a new AMI.
  user_data                   = var.user_data
  user_data_replace_on_change = true

  # IMDSv2 only, hop limit 1: the IMDS answer cannot cross the extra network hop into a
  # container, so the app container never sees the instance role's credentials (the host,
  # not the container, talks to AWS). Trade-off: a container that genuinely needs AWS
  # APIs must get its own credentials; raise the limit to 2 only knowingly.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  root_block_device {
    volume_type           = "gp3"
    volume_size           = var.root_volume_size
    encrypted             = true
    kms_key_id            = var.root_volume_kms_key_arn
    delete_on_termination = true
  }

  tags        = merge(var.tags, { Name = var.name, AppImageDigest = var.app_image_digest })
  volume_tags = merge(var.tags, { Name = var.name })

  lifecycle {
    # A new AMI replaces the instance: that is the roll. The new instance is up (the app
    # image is pre-pulled in the AMI) before the old one goes, and the Elastic IP moves.
    create_before_destroy = true
  }
}

resource "aws_eip" "this" {
  domain   = "vpc"
  instance = aws_instance.this.id

  tags = merge(var.tags, { Name = var.name })
}

# Recover the instance on the same hardware-independent identity (EIP, EBS, ids) when the
# system status check fails.
resource "aws_cloudwatch_metric_alarm" "recover" {
  alarm_name          = "${var.name}-auto-recovery"
  alarm_description   = "Recover ${var.name} when the EC2 system status check fails"
  namespace           = "AWS/EC2"
  metric_name         = "StatusCheckFailed_System"
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 2
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  alarm_actions       = ["arn:${data.aws_partition.current.partition}:automate:${data.aws_region.current.name}:ec2:recover"]

  dimensions = {
    InstanceId = aws_instance.this.id
  }

  tags = var.tags
}
