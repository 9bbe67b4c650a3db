"""The bake's flow against an AWS target on moto, with Packer's build step faked (no AWS, no
instance): --if-changed skips when nothing changed; otherwise the rendered template goes to
Packer and the manifest's AMI becomes /<project>/ami/candidate."""

import json

import pytest
from bake_moto import REGION, register_baked, seed_app_image, seed_canonical

from inferctl import config as config_mod
from inferctl.bake import amis, front, packer, recipe, render, templates
from inferctl.target import Target

NOBLE = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20250301"


@pytest.fixture
def inputs(aws, monkeypatch, tmp_path):
    monkeypatch.setattr("inferctl.bake.front.require", lambda tool: tool)   # session-manager-plugin
    monkeypatch.setattr(templates, "BUILD_DIR", tmp_path)
    source = seed_canonical(REGION, NOBLE, "2025-03-01T00:00:00")
    return {"SourceAMI": source, "RecipeHash": recipe.recipe_hash(), "AppDigest": seed_app_image(aws)}


def test_if_changed_skips_when_inputs_match_the_newest_ami(aws, inputs, monkeypatch):
    register_baked(aws.client("ec2"), "ami-same", "2025-01-01T00:00:00Z", **inputs)
    monkeypatch.setattr(packer, "build", lambda *a: pytest.fail("Packer must not run"))
    said = []
    assert aws_bake(aws, if_changed=True, say=said.append) is None
    assert said[-1] == "bake: nothing changed since the newest baked AMI; not baking"


def test_bake_records_the_manifest_ami_as_candidate(aws, inputs, monkeypatch):
    register_baked(aws.client("ec2"), "ami-old", "2025-01-01T00:00:00Z", **{**inputs, "RecipeHash": "old"})
    built = {}

    def fake_build(template, log, env):
        built["template"], built["env"] = template, env
        (template.parent / "manifest.json").write_text(json.dumps({"last_run_uuid": "u", "builds": [
            {"packer_run_uuid": "u", "artifact_id": f"{REGION}:ami-0123456789abcdef0"}]}))

    monkeypatch.setattr(packer, "build", fake_build)
    monkeypatch.setattr(packer, "init", lambda template: pytest.fail("no init for the legacy template"))
    monkeypatch.setattr(packer, "version", lambda: (1, 6, 6))
    said = []
    assert aws_bake(aws, if_changed=True, say=said.append) == "ami-0123456789abcdef0"
    assert any(line.startswith("bake: RecipeHash changed: old ->") for line in said)
    assert built["template"].parent.name == "aws-legacy"               # Packer 1.6.6 gets the legacy one
    assert built["env"] == {}                                           # AWS: the caller's own credentials
    assert amis.read_channel(aws.client("ssm"), "inference", "candidate") == "ami-0123456789abcdef0"


def test_modern_packer_runs_init_before_build(aws, inputs, monkeypatch):
    steps = []

    def fake_build(template, log, env):
        steps.append(("build", template))
        (template.parent / "manifest.json").write_text(json.dumps({"last_run_uuid": "u", "builds": [
            {"packer_run_uuid": "u", "artifact_id": f"{REGION}:ami-0123456789abcdef0"}]}))

    monkeypatch.setattr(packer, "build", fake_build)
    monkeypatch.setattr(packer, "init", lambda template: steps.append(("init", template)))
    monkeypatch.setattr(packer, "version", lambda: (1, 11, 2))
    assert aws_bake(aws) == "ami-0123456789abcdef0"
    assert [step for step, _ in steps] == ["init", "build"] and steps[0][1] == steps[1][1]
    assert steps[0][1].parent.name == "aws"
    plugin = render.parse(steps[0][1])["packer"][0]["required_plugins"][0]["amazon"]
    assert plugin == {"source": "github.com/hashicorp/amazon", "version": packer.AMAZON_PLUGIN}


def aws_bake(session, **kwargs):
    config = config_mod.load(overrides={"project": {"target": "aws"}})
    return front.bake(config, target=Target("aws", REGION, session, account="123456789012"), **kwargs)
