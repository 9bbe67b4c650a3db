"""The updater's second gate (inference_host.health.smoke_infer) against the real API, served
on loopback: the example of its own OpenAPI document must get one prediction per instance."""

import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

from falcon_app.app import create_app
from falcon_app.model import load_predictor
from falcon_app.settings import Settings
from inference_host.health import http_healthy, smoke_infer

KEY = "smoke-test-key-0123456789"


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def serve():
    """serve(app) -> its loopback port; every server is shut down after the test."""
    servers = []

    def start(app) -> int:
        server = make_server("127.0.0.1", 0, app, handler_class=_Quiet)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_port
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _api(predictor=None):
    return create_app(Settings(api_keys=(KEY,)), predictor or load_predictor(), asgi=False)


def test_the_api_passes_both_gates(serve):
    port = serve(_api())
    assert http_healthy(port) and smoke_infer(port, KEY) == ""


def test_an_api_whose_inference_fails_passes_health_but_not_the_smoke_test(serve):
    class Broken:
        def __init__(self, real):
            self.real = real

        def __getattr__(self, name):
            return getattr(self.real, name)

        def predict_proba(self, rows):
            raise RuntimeError("broken on purpose")

    port = serve(_api(Broken(load_predictor())))
    assert http_healthy(port)
    assert smoke_infer(port, KEY).startswith("POST /api/infer: HTTP 500")


def test_a_key_the_service_refuses_is_named(serve):
    port = serve(_api())
    assert smoke_infer(port, "not-a-key-of-this-service").startswith("GET /openapi.json: HTTP 401")


def test_a_service_without_an_example_fails(serve):
    def no_example(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"openapi": "3.1.0", "paths": {}}']
    port = serve(no_example)
    assert smoke_infer(port, KEY) == "its OpenAPI document gives no example body with instances for POST /api/infer"


def test_an_answer_without_predictions_fails(serve):
    def odd(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json")])
        if environ["PATH_INFO"] == "/openapi.json":
            return [b'{"paths": {"/api/infer": {"post": {"requestBody": {"content": {"application/json": '
                    b'{"example": {"instances": [[1, 2]]}}}}}}}}']
        return [b'{"predictions": []}']
    port = serve(odd)
    assert smoke_infer(port, KEY).startswith("POST /api/infer: not one prediction per instance")


def test_nothing_listening_is_a_reason_not_an_exception():
    assert smoke_infer(9, KEY).startswith("GET /openapi.json: ConnectionRefusedError")
