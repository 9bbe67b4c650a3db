"""Fixtures of the verify tests: the real falcon app under gunicorn on 127.0.0.1."""

import pytest
from verify_servers import KEY, REPO, serve


@pytest.fixture(scope="module")
def real_app():
    env = {"PATH": "/usr/bin:/bin", "API_KEYS": KEY, "PYTHONPATH": str(REPO)}
    yield from serve("falcon_app.wsgi:app", env, REPO)
