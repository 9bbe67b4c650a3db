"""`invoke bake --local` for real: Packer 1.6.6 over SSH on a bare local host, the recipe, the
testinfra bake phase, the disk saved as a local AMI and registered in a local region of the
test's own with its tags; and a failing spec test failing the bake (nothing registered)."""

from __future__ import annotations

import subprocess

import pytest

from inferctl import config
from inferctl.bake import amis, local, recipe, templates
from inferctl.errors import UserError
from inferctl.local import host as local_host
from inferctl.local import moto, registry
from inferctl.region import disks
from inferctl.target import open_target

HOST_NAME = "inferctl-tier-bake"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A moto server of the test's own (not the machine's local AWS endpoint)."""
    own = moto.Moto(tmp_path_factory.mktemp("moto"))
    own.start()
    yield own
    own.stop()


def local_target(server):
    return open_target(config.load(overrides={"project": {"target": "local"}}), server=server)


@pytest.fixture(scope="module")
def registry_restored():
    was_up = registry.is_up()
    yield
    if not was_up:
        registry.stop()


@pytest.fixture(scope="module")
def baked(server, registry_restored, app_refs):
    """One successful local bake of the published app image: (AMI id, its description in moto)."""
    made = []
    try:
        ami = local.bake(config.load(), target=local_target(server), host_name=HOST_NAME)
        made.append(ami)
        yield ami, server.client("ec2").describe_images(ImageIds=[ami])["Images"][0]
    finally:
        for ami in made:
            disks.remove(ami)
        local_host.down(HOST_NAME)


def test_local_ami_registered_with_tags(baked, server):
    ami, image = baked
    tags = amis.tags_of(image)
    assert tags["Project"] == "inference" and tags["BakedBy"] == "inferctl"
    assert tags["RecipeHash"] == recipe.recipe_hash()
    assert tags["SourceAMI"] == local.source_image()[0]
    assert tags["AppDigest"].startswith("sha256:") and len(tags["AppDigest"]) == 71
    assert tags["GitRevision"] and tags["BuildTime"].endswith("Z")
    assert amis.read_channel(server.client("ssm"), "inference", "candidate") == ami
    # The same bookkeeping as on AWS: nothing changed since this bake, and it can be promoted.
    assert amis.rebake_reasons(server.client("ec2"), "inference", local.current_inputs(config.load())) == []
    assert amis.promote(server.client("ec2"), server.client("ssm"), "inference", verified=True) == ami
    # The bake host is gone; only the disk tarball remains.
    assert HOST_NAME not in local_host.LocalHost.names()


def test_local_ami_disk_is_a_cleaned_image(baked):
    ami, _ = baked
    tar = disks.require(ami)
    wanted = ["./etc/systemd/system/ssh.service", "./var/lib/inference/slot-blue.env", "./etc/machine-id"]
    listing = subprocess.run(["tar", "-tvf", str(tar), *wanted], capture_output=True, text=True, check=True).stdout
    assert "ssh.service -> /dev/null" in listing           # sshd masked by cleanup
    assert "slot-blue.env" in listing                        # the app pinned by the recipe
    machine_id = [line for line in listing.splitlines() if line.endswith("./etc/machine-id")]
    assert machine_id and machine_id[0].split()[2] == "0"   # emptied: size 0


def test_failing_spec_test_fails_the_bake(baked, server, tmp_path, monkeypatch):
    """An injected failing test in the bake phase fails Packer: no AMI, candidate unchanged."""
    before = {i["ImageId"] for i in server.client("ec2").describe_images(Owners=["self"])["Images"]}
    failing = tmp_path / "test_injected_failure.py"
    failing.write_text("def test_injected_failure():\n    assert False, 'injected by the host tier'\n")
    # Only the injected test runs (-k): the failure path, without the whole suite again.
    monkeypatch.setenv("INFERCTL_SPEC_EXTRA", f"{failing} -k test_injected_failure")
    with pytest.raises(UserError, match="packer build failed"):
        local.bake(config.load(), target=local_target(server), host_name=HOST_NAME)
    after = {i["ImageId"] for i in server.client("ec2").describe_images(Owners=["self"])["Images"]}
    assert after == before
    assert amis.read_channel(server.client("ssm"), "inference", "candidate") == baked[0]
    assert HOST_NAME not in local_host.LocalHost.names()
    log = (templates.packer_out("local") / "packer-build.log").read_text()
    assert "test_injected_failure" in log and "FAILED" in log
