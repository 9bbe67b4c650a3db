"""A bounded HTTP load generator: count requests and failures while something else happens.

Used to prove "0 failed requests during an update". By default each request opens its own
connection (`Connection: close`); with ``keepalive`` each worker keeps one connection open and
sends every request on it, so a server that closes or resets a keep-alive connection (a proxy
reload does) shows up as a failure. Bounded in count and time by construction: it stops at
``max_requests`` or ``max_seconds``, whichever comes first, even if nobody stops it.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field

from .errors import UserError


@dataclass
class LoadResult:
    requests: int = 0
    failures: list[str] = field(default_factory=list)
    versions: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # seconds, answered requests only
    sent: list[float] = field(default_factory=list)       # when each of those was sent (load clock)
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        return len(self.failures)

    def latency(self, quantile: float, windows: list[tuple[float, float]] | None = None) -> float:
        """Latency at ``quantile`` (0..1) of the answered requests (only those sent inside one of
        ``windows``, (start, end) on the load's clock, when given); 0 when none answered."""
        chosen = self.latencies if windows is None else [
            took for took, at in zip(self.latencies, self.sent) if any(a <= at < b for a, b in windows)]
        ordered = sorted(chosen)
        return ordered[min(len(ordered) - 1, int(quantile * len(ordered)))] if ordered else 0.0

    def line(self) -> str:
        versions = ", ".join(f"{v}: {n}" for v, n in sorted(self.versions.items()))
        first = f"; first failures: {self.failures[:3]}" if self.failures else ""
        return (f"{self.requests} requests in {self.seconds:.1f}s, {self.failed} failed, latency p50 "
                f"{self.latency(0.5) * 1000:.0f} ms / p99 {self.latency(0.99) * 1000:.0f} ms / max "
                f"{self.latency(1) * 1000:.0f} ms (versions served: {versions or 'n/a'}){first}")


class Load:
    """``with Load(url) as load: ...`` then ``load.result``; GET from ``workers`` threads."""

    def __init__(self, url: str, *, workers: int = 4, max_requests: int = 50_000,
                 max_seconds: float = 300.0, timeout: float = 10.0, headers: dict | None = None,
                 keepalive: bool = False):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise UserError(f"load generator: {url!r} is not an http:// URL")
        self.host, self.port = parts.hostname, parts.port or 80
        self.path = parts.path or "/"
        self.workers, self.max_requests, self.max_seconds = workers, max_requests, max_seconds
        self.timeout, self.keepalive = timeout, keepalive
        self.headers = dict(headers or {}) if keepalive else dict(headers or {}, Connection="close")
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = 0.0

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def _one(self, conn: http.client.HTTPConnection) -> tuple[str | None, str | None]:
        """(failure reason or None, version served or None); closes ``conn`` unless keep-alive
        goes on (the caller then reuses it)."""
        try:
            conn.request("GET", self.path, headers=self.headers)
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            return f"{type(exc).__name__}: {exc}", None
        if not self.keepalive or response.will_close:
            conn.close()
        if response.status != 200:
            return f"HTTP {response.status}: {body[:120]!r}", None
        try:
            version = json.loads(body).get("version")
        except (ValueError, AttributeError):
            version = None
        return None, version

    def _worker(self) -> None:
        deadline = self._started + self.max_seconds
        conn = self._connect()
        try:
            while not self._stop.is_set() and time.monotonic() < deadline:
                with self._lock:
                    if self.result.requests >= self.max_requests:
                        return
                    self.result.requests += 1
                if not self.keepalive or conn.sock is None:
                    conn = self._connect()
                sent = time.monotonic() - self._started
                failure, version = self._one(conn)
                took = time.monotonic() - self._started - sent
                with self._lock:
                    if failure:
                        self.result.failures.append(f"sent at {sent:.2f}s, failed after {took:.2f}s: {failure}")
                    else:
                        self.result.latencies.append(took)
                        self.result.sent.append(sent)
                    if version:
                        self.result.versions[str(version)] += 1
        finally:
            conn.close()

    def clock(self) -> float:
        """Now, on the clock the results' send times use."""
        return time.monotonic() - self._started

    def __enter__(self) -> Load:
        self._started = time.monotonic()
        self._threads = [threading.Thread(target=self._worker, daemon=True) for _ in range(self.workers)]
        for thread in self._threads:
            thread.start()
        return self

    def wait(self) -> LoadResult:
        """Let the workers run to their bounds (count or time) instead of stopping them."""
        for thread in self._threads:
            thread.join()
        return self.result

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)
        self.result.seconds = time.monotonic() - self._started
