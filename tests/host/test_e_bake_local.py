"""`invoke bake --local` for real, in a local region of the test's own: Packer 1.6.6's amazon-ebs
builder against the region's EC2 endpoint (key pair, security group, an instance of the base
image booted by the region's data plane, the recipe and the testinfra bake phase over SSH at its
private IP, stop, CreateImage saving its disk, encrypted copy, deregister, terminate, tags); a
failing spec test failing the bake (nothing registered, nothing left running); the data
plane's instance lifecycle on the baked AMI; a single instance with a domain rolled to a new
instance that serves the same certificate from its first answer (inference-certstore); and an
instance whose key source (SSM) is down for the first minute of its boot."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import time

import pytest

from inferctl import config
from inferctl.bake import amis, front, local, recipe, templates
from inferctl.errors import UserError
from inferctl.health import wait_for_200
from inferctl.local import host as local_host
from inferctl.local import moto, netns, registry
from inferctl.local import updater_rig as rig
from inferctl.region import disks
from inferctl.target import open_target

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
        ami = front.bake(config.load(), target=local_target(server))
        made.append(ami)
        yield ami, server.client("ec2").describe_images(ImageIds=[ami])["Images"][0]
    finally:
        for ami in made:
            disks.remove(ami)


def test_local_ami_registered_with_tags(baked, server):
    ami, image = baked
    tags = amis.tags_of(image)
    assert tags["Project"] == "inference" and tags["BakedBy"] == "inferctl"
    assert tags["RecipeHash"] == recipe.recipe_hash()
    assert tags["SourceAMI"] == local.base_image(server.client("ec2"))["ImageId"]
    assert tags["SourceAMIName"].startswith(local.BASE_IMAGE_PREFIX)
    assert tags["AppDigest"].startswith("sha256:") and len(tags["AppDigest"]) == 71
    assert tags["GitRevision"] and tags["BuildTime"].endswith("Z")
    assert amis.read_channel(server.client("ssm"), "inference", "candidate") == ami
    # The same bookkeeping as on AWS: nothing changed since this bake, and it can be promoted.
    inputs = front.inputs(config.load(), local_target(server))
    assert amis.rebake_reasons(server.client("ec2"), "inference", inputs) == []
    assert amis.promote(server.client("ec2"), server.client("ssm"), "inference", verified=True) == ami
    # Packer's build instance is terminated and its host gone; only the AMI's disk remains.
    assert _wait(lambda: str(_build_instances_left(server)), {"[]"}, 60) == "[]"


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
        front.bake(config.load(), target=local_target(server))
    after = {i["ImageId"] for i in server.client("ec2").describe_images(Owners=["self"])["Images"]}
    assert after == before
    assert amis.read_channel(server.client("ssm"), "inference", "candidate") == baked[0]
    assert _wait(lambda: str(_build_instances_left(server)), {"[]"}, 60) == "[]"
    log = (templates.packer_out("local") / "packer-build.log").read_text()
    assert "test_injected_failure" in log and "FAILED" in log


def _build_instances_left(server) -> list[str]:
    """Instances of the region still alive, or hosts of its instances still on this machine."""
    ec2 = server.client("ec2")
    found = ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["pending", "running",
                                                                                    "stopping", "stopped"]}])
    alive = [i["InstanceId"] for r in found["Reservations"] for i in r["Instances"]]
    every = ec2.describe_instances()["Reservations"]
    hosts = [i["InstanceId"] for r in every for i in r["Instances"] if i["InstanceId"] in local_host.LocalHost.names()]
    return alive + hosts


def _state(ec2, instance_id: str) -> str:
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"]


def _wait(what, until: set[str], timeout: float = 180) -> str:
    deadline = time.monotonic() + timeout
    while (value := what()) not in until and time.monotonic() < deadline:
        time.sleep(0.5)
    return value


def test_the_regions_data_plane_runs_an_instance_of_the_baked_ami(baked, server):
    """RunInstances boots a host at the instance's private IP with its user-data; Stop keeps the
    disk; CreateImage stays pending until that disk is the new AMI's; Start boots it again;
    Terminate removes the host; DeregisterImage removes the new AMI's disk."""
    ami, _ = baked
    ec2 = server.client("ec2")
    subnet = _subnet(ec2, "10.31")
    user_data = "#cloud-config\nwrite_files:\n  - path: /etc/inference/from-user-data\n    content: hello\n"
    [started] = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, SubnetId=subnet,
                                  UserData=user_data)["Instances"]
    instance, address = started["InstanceId"], started["PrivateIpAddress"]
    made = None
    try:
        assert started["State"]["Name"] == "pending"
        assert _wait(lambda: _state(ec2, instance), {"running", "terminated"}) == "running"
        host = local_host.LocalHost.load(instance)
        assert host.address == address and address.startswith("10.31.1.")
        assert host.exec("cat /etc/inference/from-user-data").stdout == "hello"
        assert wait_for_200(f"http://{address}/health", 90).seconds is not None
        token = host.exec("curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' "
                          "http://169.254.169.254/latest/api/token").stdout
        assert host.exec(f"curl -sf -H 'X-aws-ec2-metadata-token: {token}' "
                         "http://169.254.169.254/latest/meta-data/instance-id").stdout == instance
        assert host.exec("curl -s -o /dev/null -w '%{http_code}' "
                         "http://169.254.169.254/latest/meta-data/instance-id").stdout == "401"

        ec2.stop_instances(InstanceIds=[instance])
        assert _wait(lambda: _state(ec2, instance), {"stopped"}) == "stopped"
        assert not local_host.LocalHost.load(instance).running()
        made = ec2.create_image(InstanceId=instance, Name="inference-from-instance")["ImageId"]
        assert _wait(lambda: ec2.describe_images(ImageIds=[made])["Images"][0]["State"], {"available"}) == "available"
        assert disks.find(made) is not None

        ec2.start_instances(InstanceIds=[instance])
        assert _wait(lambda: _state(ec2, instance), {"running", "stopped"}) == "running"
        assert wait_for_200(f"http://{address}/health", 90).seconds is not None
    finally:
        ec2.terminate_instances(InstanceIds=[instance])
        if made:
            ec2.deregister_image(ImageId=made)
    assert _wait(lambda: str(instance in local_host.LocalHost.names()), {"False"}, 60) == "False"
    assert _wait(lambda: str(disks.find(made) is None), {"True"}, 30) == "True"


