"""Every error is JSON {error, detail} (plus `field` for a 422); a 5xx never shows a traceback."""

from __future__ import annotations

import logging
from http import HTTPStatus

import falcon

log = logging.getLogger("falcon_app.error")


def slug(status: int) -> str:
    """A stable machine-readable name for a status: 404 -> not_found."""
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def serialize(req, resp, exc: falcon.HTTPError) -> None:
    body = {"error": slug(exc.status_code), "detail": exc.description or exc.title}
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
