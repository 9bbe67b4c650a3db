"""Bad input: the Terraform validation blocks and deploy's own checks stop before apply,
each with a message that names the problem."""

import pytest
from tfstack import REGION, make_stack

from inferctl import config as configuration
from inferctl import deploy
from inferctl import terraform as tf
from inferctl.errors import UserError
from inferctl.shell import run
from inferctl.target import open_target


@pytest.fixture(scope="module")
def bad_plan(moto_server, seeded, tmp_path_factory):
    """plan(**overrides) -> Terraform's combined output; asserts the plan failed."""
    stack = make_stack(moto_server, tmp_path_factory.mktemp("tf-inputs") / "work", "single",
                       {"ami_id": seeded["amis"][0]}, name="tt-inputs")

    def plan(**overrides) -> str:
        tf.write_tfvars(stack.ws, {**stack.variables, **overrides})
        proc = run(["terraform", f"-chdir={stack.ws.dir}", "plan", "-input=false"], env=stack.ws.env,
                   capture=True, check=False)
        assert proc.returncode == 1, proc.stdout[-2000:]
        return " ".join((proc.stdout + proc.stderr).split())  # unwrap Terraform's line breaks
    return plan


@pytest.mark.parametrize("overrides, messages", [
    # every variable validation failing at once: Terraform reports them all
    ({"vpc_cidr": "10.20.0.0/33", "ingress_cidrs": ["203.0.113.300/32"], "instance_type": "t3-small",
      "ami_id": "ami-XYZ", "domain": "Example.com."},
     ["vpc_cidr must be a valid IPv4 CIDR block", "ingress_cidrs must be a non-empty list of valid CIDR blocks",
      "instance_type must be an EC2 instance type", "ami_id must be an AMI id", "domain must be a DNS name"]),
    ({"mode": "fleet", "domain": ""}, ["fleet mode needs HTTPS on the ALB"]),
    # settings only: a user-data over 1 KiB is refused by the compute module
    ({"image_repository": "registry.example/" + "a" * 1000}, ["user_data must stay under 1 KiB"]),
    # a domain whose hosted zone does not exist: the zone is looked up, never created
    ({"domain": "nozone.test"}, ["no matching Route 53 Hosted Zone found"]),
    # no --ami and no channel parameter for this project
    ({"ami_id": "", "project": "tt-noami"}, ['data "aws_ssm_parameter" "ami"', "/tt-noami/ami/latest"]),
], ids=["variables", "fleet-without-tls", "user-data-size", "domain-without-zone", "missing-ami"])
def test_terraform_refuses(bad_plan, overrides, messages):
    text = bad_plan(**overrides)
    for message in messages:
        assert message in text


# --- deploy's checks, before Terraform runs -----------------------------------------------

@pytest.fixture
def target(moto_server):
    return open_target(configuration.load(overrides={"project": {"target": "local"}}), server=moto_server)


def test_deploy_names_a_missing_ami(target):
    config = configuration.load(overrides={"project": {"name": "nothing-baked"}})
    with pytest.raises(UserError, match=r"no AMI to deploy: the parameter /nothing-baked/ami/latest does not exist"):
        deploy.resolve_ami(target, config, None)
    with pytest.raises(UserError, match="AMI ami-0123456789abcdef0 does not exist"):
        deploy.resolve_ami(target, config, "ami-0123456789abcdef0")


def test_deploy_resolves_the_channel_parameter(target, seeded, moto_server):
    moto_server.client("ssm", REGION).put_parameter(
        Name="/channel-test/ami/latest", Value=seeded["amis"][1], Type="String", Overwrite=True)
    config = configuration.load(overrides={"project": {"name": "channel-test"}})
    assert deploy.resolve_ami(target, config, None) == seeded["amis"][1]


def test_deploy_names_a_domain_without_zone(target, seeded):
    assert deploy.check_zone(target, seeded["zone"])
    with pytest.raises(UserError, match="no public Route 53 hosted zone for nozone.test"):
        deploy.check_zone(target, "nozone.test")


def test_deploy_preflight():
    with pytest.raises(UserError, match="is not an AMI id"):
        deploy.preflight(configuration.load(), "ami-nope")
    fleet_without_tls = configuration.load(overrides={"compute": {"mode": "fleet"}})
    with pytest.raises(UserError, match="fleet mode serves HTTPS"):
        deploy.preflight(fleet_without_tls, None)
    one_zone = configuration.load(overrides={"compute": {"mode": "fleet"}, "dns": {"domain": "example.test"},
                                             "network": {"az_count": 1}})
    with pytest.raises(UserError, match="az_count >= 2"):
        deploy.preflight(one_zone, None)


@pytest.mark.parametrize("section, key, value, message", [
    ("network", "vpc_cidr", "10.0.0.0/33", "not a valid CIDR"),
    ("network", "ingress_cidrs", ["nope"], "not a valid CIDR"),
    ("compute", "instance_type", "huge", "not a valid EC2 instance type"),
    ("dns", "domain", "-bad-.com", "not a valid domain name"),
])
def test_config_rejects_bad_values_before_deploy(section, key, value, message):
    with pytest.raises(UserError, match=message):
        configuration.load(overrides={section: {key: value}})
