"""The app factory: create_app(settings, predictor) -> a falcon ASGI (default) or WSGI app."""

from __future__ import annotations

import functools

import falcon
import falcon.asgi
import falcon.media
import orjson

from . import errors, openapi, resources
from .auth import ApiKeys
from .logs import AccessLog
from .metrics import Metrics
from .middleware import RequestContext, RequireApiKey
from .model import Predictor
from .settings import Settings


def _too_large(limit: int) -> falcon.HTTPContentTooLarge:
    return falcon.HTTPContentTooLarge(description=f"request body is larger than {limit} bytes")


def _check_length(req, limit: int) -> None:
    if req.content_length is not None and req.content_length > limit:
        raise _too_large(limit)


def _wsgi_body(responder, limit: int):
    @functools.wraps(responder)
    def on_post(req, resp, **params):
        _check_length(req, limit)
        # bounded_stream reads nothing without a Content-Length; a chunked body is read
        # from the server's own stream (gunicorn de-chunks it), still at most limit + 1.
        stream = req.bounded_stream if req.content_length is not None else req.stream
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise _too_large(limit)
        responder(req, resp, body=body, **params)
    return on_post


def _asgi_body(responder, limit: int):
    @functools.wraps(responder)
    async def on_post(req, resp, **params):
        _check_length(req, limit)
        body = await req.stream.read(limit + 1)
        if len(body) > limit:
            raise _too_large(limit)
        responder(req, resp, body=body, **params)
    return on_post


def _asgi(responder):
    @functools.wraps(responder)
    async def on_get(req, resp, **params):
        responder(req, resp, **params)
    return on_get


class _Adapted:
    """A resource's responders, wrapped for the app flavour (body reading, coroutines)."""

    def __init__(self, resource, limit: int, asgi: bool):
        self.auth_required = getattr(resource, "auth_required", True)
        for name in ("on_get", "on_post"):
            responder = getattr(resource, name, None)
            if responder is None:
                continue
            if name == "on_post":
                wrapped = (_asgi_body if asgi else _wsgi_body)(responder, limit)
            else:
                wrapped = _asgi(responder) if asgi else responder
            setattr(self, name, wrapped)


def create_app(settings: Settings, predictor: Predictor, *, asgi: bool = True):
    """Build the API. The predictor is used as given (load it once, before or after fork)."""
    metrics = Metrics(predictor.model_id, settings.metrics_dir or None)
    keys = None if settings.allow_anonymous else ApiKeys(settings.api_keys)
    cls = falcon.asgi.App if asgi else falcon.App
    app = cls(middleware=[RequestContext(metrics, AccessLog(settings.access_log)), RequireApiKey(keys)])
    # Responses are encoded by orjson (several times faster than the stdlib encoder);
    # request bodies stay with schema.parse_json, whose stdlib decoder names what is wrong.
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = falcon.media.JSONHandler(dumps=orjson.dumps)
    app.set_error_serializer(errors.serialize)
    app.add_error_handler(Exception, errors.unhandled_async if asgi else errors.unhandled)
    routes = {
        "/": resources.Root(settings, predictor),
        "/health": resources.Health(),
        "/ready": resources.Ready(predictor),
        "/api/infer": resources.Infer(settings, predictor, metrics),
        "/openapi.json": resources.OpenApi(openapi.document(settings, predictor)),
        "/metrics": resources.MetricsText(metrics),
    }
    for path, resource in routes.items():
        app.add_route(path, _Adapted(resource, settings.max_body_bytes, asgi))
    return app
