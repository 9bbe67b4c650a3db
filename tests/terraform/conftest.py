"""The terraform tier: the real Terraform and AWS provider (from the filesystem mirror)
applied to a moto server on loopback, one server for the whole tier (helpers in tfstack.py)."""

import time

import pytest
from tfstack import REGION, ZONE, register_ami

from inferctl.local.moto import Moto


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    server = Moto(tmp_path_factory.mktemp("moto"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def seeded(moto_server):
    """What deploy expects to exist already: two baked AMIs and the public hosted zone."""
    ec2 = moto_server.client("ec2", REGION)
    amis = [register_ami(ec2, "inference-baked-1"), register_ami(ec2, "inference-baked-2")]
    moto_server.client("route53", REGION).create_hosted_zone(Name=ZONE, CallerReference=str(time.time()))
    return {"amis": amis, "zone": ZONE}
