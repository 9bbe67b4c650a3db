"""Reading Packer's manifest post-processor output (build/packer/<target>/manifest.json)."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import UserError


def last_run(path: Path) -> dict:
    """The build entry of the newest run recorded in the manifest (Packer appends runs)."""
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError) as exc:
        raise UserError(f"Packer manifest {path} is missing or unreadable: {exc}") from None
    run_uuid = data.get("last_run_uuid")
    builds = [b for b in data.get("builds", []) if b.get("packer_run_uuid") == run_uuid]
    if not builds:
        raise UserError(f"Packer manifest {path} has no build for its last run")
    return builds[-1]


def ami_ids(path: Path) -> dict[str, str]:
    """{region: AMI id} from an amazon-ebs artifact id ("eu-west-1:ami-1,us-east-1:ami-2")."""
    artifact = last_run(path).get("artifact_id", "")
    pairs = dict(part.split(":", 1) for part in artifact.split(",") if ":" in part)
    if not pairs:
        raise UserError(f"Packer manifest {path}: no AMI in artifact id {artifact!r}")
    return pairs
