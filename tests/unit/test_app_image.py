"""inferctl.app_image: inputs are checked before any daemon or build is touched."""

import pytest

from inferctl import app_image
from inferctl.errors import UserError


def test_unknown_extras_are_refused_up_front(monkeypatch):
    monkeypatch.setattr(app_image, "ensure_daemon", lambda: pytest.fail("must not reach the daemon"))
    with pytest.raises(UserError, match="unknown extras 'gpu'"):
        app_image.build(extras="gpu")


def test_context_copy_gets_the_extra_ca_and_nothing_stale(tmp_path):
    ca = tmp_path / "corp-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    context = app_image._stage_context(tmp_path / "ctx", ca)
    assert (context / "Dockerfile").is_file() and (context / "model" / "iris_softmax.json").is_file()
    assert (context / "extra-ca.pem").read_text() == ca.read_text()
    assert not list(context.rglob("__pycache__"))
    assert not (app_image.APP_DIR / "extra-ca.pem").exists()        # the source folder stays clean


@pytest.mark.parametrize("content", ["not a certificate", None])
def test_a_bad_extra_ca_is_a_clear_error(tmp_path, content):
    ca = tmp_path / "ca.pem"
    if content is not None:
        ca.write_text(content)
    with pytest.raises(UserError, match="is not a PEM certificate file"):
        app_image._stage_context(tmp_path / "ctx", ca)


def test_revision_is_the_last_commit_of_the_app():
    """A commit outside falcon_app/ must not change the image (nor make the rebake rebuild)."""
    import re
    import subprocess

    app = subprocess.run(["git", "-C", str(app_image.REPO), "log", "-1", "--format=%H", "--", "falcon_app"],
                         capture_output=True, text=True)
    head = subprocess.run(["git", "-C", str(app_image.REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
    if app.returncode != 0 or not app.stdout.strip():
        pytest.skip("not a git checkout")
    assert re.fullmatch(re.escape(app.stdout.strip()) + r"(-dirty)?", app_image.revision())
    if head.stdout.strip() != app.stdout.strip():
        assert not app_image.revision().startswith(head.stdout.strip())


def test_a_bundled_model_is_staged_with_its_answers_and_named_by_its_sha256(tmp_path):
    from inferctl import config
    (tmp_path / "model.onnx").write_bytes(b"model bytes")
    (tmp_path / "answers.json").write_text("{}")
    file = tmp_path / "inferctl.toml"
    file.write_text('[app]\nmodel = "model.onnx"\nknown_answers = "answers.json"\nmodel_threads = 2\n')
    model = app_image.BundledModel.from_config(config.load(file))
    import hashlib
    assert model.sha256 == hashlib.sha256(b"model bytes").hexdigest()
    context = app_image._stage_context(tmp_path / "ctx", None)
    model.stage(context)
    assert (context / "model/bundled/model.onnx").read_bytes() == b"model bytes"
    args = model.build_args(model.sha256)
    assert args["MODEL_PATH"] == "/app/falcon_app/model/bundled/model.onnx" and args["MODEL_INTRA_OP_THREADS"] == "2"
    assert app_image.model_tag("inference:deploy", model.sha256) == f"inference:model-{model.sha256[:12]}"
    assert app_image.model_tag("10.0.0.1:5000/inference", "ab" * 32) == "10.0.0.1:5000/inference:model-abababababab"
    (tmp_path / "answers.json").unlink()
    with pytest.raises(UserError, match=r"\[app\] known_answers .*answers.json is not a file"):
        app_image.BundledModel.from_config(config.load(file))


def test_no_model_configured_builds_the_builtin_one():
    from inferctl import config
    assert app_image.BundledModel.from_config(config.load(overrides={})) is None


def test_the_base_is_pinned_by_digest_else_by_image_id(monkeypatch):
    answers = {"{{range .RepoDigests}}{{println .}}{{end}}": "", "{{.Id}}": "sha256:" + "1" * 64 + "\n"}
    monkeypatch.setattr(app_image, "output", lambda argv: answers[argv[-2]])
    assert app_image.pinned("inferctl/python:3.11-bookworm") == "sha256:" + "1" * 64
    answers["{{range .RepoDigests}}{{println .}}{{end}}"] = f"python@sha256:{'2' * 64}\n"
    assert app_image.pinned("python:3.11-slim") == f"python@sha256:{'2' * 64}"
