"""The rebake steps (one implementation for AWS and the local region) against in-process moto
as an AWS target, with bake, verify and the deploy injected."""

import base64

import pytest
from bake_moto import REGION, register_baked, seed_canonical

from inferctl import config as config_mod
from inferctl.bake import amis, recipe
from inferctl.errors import UserError
from inferctl.rebake import canary, pipeline
from inferctl.rebake import steps as rebake_steps
from inferctl.target import Target
from inferctl.verify.report import Check, Report

NOBLE = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20250301"
USER_DATA = "#cloud-config\nwrite_files:\n  - content: |\n      DOMAIN=infer.example.com\n      HEALTH_TIMEOUT=90\n"


@pytest.fixture
def deployed(aws):
    """Source AMI, app image in ECR, one baked AMI with the current inputs, the service running."""
    source = seed_canonical(REGION, NOBLE, "2025-03-01T00:00:00")
    ecr = aws.client("ecr")
    ecr.create_repository(repositoryName="inference")
    digest = ecr.put_image(repositoryName="inference", imageTag="stable",
                           imageManifest='{"schemaVersion": 2, "config": {"digest": "sha256:11"}, "layers": []}',
                           imageManifestMediaType="application/vnd.docker.distribution.manifest.v2+json"
                           )["image"]["imageId"]["imageDigest"]
    ec2, ssm = aws.client("ec2"), aws.client("ssm")
    current = register_baked(ec2, "current", "2025-03-02T00:00:00Z", SourceAMI=source,
                             RecipeHash=recipe.recipe_hash(), AppDigest=digest)["ImageId"]
    amis.write_channel(ssm, "inference", "latest", current)
    ec2.run_instances(ImageId=current, MinCount=1, MaxCount=1, InstanceType="t3.small", UserData=USER_DATA,
                      TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Project", "Value": "inference"}]}])
    return {"session": aws, "ec2": ec2, "ssm": ssm, "current": current, "source": source}


class Recorder:
    """Fake bake / verify / apply that record the order they were called in."""

    def __init__(self, deployed, verify_ok=True):
        self.d, self.verify_ok, self.calls = deployed, verify_ok, []

    def bake(self, config, target, say=print):
        self.calls.append("bake")
        ami = register_baked(self.d["ec2"], "new", "2025-04-01T00:00:00Z", SourceAMI=self.d["source"],
                             RecipeHash="changed", AppDigest="sha256:22")["ImageId"]
        amis.write_channel(self.d["ssm"], "inference", "candidate", ami)
        return ami

    def verify(self, target, config, **kw):
        self.calls.append(f"verify {target}")
        ok = self.verify_ok or not target.startswith("i-")
        return Report(target, [Check(target, "health", "pass" if ok else "fail")])

    def apply(self):
        self.calls.append("apply")


def run(deployed, recorder, force=False):
    config = config_mod.load(overrides={})
    target = Target("aws", REGION, deployed["session"], account="123456789012")
    steps, rollback = rebake_steps.steps(config, target, apply=recorder.apply, bake=recorder.bake,
                                         verify_run=recorder.verify, wait=lambda ec2, ssm, instance, region: None,
                                         say=lambda s: None)
    return pipeline.run(steps, pipeline.State(force=force), rollback=rollback, say=lambda s: None)


def canaries(ec2):
    found = ec2.describe_instances(Filters=[{"Name": "tag:Role", "Values": ["canary"]}])["Reservations"]
    return [i for r in found for i in r["Instances"]]


def test_unchanged_inputs_bake_nothing(deployed):
    recorder = Recorder(deployed)
    outcome = run(deployed, recorder)
    assert outcome.status == "up-to-date" and outcome.exit_code == 0
    assert recorder.calls == []
    assert canaries(deployed["ec2"]) == []


def test_force_rebakes_unchanged_inputs(deployed):
    recorder = Recorder(deployed)
    outcome = run(deployed, recorder, force=True)
    assert outcome.status == "done"
    assert recorder.calls[0] == "bake"


def test_changed_input_runs_bake_canary_verify_promote_roll_verify_prune(deployed, monkeypatch):
    monkeypatch.setattr(recipe, "recipe_hash", lambda: "edited-recipe")
    recorder = Recorder(deployed)
    outcome = run(deployed, recorder)
    assert outcome.status == "done", outcome.error
    [canary] = canaries(deployed["ec2"])
    assert recorder.calls == ["bake", f"verify {canary['InstanceId']}", "apply", "verify tag=Name:inference"]
    new = amis.read_channel(deployed["ssm"], "inference", "latest")
    assert new != deployed["current"] and canary["ImageId"] == new
    assert canary["State"]["Name"] in ("shutting-down", "terminated")
    user_data = deployed["ec2"].describe_instance_attribute(InstanceId=canary["InstanceId"], Attribute="userData")
    text = base64.b64decode(user_data["UserData"]["Value"]).decode()
    assert "DOMAIN=\n" in text and "infer.example.com" not in text and "HEALTH_TIMEOUT=90" in text


def test_failed_canary_verification_promotes_nothing_and_rolls_nothing(deployed):
    register_baked(deployed["ec2"], "older-1", "2025-01-01T00:00:00Z")
    register_baked(deployed["ec2"], "older-2", "2025-01-02T00:00:00Z")
    register_baked(deployed["ec2"], "older-3", "2025-01-03T00:00:00Z")
    images_before = len(amis.baked_amis(deployed["ec2"], "inference"))
    recorder = Recorder(deployed, verify_ok=False)
    outcome = run(deployed, recorder, force=True)
    assert outcome.status == "failed" and outcome.failed_step == "verify-canary"
    assert "failed verification: health" in outcome.error
    assert "apply" not in recorder.calls and len(recorder.calls) == 2
    assert amis.read_channel(deployed["ssm"], "inference", "latest") == deployed["current"]
    assert len(amis.baked_amis(deployed["ec2"], "inference")) == images_before + 1  # nothing pruned
    assert all(c["State"]["Name"] in ("shutting-down", "terminated") for c in canaries(deployed["ec2"]))


def test_no_service_to_model_the_canary_on(aws):
    with pytest.raises(UserError, match="deploy the service first"):
        canary.launch(aws.client("ec2"), aws.client("autoscaling"), "inference", "single", "ami-1")


def test_rebake_without_credentials_is_one_clear_line(monkeypatch, tmp_path):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    from inferctl import rebake
    with pytest.raises(UserError, match="no AWS credentials found") as err:
        rebake.run(config_mod.load(overrides={"project": {"target": "aws"}}), say=lambda s: None)
    assert "AWS_PROFILE" in err.value.hint


def test_fleet_canary_comes_from_the_launch_template_with_the_new_ami(aws):
    ec2, autoscaling = aws.client("ec2"), aws.client("autoscaling")
    old = register_baked(ec2, "old", "2025-01-01T00:00:00Z")["ImageId"]
    new = register_baked(ec2, "new", "2025-01-02T00:00:00Z")["ImageId"]
    template = ec2.create_launch_template(LaunchTemplateName="inference", LaunchTemplateData={
        "ImageId": old, "InstanceType": "t3.small",
        "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "inference"}]}],
    })["LaunchTemplate"]["LaunchTemplateId"]
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    autoscaling.create_auto_scaling_group(AutoScalingGroupName="inference", MinSize=1, MaxSize=1,
                                          LaunchTemplate={"LaunchTemplateId": template}, VPCZoneIdentifier=subnet)
    instance_id = canary.launch(ec2, autoscaling, "inference", "fleet", new)
    inst = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    tags = {t["Key"]: t["Value"] for t in inst["Tags"]}
    assert inst["ImageId"] == new and inst["SubnetId"] == subnet
    assert tags["Role"] == "canary" and tags["Project"] == "inference-canary"
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["inference"])["AutoScalingGroups"][0]
    assert instance_id not in [i["InstanceId"] for i in group["Instances"]]  # never takes fleet traffic


