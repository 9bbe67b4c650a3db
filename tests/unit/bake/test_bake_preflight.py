"""`invoke bake` pre-flight against moto: each bad input is one clear UserError, nothing created."""

import subprocess

import pytest
from bake_moto import REGION, seed_app_image, seed_canonical

from inferctl import config as config_mod
from inferctl.bake import preflight, recipe
from inferctl.errors import UserError

NOBLE = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20250301"


def cfg(**sections):
    return config_mod.load(overrides=sections)


@pytest.fixture
def ready(aws):
    """Canonical image and app image in ECR present: the happy path."""
    seed_canonical(REGION, NOBLE, "2025-03-01T00:00:00")
    seed_app_image(aws)
    return aws


def test_all_inputs_present(ready, tmp_path):
    checked = preflight.check(cfg(), release=False)
    assert checked.account == "123456789012"
    assert checked.source_ami["Name"] == NOBLE
    assert checked.app_image == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/inference:stable"
    assert checked.app_pinned == checked.app_image.replace(":stable", "@" + checked.app_digest)
    # Pre-flight only reads: no instance, image, key pair or security group beyond the defaults.
    ec2 = ready.client("ec2")
    assert ec2.describe_instances()["Reservations"] == []
    assert ec2.describe_key_pairs()["KeyPairs"] == []


def test_unknown_region(ready):
    with pytest.raises(UserError, match="unknown AWS region 'eu-nowhere-1'"):
        preflight.check(cfg(aws={"region": "eu-nowhere-1"}), release=False)


def test_missing_credentials(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(UserError, match="no AWS credentials found") as err:
        preflight.check(cfg(), release=False)
    assert err.value.hint


def test_unknown_profile(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(UserError, match="AWS profile 'nope' not found"):
        preflight.check(cfg(aws={"profile": "nope"}), release=False)


def test_source_filter_matching_nothing(ready):
    with pytest.raises(UserError, match="no Canonical Ubuntu 22.04 x86_64 AMI in eu-west-1"):
        preflight.check(cfg(image={"ubuntu_release": "22.04"}), release=False)


def test_kms_key_in_another_region(ready):
    other = ready.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]
    with pytest.raises(UserError, match=f"KMS key {other['Arn']} is in us-east-1, but the bake runs in eu-west-1"):
        preflight.check(cfg(image={"kms_key_id": other["Arn"]}), release=False)
    # Named by bare id, the key is simply not found in the bake's region.
    with pytest.raises(UserError, match=f"KMS key {other['KeyId']} not found in eu-west-1"):
        preflight.check(cfg(image={"kms_key_id": other["KeyId"]}), release=False)
    here = ready.client("kms").create_key()["KeyMetadata"]["Arn"]
    assert preflight.check(cfg(image={"kms_key_id": here}), release=False).account


def test_app_image_missing(aws):
    seed_canonical(REGION, NOBLE, "2025-03-01T00:00:00")
    with pytest.raises(UserError, match="app image inference:stable not found in ECR"):
        preflight.check(cfg(), release=False)


def test_dirty_tree_refused_with_release(ready, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t"]
    (repo / "f").write_text("1")
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "f"], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    assert preflight.check(cfg(), release=True, repo=repo).dirty is False
    (repo / "f").write_text("2")
    assert recipe.git_revision(repo)[1] is True
    assert preflight.check(cfg(), release=False, repo=repo).dirty is True
    with pytest.raises(UserError, match="refusing a --release bake from a dirty git tree"):
        preflight.check(cfg(), release=True, repo=repo)
