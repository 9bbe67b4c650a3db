"""Running Packer: version detection, validate, init and build with output streamed and logged.

Which Packer runs which template:
- `aws.pkr.hcl` (modern): Packer >= 1.10 with the amazon plugin (`packer init` installs it).
- `aws-legacy/aws.pkr.hcl`: Packer 1.6.6 (Debian 12's) up to 1.9, with the built-in amazon builder;
  it has no `required_plugins` block, no `amazon-ami` data source and no `imds_support`.
- the local region (`bake --local`): the same amazon-ebs template against the region's EC2
  endpoint, legacy or modern by the Packer found.
Packer resolves relative paths from its working directory, so templates hold absolute paths and
Packer runs from the rendered template's folder.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from ..errors import UserError
from ..shell import output, require

MODERN = (1, 10, 0)
OLDEST = (1, 6, 6)

# The amazon plugin the modern template requires, held to one minor series. From 1.3.10 on the
# plugin's binaries are published only on releases.hashicorp.com, where `packer init` looks from
# Packer 1.14 on; Packer 1.10-1.13 (the rebake workflow runs 1.11) install from GitHub releases,
# skipping tags without binaries, so they get 1.3.9 and newer Packer 1.3.10. 1.4-1.8 (AWS SDK v2
# rewrites, the newest 1.8.2) would leave Packer < 1.14 with nothing it can install.
AMAZON_PLUGIN = "~> 1.3.9"


def env() -> dict[str, str]:
    return dict(os.environ, CHECKPOINT_DISABLE="1", PACKER_NO_COLOR="1")


def version() -> tuple[int, int, int]:
    text = output([require("packer"), "version"], env=env())
    match = re.search(r"v?(\d+)\.(\d+)\.(\d+)", text)
    if not match:
        raise UserError(f"cannot read the Packer version from {text!r}")
    found = tuple(int(part) for part in match.groups())
    if found < OLDEST:
        raise UserError(f"Packer {'.'.join(map(str, found))} is too old (need >= 1.6.6)",
                        hint="apt-get install -y packer, or a release from releases.hashicorp.com")
    return found


def is_modern(found: tuple[int, int, int]) -> bool:
    return found >= MODERN


def validate(template: Path) -> None:
    proc = subprocess.run([require("packer"), "validate", template.name], cwd=template.parent, env=env(),
                          capture_output=True, text=True)
    if proc.returncode:
        lines = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-6:])
        raise UserError(f"packer validate {template} failed: {lines}")


def init(template: Path) -> None:
    """Install the plugins a modern template requires (no-op when present)."""
    stream(["init", template.name], template.parent, template.parent / "packer-init.log")


def build(template: Path, log: Path, extra_env: dict[str, str] | None = None) -> None:
    """`packer build`, its output shown as it comes and kept in `log`; a failure is a UserError.
    ``extra_env``: e.g. the local region's fake credentials."""
    stream(["build", "-color=false", "-on-error=cleanup", template.name], template.parent, log, extra_env)


def stream(args: list[str], cwd: Path, log: Path, extra_env: dict[str, str] | None = None) -> None:
    argv = [require("packer"), *args]
    with open(log, "w") as out:
        proc = subprocess.Popen(argv, cwd=cwd, env={**env(), **(extra_env or {})}, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT,
                                text=True, bufsize=1)
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            out.write(line)
        code = proc.wait()
    if code:
        raise UserError(f"packer {args[0]} failed (exit {code})", hint=f"full output: {log}")
