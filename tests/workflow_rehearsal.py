"""A GitHub Actions job rehearsed on this machine, read from the workflow file itself.

The job's `run:` steps run in order as a hosted runner runs them (`bash --noprofile --norc -eo
pipefail`, in the checkout, with the workflow's, the job's and the step's `env:`, `$GITHUB_ENV`
and `$GITHUB_PATH` carried from step to step, `${{ }}` expressions evaluated, `if:` honoured).
A `uses:` step runs this machine's stand-in for its action (SUBSTITUTES); an action without one
fails the rehearsal, so a new step cannot slip past it. A `run:` step that cannot run here is
skipped only when ``skip`` names it with the reason (and the name must exist in the file).

Expressions: the subset workflows here use (contexts ``github``, ``inputs``, ``vars``, ``env``,
``runner``;
literals; ``== != && || !`` and parentheses; ``toJSON``, ``always``, ``success``, ``failure``).
Anything else is an error, never a guess.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}", re.S)
TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>==|!=|&&|\|\||[!()\[\],.])"
                   r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))")


class RehearsalError(Exception):
    """The workflow uses something the rehearsal does not know, or a step failed."""


# -- expressions ---------------------------------------------------------------------------
def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise RehearsalError(f"expression {text!r}: cannot read {text[pos:]!r}")
        kind = match.lastgroup
        out.append((kind, match.group(kind)))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def truthy(value) -> bool:
    return value not in (None, False, 0, "") and value == value  # NaN is falsy


def as_text(value) -> str:
    """A value where GitHub puts text (env, with:, scripts): booleans lower-case, null empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, indent=2)
    return str(value)


class _Parser:
    def __init__(self, text: str, contexts: dict, status: str):
        self.text, self.tokens, self.pos = text, _tokens(text), 0
        self.contexts, self.status = contexts, status

    def parse(self):
        value = self._or()
        if self.pos != len(self.tokens):
            raise RehearsalError(f"expression {self.text!r}: unexpected {self.tokens[self.pos][1]!r}")
        return value

    def _peek(self, value: str) -> bool:
        return self.pos < len(self.tokens) and self.tokens[self.pos][1] == value

    def _take(self, value: str | None = None) -> tuple[str, str]:
        if self.pos >= len(self.tokens) or (value is not None and self.tokens[self.pos][1] != value):
            raise RehearsalError(f"expression {self.text!r}: expected {value or 'more'}")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def _or(self):
        left = self._and()
        while self._peek("||"):
            self._take()
            right = self._and()
            left = left if truthy(left) else right
        return left

    def _and(self):
        left = self._compare()
        while self._peek("&&"):
            self._take()
            right = self._compare()
            left = right if truthy(left) else left
        return left

    def _compare(self):
        left = self._unary()
        while self._peek("==") or self._peek("!="):
            op = self._take()[1]
            right = self._unary()
            same = (left.lower() == right.lower()) if isinstance(left, str) and isinstance(right, str) \
                else left == right
            left = same if op == "==" else not same
        return left

    def _unary(self):
        if self._peek("!"):
            self._take()
            return not truthy(self._unary())
        return self._primary()

    def _primary(self):
        kind, value = self._take()
        if value == "(":
            inner = self._or()
            self._take(")")
            return inner
        if kind == "str":
            return value[1:-1].replace("''", "'")
        if kind == "num":
            return float(value) if "." in value else int(value)
        if kind != "name":
            raise RehearsalError(f"expression {self.text!r}: unexpected {value!r}")
        if value in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[value]
        if self._peek("("):
            return self._call(value)
        if value not in self.contexts:
            raise RehearsalError(f"expression {self.text!r}: context {value!r} is not rehearsed")
        current = self.contexts[value]
        while self._peek("."):
            self._take()
            key = self._take()[1]
            current = current.get(key) if isinstance(current, dict) else None
        return current

    def _call(self, name: str):
        self._take("(")
        args = []
        while not self._peek(")"):
            args.append(self._or())
            if not self._peek(")"):
                self._take(",")
        self._take(")")
        if name == "toJSON" and len(args) == 1:
            return json.dumps(args[0], indent=2)
        if name in ("always", "success", "failure", "cancelled") and not args:
            return {"always": True, "success": self.status == "success", "failure": self.status == "failure",
                    "cancelled": False}[name]
        raise RehearsalError(f"expression {self.text!r}: function {name}({len(args)} args) is not rehearsed")


