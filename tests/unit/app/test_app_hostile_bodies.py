"""Hostile request bodies: whatever is POSTed, /api/infer answers JSON, and never a 5xx.

Deep nesting, numbers past float range or past Python's int digit limit, NaN and
Infinity, lone surrogates, invalid UTF-8, random bytes, the wrong content type, bodies
over the limit, and valid JSON of the wrong shape; for the ASGI and the WSGI app.
"""

import json

import falcon.testing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from falcon_app.app import create_app
from falcon_app.settings import Settings

from app_testkit import KEY, infer

LIMIT = Settings.max_body_bytes      # the default: room for 100000 levels of nesting


@pytest.fixture(scope="module", params=["asgi", "wsgi"])
def app_client(request, predictor):
    """Module-scoped (hypothesis runs many examples per test), quiet, default body limit."""
    settings = Settings(api_keys=(KEY,), max_batch=8, access_log=False)
    return falcon.testing.TestClient(create_app(settings, predictor, asgi=request.param == "asgi"))


def assert_json_answer(result):
    assert result.status_code < 500, result.text
    assert result.headers["content-type"].startswith("application/json")
    if result.status_code >= 400:
        assert result.json["error"] and result.json["detail"]


@pytest.mark.parametrize("body,status,detail", [
    ("[" * 100_000 + "]" * 100_000, 400, "nested too deeply"),
    ('{"a": ' * 50_000 + "1" + "}" * 50_000, 400, "nested too deeply"),
    ('{"instances": [[1' + "0" * 400 + ", 1, 2, 3]]}", 422, "finite number"),      # past float range
    ('{"instances": [[1' + "0" * 5000 + ", 1, 2, 3]]}", 400, "digits"),            # past the int digit limit
    ('{"instances": [[1e999, -1e999, 1, 2]]}', 422, "finite number"),
    ('{"instances": [[-Infinity, 1, 2, 3]]}', 400, "Infinity"),
    ('{"\\ud800": 1, "instances": [[1, 2, 3, 4]]}', 422, "\\ud800: unknown field"),  # a lone surrogate echoed back
    (b'{"instances": [[1, 2, 3, 4]]}\xc3\x28', 400, "utf-8"),
    (b"\xef\xbb\xbf{}", 400, "malformed JSON"),                                       # a BOM
    ("", 400, "malformed JSON"),
    ('{"instances": {"a": [1, 2, 3, 4]}}', 422, "expected an array of rows"),
    (b"[" * (LIMIT + 1), 413, str(LIMIT)),
])
def test_hostile_bodies_are_json_4xx(app_client, body, status, detail):
    result = infer(app_client, body)
    assert_json_answer(result)
    assert result.status_code == status and detail in result.json["detail"]


def _array(items):
    return "[" + ", ".join(items) + "]"


def _object(pairs):
    return "{" + ", ".join(f"{key}: {value}" for key, value in pairs) + "}"


NUMBERS = st.one_of(
    st.integers().map(str),
    st.floats().map(json.dumps),                              # NaN, Infinity and -Infinity too
    st.integers(300, 6000).map(lambda n: "9" * n),             # past float range, then past the int digit limit
    st.integers(-400, 400).map(lambda e: f"1e{e}"),
)
STRINGS = st.text(max_size=12).map(json.dumps) | st.just('"\\udc80"')
KEYS = STRINGS | st.just('"instances"')
VALUES = st.recursive(NUMBERS | STRINGS | st.sampled_from(["true", "false", "null"]),
                      lambda inner: st.lists(inner, max_size=6).map(_array)
                      | st.lists(st.tuples(KEYS, inner), max_size=4).map(_object),
                      max_leaves=24)
NESTINGS = [("[", "]"), ('{"a": ', "}"), ('{"instances": [', "]}")]
DEEP = st.builds(lambda depth, ends: ends[0] * depth + "1" + ends[1] * depth,
                 st.integers(1, 20_000), st.sampled_from(NESTINGS))
BODIES = st.one_of(
    VALUES,
    VALUES.map('{{"instances": {}}}'.format),
    st.lists(VALUES, min_size=1, max_size=5).map(lambda row: '{"instances": [' + _array(row) + "]}"),
    DEEP,
).map(str.encode) | st.binary(max_size=512) | st.text(max_size=64).map(str.encode)
CONTENT_TYPES = st.just("application/json") | st.sampled_from(
    ["application/json; charset=utf-8", "APPLICATION/JSON", "text/plain", "application/x-www-form-urlencoded", ""])


@settings(max_examples=150, deadline=None)
@given(body=BODIES, content_type=CONTENT_TYPES)
def test_random_bodies_get_a_json_answer(app_client, body, content_type):
    assert_json_answer(infer(app_client, body, {"Content-Type": content_type}))
