# The zone is looked up, never created: a domain without a hosted zone fails here.
data "aws_route53_zone" "this" {
  name         = var.domain
  private_zone = false
}

resource "aws_route53_record" "single" {
  # checkov:skip=CKV2_AWS_23: the record points at the instance's Elastic IP, passed in from the compute module as ip_address.
  count = var.mode == "single" ? 1 : 0

  zone_id = data.aws_route53_zone.this.zone_id
  name    = "${var.record_name}.${var.domain}"
  type    = "A"
  ttl     = 60
  records = [var.ip_address]
}

resource "aws_route53_record" "fleet" {
  count = var.mode == "fleet" ? 1 : 0

  zone_id = data.aws_route53_zone.this.zone_id
  name    = "${var.record_name}.${var.domain}"
  type    = "A"

  alias {
    name                   = var.alias.name
    zone_id                = var.alias.zone_id
    evaluate_target_health = true
  }
}
