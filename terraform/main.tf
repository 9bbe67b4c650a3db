provider "aws" {
  region = var.region

  default_tags {
    tags = merge({ Project = var.project, ManagedBy = "terraform" }, var.tags)
  }
}

# The channel parameter written by `invoke bake` (promoted by the nightly rebake);
# read only when no AMI id is given.
data "aws_ssm_parameter" "ami" {
  count = var.ami_id == "" ? 1 : 0
  name  = "/${var.project}/ami/latest"
}

locals {
  ami_id      = var.ami_id != "" ? var.ami_id : data.aws_ssm_parameter.ami[0].insecure_value
  fqdn        = var.domain != "" ? "${var.subdomain}.${var.domain}" : ""
  image_repo  = var.image_repository != "" ? var.image_repository : module.registry.repository_url
  tracked_ref = "${local.image_repo}:${var.image_tag}"

  # The fleet's Auto Scaling group, named here because its hosts' user-data carries the name
  # (FLEET_GROUP): the group's own name attribute would make a cycle (group -> launch template
  # -> user-data -> group). inferctl finds the group by the project's name.
  autoscaling_group_name = var.project

  # A single instance with a domain gets its certificate from TLS_ISSUER itself (Caddy); its
  # certificates and keys are kept in the cert-store bucket, so a roll hands them on.
  keeps_certificates = var.mode == "single" && var.domain != ""

  # The only thing a launch does: write these overrides of the baked defaults
  # (/etc/inference/defaults.env). In fleet mode the ALB terminates TLS, so Caddy serves
  # plain HTTP (DOMAIN empty). API_KEYS_PARAMETER: the hosts fetch their keys from SSM at boot.
  # BAD_DIGESTS_PATH: where the hosts share the digests they rolled back. LOG_GROUP and
  # METRICS_NAMESPACE: where the hosts ship their logs and the metrics the monitoring module
  # alarms on (its README: "Metrics the hosts publish"); PROJECT: the dimension of the fleet-wide
  # updater_failures; FLEET_GROUP: a fleet host also publishes them by group. CERT_BUCKET and
  # TLS_ISSUER: where a single instance keeps its certificate, and who issues it.
  inference_env = merge(
    {
      INFERENCE_IMAGE   = local.tracked_ref
      DOMAIN            = var.mode == "single" ? local.fqdn : ""
      HEALTH_TIMEOUT    = tostring(var.health_timeout)
      UPDATE_SCHEDULE   = var.update_schedule
      UPDATE_SPREAD     = var.update_spread
      LOG_GROUP         = local.log_group_name
      METRICS_NAMESPACE = var.metrics_namespace
      PROJECT           = var.project
    },
    var.api_keys_parameter != "" ? { API_KEYS_PARAMETER = var.api_keys_parameter } : {},
    var.bad_digests_path != "" ? { BAD_DIGESTS_PATH = var.bad_digests_path } : {},
    var.mode == "fleet" ? { FLEET_GROUP = local.autoscaling_group_name } : {},
    local.keeps_certificates ? { CERT_BUCKET = module.cert_store[0].bucket, TLS_ISSUER = var.tls_issuer } : {},
  )
  # Unquoted KEY=value lines, as in defaults.env: systemd's EnvironmentFile, the updater and
  # the provisioning scripts all read them the same way.
  inference_env_file = join("", [for key in sort(keys(local.inference_env)) : "${key}=${local.inference_env[key]}\n"])
  user_data          = templatefile("${path.module}/templates/user-data.yaml.tftpl", { env_file = local.inference_env_file })

  host_role_arn = one(concat(module.compute[*].role_arn, module.fleet[*].role_arn))
  # The host role module's log group. Indexed, not one(concat(module.compute[*]...)): a splat
  # over a module waits for all of its outputs, the instance's among them, which waits for
  # the user-data that carries this name (a cycle); an indexed output is its own graph node.
  log_group_name = var.mode == "single" ? module.compute[0].log_group_name : module.fleet[0].log_group_name
  service_host   = one(concat(module.compute[*].public_ip, module.fleet[*].alb_dns_name))
}

module "network" {
  source = "./modules/network"

  name            = var.project
  cidr            = var.vpc_cidr
  az_count        = var.az_count
  private_subnets = var.private_subnets
}

