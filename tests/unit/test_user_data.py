"""The local cloud-init stand-in: applies write_files, refuses anything a baked host shouldn't need."""

import base64
import stat

import pytest

from inferctl.errors import UserError
from inferctl.local import user_data

RENDERED = """#cloud-config
# Settings only: the AMI is baked, a launch installs nothing.
write_files:
  - path: /etc/inference/inference.env
    owner: root:root
    permissions: "0644"
    content: |
      INFERENCE_IMAGE=10.99.0.1:5000/inference:stable
      DOMAIN=
"""


def test_write_files_land_in_the_root(tmp_path):
    written = user_data.apply(tmp_path, RENDERED)
    env = tmp_path / "etc/inference/inference.env"
    assert written == ["/etc/inference/inference.env"]
    assert env.read_text() == "INFERENCE_IMAGE=10.99.0.1:5000/inference:stable\nDOMAIN=\n"
    assert stat.S_IMODE(env.stat().st_mode) == 0o644


def test_base64_content_and_mode(tmp_path):
    doc = ("#cloud-config\nwrite_files:\n  - path: /etc/x\n    encoding: b64\n"
           f"    permissions: '0600'\n    content: {base64.b64encode(b'secret').decode()}\n")
    user_data.apply(tmp_path, doc)
    assert (tmp_path / "etc/x").read_bytes() == b"secret"
    assert stat.S_IMODE((tmp_path / "etc/x").stat().st_mode) == 0o600


@pytest.mark.parametrize("doc,message", [
    ("#!/bin/sh\napt-get install -y docker.io\n", "not a #cloud-config"),
    ("#cloud-config\npackages: [docker.io]\n", "asks for packages"),
    ("#cloud-config\nruncmd: [[sh, -c, 'curl x | sh']]\nwrite_files: []\n", "asks for runcmd"),
    ("#cloud-config\nwrite_files:\n  - path: ../../etc/passwd\n", "not a clean absolute path"),
    ("#cloud-config\nwrite_files:\n  - path: /etc/../../x\n", "not a clean absolute path"),
    ("#cloud-config\nwrite_files: [\n", "not valid YAML"),
])
def test_refuses_what_a_baked_host_should_not_need(tmp_path, doc, message):
    with pytest.raises(UserError, match=message):
        user_data.apply(tmp_path, doc)
    assert not any(tmp_path.rglob("*"))


def test_user_data_of_a_moto_instance():
    import boto3
    from moto import mock_aws
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="eu-west-1")
        image = ec2.register_image(Name="baked", RootDeviceName="/dev/sda1")["ImageId"]  # no default catalogue
        bare = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        with pytest.raises(UserError, match="has no user-data"):
            user_data.of_instance(ec2, bare)
        with_ud = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                    UserData=RENDERED)["Instances"][0]["InstanceId"]
        assert user_data.of_instance(ec2, with_ud) == RENDERED
