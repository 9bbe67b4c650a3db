"""The OpenAPI 3.1 document, built from the live settings, model and request schema."""

from __future__ import annotations

from . import schema
from .model import Predictor, known_answers
from .settings import Settings

ERROR = {"$ref": "#/components/schemas/Error"}


def _error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": ERROR}}}


def _json(description: str, body: dict) -> dict:
    return {"description": description, "content": {"application/json": {"schema": body}}}


def example_rows(settings: Settings, predictor: Predictor) -> list[list[float]]:
    """A request the model takes: its first known answer's row (a real input), else zeros.
    The updater's smoke test sends it to a new slot."""
    width = len(predictor.features)
    known = known_answers.load(settings.known_answers, settings.model.path)
    rows = [row for row in (known.instances if known else []) if len(row) == width]
    return rows[:1] or [[0.0] * width]


def document(settings: Settings, predictor: Predictor) -> dict:
    secured = {"401": _error("missing or invalid API key")}
    security = {"security": []} if settings.allow_anonymous else {}
    return {
        "openapi": "3.1.0",
        "info": {"title": settings.name, "version": settings.version,
                 "description": f"Classifies rows of {', '.join(predictor.features)} with model "
                                f"{predictor.model_id} into {', '.join(predictor.classes)}."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"apiKey": []}],
        "paths": {
            "/": {"get": {"operationId": "about", "summary": "Name, version, model and links", **security,
                          "responses": {"200": _json("service description", {"type": "object",
                                        "required": ["name", "version", "model", "links"]}), **secured}}},
            "/health": {"get": {"operationId": "health", "summary": "Liveness (does no work)", "security": [],
                                "responses": {"200": _json("alive", {"type": "object", "required": ["status"],
                                              "properties": {"status": {"const": "ok"}}})}}},
            "/ready": {"get": {"operationId": "ready", "summary": "Readiness: the model is loaded", "security": [],
                               "responses": {"200": _json("ready", {"type": "object", "required": ["status", "model"]}),
                                             "503": _error("model not loaded yet")}}},
            "/api/infer": {"post": {
                "operationId": "infer", "summary": "Classify one or more rows", **security,
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": schema.request_schema(predictor.features, settings.max_batch),
                    "example": {"instances": example_rows(settings, predictor)}}}},
                "responses": {
                    "200": _json("one prediction per row, in order", schema.response_schema(predictor.classes)),
                    "400": _error("malformed JSON"),
                    **secured,
                    "413": _error(f"body larger than {settings.max_body_bytes} bytes"),
                    "415": _error("content type is not application/json"),
                    "422": _error("the body does not match the schema; `field` names the culprit"),
                }}},
            "/openapi.json": {"get": {"operationId": "openapi", "summary": "This document", **security,
                                      "responses": {"200": _json("OpenAPI 3.1", {"type": "object"}), **secured}}},
            "/metrics": {"get": {"operationId": "metrics", "summary": "Prometheus metrics", **security,
                                 "responses": {"200": {"description": "Prometheus text format",
                                                       "content": {"text/plain": {"schema": {"type": "string"}}}},
                                               **secured}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
            "schemas": {"Error": {"type": "object", "required": ["error", "detail"],
                                  "properties": {"error": {"type": "string"}, "detail": {"type": "string"},
                                                 "field": {"type": "string"}}}},
        },
    }
