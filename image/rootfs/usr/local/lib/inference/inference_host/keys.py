"""inference-api-keys: put this host's API keys into API_KEYS_FILE at boot (inference-api-keys.service).

With API_KEYS_PARAMETER set (deploy does on AWS): fetch that SSM SecureString parameter (one key
per line) with the instance role's credentials (IMDSv2, SigV4-signed GetParameter) at every boot,
so all hosts share the keys and rotation = update the parameter, restart this unit and the active
slot. A failure (no instance metadata, access denied, no such parameter) is one line on stderr and
exit 1, with the key file left as it was. Without it: make one random key if the file is empty.

Settings come from /etc/inference/defaults.env, then inference.env (envfile's rules). The AWS
endpoints follow the SDKs' variables (aws.py, imds.py); INFERENCE_API_KEYS_ETC and
INFERENCE_API_KEYS_GROUP move the rest for tests.
"""

from __future__ import annotations

import grp
import os
import secrets
import sys
from pathlib import Path

from . import aws, imds
from .envfile import read_env_files
from .files import write_atomic


class KeysError(Exception):
    """Why the keys could not be put in place; the key file is untouched."""


def write_keys(path: Path, text: str, group: str) -> None:
    """Replace ``path`` atomically: mode 0640, root (or whoever runs this) : ``group``."""
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        raise KeysError(f"group {group} does not exist") from None
    write_atomic(path, text if text.endswith("\n") else text + "\n", mode=0o640, gid=gid)


def main(env=os.environ) -> int:
    etc = Path(env.get("INFERENCE_API_KEYS_ETC", "/etc/inference"))
    group = env.get("INFERENCE_API_KEYS_GROUP", "inference")
    try:
        settings = read_env_files(etc / "defaults.env", etc / "inference.env")
        path = Path(settings.get("API_KEYS_FILE") or etc / "api-keys")
        name = settings.get("API_KEYS_PARAMETER", "")
        if name:
            region, creds = imds.instance_identity(imds.endpoint(env))
            value = aws.get_parameter(aws.endpoint_url("ssm", region, env), region, creds, name)
            count = sum(1 for line in value.splitlines() if line.strip() and not line.lstrip().startswith("#"))
            if not count:
                raise KeysError(f"SSM parameter {name} holds no key")
            write_keys(path, value, group)
            print(f"inference-api-keys: {count} key(s) from SSM parameter {name} in {path}")
        elif path.exists() and path.read_text().strip():
            print(f"inference-api-keys: {path} already holds keys, left as it is")
        else:
            write_keys(path, secrets.token_urlsafe(32), group)
            print(f"inference-api-keys: generated this instance's key in {path}")
    except (KeysError, aws.AwsError, OSError, ValueError) as exc:  # ValueError: an env file's line
        print(f"inference-api-keys: {exc}", file=sys.stderr)
        return 1
    return 0