def evaluate(expression: str, contexts: dict, status: str = "success"):
    """The value of one expression (the text between ``${{`` and ``}}``)."""
    return _Parser(expression, contexts, status).parse()


def interpolate(text, contexts: dict, status: str = "success") -> str:
    """``text`` with every ``${{ expression }}`` replaced by its value as text."""
    if not isinstance(text, str):
        return as_text(text)
    return EXPRESSION.sub(lambda match: as_text(evaluate(match.group(1), contexts, status)), text)


def condition(text, contexts: dict, status: str) -> bool:
    """Whether a step with ``if: text`` runs (no ``if``: only while every earlier step succeeded)."""
    if text is None:
        return status == "success"
    expression = text.strip()
    match = EXPRESSION.fullmatch(expression)
    expression = match.group(1) if match else expression
    # GitHub adds success() unless the condition asks about the job's status itself
    if not re.search(r"\b(always|success|failure|cancelled)\(", expression):
        expression = f"success() && ({expression})"
    return truthy(evaluate(expression, contexts, status))


# -- the job ---------------------------------------------------------------------------------
def env_file_entries(text: str) -> dict[str, str]:
    """``$GITHUB_ENV``'s ``NAME=value`` lines and ``NAME<<DELIMITER`` blocks, later ones winning."""
    entries, lines = {}, iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body = []
            for inner in lines:
                if inner == delimiter:
                    break
                body.append(inner)
            else:
                raise RehearsalError(f"$GITHUB_ENV: {name} has no closing {delimiter}")
            entries[name] = "\n".join(body)
        elif line.strip():
            if "=" not in line:
                raise RehearsalError(f"$GITHUB_ENV: not NAME=value: {line!r}")
            name, value = line.split("=", 1)
            entries[name] = value
    return entries


@dataclass
class StepResult:
    name: str
    kind: str            # "run", "uses", "skipped", "not run"
    returncode: int = 0
    output: str = ""
    seconds: float = 0.0


