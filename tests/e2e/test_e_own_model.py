"""The README's own-model block, pasted as a user would, against the demo's stack: a model file
made by examples/make_mlp.py becomes the service every host serves, checked by its known answers
in the image's build, through the front door and inside the live slot."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys

import pytest
from e2e_cli import REPO, service_instances

from inferctl.hostspec import runner
from inferctl.verify import targets

MARKER = "<!-- own-model:"
MODEL_DIR = REPO / "build" / "my-model"


def own_model_block() -> str:
    text = (REPO / "README.md").read_text()
    return re.search(r"```sh\n(.*?)```", text[text.index(MARKER):], re.S).group(1)


@pytest.fixture(scope="module")
def pasted(region):
    """The block's output, run as one script (its `export` carries to the later lines)."""
    block = own_model_block()
    assert [line.split()[:3] for line in block.splitlines() if line.strip()] == [
        [".venv/bin/python", "examples/make_mlp.py", "--out"], ["export", f"INFERCTL_APP_MODEL={MODEL_DIR.relative_to(REPO)}/model.onnx",
                                                                 f"INFERCTL_APP_KNOWN_ANSWERS={MODEL_DIR.relative_to(REPO)}/answers.json"],
        [".venv/bin/invoke", "deploy", "--local"], [".venv/bin/invoke", "update", "--local"],
        [".venv/bin/invoke", "verify", "--local"]], f"the README's own-model block changed:\n{block}"
    proc = subprocess.run(["bash", "--noprofile", "--norc", "-euo", "pipefail", "-c", block], cwd=REPO, text=True,
                          capture_output=True, timeout=30 * 60, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    return proc


def test_the_block_runs_to_a_verified_service(pasted):
    assert pasted.returncode == 0, pasted.stderr[-2000:]
    # the slot's own check of its image's answers ran in the live suite, and passed
    assert re.search(r"^PASS\s+\S+\s+spec: test_service_gives_its_models_known_answers\b", pasted.stdout, re.M)


def test_every_host_serves_the_image_named_by_the_models_sha256(pasted, region, local_config):
    """The serving slot's image carries the model file's sha256 (label and tag), on every host."""
    assert pasted.returncode == 0
    sha256 = hashlib.sha256((MODEL_DIR / "model.onnx").read_bytes()).hexdigest()
    instances = service_instances(region)
    assert instances
    for instance in instances:
        (url,) = targets.resolve(instance["InstanceId"], local_config).hosts
        machine = runner.host(url)
        slot = json.loads(machine.check_output("cat /var/lib/inference/state.json"))["active_slot"]
        label = machine.check_output(f"docker inspect --format '{{{{index .Config.Labels \"io.inferctl.model.sha256\"}}}}' "
                                     f"inference-{slot}")
        assert label.strip() == sha256, f"{url}: slot {slot} runs an image of model {label!r}, not {sha256}"
    assert f"model-{sha256[:12]}" in subprocess.run(["docker", "images", "--format", "{{.Tag}}"], text=True,
                                                   capture_output=True).stdout
