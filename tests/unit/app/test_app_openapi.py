"""/openapi.json is valid OpenAPI 3.1 and agrees with what the API really does."""

import jsonschema
import pytest
from openapi_spec_validator import validate

from falcon_app.app import create_app
from falcon_app.settings import Settings

from app_testkit import AUTH, infer


@pytest.fixture
def doc(client):
    return client.simulate_get("/openapi.json", headers=AUTH).json


def operation(doc, path, method="get"):
    return doc["paths"][path][method]


def test_is_valid_openapi_31(doc):
    assert doc["openapi"] == "3.1.0"
    validate(doc)


def test_documents_every_route(doc, client):
    for path, methods in doc["paths"].items():
        for method in methods:
            result = client.simulate_request(method.upper(), path, headers=AUTH,
                                             json={"instances": [[5.1, 3.5, 1.4, 0.2]]})
            assert str(result.status_code) in methods[method]["responses"], (method, path)


def test_example_and_real_response_match_the_schemas(doc, client):
    body = operation(doc, "/api/infer", "post")["requestBody"]["content"]["application/json"]
    jsonschema.validate(body["example"], body["schema"])
    result = infer(client, body["example"])
    response_schema = operation(doc, "/api/infer", "post")["responses"]["200"]["content"]["application/json"]["schema"]
    jsonschema.validate(result.json, response_schema)


def test_error_responses_match_the_error_schema(doc, client):
    error_schema = doc["components"]["schemas"]["Error"]
    for status, raw in (("400", "{"), ("422", '{"instances": []}')):
        result = infer(client, raw)
        assert result.status_code == int(status)
        assert status in operation(doc, "/api/infer", "post")["responses"]
        jsonschema.validate(result.json, error_schema)


def test_limits_come_from_the_settings(predictor):
    import falcon.testing

    client = falcon.testing.TestClient(create_app(Settings(allow_anonymous=True, max_batch=3), predictor))
    doc = client.simulate_get("/openapi.json").json
    instances = operation(doc, "/api/infer", "post")["requestBody"]["content"]["application/json"]["schema"][
        "properties"]["instances"]
    assert instances["maxItems"] == 3 and instances["items"]["minItems"] == 4
    assert infer(client, {"instances": [[1, 2, 3, 4]] * 3}).status_code == 200
    assert infer(client, {"instances": [[1, 2, 3, 4]] * 4}).status_code == 422
    assert operation(doc, "/api/infer", "post")["security"] == []     # anonymous mode says so
