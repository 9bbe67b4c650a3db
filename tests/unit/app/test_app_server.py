"""The real thing: gunicorn (asgi and sync workers) on a free 127.0.0.1 port, every
endpoint and error class over HTTP, JSON logs, graceful stop, and schemathesis
fuzzing /openapi.json against it (0 server errors, 0 schema mismatches)."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from inferctl.app_serve import free_port, gunicorn_cmd, gunicorn_env, running

from app_testkit import KEY

AUTH = {"Authorization": f"Bearer {KEY}"}
ROW = [5.1, 3.5, 1.4, 0.2]


@pytest.fixture(scope="module", params=["asgi", "sync"])
def server(request, tmp_path_factory):
    log = tmp_path_factory.mktemp("gunicorn") / f"{request.param}.log"
    with running(workers=2, worker_class=request.param, log=log, API_KEYS=KEY, MAX_BODY_BYTES="2048",
                 MAX_BATCH="16") as (url, proc):
        yield url, proc, log


def post(url, body, headers=None):
    headers = {**AUTH, "Content-Type": "application/json", **(headers or {})}
    return requests.post(f"{url}/api/infer", data=body if isinstance(body, (str, bytes)) else json.dumps(body),
                         headers=headers, timeout=5)


def test_endpoints(server):
    url, _, _ = server
    assert requests.get(f"{url}/health", timeout=5).json() == {"status": "ok"}
    assert requests.get(f"{url}/ready", timeout=5).json()["status"] == "ready"
    assert requests.get(f"{url}/", headers=AUTH, timeout=5).json()["model"]["id"] == "iris-softmax-v1"
    assert requests.get(f"{url}/openapi.json", headers=AUTH, timeout=5).json()["openapi"] == "3.1.0"
    reply = post(url, {"instances": [ROW, [6.3, 3.3, 6.0, 2.5]]}, {"X-Request-ID": "it-1"})
    assert reply.status_code == 200 and reply.headers["X-Request-ID"] == "it-1"
    assert [p["label"] for p in reply.json()["predictions"]] == ["setosa", "virginica"]
    time.sleep(1.2)         # the other worker publishes its counts once a second
    metrics = requests.get(f"{url}/metrics", headers=AUTH, timeout=5).text
    assert "http_requests_total{" in metrics and "http_request_duration_seconds_bucket{" in metrics


@pytest.mark.parametrize("call,status,error", [
    (lambda url: post(url, "{nope"), 400, "bad_request"),
    (lambda url: post(url, {"instances": [ROW]}, {"Authorization": "Bearer wrong-key-0123456789"}), 401, "unauthorized"),
    (lambda url: requests.post(f"{url}/api/infer", json={"instances": [ROW]}, timeout=5), 401, "unauthorized"),
    (lambda url: post(url, json.dumps({"instances": [ROW] * 200})), 413, "content_too_large"),
    (lambda url: post(url, json.dumps({"instances": [ROW]}), {"Content-Type": "text/csv"}), 415,
     "unsupported_media_type"),
    (lambda url: post(url, {"instances": [[1, 2]]}), 422, "unprocessable_content"),
    (lambda url: requests.get(f"{url}/missing", timeout=5), 404, "not_found"),
    (lambda url: requests.delete(f"{url}/health", timeout=5), 405, "method_not_allowed"),
])
def test_error_classes(server, call, status, error):
    url, _, _ = server
    reply = call(url)
    assert reply.status_code == status
    assert reply.headers["Content-Type"].startswith("application/json")
    assert reply.json()["error"] == error and reply.json()["detail"]


def test_chunked_bodies_are_read_and_bounded(server):
    url, _, _ = server
    small = iter([b'{"instances": ', b'[[5.1, 3.5, 1.4, 0.2]]}'])                   # no Content-Length
    reply = requests.post(f"{url}/api/infer", data=small, headers={**AUTH, "Content-Type": "application/json"},
                          timeout=5)
    assert reply.status_code == 200 and reply.json()["predictions"][0]["label"] == "setosa"
    chunks = (b'{"instances": [' + b"[1, 2, 3, 4], " * 50 for _ in range(4))   # no Content-Length
    reply = requests.post(f"{url}/api/infer", data=chunks, headers={**AUTH, "Content-Type": "application/json"},
                          timeout=5)
    assert reply.status_code == 413


def test_metrics_count_every_worker(server):
    url, proc, _ = server

    def health_count():
        text = requests.get(f"{url}/metrics", headers=AUTH, timeout=5).text
        line = [ln for ln in text.splitlines() if ln.startswith('http_requests_total{route="/health",method="GET"')]
        return int(line[0].split()[-1]) if line else 0

    time.sleep(1.5)                                      # counts are published once a second
    before = health_count()
    for _ in range(30):
        requests.get(f"{url}/health", timeout=5)        # a new connection each: either worker answers
    time.sleep(1.5)
    assert health_count() - before == 30
    published = list(Path(f"/dev/shm/falcon_app-metrics-{proc.pid}").glob("*.json"))
    assert 1 <= len(published) <= 2


def test_logs_are_json_lines_with_request_ids(server):
    url, _, log = server
    requests.get(f"{url}/health", headers={"X-Request-ID": "log-probe"}, timeout=5)
    deadline = time.monotonic() + 5        # the asgi worker writes a loop iteration's lines after the replies
    while True:
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        if any(line.get("request_id") == "log-probe" for line in lines) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert any(line.get("request_id") == "log-probe" and line["route"] == "/health" for line in lines)
    assert any(line["logger"] == "gunicorn.error" for line in lines)


def test_schemathesis_finds_no_server_errors_or_schema_mismatches(server):
    url, _, _ = server
    cli = Path(sys.executable).parent / "schemathesis"
    config = Path(__file__).with_name("schemathesis.toml")
    result = subprocess.run([cli, "--config-file", str(config), "run", f"{url}/openapi.json", "-H", f"Authorization: Bearer {KEY}",
                             "--checks", "all", "--max-examples", "25", "--workers", "1"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "No issues found" in result.stdout


def test_graceful_stop_on_sigterm(tmp_path):
    with running(workers=1, API_KEYS=KEY, log=tmp_path / "g.log") as (url, proc):
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    assert "Shutting down: Master" in (tmp_path / "g.log").read_text()


def test_bad_settings_stop_startup_with_a_clear_line():
    port = free_port()
    env = gunicorn_env(port, 1, "asgi", API_KEYS="")
    env.pop("API_KEYS_FILE", None)
    result = subprocess.run(gunicorn_cmd(), env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "no API keys: set API_KEYS" in result.stderr + result.stdout


@pytest.mark.parametrize("worker_class,extra,message", [
    ("eventlet", {}, "WORKER_CLASS='eventlet': use one of asgi, sync, gthread"),
    ("asgi", {"TIMEOUT": "soon"}, "TIMEOUT='soon': expected a whole number >= 1"),
    ("asgi", {"MAX_REQUESTS": "-1"}, "MAX_REQUESTS='-1': expected a whole number >= 0"),
])
def test_bad_gunicorn_settings_are_refused(worker_class, extra, message):
    env = gunicorn_env(free_port(), 1, worker_class, API_KEYS=KEY, **extra)
    result = subprocess.run(gunicorn_cmd(), env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert message in result.stderr + result.stdout
