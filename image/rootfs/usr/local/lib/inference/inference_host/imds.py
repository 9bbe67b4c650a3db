"""The instance metadata service, IMDSv2 only: this instance's region and its role's credentials.

Address: ``AWS_EC2_METADATA_SERVICE_ENDPOINT`` when set (as the AWS SDKs read it), else the
link-local http://169.254.169.254 (the local AWS region routes that address to its own service).
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request

from .aws import TIMEOUT, AwsError

DEFAULT_ENDPOINT = "http://169.254.169.254"


def endpoint(env) -> str:
    """The metadata service's base URL (no trailing /) for the environment ``env``."""
    return (env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def _http(request: urllib.request.Request, what: str) -> bytes:
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        raise AwsError(f"{what}: HTTP {exc.code} {exc.read()[:300].decode(errors='replace')}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:  # HTTPException: a cut-off answer
        raise AwsError(f"{what}: {getattr(exc, 'reason', exc)!r}") from None


def _reader(base: str):
    """A GET of a metadata path under /latest/, with a fresh IMDSv2 session token."""
    what = f"instance metadata {base} unreachable or refused (not on EC2, or no instance profile?)"
    token = _http(urllib.request.Request(f"{base}/latest/api/token", method="PUT",
                                         headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"}), what)

    def get(path: str) -> str:
        return _http(urllib.request.Request(f"{base}/latest/{path}",
                                            headers={"X-aws-ec2-metadata-token": token.decode()}), what).decode()
    return get


def instance_identity(base: str) -> tuple[str, dict]:
    """(region, role credentials) from the metadata service at ``base``."""
    get = _reader(base)
    region = get("meta-data/placement/region").strip()
    roles = get("meta-data/iam/security-credentials/").split()
    if not roles:
        raise AwsError("the instance has no IAM role (instance profile)")
    try:
        creds = json.loads(get(f"meta-data/iam/security-credentials/{roles[0]}"))
    except ValueError as exc:
        raise AwsError(f"instance metadata: role {roles[0]}'s credentials are not JSON: {exc}") from None
    return region, creds


def instance_id(base: str) -> str:
    """This instance's id (i-...) from the metadata service at ``base``."""
    return _reader(base)("meta-data/instance-id").strip()
