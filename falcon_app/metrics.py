"""Prometheus metrics in the text exposition format: request counts and a latency
histogram by route, method and status, plus rows classified.

Kept in-process (no client library). Under gunicorn each worker counts what it served,
and a scrape lands on one worker at random, so with a shared directory (METRICS_DIR,
set by gunicorn_conf) each worker also publishes its counts there once a second and
when it exits cleanly (a background thread and atexit, atomic file replace), and /metrics
answers the sum over all workers. When a worker exits, the gunicorn master folds its
file into archived.json (archive()), so the sum never goes down: Prometheus would read
a drop as a counter reset.

Every label value is bounded, so clients cannot create series at will: routes are the
route templates (or "(unmatched)", see middleware), methods outside METHODS are
"other", and statuses are three-digit codes."""

from __future__ import annotations

import atexit
import bisect
import contextlib
import fcntl
import json
import os
import threading
import time
from collections import defaultdict
from pathlib import Path

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PUBLISH_INTERVAL = 1.0
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})
ARCHIVE = "archived.json"     # the summed counts of exited workers

Key = tuple[str, str, str]   # route, method, status


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items()) + "}"


def _write(path: Path, data: dict) -> None:
    """Atomically: readers see the old or the new file, never a partial one."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


@contextlib.contextmanager
def _locked(shared_dir: Path, operation: int):
    fd = os.open(shared_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, operation)
        yield
    finally:
        os.close(fd)


def _sum(snapshots) -> dict:
    buckets: dict[Key, list[int]] = {}
    sums: dict[Key, float] = defaultdict(float)
    predictions = 0
    for snap in snapshots:
        predictions += snap["predictions"]
        for route, method, status, counts, total in snap["series"]:
            key = (route, method, status)
            merged = buckets.setdefault(key, [0] * (len(BUCKETS) + 1))
            buckets[key] = [a + b for a, b in zip(merged, counts)]
            sums[key] += total
    return {"series": [[*key, counts, sums[key]] for key, counts in buckets.items()], "predictions": predictions}


def archive(shared_dir: Path, pid: int) -> None:
    """Fold the counts of exited worker `pid` into ARCHIVE and remove its file (gunicorn master).

    Both under an exclusive lock that /metrics readers share: a reader finds those
    counts in the worker's file or in the archive, never in both or in neither.
    """
    own = shared_dir / f"{pid}.json"
    own.with_suffix(".tmp").unlink(missing_ok=True)      # a write cut short by the exit
    if not own.exists():
        return                                            # it never published
    archived = shared_dir / ARCHIVE
    with _locked(shared_dir, fcntl.LOCK_EX):
        _write(archived, _sum(json.loads(p.read_text()) for p in (archived, own) if p.exists()))
        own.unlink()


class Metrics:
    def __init__(self, model_id: str, shared_dir: str | Path | None = None):
        self.model_id = model_id
        self.shared_dir = Path(shared_dir) if shared_dir else None
        self._lock = threading.Lock()
        self._buckets: dict[Key, list[int]] = {}
        self._sums: dict[Key, float] = defaultdict(float)
        self._predictions = 0
        self._publisher_pid = 0     # the process whose publisher thread runs (0: none yet)
        self._publishing = threading.Lock()

    def observe(self, route: str, method: str, status: str, seconds: float) -> None:
        key = (route, method if method in METHODS else "other", status)
        with self._lock:
            self._sums[key] += seconds
            buckets = self._buckets.setdefault(key, [0] * (len(BUCKETS) + 1))
            buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
        if self.shared_dir and self._publisher_pid != os.getpid():
            self._start_publisher()

    def count_predictions(self, n: int) -> None:
        with self._lock:
            self._predictions += n

    # --- sharing between gunicorn workers -------------------------------------------
    def snapshot(self) -> dict:
        with self._lock:
            return {"series": [[*key, list(buckets), self._sums[key]] for key, buckets in self._buckets.items()],
                    "predictions": self._predictions}

    def publish(self) -> None:
        """Write this process's counts to <shared_dir>/<pid>.json (tmp file + rename)."""
        self.shared_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self._publishing:      # the publisher and a scrape: one tmp file, and never an older snapshot last
            _write(self.shared_dir / f"{os.getpid()}.json", self.snapshot())

    def _start_publisher(self) -> None:
        """One daemon thread per process (started after the fork, on first use)."""
        with self._lock:
            if self._publisher_pid == os.getpid():
                return
            self._publisher_pid = os.getpid()

        def loop():
            while True:
                time.sleep(PUBLISH_INTERVAL)
                self._publish_quietly()

        threading.Thread(target=loop, name="metrics-publisher", daemon=True).start()
        atexit.register(self._publish_quietly)     # a clean exit (MAX_REQUESTS, reload) keeps its last second

    def _publish_quietly(self) -> None:
        try:
            self.publish()
        except OSError:
            pass      # a full or vanished /dev/shm must not kill the worker; retried next tick

    def _merged(self) -> dict:
        if not self.shared_dir:
            return self.snapshot()
        self.publish()
        snapshots = []
        with _locked(self.shared_dir, fcntl.LOCK_SH):
            for path in self.shared_dir.glob("*.json"):
                try:
                    snapshots.append(json.loads(path.read_text()))
                except (OSError, ValueError):
                    continue      # removed meanwhile (the server is stopping)
        return _sum(snapshots)

    # --- exposition ---------------------------------------------------------------------
    def render(self) -> str:
        data = self._merged()
        series = sorted(data["series"])
        lines = ["# HELP http_requests_total HTTP requests handled, by route, method and status.",
                 "# TYPE http_requests_total counter"]
        for route, method, status, counts, _ in series:
            lines.append(f"http_requests_total{_labels(route=route, method=method, status=status)} {sum(counts)}")
        lines += ["# HELP http_request_duration_seconds Time from request received to response ready.",
                  "# TYPE http_request_duration_seconds histogram"]
        for route, method, status, counts, total in series:
            base = dict(route=route, method=method, status=status)
            running = 0
            for bound, n in zip((*BUCKETS, float("inf")), counts):
                running += n
                le = "+Inf" if bound == float("inf") else repr(bound)
                lines.append(f"http_request_duration_seconds_bucket{_labels(**base, le=le)} {running}")
            lines.append(f"http_request_duration_seconds_sum{_labels(**base)} {total:.6f}")
            lines.append(f"http_request_duration_seconds_count{_labels(**base)} {running}")
        lines += ["# HELP predictions_total Rows classified.", "# TYPE predictions_total counter",
                  f"predictions_total{_labels(model=self.model_id)} {data['predictions']}"]
        return "\n".join(lines) + "\n"
