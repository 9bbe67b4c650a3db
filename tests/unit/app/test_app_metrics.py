"""/metrics: Prometheus text with counts and a latency histogram by route and status."""

import atexit
import importlib
import json
import logging
import os
import re
import string
import threading
import time
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from falcon_app.metrics import ARCHIVE, BUCKETS, METHODS, Metrics, archive

from app_testkit import AUTH, infer

LINE = re.compile(r'^([a-z_]+)\{([^}]*)\} (\S+)$')


def parse(text):
    """{(name, frozenset(labels)): value} from the exposition text (comments skipped)."""
    samples = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        name, labels, value = LINE.match(line).groups()
        pairs = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels))
        samples[(name, pairs)] = float(value)
    return samples


def find(samples, name, **labels):
    return [v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= ls]


def test_counts_by_route_method_and_status(client):
    for _ in range(3):
        client.simulate_get("/health")
    infer(client, {"instances": [[5.1, 3.5, 1.4, 0.2], [6.3, 3.3, 6.0, 2.5]]})
    infer(client, "{")
    client.simulate_get("/nope")
    result = client.simulate_get("/metrics", headers=AUTH)
    assert result.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = parse(result.text)
    assert find(samples, "http_requests_total", route="/health", method="GET", status="200") == [3.0]
    assert find(samples, "http_requests_total", route="/api/infer", status="200") == [1.0]
    assert find(samples, "http_requests_total", route="/api/infer", status="400") == [1.0]
    assert find(samples, "http_requests_total", route="(unmatched)", status="404") == [1.0]
    assert find(samples, "predictions_total", model="iris-softmax-v1") == [2.0]


def test_histogram_is_cumulative_and_consistent(client):
    for _ in range(4):
        client.simulate_get("/health")
    samples = parse(client.simulate_get("/metrics", headers=AUTH).text)
    buckets = sorted(((float(dict(ls)["le"]), v) for (n, ls), v in samples.items()
                      if n == "http_request_duration_seconds_bucket" and ("route", "/health") in ls))
    assert [b for b, _ in buckets] == [*BUCKETS, float("inf")]
    counts = [v for _, v in buckets]
    assert counts == sorted(counts) and counts[-1] == 4
    assert find(samples, "http_request_duration_seconds_count", route="/health") == [4.0]
    assert find(samples, "http_request_duration_seconds_sum", route="/health")[0] > 0


def test_bucket_edges_and_label_escaping():
    metrics = Metrics("m")
    metrics.observe('/a"b\\c', "GET", "200", BUCKETS[0])      # exactly on an edge: le is inclusive
    metrics.observe('/a"b\\c', "GET", "200", 99.0)
    text = metrics.render()
    assert 'route="/a\\"b\\\\c"' in text
    samples = parse(text)
    assert find(samples, "http_request_duration_seconds_bucket", le=repr(BUCKETS[0])) == [1.0]
    assert find(samples, "http_request_duration_seconds_bucket", le="2.5") == [1.0]
    assert find(samples, "http_request_duration_seconds_bucket", le="+Inf") == [2.0]


def test_workers_are_summed_through_the_shared_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(Metrics, "_start_publisher", lambda self: None)    # publish by hand here
    first, second = Metrics("m", tmp_path), Metrics("m", tmp_path)
    monkeypatch.setattr(os, "getpid", lambda: 1001)
    first.observe("/health", "GET", "200", 0.001)
    first.count_predictions(2)
    first.publish()
    monkeypatch.setattr(os, "getpid", lambda: 1002)
    second.observe("/health", "GET", "200", 0.3)
    second.observe("/health", "GET", "200", 0.3)
    samples = parse(second.render())
    assert find(samples, "http_requests_total", route="/health") == [3.0]
    assert find(samples, "http_request_duration_seconds_bucket", route="/health", le="0.001") == [1.0]
    assert find(samples, "http_request_duration_seconds_sum", route="/health") == [pytest.approx(0.601)]
    assert find(samples, "predictions_total") == [2.0]


def test_publisher_thread_keeps_the_file_fresh(tmp_path, monkeypatch):
    import falcon_app.metrics as metrics_module

    monkeypatch.setattr(metrics_module, "PUBLISH_INTERVAL", 0.05)
    monkeypatch.setattr(atexit, "register", lambda hook: None)    # no write into tmp_path when pytest exits
    metrics = Metrics("m", tmp_path)
    metrics.observe("/x", "GET", "200", 0.01)
    published = tmp_path / f"{os.getpid()}.json"
    deadline = time.monotonic() + 5
    while not published.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert json.loads(published.read_text())["series"][0][:3] == ["/x", "GET", "200"]


def test_a_clean_exit_publishes_the_last_counts(tmp_path, monkeypatch):
    at_exit = []
    monkeypatch.setattr(atexit, "register", at_exit.append)
    metrics = Metrics("m", tmp_path)
    metrics.observe("/x", "GET", "200", 0.01)               # starts the publisher, which registers the hook
    metrics.count_predictions(3)                           # within the last second: not published yet
    [hook] = at_exit
    hook()
    assert json.loads((tmp_path / f"{os.getpid()}.json").read_text())["predictions"] == 3


@pytest.fixture
def conf(monkeypatch, tmp_path):
    """gunicorn_conf with METRICS_DIR in tmp_path (its hooks run in the gunicorn master)."""
    monkeypatch.setenv("METRICS_DIR", str(tmp_path))
    return importlib.reload(importlib.import_module("falcon_app.gunicorn_conf"))


