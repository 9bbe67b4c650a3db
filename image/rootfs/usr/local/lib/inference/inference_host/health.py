"""The updater's health gates for a slot on its loopback port: does /health answer, and does the
service answer a real inference? (The unit's own start gate is the shell script wait-healthy,
run by systemd.)"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request

# Where the service's OpenAPI document keeps the example body of POST /api/infer.
EXAMPLE_PATH = ("paths", "/api/infer", "post", "requestBody", "content", "application/json", "example")


class SmokeError(Exception):
    """The slot did not answer as the smoke test expects; the message says how."""


def http_healthy(port: int, timeout: float = 2.0) -> bool:
    """True when the slot's /health answers 200 on its loopback port."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException):
        return False


def _json(request: urllib.request.Request, timeout: float):
    what = f"{request.get_method()} {request.selector}"
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        raise SmokeError(f"{what}: HTTP {exc.code} {exc.read()[:200].decode(errors='replace')}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise SmokeError(f"{what}: {getattr(exc, 'reason', exc)!r}") from None
    try:
        return json.loads(body)
    except ValueError:
        raise SmokeError(f"{what}: the answer is not JSON: {body[:200]!r}") from None


def smoke_infer(port: int, api_key: str, timeout: float = 10.0) -> str:
    """'' when the slot answers the example its own OpenAPI document gives for POST /api/infer
    with one prediction per instance; otherwise why not. /health only says the process is up: an
    image whose model or inference path is broken passes it."""
    base, headers = f"http://127.0.0.1:{port}", {"X-Api-Key": api_key}
    try:
        example = _json(urllib.request.Request(f"{base}/openapi.json", headers=headers), timeout)
        for key in EXAMPLE_PATH:
            example = example[key]
        instances = example["instances"]
        if not isinstance(instances, list) or not instances:
            raise TypeError
    except SmokeError as exc:
        return str(exc)
    except (KeyError, TypeError, IndexError):
        return "its OpenAPI document gives no example body with instances for POST /api/infer"
    try:
        answer = _json(urllib.request.Request(f"{base}/api/infer", data=json.dumps(example).encode(), method="POST",
                                              headers={**headers, "Content-Type": "application/json"}), timeout)
    except SmokeError as exc:
        return str(exc)
    predictions = answer.get("predictions") if isinstance(answer, dict) else None
    if not isinstance(predictions, list) or len(predictions) != len(instances):
        return f"POST /api/infer: not one prediction per instance: {json.dumps(answer)[:200]}"
    return ""
