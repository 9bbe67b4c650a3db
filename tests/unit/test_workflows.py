"""The GitHub workflows pass actionlint (which also runs shellcheck over their `run:` scripts)."""

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