def _instance_profile(iam, name: str) -> None:
    """A role EC2 may assume and its instance profile, both called ``name`` (the region's IMDS
    hands an instance that has one its credentials)."""
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    iam.create_instance_profile(InstanceProfileName=name)
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)


def _booting(instance_id: str) -> bool:
    """The instance's host exists and its systemd answers (booting or booted)."""
    if instance_id not in local_host.LocalHost.names():
        return False
    host = local_host.LocalHost.load(instance_id)
    try:
        state = host.exec(["systemctl", "is-system-running"], check=False, timeout=10).stdout.strip()
    except UserError:       # nspawn not started yet, or its leader not there yet
        return False
    return state in ("initializing", "starting", "running", "degraded")


def _subnet(ec2, prefix: str) -> str:
    """A subnet <prefix>.1.0/24 in a VPC <prefix>.0.0/16 of its own."""
    vpc = ec2.create_vpc(CidrBlock=f"{prefix}.0.0/16")["Vpc"]["VpcId"]
    return ec2.create_subnet(VpcId=vpc, CidrBlock=f"{prefix}.1.0/24")["Subnet"]["SubnetId"]


ROLL_DOMAIN = "svc.roll.test"
ROLL_USER_DATA = f"""#cloud-config
write_files:
  - path: /etc/inference/inference.env
    content: |
      DOMAIN={ROLL_DOMAIN}
      TLS_ISSUER=internal
      CERT_BUCKET=roll-certs
"""


