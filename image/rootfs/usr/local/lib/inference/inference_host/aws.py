"""The AWS API calls a host program makes (SSM GetParameter/PutParameter, CloudWatch Logs
CreateLogStream/PutLogEvents: both JSON-protocol APIs), sent where the AWS SDKs would send them.

Endpoint: ``AWS_ENDPOINT_URL_<SERVICE>`` (``AWS_ENDPOINT_URL_SSM``), else ``AWS_ENDPOINT_URL``, else
the public regional endpoint ``https://<service>.<region>.amazonaws.com``. The local AWS region
sets ``AWS_ENDPOINT_URL`` in the hosts' systemd environment; on EC2 neither is set.
"""

from __future__ import annotations

import datetime as _dt
import http.client
import json
import urllib.error
import urllib.request

from .sigv4 import sign

TIMEOUT = 5  # seconds per request (the instance metadata service's too)


class AwsError(Exception):
    """An AWS call, or the instance metadata service, failed; the message says which and why.
    ``kind``: the AWS error code when AWS answered with one (ParameterNotFound, ...)."""

    def __init__(self, message: str, kind: str = ""):
        super().__init__(message)
        self.kind = kind


def endpoint_url(service: str, region: str, env) -> str:
    """The URL (ending in /) ``service`` calls go to, from the SDKs' standard variables in ``env``."""
    custom = env.get(f"AWS_ENDPOINT_URL_{service.upper()}") or env.get("AWS_ENDPOINT_URL")
    return (custom or f"https://{service}.{region}.amazonaws.com").rstrip("/") + "/"


# service (its signing name and endpoint prefix) -> (X-Amz-Target prefix, name in messages)
JSON_APIS = {"ssm": ("AmazonSSM", "SSM"), "logs": ("Logs_20140328", "CloudWatch Logs")}


def ssm(endpoint: str, region: str, creds: dict, action: str, payload: dict, what: str) -> dict:
    """One SSM call (``action``: GetParameter, PutParameter, ...); its decoded answer."""
    return call("ssm", endpoint, region, creds, action, payload, what)


def call(service: str, endpoint: str, region: str, creds: dict, action: str, payload: dict, what: str) -> dict:
    """One call of a JSON-protocol API (``service`` in JSON_APIS); its decoded answer."""
    target, label = JSON_APIS[service]
    body = json.dumps(payload).encode()
    headers = sign(creds, region, service, endpoint, {"Content-Type": "application/x-amz-json-1.1",
                                                      "X-Amz-Target": f"{target}.{action}"}, body,
                   _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ"))
    request = urllib.request.Request(endpoint, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            answer = response.read()
            return json.loads(answer) if answer.strip() else {}
    except urllib.error.HTTPError as exc:
        try:
            error = json.loads(exc.read())
        except ValueError:
            error = {}
        kind = str(error.get("__type", f"HTTP {exc.code}")).rsplit("#", 1)[-1]
        raise AwsError(f"{label} {action} {what} in {region}: {kind} {error.get('message') or error.get('Message', '')}".rstrip(), kind) from None
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        raise AwsError(f"{label} {action} {what} at {endpoint}: {getattr(exc, 'reason', exc)!s}") from None


def get_parameter(endpoint: str, region: str, creds: dict, name: str) -> str:
    """The decrypted value of the SSM parameter ``name``."""
    answer = ssm(endpoint, region, creds, "GetParameter", {"Name": name, "WithDecryption": True}, name)
    try:
        return answer["Parameter"]["Value"]
    except (KeyError, TypeError):
        raise AwsError(f"SSM GetParameter {name} at {endpoint}: no Parameter.Value in the answer") from None

