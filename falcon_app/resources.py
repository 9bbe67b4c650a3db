"""The endpoints, written once as synchronous code for both WSGI and ASGI.

A POST responder receives the already-read body as `body`; app.py reads it (bounded
by MAX_BODY_BYTES) the WSGI or the ASGI way and wraps responders for falcon.asgi.
"""

from __future__ import annotations

import falcon

from . import schema
from .metrics import CONTENT_TYPE, Metrics
from .model import Predictor, predictions
from .settings import Settings

JSON_TYPES = ("application/json",)


class Root:
    def __init__(self, settings: Settings, predictor: Predictor):
        self.settings, self.predictor = settings, predictor

    def on_get(self, req, resp):
        resp.media = {
            "name": self.settings.name,
            "version": self.settings.version,
            "revision": self.settings.revision,
            "model": {"id": self.predictor.model_id, "features": self.predictor.features,
                      "classes": self.predictor.classes},
            "links": {"infer": "/api/infer", "health": "/health", "ready": "/ready",
                      "openapi": "/openapi.json", "metrics": "/metrics"},
        }


class Health:
    """Liveness: the process answers. Does no work."""
    auth_required = False

    def on_get(self, req, resp):
        resp.media = {"status": "ok"}


class Ready:
    """Readiness: the model is loaded in this worker."""
    auth_required = False

    def __init__(self, predictor: Predictor):
        self.predictor = predictor

    def on_get(self, req, resp):
        if getattr(self.predictor, "ready", True):
            resp.media = {"status": "ready", "model": self.predictor.model_id}
        else:
            resp.status = falcon.HTTP_503
            resp.media = {"error": "service_unavailable", "detail": "model not loaded yet"}


class Infer:
    def __init__(self, settings: Settings, predictor: Predictor, metrics: Metrics):
        self.settings, self.predictor, self.metrics = settings, predictor, metrics

    def on_post(self, req, resp, body: bytes):
        media_type = (req.content_type or "").split(";")[0].strip().lower()
        if media_type not in JSON_TYPES:
            raise falcon.HTTPUnsupportedMediaType(
                description=f"send the body as application/json (got {media_type or 'no content type'})")
        doc = schema.parse_json(body)
        rows = schema.validate_request(doc, len(self.predictor.features), self.settings.max_batch)
        answers = predictions(self.predictor, rows)
        self.metrics.count_predictions(len(rows))
        resp.media = {"model": self.predictor.model_id, "predictions": answers}


class OpenApi:
    def __init__(self, document: dict):
        self.document = document

    def on_get(self, req, resp):
        resp.media = self.document


class MetricsText:
    def __init__(self, metrics: Metrics):
        self.metrics = metrics

    def on_get(self, req, resp):
        resp.content_type = CONTENT_TYPE
        resp.text = self.metrics.render()
