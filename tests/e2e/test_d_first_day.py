"""The README's first-day block, line by line as a new user types it, against an account of the
local region that has nothing of this project: the AWS code path with the region's endpoint and
fake credentials (the demo's region serves it; the project, repository and VPC are this test's)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from e2e_cli import REPO, service_instances

from inferctl.bake import amis
from inferctl.region import disks

PROJECT = "e2e-first-day"
MARKER = "<!-- first-day:"
ENV = {"INFERCTL_PROJECT_TARGET": "local", "INFERCTL_PROJECT_NAME": PROJECT,
       "INFERCTL_APP_REPOSITORY": PROJECT,
       # the local region is one flat network: this stack's VPC must not overlap the others'
       "INFERCTL_NETWORK_VPC_CIDR": "10.22.0.0/16"}


def first_day_lines() -> list[str]:
    """The commands of the README's first-day block (the fenced block after its marker)."""
    text = (REPO / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", text[text.index(MARKER):], re.S).group(1)
    return [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip()]


def run(line: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(["bash", "-c", line], cwd=REPO, text=True, capture_output=True, timeout=30 * 60,
                          env=dict(os.environ, PYTHONUNBUFFERED="1", **ENV))
    sys.stdout.write(f"$ {line}\n{proc.stdout}")
    sys.stderr.write(proc.stderr)
    return proc


@pytest.fixture(scope="module")
def runs(region):
    """Every line's result, in order; the project's AMI disks are removed afterwards."""
    lines = first_day_lines()
    assert [line.split()[:2] for line in lines] == [
        ["python3", "-m"], [".venv/bin/invoke", "up"], [".venv/bin/invoke", "up"], [".venv/bin/invoke", "verify"],
        [".venv/bin/invoke", "destroy"]], f"the README's first-day block changed: {lines}"
    done = []
    try:
        for line in lines:
            done.append(run(line))
            if done[-1].returncode:
                break
        yield done
    finally:
        if len(done) < len(lines) or done[-1].returncode:
            subprocess.run(["bash", "-c", ".venv/bin/invoke destroy --yes"], cwd=REPO, capture_output=True,
                           env=dict(os.environ, **ENV), timeout=600)
        for image in amis.baked_amis(region.client("ec2"), PROJECT):
            disks.remove(image["ImageId"])


def test_every_line_succeeds(runs):
    failed = [(p.args[-1], p.returncode, p.stderr[-800:]) for p in runs if p.returncode]
    assert not failed and len(runs) == 5, failed


def test_the_first_up_bakes_deploys_verifies_and_promotes(runs, region):
    first = runs[1].stdout
    assert "this run bakes one" in first and "VERIFIED" in first
    promoted = amis.read_channel(region.client("ssm"), PROJECT, "latest")
    assert re.search(rf"promote: /{PROJECT}/ami/latest -> {promoted}", first)
    assert first.index("[up] checks") < first.index("[up] app image") < first.index("[up] bake an AMI")


def test_the_second_up_changes_nothing(runs):
    second = runs[2].stdout
    assert "(no bake)" in second and "deploy: nothing to change" in second and "VERIFIED" in second
    assert "[up] bake an AMI" not in second and "promote:" not in second
    assert "creating the ECR repository" not in second


def test_verify_alone_passes(runs):
    assert "VERIFIED" in runs[3].stdout


def test_destroy_leaves_no_instance_and_keeps_the_ami(runs, region):
    assert runs[4].returncode == 0
    assert not service_instances(region, PROJECT)
    assert amis.read_channel(region.client("ssm"), PROJECT, "latest"), "baked AMIs outlive the stack"
