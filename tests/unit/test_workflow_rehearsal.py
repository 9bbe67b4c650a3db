"""The rehearsal of GitHub Actions jobs (tests/workflow_rehearsal.py) the e2e tier runs the nightly
workflow with: expressions, conditions, $GITHUB_ENV / $GITHUB_PATH, step order and failures, and
its refusal of what it does not know."""

import subprocess
import textwrap
from pathlib import Path

import pytest
import workflow_rehearsal as rehearsal

REPO = Path(__file__).resolve().parents[2]
CONTEXTS = {"github": {"event_name": "schedule", "run_id": "42"}, "inputs": {},
            "vars": {"AWS_REGION": "eu-west-1", "INFERCTL_PROJECT_NAME": "svc"}, "env": {}}


@pytest.mark.parametrize("expression, value", [
    ("github.event_name == 'workflow_dispatch' && inputs.force", False),
    ("github.event_name == 'SCHEDULE'", True),            # string comparison ignores case
    ("vars.AWS_REGION", "eu-west-1"),
    ("vars.MISSING", None),
    ("!(vars.MISSING || '')", True),
    ("vars.MISSING || 'default'", "default"),
    ("1 == 1 && 'it''s'", "it's"),
])
def test_expressions(expression, value):
    assert rehearsal.evaluate(expression, CONTEXTS) == value


def test_a_dispatch_with_force_is_true_text():
    contexts = dict(CONTEXTS, github={"event_name": "workflow_dispatch"}, inputs={"force": True})
    assert rehearsal.interpolate("${{ github.event_name == 'workflow_dispatch' && inputs.force }}",
                                 contexts) == "true"
    assert rehearsal.interpolate("${{ github.event_name == 'workflow_dispatch' && inputs.force }}",
                                 CONTEXTS) == "false"


def test_to_json_of_the_variables():
    assert rehearsal.interpolate("${{ toJSON(vars) }}", CONTEXTS).startswith('{\n  "AWS_REGION": "eu-west-1"')


@pytest.mark.parametrize("expression", ["secrets.TOKEN", "fromJSON('{}')", "vars.A ~ 1", "(vars.A"])
def test_what_is_not_rehearsed_is_an_error(expression):
    with pytest.raises(rehearsal.RehearsalError):
        rehearsal.evaluate(expression, CONTEXTS)


def test_conditions_follow_the_job_status():
    assert rehearsal.condition(None, CONTEXTS, "success") is True
    assert rehearsal.condition(None, CONTEXTS, "failure") is False
    assert rehearsal.condition("always()", CONTEXTS, "failure") is True
    assert rehearsal.condition("${{ vars.AWS_REGION == 'eu-west-1' }}", CONTEXTS, "failure") is False
    assert rehearsal.condition("failure()", CONTEXTS, "failure") is True


def test_env_file_lines_and_blocks():
    text = "A=1\nB<<EOF\nline one\nline=two\nEOF\nA=2\n"
    assert rehearsal.env_file_entries(text) == {"A": "2", "B": "line one\nline=two"}
    with pytest.raises(rehearsal.RehearsalError, match="no closing"):
        rehearsal.env_file_entries("B<<EOF\nnever closed\n")


def _workflow(tmp_path, steps: str) -> tuple[Path, Path]:
    workspace = tmp_path / "clone"
    workspace.mkdir()
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    flow = tmp_path / "flow.yml"
    flow.write_text("on: push\nenv:\n  TOP: top\njobs:\n  job:\n    runs-on: ubuntu-24.04\n"
                    "    env:\n      FORCE: ${{ github.event_name == 'workflow_dispatch' && inputs.force }}\n"
                    "    steps:\n" + textwrap.indent(textwrap.dedent(steps), "      "))
    return flow, workspace


def test_steps_share_the_environment_and_path_and_stop_at_a_failure(tmp_path):
    flow, workspace = _workflow(tmp_path, """\
        - uses: actions/checkout@0000000000000000000000000000000000000000
        - name: first
          env:
            REGION: ${{ vars.AWS_REGION }}
          run: |
            echo "FROM_FIRST=$REGION-$TOP-$FORCE" >> "$GITHUB_ENV"
            mkdir -p "$RUNNER_TEMP/tools" && printf '#!/bin/sh\\necho tool ran\\n' > "$RUNNER_TEMP/tools/tool"
            chmod +x "$RUNNER_TEMP/tools/tool" && echo "$RUNNER_TEMP/tools" >> "$GITHUB_PATH"
        - name: second
          run: echo "second sees $FROM_FIRST" && tool && false && echo never
        - name: skipped after a failure
          run: echo should not run
        - name: always
          if: always()
          run: echo "always ran"
        """)
    job = rehearsal.Job(flow, "job", workspace, variables=CONTEXTS["vars"], base_env={"PATH": "/usr/bin:/bin"})
    results = job.run()
    assert [(r.name, r.kind, r.returncode) for r in results] == [
        ("actions/checkout@0000000000000000000000000000000000000000", "uses", 0), ("first", "run", 0),
        ("second", "run", 1), ("skipped after a failure", "not run", 0), ("always", "run", 0)]
    assert results[2].output == "second sees eu-west-1-top-false\ntool ran\n", "pipefail + -e: stops at false"
    assert results[4].output == "always ran\n"


def test_an_action_without_a_stand_in_is_refused(tmp_path):
    flow, workspace = _workflow(tmp_path, "- uses: someone/deploy-everything@v1\n")
    with pytest.raises(rehearsal.RehearsalError, match="someone/deploy-everything"):
        rehearsal.Job(flow, "job", workspace, base_env={"PATH": "/usr/bin:/bin"}).run()


def test_a_skip_must_name_a_step_of_the_file(tmp_path):
    flow, workspace = _workflow(tmp_path, "- name: real\n  run: 'true'\n")
    with pytest.raises(rehearsal.RehearsalError, match="does not have"):
        rehearsal.Job(flow, "job", workspace, skip={"imaginary": "no reason"})


def test_every_action_of_the_repository_workflows_has_a_stand_in():
    for flow in sorted((REPO / ".github" / "workflows").glob("*.yml")):
        job_specs = rehearsal.yaml.safe_load(flow.read_text())["jobs"].values()
        for spec in job_specs:
            for step in spec["steps"]:
                if "uses" in step:
                    assert step["uses"].split("@")[0] in rehearsal.SUBSTITUTES, (flow.name, step["uses"])


def test_a_fresh_clone_holds_uncommitted_changes_of_tracked_files(tmp_path):
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "file").write_text("committed\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "file"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    (repo / "file").write_text("changed\n")
    clone = rehearsal.fresh_clone(repo, tmp_path / "clone")
    assert (clone / "file").read_text() == "changed\n"
    assert (repo / "file").read_text() == "changed\n", "the working tree is left as it was"