def test_instance_refresh_outcomes(aws):
    class FakeAutoscaling:
        def __init__(self, statuses):
            self.statuses = statuses

        def describe_auto_scaling_groups(self, AutoScalingGroupNames):
            return {"AutoScalingGroups": [{"AutoScalingGroupName": AutoScalingGroupNames[0]}]}

        def describe_instance_refreshes(self, AutoScalingGroupName):
            status = self.statuses.pop(0)
            return {"InstanceRefreshes": [{"Status": status, "StatusReason": "health checks failed"}]}

    assert rebake_steps.wait_instance_refresh(FakeAutoscaling(["InProgress", "Successful"]), "inference",
                                           sleep=lambda s: None) == "inference"
    with pytest.raises(UserError, match="ended RollbackSuccessful: health checks failed"):
        rebake_steps.wait_instance_refresh(FakeAutoscaling(["InProgress", "RollbackSuccessful"]), "inference",
                                        sleep=lambda s: None)


def test_rebake_refuses_to_bake_for_a_stack_whose_state_it_cannot_see(deployed, monkeypatch, tmp_path):
    from inferctl import rebake, target
    monkeypatch.setattr(target, "BUILD_DIR", tmp_path)
    monkeypatch.setattr(rebake, "REPORT", tmp_path / "rebake.json")
    monkeypatch.setattr(recipe, "recipe_hash", lambda: "edited-recipe")
    outcome = rebake.run(config_mod.load(overrides={"project": {"target": "aws"}}), say=lambda s: None)
    assert outcome.failed_step == "bake" and "no Terraform state for the deployed service" in outcome.error
    assert [step for step, _, _ in outcome.ran] == ["decide", "bake"]


@pytest.mark.parametrize("rollback_ok", [True, False])
def test_failed_service_verification_rolls_back_and_verifies_the_rollback(deployed, monkeypatch, rollback_ok):
    monkeypatch.setattr(recipe, "recipe_hash", lambda: "edited-recipe")
    recorder = Recorder(deployed)
    service_checks = iter([False, rollback_ok])

    def verify(target, config, **kw):
        recorder.calls.append(f"verify {target}")
        ok = next(service_checks) if target.startswith("tag=") else True
        return Report(target, [Check(target, "health", "pass" if ok else "fail")])
    recorder.verify = verify
    outcome = run(deployed, recorder)
    assert outcome.status == "failed" and outcome.failed_step == "verify-service"
    assert outcome.rolled_back is rollback_ok
    assert recorder.calls[-4:] == ["apply", "verify tag=Name:inference", "apply", "verify tag=Name:inference"]
    assert amis.read_channel(deployed["ssm"], "inference", "latest") == deployed["current"]
    if not rollback_ok:
        assert "rollback failed too" in outcome.error