module "registry" {
  source = "./modules/registry"

  name                = var.repository_name
  pull_principal_arns = [local.host_role_arn]
  force_delete        = var.registry_force_delete
  # The hosts track a moving tag (var.image_tag, "stable") whose digest the updater
  # compares hourly, and promotion moves that tag: it cannot be immutable. What runs is
  # pinned by digest on the host, never by tag.
  image_tag_mutability = "MUTABLE"
}

module "compute" {
  source = "./modules/compute"
  count  = var.mode == "single" ? 1 : 0

  name               = var.project
  ami_id             = local.ami_id
  instance_type      = var.instance_type
  vpc_id             = module.network.vpc_id
  subnet_id          = module.network.public_subnet_ids[0]
  ingress_cidrs      = var.ingress_cidrs
  root_volume_size   = var.root_volume_size
  user_data          = local.user_data
  repository_arn     = module.registry.repository_arn
  api_keys_parameter = var.api_keys_parameter
  bad_digests_path   = var.bad_digests_path
  cert_bucket_arn    = local.keeps_certificates ? module.cert_store[0].bucket_arn : ""
  log_retention_days = var.log_retention_days
  app_image_digest   = var.app_image_digest
}

data "aws_caller_identity" "current" {}

# Caddy's certificates and keys of a single instance with a domain, handed from one instance to
# the next (module README). Bucket names are global: the account id makes this one unique.
module "cert_store" {
  source = "./modules/cert-store"
  count  = local.keeps_certificates ? 1 : 0

  bucket_name   = "${var.project}-tls-${data.aws_caller_identity.current.account_id}"
  host_role_arn = module.compute[0].role_arn
}

module "fleet" {
  source = "./modules/fleet"
  count  = var.mode == "fleet" ? 1 : 0

  name                   = var.project
  ami_id                 = local.ami_id
  instance_type          = var.instance_type
  vpc_id                 = module.network.vpc_id
  alb_subnet_ids         = module.network.public_subnet_ids
  instance_subnet_ids    = var.private_subnets ? module.network.private_subnet_ids : module.network.public_subnet_ids
  ingress_cidrs          = var.ingress_cidrs
  root_volume_size       = var.root_volume_size
  user_data              = local.user_data
  repository_arn         = module.registry.repository_arn
  api_keys_parameter     = var.api_keys_parameter
  bad_digests_path       = var.bad_digests_path
  log_retention_days     = var.log_retention_days
  app_image_digest       = var.app_image_digest
  autoscaling_group_name = local.autoscaling_group_name
  min_size               = var.fleet_min
  max_size               = var.fleet_max
  requests_per_target    = var.requests_per_target
  certificate_arn        = var.certificate_arn
  domain_name            = local.fqdn
  zone_name              = var.domain
}

module "waf" {
  source = "./modules/waf"
  count  = var.mode == "fleet" && var.waf_enabled ? 1 : 0

  name         = "${var.project}-alb"
  resource_arn = module.fleet[0].alb_arn
  block        = var.waf_block
  rate_limit   = var.waf_rate_limit
}

# Alarms to the <project>-alerts topic and the golden-signals dashboard, for either mode.
module "monitoring" {
  source = "./modules/monitoring"

  name                    = var.project
  mode                    = var.mode
  instance_id             = one(module.compute[*].instance_id)
  autoscaling_group_name  = one(module.fleet[*].autoscaling_group_name)
  alb_arn_suffix          = one(module.fleet[*].alb_arn_suffix)
  target_group_arn_suffix = one(module.fleet[*].target_group_arn_suffix)
  extra_alarm_arns        = module.compute[*].recovery_alarm_arn
  web_acl_name            = one(module.waf[*].web_acl_name)
  alert_email             = var.alert_email
  metrics_namespace       = var.metrics_namespace
}

module "dns" {
  source = "./modules/dns"
  count  = var.domain != "" ? 1 : 0

  domain      = var.domain
  record_name = var.subdomain
  mode        = var.mode
  ip_address  = one(module.compute[*].public_ip)
  alias       = one([for fleet in module.fleet : { name = fleet.alb_dns_name, zone_id = fleet.alb_zone_id }])
}
