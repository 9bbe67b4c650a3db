"""Static checks of terraform/: `terraform fmt -check` and checkov.

checkov lives in a venv of its own under CACHE_DIR (made on first use, kept per machine),
never in the project's venv: it pins an old boto3 and its python-hcl2 fork overwrites the
`hcl2` module the project uses. It runs offline (--skip-download).
"""

from __future__ import annotations

import os
import venv
from pathlib import Path

from .errors import UserError
from .paths import CACHE_DIR, TERRAFORM_DIR
from .shell import run

CHECKOV_VERSION = "3.3.30"
CHECKOV_VENV = CACHE_DIR / "venvs" / f"checkov-{CHECKOV_VERSION}"
STAMP = ".installed"


def checkov_venv() -> Path:
    """The checkov venv, created and installed on first use (a one-off per machine)."""
    if (CHECKOV_VENV / STAMP).exists():
        return CHECKOV_VENV
    print(f"lint: installing checkov {CHECKOV_VERSION} into {CHECKOV_VENV} (once per machine)", flush=True)
    venv.create(CHECKOV_VENV, with_pip=True, clear=True)
    try:
        run([CHECKOV_VENV / "bin" / "pip", "install", "--quiet", f"checkov=={CHECKOV_VERSION}"], capture=True)
    except UserError as exc:
        raise UserError(f"could not install checkov: {exc}", hint="is PyPI reachable (pip config)?") from None
    (CHECKOV_VENV / STAMP).write_text(CHECKOV_VERSION + "\n")
    return CHECKOV_VENV


def checkov(path: Path = TERRAFORM_DIR) -> bool:
    """Run checkov over ``path`` (offline); True when no check failed. Output is streamed."""
    binary = checkov_venv() / "bin" / "checkov"
    proc = run([binary, "--directory", path, "--framework", "terraform", "--skip-download",
                "--compact", "--quiet"], check=False)
    return proc.returncode == 0


def terraform_fmt(path: Path = TERRAFORM_DIR) -> bool:
    """`terraform fmt -check` over ``path``; True when everything is formatted."""
    # fmt needs no providers: an empty CLI config keeps a missing ~/.terraformrc from warning.
    env = dict(os.environ, TF_CLI_CONFIG_FILE=os.devnull)
    proc = run(["terraform", "fmt", "-check", "-recursive", "-diff", path], check=False, env=env)
    return proc.returncode == 0


def terraform() -> None:
    """Both checks; a UserError naming what failed."""
    failed = [name for name, ok in (("terraform fmt", terraform_fmt()), ("checkov", checkov())) if not ok]
    if failed:
        raise UserError(f"lint failed: {', '.join(failed)}",
                        hint="terraform fmt -recursive terraform/ fixes formatting; fix or justify "
                             "(inline checkov:skip=ID: reason) each checkov finding")
    print("lint: terraform fmt and checkov passed", flush=True)
