"""inference-api-keys: put this host's API keys into API_KEYS_FILE at boot (inference-api-keys.service).

With API_KEYS_PARAMETER set (deploy does on AWS): fetch that SSM SecureString parameter (one key
per line) with the instance role's credentials (IMDSv2, SigV4-signed GetParameter) at every boot,
so all hosts share the keys and rotation = update the parameter, run this again, then
`inference-update restart` (a blue/green swap to the same digest: no failed request).
A failed fetch (metadata or SSM not reachable yet, a role still propagating, throttling) is retried
with backoff (1 s doubling to 30 s), one stderr line per attempt, and the slots wait (they start
after this unit): with no keys yet for up to API_KEYS_RETRY_SECONDS (default 900), then exit 1;
with keys from an earlier boot for at most 60 s, then those keys are kept (exit 0, a warning).
The key file is only ever replaced whole, and never with a key the API would refuse (shorter than
MIN_KEY_LENGTH): such a parameter fails this unit and leaves the file as it is. Without a
parameter: make one random key if the file is empty.

Settings come from /etc/inference/defaults.env, then inference.env (envfile's rules). The AWS
endpoints follow the SDKs' variables (aws.py, imds.py); INFERENCE_API_KEYS_ETC and
INFERENCE_API_KEYS_GROUP move the rest for tests.
"""

from __future__ import annotations

import grp
import os
import secrets
import sys
import time
from pathlib import Path

from . import aws, backoff, imds
from .envfile import read_env_files
from .files import write_atomic


KEPT_KEYS_RETRY = 60.0     # seconds a host that has keys from an earlier boot waits for new ones
MIN_KEY_LENGTH = 16        # the API refuses to start with a shorter key (falcon_app.settings)


class KeysError(Exception):
    """Why the keys could not be put in place; the key file is untouched."""


def key_lines(text: str) -> list[str]:
    """The keys of a key file's text: its lines without blanks and # comments."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def count_keys(text: str) -> int:
    return len(key_lines(text))


def count_short(keys: list[str]) -> int:
    """How many of ``keys`` the API would refuse for being shorter than MIN_KEY_LENGTH."""
    return sum(len(key) < MIN_KEY_LENGTH for key in keys)


def write_keys(path: Path, text: str, group: str) -> None:
    """Replace ``path`` atomically: mode 0640, root (or whoever runs this) : ``group``."""
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        raise KeysError(f"group {group} does not exist") from None
    write_atomic(path, text if text.endswith("\n") else text + "\n", mode=0o640, gid=gid)


def main(env=os.environ, *, sleep=time.sleep, clock=time.monotonic) -> int:
    etc = Path(env.get("INFERENCE_API_KEYS_ETC", "/etc/inference"))
    group = env.get("INFERENCE_API_KEYS_GROUP", "inference")
    try:
        settings = read_env_files(etc / "defaults.env", etc / "inference.env")
        path = Path(settings.get("API_KEYS_FILE") or etc / "api-keys")
        name = settings.get("API_KEYS_PARAMETER", "")
        held = count_keys(path.read_text()) if path.exists() else 0
        if name:
            raw = settings.get("API_KEYS_RETRY_SECONDS") or "900"
            try:
                budget = float(raw)
            except ValueError:
                raise KeysError(f"API_KEYS_RETRY_SECONDS={raw!r} is not a number of seconds") from None
            if held:
                budget = min(budget, KEPT_KEYS_RETRY)

            def fetch() -> str:
                region, creds = imds.instance_identity(imds.endpoint(env))
                return aws.get_parameter(aws.endpoint_url("ssm", region, env), region, creds, name)

            try:
                value = backoff.retry(fetch, budget, "inference-api-keys", sleep=sleep, clock=clock)
            except backoff.GaveUp as exc:
                if not held:
                    raise KeysError(str(exc)) from None
                print(f"inference-api-keys: WARNING kept the {held} key(s) already in {path}: "
                      f"SSM parameter {name}: {exc}", file=sys.stderr)
                return 0
            fetched = key_lines(value)
            count = len(fetched)
            if not count:
                raise KeysError(f"SSM parameter {name} holds no key")
            short = count_short(fetched)
            if short:   # the API would refuse them all and the slot crash-loop: keep what serves now
                raise KeysError(f"SSM parameter {name} holds {short} key(s) shorter than {MIN_KEY_LENGTH} "
                                f"characters, which the API refuses; {path} left as it is")
            write_keys(path, value, group)
            print(f"inference-api-keys: {count} key(s) from SSM parameter {name} in {path}")
        elif held:
            print(f"inference-api-keys: {path} already holds keys, left as it is")
        else:
            write_keys(path, secrets.token_urlsafe(32), group)
            print(f"inference-api-keys: generated this instance's key in {path}")
    except (KeysError, aws.AwsError, OSError, ValueError) as exc:  # ValueError: an env file's line
        print(f"inference-api-keys: {exc}", file=sys.stderr)
        return 1
    return 0
