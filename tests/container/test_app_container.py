"""The app image, built here on the local base image and run as production runs it:
read-only root fs (tmpfs /tmp only), --cap-drop ALL, no-new-privileges, non-root,
the API keys file mounted read-only. Containers are removed even when a test fails;
the daemon is stopped if this module started it and nothing else runs on it."""

import json
import os
import re
import subprocess
import time
import uuid
from contextlib import contextmanager

import pytest
import requests

from inferctl import app_image
from inferctl.local import docker

import by_path
from iris_onnx import build_model

TAG = "inference:container-test"
TAG_ONNX = "inference:container-test-onnx"
PRODUCTION_FLAGS = ["--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
KEY = "container-test-key-0123456789"
UID = 10001


def sh(*args, check=True):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


@pytest.fixture(scope="module")
def image():
    started = docker.ensure_daemon()
    try:
        yield app_image.build(tag=TAG, extra_ca=app_image.host_ca_bundle())
    finally:
        sh("image", "rm", TAG, check=False)
        if started and not docker.running_containers():
            docker.stop_daemon()


@pytest.fixture(scope="module")
def keys_file(tmp_path_factory):
    keys = tmp_path_factory.mktemp("keys") / "api-keys"
    keys.write_text(f"# one key per line\n{KEY}\n")
    os.chown(keys, 0, UID)            # as on the host: root:<app group> 0640
    keys.chmod(0o640)
    return keys


@contextmanager
def run_container(ref, keys, *extra):
    """The image run with the production flags; yields (name, url) once /health answers."""
    name = f"inference-test-{uuid.uuid4().hex[:8]}"
    try:
        sh("run", "-d", "--name", name, *PRODUCTION_FLAGS, "-e", "API_KEYS_FILE=/etc/inference/api-keys",
           "-v", f"{keys}:/etc/inference/api-keys:ro", "-p", "127.0.0.1::8000", *extra, ref)
        port = sh("port", name, "8000/tcp").stdout.splitlines()[0].rsplit(":", 1)[1].strip()
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"container never answered /health; logs: {sh('logs', name, check=False).stdout[-2000:]}")
            time.sleep(0.2)
        yield name, url
    finally:
        sh("rm", "-f", name, check=False)


@pytest.fixture(scope="module")
def container(image, keys_file):
    with run_container(image.ref, keys_file) as running:
        yield running


def test_health_and_infer(container):
    name, url = container
    assert requests.get(f"{url}/health", timeout=5).json() == {"status": "ok"}
    reply = requests.post(f"{url}/api/infer", json={"instances": [[6.3, 3.3, 6.0, 2.5], [5.1, 3.5, 1.4, 0.2]]},
                          headers={"Authorization": f"Bearer {KEY}"}, timeout=5)
    assert reply.status_code == 200
    assert [p["label"] for p in reply.json()["predictions"]] == ["virginica", "setosa"]
    assert requests.post(f"{url}/api/infer", json={"instances": [[1, 2, 3, 4]]}, timeout=5).status_code == 401


def test_runs_as_non_root_without_privileges(container):
    name, _ = container
    assert sh("exec", name, "id", "-u").stdout.strip() == str(UID)
    status = sh("exec", name, "cat", "/proc/1/status").stdout
    caps = {line.split(":")[0]: line.split()[1] for line in status.splitlines() if line.startswith("Cap")}
    assert int(caps["CapEff"], 16) == 0 and int(caps["CapBnd"], 16) == 0
    assert "NoNewPrivs:\t1" in status


def test_root_filesystem_is_read_only(container):
    name, _ = container
    denied = sh("exec", name, "touch", "/app/probe", check=False)
    assert denied.returncode != 0 and "Read-only file system" in denied.stderr
    assert sh("exec", name, "touch", "/tmp/probe", check=False).returncode == 0


def test_docker_healthcheck_turns_healthy(container):
    name, _ = container
    deadline = time.monotonic() + 45
    while (status := sh("inspect", "--format", "{{.State.Health.Status}}", name).stdout.strip()) != "healthy":
        assert status == "starting" and time.monotonic() < deadline, status
        time.sleep(1)


