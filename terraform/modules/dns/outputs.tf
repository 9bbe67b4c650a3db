output "zone_id" {
  description = "ID of the looked-up hosted zone."
  value       = data.aws_route53_zone.this.zone_id
}

output "fqdn" {
  description = "The service's DNS name."
  value       = one(concat(aws_route53_record.single[*].fqdn, aws_route53_record.fleet[*].fqdn))
}
