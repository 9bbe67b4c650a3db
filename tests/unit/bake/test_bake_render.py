"""The rendered Packer templates: parsed with python-hcl2, security settings asserted on the
parsed structure, and the legacy/local variants validated by Debian's Packer 1.6.6."""

import shutil

import pytest

from inferctl import config as config_mod
from inferctl.bake import packer, recipe, render, templates
from inferctl.errors import UserError

TAGS = {"Project": "inference", "BakedBy": "inferctl", "RecipeHash": "0123456789abcdef",
        "AppDigest": "sha256:" + "a" * 64, "GitRevision": "abc123", "BuildTime": "2025-01-01T00:00:00Z"}
ENV = recipe.recipe_env("123456789012.dkr.ecr.eu-west-1.amazonaws.com/inference:stable",
                        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/inference@sha256:" + "a" * 64)


@pytest.fixture(autouse=True)
def build_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(templates, "BUILD_DIR", tmp_path)
    return tmp_path


REGION = templates.LocalRegion(endpoint="http://127.0.0.1:5000", source_ami="ami-0123456789abcdef0",
                                ssh_username="admin")


def rendered(legacy=False, region=None, tags=TAGS, **image):
    config = config_mod.load(overrides={"image": image} if image else None)
    path = templates.render_aws(config=config, tags=tags, recipe_env=ENV, ami_name="inference-test",
                                legacy=legacy, region=region)
    return path, render.parse(path)


def source(doc):
    return doc["source"][0]["amazon-ebs"]["ubuntu"]


def provisioners(doc):
    return [(kind, body) for item in doc["build"][0]["provisioner"] for kind, body in item.items()]


def test_modern_template_security_settings():
    _, doc = rendered()
    plugin = doc["packer"][0]["required_plugins"][0]["amazon"]
    assert plugin["source"] == "github.com/hashicorp/amazon"
    assert plugin["version"] == packer.AMAZON_PLUGIN == "~> 1.3.9", "one minor series: 1.3.9 or 1.3.10"
    ubuntu = doc["data"][0]["amazon-ami"]["ubuntu"]
    assert ubuntu["owners"] == ["099720109477"] and ubuntu["most_recent"] is True
    assert ubuntu["filters"]["name"] == "ubuntu/images/*/ubuntu-*-24.04-amd64-server-*"
    ebs = source(doc)
    assert ebs["source_ami"] == "${data.amazon-ami.ubuntu.id}"
    assert ebs["encrypt_boot"] is True and "kms_key_id" not in ebs
    assert ebs["imds_support"] == "v2.0"
    assert ebs["metadata_options"][0]["http_tokens"] == "required"
    assert ebs["metadata_options"][0]["http_put_response_hop_limit"] == 1
    # SSH only through Session Manager: no public SSH, no source CIDRs, a temporary profile.
    assert ebs["ssh_interface"] == "session_manager"
    assert not {"temporary_security_group_source_cidrs", "ssh_port", "associate_public_ip_address"} & set(ebs)
    statement = ebs["temporary_iam_instance_profile_policy_document"][0]["Statement"][0]
    assert "ssmmessages:OpenDataChannel" in statement["Action"]
    assert not [a for a in statement["Action"] if a.endswith("*")]
    assert ebs["aws_polling"][0]["max_attempts"] * ebs["aws_polling"][0]["delay_seconds"] >= 3600
    assert "ami_regions" not in ebs


@pytest.mark.parametrize("legacy", [False, True])
def test_tags_on_ami_and_snapshots(legacy):
    _, doc = rendered(legacy=legacy)
    ebs = source(doc)
    assert ebs["tags"] == ebs["snapshot_tags"]
    for key, value in TAGS.items():
        assert ebs["tags"][key] == value
    expected = ("{{ .SourceAMI }}" if legacy else "${data.amazon-ami.ubuntu.id}")
    assert ebs["tags"]["SourceAMI"] == expected
    assert ebs["run_tags"]["Project"] == "inference"


def test_optional_kms_key_and_regions():
    _, doc = rendered(kms_key_id="alias/ami", ami_regions=["us-east-1"], architecture="arm64")
    ebs = source(doc)
    assert ebs["kms_key_id"] == "alias/ami" and ebs["ami_regions"] == ["us-east-1"]
    assert doc["data"][0]["amazon-ami"]["ubuntu"]["filters"]["architecture"] == "arm64"


def test_legacy_variant_has_no_plugin_block_or_data_source():
    _, doc = rendered(legacy=True)
    assert "required_plugins" not in doc["packer"][0]
    assert doc["packer"][0]["required_version"] == ">= 1.6.6"
    assert "data" not in doc
    ebs = source(doc)
    assert ebs["source_ami_filter"][0]["owners"] == ["099720109477"]
    assert ebs["encrypt_boot"] is True and ebs["ssh_interface"] == "session_manager"
    assert "imds_support" not in ebs


def test_provisioners_run_spec_between_recipe_and_cleanup():
    _, doc = rendered()
    steps = provisioners(doc)
    assert [kind for kind, _ in steps] == ["shell", "shell", "file", "shell", "shell-local", "shell"]
    assert steps[0][1]["script"].endswith("packer/scripts/wait-ready.sh")
    assert steps[2][1]["source"].endswith("/image/") and steps[2][1]["destination"] == "/tmp/image"
    build, cleanup = steps[3][1]["inline"], steps[5][1]["inline"]
    assert build[0].endswith("10-packages.sh") and not [c for c in build if "cleanup" in c]
    assert cleanup[0].endswith("90-cleanup.sh") and cleanup[-1].endswith("99-check.sh")
    assert "INFERENCE_PIN=" + ENV["INFERENCE_PIN"] in steps[3][1]["environment_vars"]
    spec = steps[4][1]
    assert "SPEC_SSH_KEY=${build.SSHPrivateKey}" in spec["environment_vars"]
    assert "inferctl.bake.spec_step --phase bake" in spec["inline"][0]
    assert doc["build"][0]["post-processor"][0]["manifest"]["custom_data"]["RecipeHash"] == TAGS["RecipeHash"]


def test_local_region_variant_is_the_same_builder_pointed_at_the_region():
    """The Packer source seam: endpoint, base image and login differ; nothing else does."""
    _, local = rendered(legacy=True, region=REGION)
    _, aws = rendered(legacy=True)
    src, aws_src = source(local), source(aws)
    assert src["custom_endpoint_ec2"] == REGION.endpoint and src["source_ami"] == REGION.source_ami
    assert src["skip_region_validation"] is True and src["skip_metadata_api_check"] is True
    assert src["ssh_interface"] == "private_ip" and src["ssh_username"] == "admin"
    assert "temporary_iam_instance_profile_policy_document" not in src and "source_ami_filter" not in src
    same = {"encrypt_boot", "instance_type", "ami_name", "tags", "snapshot_tags", "run_tags", "communicator"}
    assert {key: src[key] for key in same} == {key: aws_src[key] for key in same}
    assert [kind for kind, _ in provisioners(local)] == [kind for kind, _ in provisioners(aws)]
    assert provisioners(local)[3] == provisioners(aws)[3]  # the recipe itself
    assert "data" not in rendered(region=REGION)[1]  # no Canonical image lookup in the region


def test_values_cannot_inject_hcl(tmp_path):
    nasty = {"Project": 'x" } evil = { "', "Note": "${file(\"/etc/passwd\")} %{ if true }",
             "RecipeHash": "r", "AppDigest": "sha256:1"}
    path, _ = rendered(region=REGION, tags=nasty)
    data = render.parse(path)["build"][0]["post-processor"][0]["manifest"]["custom_data"]
    assert set(data) == set(nasty)
    assert data["Note"].startswith("$${file(")


def test_missing_template_value_is_an_error(tmp_path):
    with pytest.raises(UserError, match="undefined"):
        render.render("aws.pkr.hcl.j2", tmp_path, {"legacy": True})


def test_provision_steps_need_a_cleanup(tmp_path):
    (tmp_path / "provision").mkdir()
    (tmp_path / "provision" / "10-a.sh").write_text("")
    with pytest.raises(UserError, match="no cleanup script"):
        recipe.provision_steps(tmp_path)


@pytest.mark.parametrize("region", [None, REGION], ids=["aws-legacy", "local-region"])
def test_packer_1_6_validates(region):
    """Debian's Packer (1.6.6 here) accepts the legacy template, for AWS and for the local region."""
    path, _ = rendered(legacy=True, region=region)
    assert shutil.which("packer"), "packer is a host package (inferctl.bootstrap installs it)"
    assert packer.version() >= packer.OLDEST
    packer.validate(path)