def served_certificate(address: str, timeout: float = 120) -> bytes:
    """The certificate of the first TLS handshake that succeeds at address:443 for ROLL_DOMAIN
    (DER; not verified: Caddy's internal CA is the instance's own)."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((address, 443), timeout=3) as sock, \
                    context.wrap_socket(sock, server_hostname=ROLL_DOMAIN) as tls:
                return tls.getpeercert(binary_form=True)
        except (OSError, ssl.SSLError) as exc:
            last = exc
            time.sleep(0.2)
    raise AssertionError(f"no TLS answer for {ROLL_DOMAIN} at {address}:443 within {timeout}s: {last!r}")


def test_a_rolled_single_instance_serves_the_same_certificate(baked, server):
    """Instance A (a domain, Caddy's internal issuer: the region has no internet) issues its
    certificate and saves it to the bucket; A is terminated; B, from the same AMI and user-data,
    restores it before Caddy starts and serves the same certificate in its first handshake.
    Without the store B would make a CA and a certificate of its own: a different one."""
    ami, _ = baked
    ec2, s3, iam = server.client("ec2"), server.client("s3"), server.client("iam")
    s3.create_bucket(Bucket="roll-certs", CreateBucketConfiguration={"LocationConstraint": ec2.meta.region_name})
    _instance_profile(iam, "roll-host")
    subnet = _subnet(ec2, "10.32")

    def launch() -> tuple[str, str]:
        [started] = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, SubnetId=subnet, UserData=ROLL_USER_DATA,
                                      IamInstanceProfile={"Name": "roll-host"})["Instances"]
        launched.append(started["InstanceId"])
        assert _wait(lambda: _state(ec2, started["InstanceId"]), {"running", "terminated"}) == "running"
        return started["InstanceId"], started["PrivateIpAddress"]

    def kept() -> list[str]:
        return [o["Key"] for o in s3.list_objects_v2(Bucket="roll-certs", Prefix="caddy/").get("Contents", [])]

    launched: list[str] = []
    try:
        first, address = launch()
        before = served_certificate(address)
        # the save timer's first run (30 s after boot), then each minute
        # (a save puts the CA first: the certificate's key being there means its CA is too)
        wanted = f"caddy/certificates/local/{ROLL_DOMAIN}/{ROLL_DOMAIN}.crt"
        assert _wait(lambda: str(wanted in kept()), {"True"}, 150) == "True", kept()
        assert any(key.startswith("caddy/pki/authorities/local/") for key in kept()), kept()
        ec2.terminate_instances(InstanceIds=[first])
        assert _wait(lambda: str(first in local_host.LocalHost.names()), {"False"}, 60) == "False"

        second, address = launch()
        after = served_certificate(address)
        restored = local_host.LocalHost.load(second).exec(
            "journalctl -u inference-certstore-restore.service -o cat --no-pager").stdout
        assert after == before, f"the rolled instance serves another certificate; its restore said:\n{restored}"
        assert '"event": "restored"' in restored and '"written": 0' not in restored, restored
    finally:
        if launched:
            ec2.terminate_instances(InstanceIds=launched)
        for instance in launched:
            _wait(lambda: str(instance in local_host.LocalHost.names()), {"False"}, 60)


KEYS_PARAMETER = "/keys-down/api-keys"
KEY_SOURCE_DOWN = 60    # seconds of the boot during which the host's GetParameter calls are dropped


@pytest.mark.fault("key_source_down_at_boot")
def test_a_boot_with_the_key_source_down_waits_for_the_keys_then_serves(baked, server):
    """Every SSM GetParameter the instance sends is dropped (the connection opens, the request
    never arrives) until a minute into its boot. Meanwhile the key fetch retries and the slot waits
    for it: nothing crash-loops, nothing serves without keys. Then the fetch gets the parameter, the
    slot starts and answers with the parameter's keys; no image is blamed."""
    ami, _ = baked
    ec2, ssm, iam = server.client("ec2"), server.client("ssm"), server.client("iam")
    ssm.put_parameter(Name=KEYS_PARAMETER, Type="SecureString",
                      Value="first-key-of-the-fleet\nsecond-key-of-the-fleet")   # the app wants >= 16 characters
    _instance_profile(iam, "keys-host")
    subnet = _subnet(ec2, "10.33")
    user_data = f"#cloud-config\nwrite_files:\n  - path: /etc/inference/inference.env\n    content: |\n" \
                f"      API_KEYS_PARAMETER={KEYS_PARAMETER}\n"
    rule = ["INPUT", "-s", "10.33.1.0/24", "-d", netns.HOST_IP, "-p", "tcp", "-m", "string",
            "--string", "AmazonSSM.GetParameter", "--algo", "bm", "-j", "DROP"]
    subprocess.run(["iptables", "-w", "-I", *rule], check=True)
    instance = None
    try:
        [started] = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, SubnetId=subnet, UserData=user_data,
                                      IamInstanceProfile={"Name": "keys-host"})["Instances"]
        instance = started["InstanceId"]
        # the clock starts when the host's systemd does (the region keeps the instance pending
        # until its boot ends, which here waits for the keys)
        assert _wait(lambda: str(_booting(instance)), {"True"}, 120) == "True", _state(ec2, instance)
        time.sleep(KEY_SOURCE_DOWN)
        host = local_host.LocalHost.load(instance)
        units = ["inference-api-keys.service", "inference@blue.service", "inference@green.service"]
        during = host.exec(["systemctl", "show", "-p", "ActiveState", "--value", *units]).stdout.split()
        assert during[0] == "activating" and "failed" not in during and "active" not in during[1:], during
        subprocess.run(["iptables", "-w", "-D", *rule], check=True)
        back = time.monotonic()
        assert _wait(lambda: _state(ec2, instance), {"running", "terminated"}) == "running"

        took = rig.wait_infers(host, "first-key-of-the-fleet", 120)
        if took is None:
            print(host.exec("systemctl list-units --all --no-pager 'inference*' caddy.service; journalctl -b "
                            "--no-pager -n 80 -u inference-api-keys -u 'inference@*' -u caddy -o cat",
                            check=False).stdout)
        assert took is not None, rig.infers(host, "first-key-of-the-fleet")
        assert rig.infers(host, "second-key-of-the-fleet") == "" and rig.infers(host, "not-a-key") != ""
        slot = rig.state(host)["active_slot"]
        restarts = host.exec(["systemctl", "show", "-p", "NRestarts", "--value", f"inference@{slot}"]).stdout
        attempts = host.exec("journalctl -b -u inference-api-keys -o cat --no-pager").stdout
        print(f"\nkey source down for {KEY_SOURCE_DOWN}s of the boot: answered {time.monotonic() - back:.1f}s "
              f"after it came back; the fetch said:\n{attempts}")
        assert restarts.strip() == "0" and rig.state(host)["bad"] == []
        assert "retry" in attempts.lower(), attempts
    finally:
        subprocess.run(["iptables", "-w", "-D", *rule], check=False, capture_output=True)
        if instance:
            ec2.terminate_instances(InstanceIds=[instance])
            _wait(lambda: str(instance in local_host.LocalHost.names()), {"False"}, 60)
