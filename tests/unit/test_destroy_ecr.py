"""destroy on AWS: the ECR repository is emptied (after the question, before Terraform runs)
so Terraform can delete it; what destroy keeps is said, with how to remove it."""

import json
from types import SimpleNamespace

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from inferctl import config as configuration
from inferctl import deploy
from inferctl import terraform as tf
from inferctl.errors import UserError

REPOSITORY = "inference"


@pytest.fixture
def ecr(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("ecr", region_name="eu-west-1")
        client.create_repository(repositoryName=REPOSITORY)
        yield client


def _push(ecr, number: int, *tags: str) -> str:
    """A manifest-only image (its one layer distinct per number: moto digests the layers) under
    ``tags`` (none: untagged); its digest."""
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                           "config": {"digest": "sha256:" + "0" * 64},
                           "layers": [{"digest": f"sha256:{number:064x}"}]})
    extra = {"imageTag": tags[0]} if tags else {}
    image = ecr.put_image(repositoryName=REPOSITORY, imageManifest=manifest, **extra)["image"]
    for tag in tags[1:]:
        ecr.put_image(repositoryName=REPOSITORY, imageManifest=manifest, imageTag=tag)
    return image["imageId"]["imageDigest"]


def _remaining(ecr) -> list:
    return ecr.list_images(repositoryName=REPOSITORY)["imageIds"]


def test_three_images_are_listed_once_each_and_deleted(ecr, capsys):
    stable = _push(ecr, 1, "stable", "v2")
    _push(ecr, 2, "v1")
    _push(ecr, 3)
    images = deploy.repository_images(ecr, REPOSITORY)
    assert len(images) == 3 and sorted(images[stable]) == ["stable", "v2"]
    assert deploy.describe_images(images).startswith(f"3 images: stable, v2 ({stable[:19]}), v1 (")
    deploy.delete_images(ecr, REPOSITORY, list(images))
    assert _remaining(ecr) == []
    assert capsys.readouterr().out == f"destroy: deleted 3 image(s) from the ECR repository {REPOSITORY}\n"


def test_a_missing_or_empty_repository_is_skipped_silently(ecr, capsys):
    assert deploy.repository_images(ecr, "not-there") == {}
    assert deploy.repository_images(ecr, REPOSITORY) == {}
    deploy.delete_images(ecr, "not-there", [])
    assert capsys.readouterr().out == ""


def test_deletes_in_batches_of_at_most_100(ecr):
    for number in range(150):
        _push(ecr, number, f"build-{number}")
    sizes = []
    ecr.meta.events.register("before-parameter-build.ecr.BatchDeleteImage",
                             lambda params, **kwargs: sizes.append(len(params["imageIds"])))
    deploy.delete_images(ecr, REPOSITORY, list(deploy.repository_images(ecr, REPOSITORY)))
    assert sizes == [100, 50]
    assert _remaining(ecr) == []


def test_reads_every_page_of_the_listing():
    ecr = boto3.client("ecr", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(ecr) as stub:
        stub.add_response("list_images", {"imageIds": [{"imageDigest": "sha256:a", "imageTag": "stable"}],
                                          "nextToken": "page-2"}, {"repositoryName": REPOSITORY})
        stub.add_response("list_images", {"imageIds": [{"imageDigest": "sha256:b"}]},
                          {"repositoryName": REPOSITORY, "nextToken": "page-2"})
        assert deploy.repository_images(ecr, REPOSITORY) == {"sha256:a": ["stable"], "sha256:b": []}


def test_a_refused_deletion_stops_before_terraform():
    ecr = boto3.client("ecr", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(ecr) as stub:
        stub.add_response("batch_delete_image", {"failures": [
            {"imageId": {"imageDigest": "sha256:a"}, "failureCode": "ImageReferencedByManifestList",
             "failureReason": "referenced"},
            {"imageId": {"imageDigest": "sha256:b"}, "failureCode": "ImageNotFound", "failureReason": "gone"}]})
        with pytest.raises(UserError, match="could not delete 1 image.*ImageReferencedByManifestList") as error:
            deploy.delete_images(ecr, REPOSITORY, ["sha256:a", "sha256:b"])
    assert "Terraform has not run yet" in error.value.hint


def test_notes_say_what_is_deleted_and_what_is_kept():
    config = configuration.load(overrides={"aws": {"state_bucket": "my-tf-state"}})
    aws = deploy.Target("aws", "eu-west-1", session=None)
    notes = deploy.teardown_notes(aws, config, {f"sha256:{n:064x}": [f"v{n}"] for n in range(5)})
    assert notes[0].startswith("the ECR repository inference holds 5 images: v0 (sha256:000000000000), v1 (")
    assert notes[0].endswith(" and 2 more; they are deleted with it")
    assert ("kept: the SSM parameter /inference/api-keys (API keys, not managed by Terraform); delete it with: "
            "aws ssm delete-parameter --region eu-west-1 --name /inference/api-keys") in notes
    assert "kept: the Terraform state bucket my-tf-state" in notes
    assert any(note.startswith("kept: the baked AMIs") and "invoke prune --apply" in note for note in notes)

    local = deploy.Target("local", "eu-west-1", session=None, endpoint="http://127.0.0.1:1")
    notes = deploy.teardown_notes(local, configuration.Config(), {})
    assert len(notes) == 3 and notes[0].startswith("kept: the SSM parameter /inference/api-keys")
    assert notes[1] == "the hosts' records of bad digests (/inference/bad-digests/*) are deleted with the stack"
    assert "invoke prune --local --apply" in notes[2]


@pytest.mark.parametrize("answer", [True, False])
def test_destroy_asks_with_the_image_count_then_empties_the_repository_before_applying(ecr, monkeypatch, capsys,
                                                                                      answer):
    """destroy's order with Terraform stubbed out: list, say, ask, delete, apply."""
    for number in range(3):
        _push(ecr, number, f"v{number}")
    asked, applied_with = [], []
    ssm = boto3.client("ssm", region_name="eu-west-1")
    ssm.put_parameter(Name="/inference/bad-digests/" + "ab" * 32, Value="{}", Type="String")
    clients = {"ecr": ecr, "ssm": ssm}
    target = deploy.Target("aws", "eu-west-1", session=SimpleNamespace(client=clients.get))
    monkeypatch.setattr(deploy, "workspace", lambda config, target, variables, workdir=None: None)
    monkeypatch.setattr(tf, "outputs", lambda ws: {"ami_id": "ami-0123456789abcdef0"})
    monkeypatch.setattr(tf, "write_tfvars", lambda ws, variables: None)
    monkeypatch.setattr(tf, "plan", lambda ws, destroy: tf.Plan(None, True, {"resource_changes": []}))
    monkeypatch.setattr(tf, "apply", lambda ws, planned: applied_with.append(len(_remaining(ecr))))
    monkeypatch.setattr(deploy, "_confirm", lambda question, yes: asked.append(question) or answer)
    if answer:
        deploy.destroy(configuration.Config(), target=target)
        assert applied_with == [0]
        assert ssm.get_parameters_by_path(Path="/inference/bad-digests")["Parameters"] == []
    else:
        with pytest.raises(UserError, match="destroy cancelled"):
            deploy.destroy(configuration.Config(), target=target)
        assert applied_with == [] and len(_remaining(ecr)) == 3
    assert asked == ["destroy everything of inference on aws, 3 ECR image(s) included?"]
    assert "destroy: the ECR repository inference holds 3 images: v" in capsys.readouterr().out
