"""Fixtures for the API tests: settings with a known key, the built-in model, clients."""

import json
from pathlib import Path

import falcon.testing
import pytest

from falcon_app.app import create_app
from falcon_app.model import load_predictor
from falcon_app.settings import Settings

KEY = "unit-test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
KNOWN_ANSWERS = json.loads((Path(__file__).parent.parent / "data" / "iris_known_answers.json").read_text())


@pytest.fixture(scope="session")
def predictor():
    return load_predictor()


@pytest.fixture
def settings():
    return Settings(api_keys=(KEY,), max_body_bytes=4096, max_batch=8)


@pytest.fixture(params=["asgi", "wsgi"])
def client(request, settings, predictor):
    """The same tests run against the ASGI and the WSGI flavour."""
    return falcon.testing.TestClient(create_app(settings, predictor, asgi=request.param == "asgi"))


def infer(client, body, headers=None, **kwargs):
    """POST /api/infer with a valid key and JSON content type unless told otherwise."""
    sent = {**AUTH, "Content-Type": "application/json", **(headers or {})}
    if not isinstance(body, (str, bytes)):
        body = json.dumps(body)
    return client.simulate_post("/api/infer", body=body, headers=sent, **kwargs)
