locals {
  request_certificate = var.certificate_arn == ""
  # ALB and target group names are limited to 32 characters.
  short_name = substr(var.name, 0, 28)
}

module "host_role" {
  source = "../host-role"

  name               = var.name
  repository_arn     = var.repository_arn
  api_keys_parameter = var.api_keys_parameter
  bad_digests_path   = var.bad_digests_path
  log_retention_days = var.log_retention_days
  tags               = var.tags
}

# The AMI's own root device name, so the encrypted gp3 mapping replaces its root volume.
data "aws_ami" "this" {
  filter {
    name   = "image-id"
    values = [var.ami_id]
  }
}

# --- security groups: the internet reaches the ALB; only the ALB reaches the instances ---

resource "aws_security_group" "alb" {
  name        = "${var.name}-alb"
  description = "ALB of ${var.name}: HTTP/HTTPS in from the allowed CIDRs"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-alb" })
}

resource "aws_vpc_security_group_ingress_rule" "alb" {
  for_each = { for pair in setproduct([80, 443], var.ingress_cidrs) : "${pair[0]}-${pair[1]}" => pair }

  security_group_id = aws_security_group.alb.id
  description       = each.value[0] == 80 ? "HTTP (redirected to HTTPS)" : "HTTPS"
  ip_protocol       = "tcp"
  from_port         = each.value[0]
  to_port           = each.value[0]
  cidr_ipv4         = each.value[1]
}

resource "aws_vpc_security_group_egress_rule" "alb_to_instances" {
  security_group_id            = aws_security_group.alb.id
  description                  = "Forward to the instances' Caddy on 80"
  ip_protocol                  = "tcp"
  from_port                    = 80
  to_port                      = 80
  referenced_security_group_id = aws_security_group.instance.id
}

resource "aws_security_group" "instance" {
  name        = "${var.name}-fleet-host"
  description = "Fleet hosts of ${var.name}: HTTP from the ALB only; no SSH (Session Manager instead)"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-fleet-host" })
}

resource "aws_vpc_security_group_ingress_rule" "instance_from_alb" {
  # checkov:skip=CKV_AWS_260: the source is the ALB's security group (referenced_security_group_id), not 0.0.0.0/0.
  security_group_id            = aws_security_group.instance.id
  description                  = "HTTP from the ALB only"
  ip_protocol                  = "tcp"
  from_port                    = 80
  to_port                      = 80
  referenced_security_group_id = aws_security_group.alb.id
}

resource "aws_vpc_security_group_egress_rule" "instance" {
  for_each = { https = 443, http = 80 }

  security_group_id = aws_security_group.instance.id
  description       = each.key == "https" ? "HTTPS out: ECR, SSM, CloudWatch" : "HTTP out: Ubuntu security updates"
  ip_protocol       = "tcp"
  from_port         = each.value
  to_port           = each.value
  cidr_ipv4         = "0.0.0.0/0"
}

# --- instances ---

resource "aws_launch_template" "this" {
  name                   = var.name
  description            = "Baked AMI of ${var.name}; user-data only writes /etc/inference/inference.env"
  image_id               = var.ami_id
  instance_type          = var.instance_type
  ebs_optimized          = true
  update_default_version = true
  vpc_security_group_ids = [aws_security_group.instance.id]
  user_data              = base64encode(var.user_data)

  iam_instance_profile {
    arn = module.host_role.instance_profile_arn
  }

  # IMDSv2 only, hop limit 1: containers cannot reach the instance credentials (see the
  # compute module for the trade-off).
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  block_device_mappings {
    device_name = data.aws_ami.this.root_device_name

    ebs {
      volume_type           = "gp3"
      volume_size           = var.root_volume_size
      encrypted             = true
      kms_key_id            = var.root_volume_kms_key_arn
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = var.name, AppImageDigest = var.app_image_digest })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(var.tags, { Name = var.name })
  }

  tags = var.tags
}

