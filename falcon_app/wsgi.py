"""gunicorn entry for the sync/gthread workers: `falcon_app.wsgi:app`."""

from .entry import build

app = build(asgi=False)
