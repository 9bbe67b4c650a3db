"""The local stand-in for cloud-init: apply an instance's user-data to a local host's disk.

The Terraform modules give each instance a `#cloud-config` whose only job is `write_files`
(settings, never installs). Locally nothing runs cloud-init, so this applies exactly that
subset before the host boots, and refuses anything else: a user-data that would need more
than writing a file would need more than the baked image, which is the bug to catch.
"""

from __future__ import annotations

import base64
from pathlib import Path, PurePosixPath

import yaml

from ..errors import UserError

SUPPORTED_KEYS = {"write_files"}


def parse(text: str) -> list[dict]:
    """The write_files entries of a #cloud-config, checked to be settings only."""
    if not text.startswith("#cloud-config"):
        raise UserError("user-data is not a #cloud-config document",
                        hint="the modules render terraform/templates/user-data.yaml.tftpl")
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"user-data is not valid YAML: {exc}") from None
    extra = sorted(set(doc) - SUPPORTED_KEYS)
    if extra:
        raise UserError(f"user-data asks for {', '.join(extra)}: a baked host only takes write_files")
    files = doc.get("write_files", [])
    for entry in files:
        path = PurePosixPath(entry.get("path", ""))
        if not path.is_absolute() or ".." in path.parts:
            raise UserError(f"user-data write_files path {str(path)!r} is not a clean absolute path")
    return files


def apply(root: Path, text: str) -> list[str]:
    """Write the user-data's files into the host's root filesystem; returns their paths."""
    written = []
    for entry in parse(text):
        target = root / entry["path"].lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        content = entry.get("content", "")
        data = base64.b64decode(content) if entry.get("encoding") in ("b64", "base64") else content.encode()
        target.write_bytes(data)
        target.chmod(int(str(entry.get("permissions", "0644")), 8))
        written.append(entry["path"])
    return written


def of_instance(ec2, instance_id: str) -> str:
    """The user-data text EC2 (or moto) holds for an instance."""
    attribute = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
    value = attribute.get("UserData", {}).get("Value")
    if not value:
        raise UserError(f"instance {instance_id} has no user-data")
    return base64.b64decode(value).decode()
