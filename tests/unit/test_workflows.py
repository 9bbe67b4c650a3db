"""The GitHub workflows pass actionlint (which also runs shellcheck over their `run:` scripts),
pin every action by commit, install a Terraform the configuration accepts, and have their shape."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"


def actionlint() -> str:
    # Installed by the dev extra into the venv's bin (next to this interpreter).
    found = Path(sys.executable).parent / "actionlint"
    path = str(found) if found.exists() else shutil.which("actionlint")
    if path is None:
        pytest.skip("actionlint is not installed: the dev extra ships it (pip install -e .[dev])")
    return path


def lint(*files: Path) -> subprocess.CompletedProcess:
    return subprocess.run([actionlint(), "-no-color", *map(str, files)], capture_output=True, text=True,
                          cwd=REPO, timeout=120)


def test_workflows_pass_actionlint():
    files = sorted(WORKFLOWS.glob("*.y*ml"))
    assert files, f"no workflows in {WORKFLOWS}"
    result = lint(*files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_does_catch_mistakes(tmp_path):
    """A broken workflow fails, so the test above cannot pass vacuously."""
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n"
                   "      - run: echo ${{ github.event.nope.what }}\n      - uses: actions/checkout@v4\n"
                   "        with:\n          no-such-input: 1\n")
    result = lint(bad)
    assert result.returncode == 1
    assert "no-such-input" in result.stdout


def test_rebake_workflow_shape():
    flow = yaml.safe_load((WORKFLOWS / "rebake.yml").read_text())
    triggers = flow[True]  # YAML 1.1 reads the key `on` as True
    assert "schedule" in triggers and triggers["workflow_dispatch"]["inputs"]["force"]["type"] == "boolean"
    assert flow["permissions"]["id-token"] == "write"
    assert flow["concurrency"]["cancel-in-progress"] is False
    steps = flow["jobs"]["rebake"]["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert any(u.startswith("aws-actions/configure-aws-credentials") for u in uses)
    creds = next(s for s in steps if s.get("uses", "").startswith("aws-actions/configure-aws-credentials"))
    assert "role-to-assume" in creds["with"] and "aws-access-key-id" not in creds["with"]
    assert any("invoke rebake" in s.get("run", "") for s in steps)
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and "manifest.json" in upload["with"]["path"]


def _workflows() -> dict[str, dict]:
    return {path.name: yaml.safe_load(path.read_text()) for path in sorted(WORKFLOWS.glob("*.y*ml"))}


def test_every_action_is_pinned_by_commit_with_its_version_named():
    """Every `uses:` of every workflow (steps and reusable-workflow jobs) is owner/repo@<40-hex
    commit> followed by `# vX.Y.Z`; the YAML's own list proves the line scan saw all of them."""
    for path in sorted(WORKFLOWS.glob("*.y*ml")):
        scanned = []
        for line in path.read_text().splitlines():
            match = re.match(r"\s*(?:- )?uses:\s*(\S+)(.*)", line)
            if match and not match.group(1).startswith("./"):
                scanned.append(match.group(1))
                assert re.fullmatch(r"[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}", match.group(1)), f"{path.name}: {line}"
                assert re.fullmatch(r"\s+# v\d+\.\d+\.\d+", match.group(2)), f"{path.name}: {line}"
        jobs = yaml.safe_load(path.read_text())["jobs"].values()
        parsed = [job["uses"] for job in jobs if "uses" in job]
        parsed += [step["uses"] for job in jobs for step in job.get("steps", []) if "uses" in step]
        assert sorted(scanned) == sorted(u for u in parsed if not u.startswith("./")), path.name


def test_installed_terraform_meets_the_required_version():
    required = re.search(r'required_version = ">= (\d+)\.(\d+)"', (REPO / "terraform" / "versions.tf").read_text())
    versions = [step["with"]["terraform_version"] for flow in _workflows().values() for job in flow["jobs"].values()
                for step in job["steps"] if step.get("uses", "").startswith("hashicorp/setup-terraform@")]
    assert required and versions
    for version in versions:
        assert tuple(map(int, version.split(".")[:2])) >= tuple(map(int, required.groups())), version


def test_rebake_config_comes_from_the_environment():
    """No committed inferctl.toml: the target is AWS, and every INFERCTL_* repository variable
    becomes an environment variable (config keys are INFERCTL_<SECTION>_<KEY>)."""
    steps = _workflows()["rebake.yml"]["jobs"]["rebake"]["steps"]
    step = next(s for s in steps if "GITHUB_ENV" in s.get("run", ""))
    assert step["env"]["REPOSITORY_VARIABLES"] == "${{ toJSON(vars) }}"
    assert 'echo "INFERCTL_PROJECT_TARGET=aws"' in step["run"] and 'startswith("INFERCTL_")' in step["run"]
    assert steps.index(step) < next(i for i, s in enumerate(steps) if "invoke rebake" in s.get("run", ""))


def test_test_workflow_runs_the_unit_and_terraform_tiers_on_every_push_and_pull_request():
    flow = _workflows()["test.yml"]
    assert {"push", "pull_request"} <= set(flow[True])
    runs = [step.get("run", "") for job in flow["jobs"].values() for step in job["steps"]]
    assert any("pytest tests/unit" in run for run in runs)
    assert any("pytest tests/terraform" in run for run in runs)
