"""/metrics: Prometheus text with counts and a latency histogram by route and status."""

import json
import os
import re
import time

import pytest

from falcon_app.metrics import BUCKETS, Metrics

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
    (tmp_path / "1001.json").unlink()                      # that worker exited
    assert find(parse(second.render()), "http_requests_total", route="/health") == [2.0]


def test_publisher_thread_keeps_the_file_fresh(tmp_path, monkeypatch):
    import falcon_app.metrics as metrics_module

    monkeypatch.setattr(metrics_module, "PUBLISH_INTERVAL", 0.05)
    metrics = Metrics("m", tmp_path)
    metrics.observe("/x", "GET", "200", 0.01)
    published = tmp_path / f"{os.getpid()}.json"
    deadline = time.monotonic() + 5
    while not published.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert json.loads(published.read_text())["series"][0][:3] == ["/x", "GET", "200"]