def exited(conf, pid):
    conf.child_exit(SimpleNamespace(log=logging.getLogger("gunicorn.error")), SimpleNamespace(pid=pid))


def test_counts_survive_a_worker_exit(conf, tmp_path, monkeypatch):
    monkeypatch.setattr(Metrics, "_start_publisher", lambda self: None)
    first, second = Metrics("m", tmp_path), Metrics("m", tmp_path)
    monkeypatch.setattr(os, "getpid", lambda: 1001)
    first.observe("/health", "GET", "200", 0.001)
    first.observe("/api/infer", "POST", "422", 0.3)
    first.count_predictions(2)
    first.publish()
    monkeypatch.setattr(os, "getpid", lambda: 1002)
    second.observe("/health", "GET", "200", 0.3)
    before = parse(second.render())
    (tmp_path / "1001.tmp").write_text("{")                 # a publish cut short by the exit
    exited(conf, 1001)
    assert sorted(p.name for p in tmp_path.glob("*.json")) == ["1002.json", ARCHIVE]
    assert not (tmp_path / "1001.tmp").exists()
    assert parse(second.render()) == before                 # every series, bucket, sum and predictions_total
    exited(conf, 1001)                                      # reaped twice, or never published: nothing changes
    exited(conf, 1003)
    assert parse(second.render()) == before
    exited(conf, 1002)                                      # the archive accumulates
    monkeypatch.setattr(os, "getpid", lambda: 1001)         # a new worker, even with a reused pid, adds to it
    first = Metrics("m", tmp_path)
    first.observe("/health", "GET", "200", 0.001)
    samples = parse(first.render())
    assert find(samples, "http_requests_total", route="/health") == [3.0]
    assert find(samples, "http_requests_total", route="/api/infer") == [1.0]
    assert find(samples, "predictions_total") == [2.0]


def test_a_scrape_never_sees_the_sum_drop_while_workers_exit(tmp_path):
    pids = range(10**7, 10**7 + 40)                         # above any real pid: the reader's own file differs
    for pid in pids:
        series = [["/health", "GET", "200", [1] + [0] * len(BUCKETS), 0.001]]
        (tmp_path / f"{pid}.json").write_text(json.dumps({"series": series, "predictions": 1}))
    reader, seen, done = Metrics("m", tmp_path), [], threading.Event()

    def scrape():
        while not done.is_set():
            seen.append(find(parse(reader.render()), "http_requests_total", route="/health"))

    thread = threading.Thread(target=scrape)
    thread.start()
    try:
        for pid in pids:
            archive(tmp_path, pid)
            time.sleep(0.002)
    finally:
        done.set()
        thread.join()
    assert seen and all(s == [40.0] for s in seen)
    assert [p.name for p in tmp_path.glob("100*.json")] == []


def test_a_failed_archive_keeps_the_master_and_the_counts(conf, tmp_path, caplog):
    (tmp_path / "1001.json").write_text(json.dumps({"series": [], "predictions": 5}))
    (tmp_path / ARCHIVE).write_text("not json")
    with caplog.at_level(logging.ERROR, logger="gunicorn.error"):
        exited(conf, 1001)                                  # an exception here would stop the gunicorn master
    assert "could not archive the metrics of worker 1001" in caplog.text
    assert (tmp_path / "1001.json").exists()


def labels(client) -> dict[str, set]:
    """{label: values seen} over the http_requests_total series."""
    seen = {}
    for name, pairs in parse(client.simulate_get("/metrics", headers=AUTH).text):
        if name == "http_requests_total":
            for label, value in pairs:
                seen.setdefault(label, set()).add(value)
    return seen


UNKNOWN_METHODS = pytest.mark.filterwarnings("ignore::wsgiref.validate.WSGIWarning")   # the WSGI test client's lint


@UNKNOWN_METHODS
def test_a_bogus_method_does_not_create_a_series(client):
    client.simulate_request("BREW", "/health")                         # 400 from falcon: not a known method
    client.simulate_get("/metrics", headers=AUTH)                      # the scrape's own series, before the baseline
    series = parse(client.simulate_get("/metrics", headers=AUTH).text).keys()
    for method in ("FOOBAR", "XYZZY", "X" * 20):
        assert client.simulate_request(method, "/health").status_code == 400
    assert parse(client.simulate_get("/metrics", headers=AUTH).text).keys() == series
    for method in ("PROPFIND", "WEBSOCKET"):                            # known to falcon, not counted apart
        assert client.simulate_request(method, "/health").status_code < 500
    assert labels(client)["method"] == {"GET", "other"}


ROUTES = {"/", "/health", "/ready", "/api/infer", "/openapi.json", "/metrics", "(unmatched)"}


@UNKNOWN_METHODS
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=st.sampled_from(sorted(METHODS | {"PROPFIND", "WEBSOCKET"}))
       | st.text(string.ascii_letters + "-_!", min_size=1, max_size=12),
       path=st.sampled_from(sorted(ROUTES - {"(unmatched)"}))
       | st.text(string.ascii_letters + string.digits + "/._-~%", max_size=24).map("/{}".format))
def test_label_values_stay_bounded(client, method, path):
    """The client (and its metrics) lives across examples: the labels of every request so far."""
    assert client.simulate_request(method, path, headers=AUTH).status_code < 500
    seen = labels(client)
    assert seen["method"] <= METHODS | {"other"}
    assert seen["route"] <= ROUTES
    assert all(re.fullmatch(r"[1-5][0-9][0-9]", status) for status in seen["status"])
