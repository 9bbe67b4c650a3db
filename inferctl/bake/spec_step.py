"""The bake's test step, run by Packer's shell-local provisioner on the machine running Packer.

Packer passes its own connection to the build host (build.Host/Port/User/SSHPrivateKey) in
SPEC_* variables; this writes the key to a private temporary file and runs the image's
testinfra suite (bake phase) over SSH. A non-zero exit fails the Packer build.
INFERCTL_SPEC_EXTRA adds pytest arguments (shell-quoted), e.g. a file of site-specific
checks, or `-k` to narrow the run (the host tier injects a failing test this way).

    python -m inferctl.bake.spec_step --phase bake --report build/packer/local/spec-bake.xml
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
from pathlib import Path

from ..errors import UserError
from ..hostspec.runner import run_spec

REQUIRED = ("SPEC_HOST", "SPEC_PORT", "SPEC_USER", "SPEC_SSH_KEY")


def target_url(host: str, port: str, user: str, key_file: Path) -> str:
    return f"ssh://{user}@{host}:{port}?ssh_identity_file={key_file}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase", default="bake")
    parser.add_argument("--report", type=Path, required=True)
    args = parser.parse_args(argv)
    missing = [name for name in REQUIRED if not os.environ.get(name)]
    if missing:
        print(f"spec: missing {', '.join(missing)} (run by Packer's shell-local provisioner)", file=sys.stderr)
        return 2
    extra = shlex.split(os.environ.get("INFERCTL_SPEC_EXTRA", ""))
    with tempfile.TemporaryDirectory(prefix="inferctl-spec-") as tmp:
        key = Path(tmp) / "id"
        key.touch(mode=0o600)
        key.write_text(os.environ["SPEC_SSH_KEY"].strip() + "\n")
        url = target_url(os.environ["SPEC_HOST"], os.environ["SPEC_PORT"], os.environ["SPEC_USER"], key)
        try:
            result = run_spec(url, args.phase, args.report, pytest_args=extra)
        except UserError as exc:
            print(f"spec: {exc}", file=sys.stderr)
            return 2
    print(f"spec: {result.summary()}", flush=True)
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
