"""The bounded load generator against a loopback server that fails on purpose."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from inferctl.errors import UserError
from inferctl.load import Load


@pytest.fixture
def server():
    state = {"n": 0, "peers": set()}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"      # keep-alive unless the client says close

        def log_message(self, *args):
            pass

        def do_GET(self):
            state["n"] += 1
            state["peers"].add(self.client_address)
            code = 503 if state["n"] % 10 == 0 else 200
            body = json.dumps({"version": "v2"}).encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/", state
    srv.shutdown()
    srv.server_close()


def test_counts_requests_failures_and_versions(server):
    url, state = server
    with Load(url, workers=2, max_requests=50) as load:
        result = load.wait()
    assert len(state["peers"]) == 50, "one connection per request"
    assert result.requests == 50 and result.failed == 5
    assert result.versions["v2"] == 45 and "HTTP 503" in result.failures[0]
    assert "50 requests" in result.line() and "5 failed" in result.line()
    assert len(result.latencies) == 45 and 0 < result.latency(0.5) <= result.latency(1) < 10


def test_refused_connections_are_failures():
    with Load("http://127.0.0.1:9/", workers=1, max_requests=3) as load:
        load.wait()
    assert load.result.failed == 3 and "ConnectionRefusedError" in load.result.failures[0]


def test_stops_at_its_time_bound(server):
    with Load(server[0], workers=1, max_seconds=0.3) as load:
        load.wait()
    assert 0 < load.result.requests < 50_000 and load.result.seconds < 2


def test_rejects_non_http_urls():
    with pytest.raises(UserError, match="not an http:// URL"):
        Load("https://example.com/")


def test_keepalive_workers_reuse_one_connection_each(server):
    url, state = server
    with Load(url, workers=2, max_requests=40, keepalive=True) as load:
        result = load.wait()
    assert result.requests == 40 and result.failed == 4
    assert len(state["peers"]) == 2, "each worker sent all its requests on one connection"
    everything, early = result.latency(0.99), result.latency(0.99, windows=[(0.0, 0.0)])
    assert everything > 0 and early == 0, "a window that holds no send time selects nothing"
    assert len(result.sent) == len(result.latencies) == 36
