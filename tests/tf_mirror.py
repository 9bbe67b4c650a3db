"""Our test machines have no registry access but carry the AWS provider in a filesystem mirror.

A fact of these machines, never of users' ones: the tests and .ci/run point Terraform at the
mirror through Terraform's own mechanism, a CLI configuration file (TF_CLI_CONFIG_FILE);
the product itself never names the mirror. The one place that knows it is this module:

    python3 tests/tf_mirror.py OUT    # writes the CLI config to OUT and prints OUT, if wanted

It is wanted when the mirror exists and TF_CLI_CONFIG_FILE names no existing file (unset, or
pointing nowhere, as on some of these machines): a CLI config somebody chose is left alone.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

MIRROR = Path("/opt/tf-plugins")


def cli_config(mirror: Path = MIRROR) -> str:
    """CLI configuration that installs registry.terraform.io providers only from ``mirror``."""
    return (
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f'    path    = "{mirror}"\n'
        '    include = ["registry.terraform.io/*/*"]\n'
        "  }\n"
        "  direct {\n"
        '    exclude = ["registry.terraform.io/*/*"]\n'
        "  }\n"
        "}\n"
    )


def write_cli_config(dest: Path, mirror: Path = MIRROR, environ: Mapping[str, str] = os.environ) -> Path | None:
    """Write the CLI config to ``dest`` when wanted (see the module docstring); else None."""
    chosen = environ.get("TF_CLI_CONFIG_FILE", "")
    if (chosen and Path(chosen).is_file()) or not (mirror / "registry.terraform.io").is_dir():
        return None
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(cli_config(mirror))
    return dest


if __name__ == "__main__":
    written = write_cli_config(Path(sys.argv[1]).resolve())
    if written:
        print(written)
