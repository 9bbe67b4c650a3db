"""`.github/workflows/test.yml` as GitHub runs it: each job's own steps, read from the file
(tests/workflow_rehearsal.py), in a fresh clone and a fresh venv of its own, the two jobs side by
side as on two runners. The `unit` and `terraform` tiers run once more inside them, from those
clones, with the workflow's environment (its state folder under the runner's temp)."""

from __future__ import annotations

import io
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import workflow_rehearsal as rehearsal
from e2e_cli import REPO

WORKFLOW = REPO / ".github" / "workflows" / "test.yml"
JOB_TIMEOUT = 30 * 60


@pytest.fixture(scope="module")
def jobs(tmp_path_factory) -> dict[str, list[rehearsal.StepResult]]:
    names = list(rehearsal.yaml.safe_load(WORKFLOW.read_text())["jobs"])
    assert names == ["unit", "terraform"], f"test.yml's jobs changed: {names}"

    def run(name: str) -> tuple[str, list[rehearsal.StepResult], str]:
        workspace = rehearsal.fresh_clone(REPO, tmp_path_factory.mktemp(f"test-workflow-{name}") / "clone")
        job = rehearsal.Job(WORKFLOW, name, workspace, event="push", base_env=rehearsal.runner_env(REPO),
                            timeout=JOB_TIMEOUT)
        out = io.StringIO()
        return name, job.run(out=out), out.getvalue()

    with ThreadPoolExecutor(len(names)) as pool:
        done = list(pool.map(run, names))
    for name, _, output in done:
        sys.stdout.write(f"--- job {name} ---\n{output}")
    return {name: results for name, results, _ in done}


@pytest.mark.parametrize("name", ["unit", "terraform"])
def test_the_job_passes_from_a_fresh_clone(jobs, name):
    results = jobs[name]
    failed = [(r.name, r.output[-2000:]) for r in results if r.returncode]
    assert not failed, failed
    assert [r.kind for r in results].count("run") == 2, "venv + the tier: every run step ran"
    summary = results[-1].output.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary
