"""gunicorn entry for the asgi worker: `falcon_app.asgi:app` (settings from the environment)."""

from .entry import build

app = build(asgi=True)
