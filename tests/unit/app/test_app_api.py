"""Every endpoint and every error class, through falcon.testing, for ASGI and WSGI."""

import json
import logging

import falcon.testing
import pytest

from falcon_app.app import create_app
from falcon_app.settings import Settings

from app_testkit import AUTH, KEY, infer

SETOSA, VIRGINICA = [5.1, 3.5, 1.4, 0.2], [6.3, 3.3, 6.0, 2.5]


def assert_error(result, status, error, detail_part=""):
    assert result.status_code == status
    assert result.headers["content-type"].startswith("application/json")
    assert set(result.json) >= {"error", "detail"}
    assert result.json["error"] == error
    assert detail_part in result.json["detail"]


def test_root_describes_the_service(client):
    body = client.simulate_get("/", headers=AUTH).json
    assert body["name"] == "inference" and body["version"]
    assert body["model"]["id"] == "iris-softmax-v1"
    assert body["links"]["infer"] == "/api/infer" and body["links"]["openapi"] == "/openapi.json"


def test_health_and_ready_need_no_key(client):
    assert client.simulate_get("/health").json == {"status": "ok"}
    assert client.simulate_get("/ready").json == {"status": "ready", "model": "iris-softmax-v1"}


def test_ready_is_503_until_the_model_is_loaded(settings, predictor):
    class Loading:
        ready = False
        model_id, features, classes = predictor.model_id, predictor.features, predictor.classes

    client = falcon.testing.TestClient(create_app(settings, Loading()))
    assert_error(client.simulate_get("/ready"), 503, "service_unavailable", "not loaded")


def test_infer_single_and_batch(client):
    result = infer(client, {"instances": [SETOSA, VIRGINICA, [7.0, 3.2, 4.7, 1.4]]})
    assert result.status_code == 200
    body = result.json
    assert body["model"] == "iris-softmax-v1"
    assert [p["label"] for p in body["predictions"]] == ["setosa", "virginica", "versicolor"]
    for prediction in body["predictions"]:
        assert sum(prediction["probabilities"].values()) == pytest.approx(1.0)
    single = infer(client, {"instances": [[5, 3, 1, 0]]})          # integers are numbers too
    assert single.status_code == 200 and single.json["predictions"][0]["label"] == "setosa"


def test_infer_accepts_json_with_charset(client):
    result = infer(client, {"instances": [SETOSA]}, {"Content-Type": "application/json; charset=utf-8"})
    assert result.status_code == 200


@pytest.mark.parametrize("headers", [{"Authorization": f"Bearer {KEY}"}, {"X-API-Key": KEY},
                                     {"Authorization": f"bearer   {KEY} "}])
def test_accepted_key_forms(client, headers):
    result = client.simulate_post("/api/infer", json={"instances": [SETOSA]}, headers=headers)
    assert result.status_code == 200


@pytest.mark.parametrize("headers,detail", [
    ({}, "missing API key"),
    ({"Authorization": "Bearer wrong-key-0123456789"}, "invalid API key"),
    ({"Authorization": f"Basic {KEY}"}, "missing API key"),
    ({"X-API-Key": KEY[:-1]}, "invalid API key"),
])
def test_unauthorized(client, headers, detail):
    result = client.simulate_post("/api/infer", json={"instances": [SETOSA]}, headers=headers)
    assert_error(result, 401, "unauthorized", detail)
    assert result.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", ["/", "/openapi.json", "/metrics"])
def test_other_routes_need_a_key(client, path):
    assert_error(client.simulate_get(path), 401, "unauthorized")
    assert client.simulate_get(path, headers=AUTH).status_code == 200


def test_anonymous_mode(predictor):
    client = falcon.testing.TestClient(create_app(Settings(allow_anonymous=True), predictor))
    assert client.simulate_post("/api/infer", json={"instances": [SETOSA]}).status_code == 200


