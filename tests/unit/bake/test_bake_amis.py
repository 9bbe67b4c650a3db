"""AMI bookkeeping against in-process moto: source AMI, rebake decisions, promotion, pruning."""

import pytest
from bake_moto import REGION, register_baked, seed_canonical

from inferctl.bake import amis
from inferctl.errors import UserError

INPUTS = {"SourceAMI": "ami-src1", "RecipeHash": "r1", "AppDigest": "sha256:aa"}


def test_source_ami_is_newest_matching_canonical_image(aws):
    seed_canonical(REGION, "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20250101", "2025-01-01T00:00:00")
    newest = seed_canonical(REGION, "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20250301",
                            "2025-03-01T00:00:00")
    seed_canonical(REGION, "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-arm64-server-20250401",
                   "2025-04-01T00:00:00", architecture="arm64")
    seed_canonical(REGION, "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-20250501", "2025-05-01T00:00:00")
    image = amis.resolve_source_ami(aws.client("ec2"), "24.04", "x86_64")
    assert image["ImageId"] == newest
    assert image["Name"].endswith("20250301")


def test_source_ami_filter_matching_nothing_is_a_user_error(aws):
    with pytest.raises(UserError, match="no Canonical Ubuntu 24.04 arm64 AMI in eu-west-1"):
        amis.resolve_source_ami(aws.client("ec2"), "24.04", "arm64")


def test_rebake_reasons(aws):
    ec2 = aws.client("ec2")
    assert amis.rebake_reasons(ec2, "inference", INPUTS) == ["no baked AMI yet"]
    register_baked(ec2, "old", "2025-01-01T00:00:00Z", SourceAMI="ami-src0", RecipeHash="r0", AppDigest="sha256:00")
    newest = register_baked(ec2, "new", "2025-01-02T00:00:00Z", **INPUTS)
    assert amis.rebake_reasons(ec2, "inference", INPUTS) == []
    reasons = amis.rebake_reasons(ec2, "inference", {**INPUTS, "RecipeHash": "r2", "AppDigest": "sha256:bb"})
    assert reasons == [f"RecipeHash changed: r1 -> r2 (newest AMI {newest['ImageId']})",
                       f"AppDigest changed: sha256:aa -> sha256:bb (newest AMI {newest['ImageId']})"]
    # Another project's AMIs do not count.
    assert amis.rebake_reasons(ec2, "other", INPUTS) == ["no baked AMI yet"]
    # Compared with the promoted AMI when there is one: a newer bake that never got promoted
    # (its verification failed) does not hide the change from the next night.
    old = amis.baked_amis(ec2, "inference")[1]["ImageId"]
    assert amis.rebake_reasons(ec2, "inference", INPUTS, reference=old) == [
        f"SourceAMI changed: ami-src0 -> {INPUTS['SourceAMI']} (promoted AMI {old})",
        f"RecipeHash changed: r0 -> r1 (promoted AMI {old})",
        f"AppDigest changed: sha256:00 -> sha256:aa (promoted AMI {old})"]
    assert amis.rebake_reasons(ec2, "inference", INPUTS, reference=newest["ImageId"]) == []


def test_promote_moves_latest_only_when_verified(aws):
    ec2, ssm = aws.client("ec2"), aws.client("ssm")
    ami = register_baked(ec2, "ami-a", "2025-01-01T00:00:00Z", **INPUTS)["ImageId"]
    amis.write_channel(ssm, "inference", "candidate", ami)
    with pytest.raises(UserError, match="has not passed verification"):
        amis.promote(ec2, ssm, "inference", verified=False)
    assert amis.read_channel(ssm, "inference", "latest") is None
    assert amis.promote(ec2, ssm, "inference", verified=True) == ami
    assert ssm.get_parameter(Name="/inference/ami/latest")["Parameter"]["Value"] == ami
    with pytest.raises(UserError, match="not an AMI baked for project"):
        amis.promote(ec2, ssm, "inference", verified=True, ami_id="ami-0123456789abcdef0")


def test_prune_keeps_newest_and_in_use_and_deletes_snapshots(aws):
    ec2, ssm = aws.client("ec2"), aws.client("ssm")
    made = [register_baked(ec2, f"ami-{i}", f"2025-01-0{i}T00:00:00Z", **INPUTS) for i in range(1, 8)]
    ids = [image["ImageId"] for image in made]      # oldest first
    by_instance, by_template_v1, by_channel, stopped = ids[0], ids[1], ids[2], ids[3]
    ec2.run_instances(ImageId=by_instance, MinCount=1, MaxCount=1)
    stopped_id = ec2.run_instances(ImageId=stopped, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ec2.stop_instances(InstanceIds=[stopped_id])
    template = ec2.create_launch_template(LaunchTemplateName="fleet", LaunchTemplateData={"ImageId": by_template_v1})
    ec2.create_launch_template_version(LaunchTemplateId=template["LaunchTemplate"]["LaunchTemplateId"],
                                       LaunchTemplateData={"ImageId": ids[6]})
    amis.write_channel(ssm, "inference", "latest", by_channel)
    terminated = ec2.run_instances(ImageId=ids[4], MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ec2.terminate_instances(InstanceIds=[terminated])

    said = []
    plan = amis.prune(ec2, ssm, "inference", keep=2, say=said.append)
    assert plan.keep == [ids[6], ids[5]]
    assert set(plan.protected) == {by_instance, by_template_v1, by_channel, stopped}
    assert "launch template fleet version 1" in plan.protected[by_template_v1]
    assert list(plan.delete) == [ids[4]]            # only referenced by a terminated instance
    assert any("dry run" in line for line in said)
    assert len(ec2.describe_images(Owners=["self"])["Images"]) == 7   # dry run deleted nothing

    snapshots = plan.delete[ids[4]]
    assert snapshots
    amis.prune(ec2, ssm, "inference", keep=2, apply=True, say=said.append)
    remaining = {image["ImageId"] for image in ec2.describe_images(Owners=["self"])["Images"]}
    assert remaining == set(ids) - {ids[4]}
    left = {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert not set(snapshots) & left


def test_prune_with_nothing_to_delete(aws):
    said = []
    plan = amis.prune(aws.client("ec2"), aws.client("ssm"), "inference", keep=3, say=said.append)
    assert not plan.delete and said == ["prune: nothing to delete"]
