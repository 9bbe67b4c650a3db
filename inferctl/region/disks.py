"""The local region's AMI disks: one root filesystem tarball per AMI that can boot.

The stand-in for an AMI's EBS snapshot. An AMI with a disk here launches as a real local host;
one without (moto's catalogue, a test's registered image) stays a record in moto only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import UserError
from ..paths import CACHE_DIR, ensure


def store() -> Path:
    return CACHE_DIR / "amis"


def path(ami_id: str) -> Path:
    return store() / f"{ami_id}.tar"


def find(ami_id: str) -> Path | None:
    """The disk of an AMI, or None when it has none (it cannot boot as a local host)."""
    tar = path(ami_id)
    return tar if tar.is_file() else None


def require(ami_id: str) -> Path:
    tar = find(ami_id)
    if tar is None:
        raise UserError(f"local AMI {ami_id} has no disk image at {path(ami_id)}", hint="bake one: invoke bake")
    return tar


def save(ami_id: str, tar: Path, record: dict) -> Path:
    """Make ``tar`` (renamed, same filesystem) the disk of ``ami_id``, with a JSON record beside it."""
    target = path(ami_id)
    ensure(target.parent)
    tar.rename(target)
    target.with_suffix(".json").write_text(json.dumps({"ami": ami_id, **record}, indent=1))
    return target


def adopt(ami_id: str, tar: Path, record: dict) -> Path:
    """Make an existing tarball (kept where it is: a hard link) the disk of ``ami_id``."""
    target = path(ami_id)
    ensure(target.parent)
    target.unlink(missing_ok=True)
    os.link(tar, target)
    target.with_suffix(".json").write_text(json.dumps({"ami": ami_id, **record}, indent=1))
    return target


def link(source_ami: str, new_ami: str) -> bool:
    """CopyImage: the copy shares the source's disk (a hard link); False if the source has none."""
    tar = find(source_ami)
    if tar is None:
        return False
    adopt(new_ami, tar, {"copied_from": source_ami})
    return True


def remove(ami_id: str) -> None:
    for suffix in (".tar", ".json"):
        path(ami_id).with_suffix(suffix).unlink(missing_ok=True)
