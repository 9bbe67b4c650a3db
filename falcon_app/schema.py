"""The /api/infer request: parsing, validation with field names, and its JSON Schema.

Validation is hand-written (no jsonschema dependency in the image), and the OpenAPI
document is built from the same limits, so the two cannot drift apart.
"""

from __future__ import annotations

import json

import falcon

FEATURE_LIMIT = 1e6   # features are physical measurements; this keeps exp() finite


class FieldError(falcon.HTTPUnprocessableEntity):
    """A schema violation: 422 naming the offending field."""

    def __init__(self, field: str, problem: str):
        # A key is echoed back, and JSON can spell lone surrogates ("\ud800") that no UTF-8 encoder takes.
        field = field.encode("utf-8", "backslashreplace").decode("utf-8")
        super().__init__(description=f"{field}: {problem}")
        self.field = field


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def parse_json(body: bytes):
    """Strict UTF-8 JSON (no NaN/Infinity) or a 400."""
    try:
        return _DECODER.decode(body.decode("utf-8"))
    except ValueError as exc:          # includes UnicodeDecodeError and Python's int digit limit
        raise falcon.HTTPBadRequest(description=f"malformed JSON: {exc}") from None
    except RecursionError:             # the decoder recurses once per nesting level
        raise falcon.HTTPBadRequest(description="JSON nested too deeply") from None


def _number(value, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FieldError(field, f"expected a number, got {type(value).__name__}")
    if not -FEATURE_LIMIT <= value <= FEATURE_LIMIT:      # before float(): a huge int overflows it; NaN fails
        raise FieldError(field, f"must be a finite number between {-FEATURE_LIMIT:g} and {FEATURE_LIMIT:g}")
    return float(value)


def validate_request(doc, n_features: int, max_batch: int) -> list[list[float]]:
    """The rows of a request document, or a FieldError naming what is wrong."""
    if not isinstance(doc, dict):
        raise FieldError("(body)", f"expected a JSON object, got {type(doc).__name__}")
    extra = sorted(set(doc) - {"instances"})
    if extra:
        raise FieldError(extra[0], "unknown field (allowed: instances)")
    if "instances" not in doc:
        raise FieldError("instances", "required field is missing")
    instances = doc["instances"]
    if not isinstance(instances, list):
        raise FieldError("instances", f"expected an array of rows, got {type(instances).__name__}")
    if not 1 <= len(instances) <= max_batch:
        raise FieldError("instances", f"expected 1 to {max_batch} rows, got {len(instances)}")
    rows = []
    for i, row in enumerate(instances):
        field = f"instances[{i}]"
        if not isinstance(row, list):
            raise FieldError(field, f"expected an array of {n_features} numbers, got {type(row).__name__}")
        if len(row) != n_features:
            raise FieldError(field, f"expected {n_features} numbers, got {len(row)}")
        if all(type(v) is float and -FEATURE_LIMIT <= v <= FEATURE_LIMIT for v in row):
            rows.append(row)          # the common case, checked in one pass (NaN fails the comparison)
        else:
            rows.append([_number(v, f"{field}[{j}]") for j, v in enumerate(row)])
    return rows


def request_schema(features: list[str], max_batch: int) -> dict:
    n = len(features)
    return {
        "type": "object",
        "required": ["instances"],
        "additionalProperties": False,
        "properties": {
            "instances": {
                "type": "array", "minItems": 1, "maxItems": max_batch,
                "description": f"rows to classify; each row is [{', '.join(features)}]",
                "items": {"type": "array", "minItems": n, "maxItems": n,
                          "items": {"type": "number", "minimum": -FEATURE_LIMIT, "maximum": FEATURE_LIMIT}},
            },
        },
    }


def response_schema(classes: list[str]) -> dict:
    return {
        "type": "object",
        "required": ["model", "predictions"],
        "properties": {
            "model": {"type": "string"},
            "predictions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["label", "probabilities"],
                    "properties": {
                        "label": {"type": "string", "enum": list(classes)},
                        "probabilities": {
                            "type": "object", "required": list(classes), "additionalProperties": False,
                            "properties": {c: {"type": "number", "minimum": 0, "maximum": 1} for c in classes},
                        },
                    },
                },
            },
        },
    }
