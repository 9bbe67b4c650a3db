"""Every error is JSON {error, detail} (plus `field` for a 422); a 5xx never shows a traceback."""

from __future__ import annotations

import logging
from http import HTTPStatus

import falcon

log = logging.getLogger("falcon_app.error")


NAMES = {413: "content_too_large", 422: "unprocessable_content"}   # RFC 9110 names


def slug(status: int) -> str:
    """A stable machine-readable name for a status: 404 -> not_found."""
    if status in NAMES:
        return NAMES[status]
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def _default_detail(req, exc: falcon.HTTPError) -> str:
    if exc.status_code == 404:
        return f"no such path: {req.path}"
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        return f"method {req.method} is not allowed on {req.path} (allowed: {allowed})"
    return exc.title


def serialize(req, resp, exc: falcon.HTTPError) -> None:
    body = {"error": slug(exc.status_code), "detail": exc.description or _default_detail(req, exc)}
    if getattr(exc, "field", None):
        body["field"] = exc.field
    resp.content_type = falcon.MEDIA_JSON
    resp.media = body
    resp.append_header("Vary", "Accept")


def _internal(req, exc: Exception) -> falcon.HTTPInternalServerError:
    request_id = getattr(req.context, "request_id", "-")
    log.error("unhandled exception", exc_info=exc, extra={"request_id": request_id, "path": req.path})
    return falcon.HTTPInternalServerError(description=f"internal error (request id {request_id})")


def unhandled(req, resp, exc, params):
    """WSGI: log the traceback, answer a plain 500."""
    raise _internal(req, exc)


async def unhandled_async(req, resp, exc, params, ws=None):
    """ASGI flavour of unhandled()."""
    raise _internal(req, exc)