def test_image_metadata_and_size(image):
    config = json.loads(sh("image", "inspect", image.ref).stdout)[0]["Config"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == "1.0.0"
    assert labels["org.opencontainers.image.revision"].startswith(app_image.revision()[:40])
    assert labels["org.opencontainers.image.source"]
    # the base went in by digest (a local base by its image id): what a moved tag cannot change
    base = labels["org.opencontainers.image.base.name"]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", labels["org.opencontainers.image.base.digest"])
    assert app_image.pinned(base).endswith(labels["org.opencontainers.image.base.digest"])
    assert config["User"] == f"{UID}:{UID}" and "8000/tcp" in config["ExposedPorts"]
    assert config["Healthcheck"]["Test"][0] == "CMD"
    assert image.id.startswith("sha256:") and image.size < 200e6


def test_no_build_tools_or_build_secrets_in_the_final_image(image):
    found = sh("run", "--rm", "--network", "none", "--entrypoint", "sh", image.ref, "-c",
               "ls /opt/venv/bin/pip* /usr/bin/gcc /usr/bin/cc 2>/dev/null; "
               "find / -xdev \\( -name extra-ca.pem -o -name ca-bundle.pem \\) 2>/dev/null; true").stdout
    assert found.strip() == ""


def test_onnx_extra_serves_a_mounted_onnx_model(image, keys_file, tmp_path):
    """The `onnx` build (EXTRAS=onnx) with MODEL_PATH pointing at a read-only mounted model."""
    model = build_model(tmp_path / "iris.onnx")
    model.chmod(0o644)
    try:
        onnx_image = app_image.build(tag=TAG_ONNX, extra_ca=app_image.host_ca_bundle(), extras="onnx")
        with run_container(onnx_image.ref, keys_file, "-v", f"{model}:/models/iris.onnx:ro",
                           "-e", "MODEL_PATH=/models/iris.onnx") as (_, url):
            reply = requests.post(f"{url}/api/infer", json={"instances": [[6.3, 3.3, 6.0, 2.5]]},
                                  headers={"X-API-Key": KEY}, timeout=5)
            assert reply.status_code == 200
            assert reply.json()["model"] == "iris-onnx"
            assert reply.json()["predictions"][0]["label"] == "virginica"
    finally:
        sh("image", "rm", TAG_ONNX, check=False)


def _make_mlp(out):
    make_mlp = by_path.load("make_mlp", app_image.REPO / "examples" / "make_mlp.py")
    return make_mlp.build(out, features=8, classes=3, hidden=(16,), epochs=50, seed=1, answers=6)


def test_your_own_model_is_built_in_checked_and_served(image, keys_file, tmp_path):
    """[app] model: the image carries the model, checks its answers at build time, is tagged with
    the model's sha256, serves it read-only and checks its answers live from inside; wrong answers
    stop the build with the check's one line."""
    from inferctl import config
    from inferctl.errors import UserError
    model, answers = _make_mlp(tmp_path / "m")
    file = tmp_path / "inferctl.toml"
    file.write_text(f'[app]\nmodel = "{model}"\nknown_answers = "{answers}"\n')
    known = json.loads(answers.read_text())
    first = known["answers"][0]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"answers": [{"features": first["features"], "label": "nope"}]}))
    sha = app_image.BundledModel.from_config(config.load(file)).sha256
    try:
        with pytest.raises(UserError, match=r"model check failed: model \S+ \(in-process\) gives 1 wrong answer"):
            app_image.build_for(config.load(file, overrides={"app": {"known_answers": str(bad)}}), TAG_ONNX)
        built = app_image.build_for(config.load(file), TAG_ONNX)
        labels = json.loads(sh("image", "inspect", built.ref).stdout)[0]["Config"]["Labels"]
        assert labels["io.inferctl.model.sha256"] == sha
        assert sh("image", "inspect", f"inference:model-{sha[:12]}", check=False).returncode == 0
        with run_container(built.ref, keys_file) as (name, url):
            about = requests.get(f"{url}/", headers={"X-API-Key": KEY}, timeout=5).json()["model"]
            assert about["id"] == known["model_id"] and len(about["features"]) == 8
            reply = requests.post(f"{url}/api/infer", json={"instances": [first["features"]]},
                                  headers={"X-API-Key": KEY}, timeout=5)
            assert reply.status_code == 200 and reply.json()["predictions"][0]["label"] == first["label"]
            wrong = requests.post(f"{url}/api/infer", json={"instances": [[1.0] * 4]}, headers={"X-API-Key": KEY},
                                  timeout=5)
            assert wrong.status_code == 422 and wrong.json()["field"] == "instances[0]"
            live = sh("exec", name, "python", "-m", "falcon_app.model.known_answers", "--url",
                      "http://127.0.0.1:8000", check=False)
            assert live.returncode == 0 and f"gives all {len(known['answers'])} answers" in live.stdout, live.stderr
    finally:
        sh("image", "rm", TAG_ONNX, f"inference:model-{sha[:12]}", check=False)
