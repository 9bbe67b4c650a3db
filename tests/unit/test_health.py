"""inferctl.health.wait_for_200: the shared poll loop."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from inferctl.health import wait_for_200


@pytest.fixture
def server():
    """A loopback server answering /health with the statuses in `answers`, then 200."""
    answers = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(answers.pop(0) if answers else 200)
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/health", answers
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_waits_through_errors_until_200(server):
    url, answers = server
    answers += [503, 502]
    waited = wait_for_200(url, 5, interval=0.01)
    assert waited.seconds is not None and not answers


def test_times_out_naming_the_last_failure(server):
    url, answers = server
    answers += [503] * 1000
    waited = wait_for_200(url, 0.3, interval=0.01)
    assert waited.seconds is None and waited.last == "HTTP 503"


def test_refused_connection_is_the_last_failure():
    waited = wait_for_200("http://127.0.0.1:9/health", 0.2, interval=0.05)
    assert waited.seconds is None and "refused" in waited.last.lower()


def test_give_up_ends_the_wait_at_once(server):
    url, answers = server
    answers += [503] * 1000
    waited = wait_for_200(url, 30, interval=0.01, give_up=lambda: "server exited")
    assert waited.seconds is None and waited.last == "server exited"
    assert len(answers) == 999                 # asked once, then gave up
