"""Fixtures for the API tests: settings with a known key, the built-in model, clients."""

import falcon.testing
import pytest

from falcon_app.app import create_app
from falcon_app.model import load_predictor
from falcon_app.settings import Settings

from app_testkit import KEY


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