def test_malformed_json_is_400(client):
    assert_error(infer(client, '{"instances": [[1, 2'), 400, "bad_request", "malformed JSON")
    assert_error(infer(client, '{"instances": [[NaN, 1, 2, 3]]}'), 400, "bad_request", "NaN")
    assert_error(infer(client, b'\xff\xfe'), 400, "bad_request")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_wrong_content_type_is_415(client, content_type):
    headers = {**AUTH, **({"Content-Type": content_type} if content_type else {})}
    result = client.simulate_post("/api/infer", body=json.dumps({"instances": [SETOSA]}), headers=headers)
    assert_error(result, 415, "unsupported_media_type", "application/json")


def test_body_over_the_limit_is_413(client):
    big = json.dumps({"instances": [SETOSA] * 400})                  # > 4096 bytes
    assert_error(infer(client, big), 413, "content_too_large", "4096")


@pytest.mark.parametrize("body,field,problem", [
    ([SETOSA], "(body)", "expected a JSON object"),
    ({}, "instances", "required"),
    ({"instances": [SETOSA], "extra": 1}, "extra", "unknown field"),
    ({"instances": SETOSA}, "instances[0]", "expected an array of 4 numbers"),
    ({"instances": "x"}, "instances", "expected an array"),
    ({"instances": []}, "instances", "1 to 8 rows"),
    ({"instances": [SETOSA] * 9}, "instances", "1 to 8 rows"),
    ({"instances": [[1, 2, 3]]}, "instances[0]", "expected 4 numbers, got 3"),
    ({"instances": [SETOSA, [1, 2, "3", 4]]}, "instances[1][2]", "expected a number, got str"),
    ({"instances": [[1, 2, True, 4]]}, "instances[0][2]", "got bool"),
    ({"instances": [[1, 2, None, 4]]}, "instances[0][2]", "got NoneType"),
    ({"instances": [[1, 2, 3, 1e7]]}, "instances[0][3]", "between"),
    ({"instances": [[1, 2, 3, 1e400]]}, "instances[0][3]", "finite"),
])
def test_schema_violations_are_422_naming_the_field(client, body, field, problem):
    raw = json.dumps(body).replace("Infinity", "1e400")
    result = infer(client, raw)
    assert_error(result, 422, "unprocessable_content", problem)
    assert result.json["field"] == field
    assert result.json["detail"].startswith(field)


def test_unknown_route_is_404_with_or_without_key(client):
    assert_error(client.simulate_get("/nope"), 404, "not_found", "/nope")
    assert_error(client.simulate_get("/api/infer/x", headers=AUTH), 404, "not_found")


@pytest.mark.parametrize("method,path,auth", [("GET", "/api/infer", True), ("DELETE", "/health", False),
                                              ("POST", "/ready", False), ("PUT", "/", True)])
def test_wrong_method_is_405(client, method, path, auth):
    result = client.simulate_request(method, path, headers=AUTH if auth else {})
    assert_error(result, 405, "method_not_allowed", method)
    assert "allow" in result.headers


def test_server_error_hides_the_traceback(settings, predictor, caplog):
    class Broken:
        model_id, features, classes = predictor.model_id, predictor.features, predictor.classes

        def predict_proba(self, rows):
            raise RuntimeError("secret internals")

    for asgi in (True, False):
        client = falcon.testing.TestClient(create_app(settings, Broken(), asgi=asgi))
        with caplog.at_level(logging.ERROR, logger="falcon_app.error"):
            result = infer(client, {"instances": [SETOSA]}, {"X-Request-ID": "req-500"})
        assert_error(result, 500, "internal_server_error", "req-500")
        assert "secret" not in result.text and "Traceback" not in result.text
        logged = [r for r in caplog.records if r.name == "falcon_app.error"]
        assert logged and logged[-1].request_id == "req-500" and logged[-1].exc_info
        caplog.clear()


def test_request_id_is_honoured_or_made(client):
    given = client.simulate_get("/health", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = client.simulate_get("/health")
    assert len(made.headers["x-request-id"]) == 32
    hostile = client.simulate_get("/health", headers={"X-Request-ID": "bad id\"{}"})
    assert hostile.headers["x-request-id"] != "bad id\"{}"
    error = client.simulate_get("/nope", headers={"X-Request-ID": "on-error"})
    assert error.headers["x-request-id"] == "on-error"