@dataclass
class Job:
    """One job of a workflow file, with what GitHub would give it."""

    workflow: Path
    job: str
    workspace: Path                 # the checkout (a clone made by the caller)
    event: str = "schedule"
    inputs: dict = field(default_factory=dict)
    variables: dict = field(default_factory=dict)   # the repository variables (vars)
    base_env: dict = field(default_factory=dict)    # the runner's environment
    skip: dict = field(default_factory=dict)        # run-step name -> why it cannot run here
    timeout: float = 3600.0

    def __post_init__(self):
        self.flow = yaml.safe_load(self.workflow.read_text())
        if self.job not in self.flow.get("jobs", {}):
            raise RehearsalError(f"{self.workflow.name} has no job {self.job!r}")
        self.spec = self.flow["jobs"][self.job]
        names = {step.get("name") for step in self.steps}
        missing = set(self.skip) - names
        if missing:
            raise RehearsalError(f"steps to skip that {self.workflow.name} does not have: {sorted(missing)}")
        self.temp = self.workspace.parent / f"{self.workspace.name}-runner-temp"
        self.artifacts = self.workspace.parent / f"{self.workspace.name}-artifacts"

    @property
    def steps(self) -> list[dict]:
        return self.spec["steps"]

    def run(self, out=sys.stdout) -> list[StepResult]:
        """Every step in order; a failed step fails the job, as on GitHub (``if:`` may still run)."""
        self.temp.mkdir(parents=True, exist_ok=True)
        env_file, path_file = self.temp / "github_env", self.temp / "github_path"
        env_file.write_text("")
        path_file.write_text("")
        run_id = str(int(time.time()))
        github = {"event_name": self.event, "run_id": run_id, "workspace": str(self.workspace),
                  "repository": "rehearsal/inferctl", "ref": "refs/heads/main"}
        env = dict(self.base_env, CI="true", GITHUB_ACTIONS="true", GITHUB_WORKSPACE=str(self.workspace),
                   GITHUB_ENV=str(env_file), GITHUB_PATH=str(path_file), GITHUB_EVENT_NAME=self.event,
                   GITHUB_RUN_ID=run_id, RUNNER_TEMP=str(self.temp), RUNNER_OS="Linux")
        contexts = {"github": github, "inputs": self.inputs, "vars": self.variables, "env": env,
                    "runner": {"temp": str(self.temp), "os": "Linux", "arch": "X64"}}
        for scope in (self.flow.get("env") or {}, self.spec.get("env") or {}):
            env.update({name: interpolate(value, contexts) for name, value in scope.items()})
        status, results, deadline = "success", [], time.monotonic() + self.timeout
        for index, step in enumerate(self.steps):
            name = step.get("name") or step.get("uses") or f"step {index + 1}"
            if not condition(step.get("if"), contexts, status):
                results.append(StepResult(name, "not run"))
                continue
            if name in self.skip:
                results.append(StepResult(name, "skipped", output=self.skip[name]))
                out.write(f"[rehearsal] skip: {name}: {self.skip[name]}\n")
                continue
            step_env = dict(env, **{k: interpolate(v, contexts, status) for k, v in (step.get("env") or {}).items()})
            paths = [line for line in path_file.read_text().splitlines() if line.strip()]
            if paths:
                step_env["PATH"] = os.pathsep.join([*reversed(paths), env["PATH"]])
            started = time.monotonic()
            out.write(f"[rehearsal] {name}\n")
            if "run" in step:
                result = self._run_script(name, interpolate(step["run"], contexts, status), step_env,
                                          max(1.0, deadline - time.monotonic()))
            else:
                result = self._use(name, step, contexts, status, step_env, path_file)
            result.seconds = time.monotonic() - started
            out.write(result.output)
            results.append(result)
            env.update(env_file_entries(env_file.read_text()))
            if result.returncode:
                status = "failure"
        return results

    def _run_script(self, name: str, script: str, env: dict, timeout: float) -> StepResult:
        script_file = self.temp / "step.sh"
        script_file.write_text(script)
        shell = self.spec.get("defaults", {}).get("run", {}).get("shell", "bash")
        if shell != "bash":
            raise RehearsalError(f"shell {shell!r} is not rehearsed")
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)],
                              cwd=self.workspace, env=env, text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=timeout, stdin=subprocess.DEVNULL)
        return StepResult(name, "run", proc.returncode, proc.stdout)

    def _use(self, name: str, step: dict, contexts: dict, status: str, env: dict, path_file: Path) -> StepResult:
        action = step["uses"].split("@", 1)[0]
        substitute = SUBSTITUTES.get(action)
        if substitute is None:
            raise RehearsalError(f"step {name!r} uses {action}, which has no stand-in on this machine")
        given = {key: interpolate(value, contexts, status) for key, value in (step.get("with") or {}).items()}
        try:
            output = substitute(self, given, env, path_file) or ""
        except RehearsalError as exc:
            return StepResult(name, "uses", 1, f"{action}: {exc}\n")
        return StepResult(name, "uses", 0, output)


# -- stand-ins for the actions (what each does on a hosted runner, done with this machine) ----
def _checkout(job: Job, given: dict, env: dict, path_file: Path) -> str:
    if not (job.workspace / ".git").exists():
        raise RehearsalError(f"{job.workspace} is not a clone")
    return f"checkout: the clone at {job.workspace}\n"


def _setup_python(job: Job, given: dict, env: dict, path_file: Path) -> str:
    version = given.get("python-version", "")
    found = shutil.which(f"python{version}")
    if not found:
        raise RehearsalError(f"no python{version} on this machine")
    bin_dir = job.temp / "python-bin"
    bin_dir.mkdir(exist_ok=True)
    for name in ("python", "python3"):
        link = bin_dir / name
        link.unlink(missing_ok=True)
        link.symlink_to(os.path.realpath(found))
    with open(path_file, "a") as paths:
        paths.write(f"{bin_dir}\n")
    return f"setup-python: python {version} = {os.path.realpath(found)}\n"