resource "aws_autoscaling_group" "this" {
  name                      = var.autoscaling_group_name
  min_size                  = var.min_size
  max_size                  = var.max_size
  vpc_zone_identifier       = var.instance_subnet_ids
  target_group_arns         = [aws_lb_target_group.this.arn]
  health_check_type         = "ELB"
  health_check_grace_period = var.health_check_grace_period
  # No desired_capacity: AWS starts the group at min_size and the scaling policy moves it
  # between min_size and max_size; an apply never resets it (a new min_size above the current
  # capacity raises it).

  # The group's capacity metrics (free at 1-minute granularity) for the dashboard.
  enabled_metrics = ["GroupDesiredCapacity", "GroupInServiceInstances", "GroupMaxSize", "GroupMinSize",
  "GroupPendingInstances", "GroupTerminatingInstances", "GroupTotalInstances"]

  launch_template {
    id      = aws_launch_template.this.id
    version = aws_launch_template.this.latest_version
  }

  # A new AMI makes a new launch template version, which starts this rolling refresh: the
  # fleet's form of the roll. It keeps full capacity (new instances first, up to twice the
  # group, each healthy before an old one goes) and rolls back to the previous launch
  # template version when the refresh fails.
  instance_refresh {
    strategy = "Rolling"

    preferences {
      min_healthy_percentage = 100
      max_healthy_percentage = 200
      auto_rollback          = true
      instance_warmup        = var.health_check_grace_period
    }
  }

  tag {
    key                 = "Name"
    value               = var.name
    propagate_at_launch = true
  }
}

# Target tracking on the requests each instance gets (ALBRequestCountPerTarget: per target and
# minute): Auto Scaling adds instances above the target and removes them well below it, within
# min_size..max_size. requests_per_target = 0: no policy, the group stays at its capacity.
resource "aws_autoscaling_policy" "requests_per_target" {
  count = var.requests_per_target > 0 ? 1 : 0

  name                      = "${var.name}-requests-per-target"
  autoscaling_group_name    = aws_autoscaling_group.this.name
  policy_type               = "TargetTrackingScaling"
  estimated_instance_warmup = var.health_check_grace_period

  target_tracking_configuration {
    target_value = var.requests_per_target

    predefined_metric_specification {
      predefined_metric_type = "ALBRequestCountPerTarget"
      resource_label         = "${aws_lb.this.arn_suffix}/${aws_lb_target_group.this.arn_suffix}"
    }
  }
}

# --- load balancer ---

resource "aws_lb" "this" {
  # checkov:skip=CKV_AWS_91: access logs need an S3 bucket with a log-delivery policy; add one when the account has a log bucket.
  # checkov:skip=CKV2_AWS_28: the WAF is opt-in ([waf] enabled: modules/waf, associated from the root module), a decision with its own cost ($8/month + requests).
  # checkov:skip=CKV_AWS_150: deletion protection is a variable (deletion_protection) so test stacks can be destroyed; turn it on in production.
  name                       = local.short_name
  load_balancer_type         = "application"
  internal                   = false
  security_groups            = [aws_security_group.alb.id]
  subnets                    = var.alb_subnet_ids
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection

  tags = var.tags
}

resource "aws_lb_target_group" "this" {
  # checkov:skip=CKV_AWS_378: TLS ends at the ALB; the hop to the instance stays inside the VPC on port 80 (Caddy), reachable only from the ALB's security group.
  name                 = "${local.short_name}-tg"
  port                 = 80
  protocol             = "HTTP"
  vpc_id               = var.vpc_id
  deregistration_delay = 30

  health_check {
    path                = var.health_check_path
    matcher             = "200"
    interval            = 15
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = var.tags
}

resource "aws_lb_listener" "http" {
  # checkov:skip=CKV_AWS_2: this listener only redirects to HTTPS.
  # checkov:skip=CKV_AWS_103: this listener only redirects to HTTPS; TLS policy applies to the HTTPS listener.
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"

    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }

  tags = var.tags
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = local.request_certificate ? one(aws_acm_certificate_validation.this[*].certificate_arn) : var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this.arn
  }

  tags = var.tags
}

# --- certificate for <subdomain>.<domain>, validated through the looked-up zone ---

# Looked up here rather than passed in from the dns module: the dns module's alias
# depends on this ALB, so taking its zone id would make a dependency cycle.
data "aws_route53_zone" "validation" {
  count = local.request_certificate ? 1 : 0

  name         = var.zone_name
  private_zone = false
}

resource "aws_acm_certificate" "this" {
  count = local.request_certificate ? 1 : 0

  domain_name       = var.domain_name
  validation_method = "DNS"

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_route53_record" "validation" {
  for_each = {
    for option in flatten(aws_acm_certificate.this[*].domain_validation_options) : option.domain_name => option
  }

  zone_id         = data.aws_route53_zone.validation[0].zone_id
  name            = each.value.resource_record_name
  type            = each.value.resource_record_type
  records         = [each.value.resource_record_value]
  ttl             = 60
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "this" {
  count = local.request_certificate ? 1 : 0

  certificate_arn         = aws_acm_certificate.this[0].arn
  validation_record_fqdns = [for record in aws_route53_record.validation : record.fqdn]
}
