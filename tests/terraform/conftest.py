"""The terraform tier: the real Terraform and AWS provider (from the registry, or from this
machine's mirror: tests/tf_mirror.py) applied to a moto server on loopback, one server for the
whole tier (helpers in tfstack.py)."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from tfstack import REGION, ZONE, deploy_fleet, deploy_single, register_ami

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


@pytest.fixture(scope="session", autouse=True)
def deployments(moto_server, seeded, tmp_path_factory):
    """Both stacks apply in the background from the tier's first test on: most of an apply is
    the provider waiting on moto (an ALB takes 60 s, a DNS record 15 s), so they overlap the
    CPU-bound tests that run first (bad input, checkov). The two stacks apply one after the
    other: moto's server is not safe under two concurrent applies (seen: a rule revoked twice,
    a repository created twice, when a slow answer made the provider retry). Each test module
    takes its stack with ``.result()``; whatever a test did not destroy is destroyed here."""
    with ThreadPoolExecutor(1) as pool:
        futures = {
            "single": pool.submit(deploy_single, moto_server, seeded, tmp_path_factory.mktemp("tf-single")),
            "fleet": pool.submit(deploy_fleet, moto_server, seeded, tmp_path_factory.mktemp("tf-fleet")),
        }
        yield futures
        leftovers = [f.result() for f in futures.values() if f.exception() is None]
        list(pool.map(lambda stack: stack.destroy(), leftovers))
