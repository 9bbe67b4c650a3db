"""Prometheus metrics in the text exposition format: request counts and a latency
histogram by route, method and status.

Kept in-process (no client library). Each gunicorn worker counts what it served and
labels its series with its pid (`worker`), so counts from different workers never
mix into one series that jumps between scrapes."""

from __future__ import annotations

import bisect
import os
import threading
import time
from collections import defaultdict

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items()) + "}"


class Metrics:
    def __init__(self, model_id: str):
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, str], int] = defaultdict(int)
        self._buckets: dict[tuple[str, str, str], list[int]] = {}
        self._sums: dict[tuple[str, str, str], float] = defaultdict(float)
        self._predictions = 0
        self.model_id = model_id
        self.started = time.time()

    def observe(self, route: str, method: str, status: str, seconds: float) -> None:
        key = (route, method, status)
        with self._lock:
            self._counts[key] += 1
            self._sums[key] += seconds
            buckets = self._buckets.setdefault(key, [0] * (len(BUCKETS) + 1))
            buckets[bisect.bisect_left(BUCKETS, seconds)] += 1

    def count_predictions(self, n: int) -> None:
        with self._lock:
            self._predictions += n

    def render(self) -> str:
        pid = str(os.getpid())
        lines = [
            "# HELP http_requests_total HTTP requests handled, by route, method and status.",
            "# TYPE http_requests_total counter",
        ]
        with self._lock:
            counts = dict(self._counts)
            buckets = {k: list(v) for k, v in self._buckets.items()}
            sums = dict(self._sums)
            predictions = self._predictions
        for (route, method, status), n in sorted(counts.items()):
            lines.append(f"http_requests_total{_labels(route=route, method=method, status=status, worker=pid)} {n}")
        lines += ["# HELP http_request_duration_seconds Time from request received to response ready.",
                  "# TYPE http_request_duration_seconds histogram"]
        for (route, method, status), counts_by_bucket in sorted(buckets.items()):
            running = 0
            base = dict(route=route, method=method, status=status, worker=pid)
            for bound, n in zip((*BUCKETS, float("inf")), counts_by_bucket):
                running += n
                le = "+Inf" if bound == float("inf") else repr(bound)
                lines.append(f"http_request_duration_seconds_bucket{_labels(**base, le=le)} {running}")
            lines.append(f"http_request_duration_seconds_sum{_labels(**base)} {sums[(route, method, status)]:.6f}")
            lines.append(f"http_request_duration_seconds_count{_labels(**base)} {running}")
        lines += ["# HELP predictions_total Rows classified.", "# TYPE predictions_total counter",
                  f"predictions_total{_labels(model=self.model_id, worker=pid)} {predictions}",
                  "# HELP process_start_time_seconds Start time of this worker (unix seconds).",
                  "# TYPE process_start_time_seconds gauge",
                  f"process_start_time_seconds{_labels(worker=pid)} {self.started:.3f}"]
        return "\n".join(lines) + "\n"
