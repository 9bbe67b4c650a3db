"""Shared constants and helpers for the API tests (imported by name; conftest holds fixtures)."""

import json

from inferctl.paths import APP_DIR

KEY = "unit-test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
KNOWN_ANSWERS = json.loads((APP_DIR / "model" / "iris_known_answers.json").read_text())["answers"]


def infer(client, body, headers=None, **kwargs):
    """POST /api/infer with a valid key and JSON content type unless told otherwise."""
    sent = {**AUTH, "Content-Type": "application/json", **(headers or {})}
    if not isinstance(body, (str, bytes)):
        body = json.dumps(body)
    return client.simulate_post("/api/infer", body=body, headers=sent, **kwargs)