def _tool_on_path(tool: str, version_key: str, exact: bool):
    def setup(job: Job, given: dict, env: dict, path_file: Path) -> str:
        found = shutil.which(tool, path=env["PATH"])
        if not found:
            raise RehearsalError(f"{tool} is not installed on this machine")
        shown = subprocess.run([found, "version"], capture_output=True, text=True).stdout.split("\n")[0].strip()
        wanted = given.get(version_key, "")
        if exact and wanted and wanted not in shown:
            raise RehearsalError(f"the workflow installs {tool} {wanted}; this machine has {shown}")
        return f"setup-{tool}: {shown} (the workflow installs {wanted or 'the latest'})\n"
    return setup


def _aws_credentials(job: Job, given: dict, env: dict, path_file: Path) -> str:
    """What the OIDC role assumption leaves in the job's environment: a region and credentials
    (fake ones: the local region accepts any)."""
    if not given.get("role-to-assume"):
        raise RehearsalError("no role-to-assume: the job would have no credentials")
    region = given.get("aws-region", "")
    if not region:
        raise RehearsalError("no aws-region")
    with open(job.temp / "github_env", "a") as out:
        out.write(f"AWS_REGION={region}\nAWS_DEFAULT_REGION={region}\nAWS_ACCESS_KEY_ID=ASIAREHEARSAL0000000\n"
                  "AWS_SECRET_ACCESS_KEY=rehearsal\nAWS_SESSION_TOKEN=rehearsal-session\n")
    return f"configure-aws-credentials: role {given['role-to-assume']} in {region} (fake credentials)\n"


def _upload_artifact(job: Job, given: dict, env: dict, path_file: Path) -> str:
    """The files the path patterns match, copied to the job's artifact folder."""
    target = job.artifacts / given.get("name", "artifact")
    copied = []
    for pattern in filter(None, (line.strip() for line in given.get("path", "").splitlines())):
        for match in sorted(glob.glob(pattern, root_dir=job.workspace, recursive=True)):
            source = job.workspace / match
            destination = target / match
            destination.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, destination, dirs_exist_ok=True)
            else:
                shutil.copy2(source, destination)
            copied.append(match)
    if not copied and given.get("if-no-files-found", "warn") == "error":
        raise RehearsalError("no files matched")
    return f"upload-artifact: {len(copied)} path(s) into {target}\n"


SUBSTITUTES = {
    "actions/checkout": _checkout,
    "actions/setup-python": _setup_python,
    "hashicorp/setup-packer": _tool_on_path("packer", "version", exact=False),
    "hashicorp/setup-terraform": _tool_on_path("terraform", "terraform_version", exact=True),
    "aws-actions/configure-aws-credentials": _aws_credentials,
    "actions/upload-artifact": _upload_artifact,
}


def runner_env(repo: Path) -> dict[str, str]:
    """This machine's environment as a fresh runner's: without the test run's venv, config
    (INFERCTL_*) and AWS settings, keeping the machine's facts (CA bundles, pip's index, the
    Terraform provider mirror's CLI config)."""
    venv = str(repo / ".venv")
    dropped = ("INFERCTL_", "GITHUB_", "PYTEST_", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(dropped) and (not k.startswith("AWS_") or k == "AWS_CA_BUNDLE")}
    env["PATH"] = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                                  if p and not p.startswith(venv))
    return env


def fresh_clone(repo: Path, destination: Path) -> Path:
    """A clone of ``repo`` at what its working tree holds (uncommitted changes to tracked files
    included, as `git stash create` records them), as actions/checkout leaves one."""
    def git(*args, cwd=repo) -> str:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()
    commit = git("stash", "create") or git("rev-parse", "HEAD")
    git("clone", "-q", "--no-checkout", str(repo), str(destination))  # a local clone copies every object
    git("checkout", "-q", commit, cwd=destination)
    return destination
