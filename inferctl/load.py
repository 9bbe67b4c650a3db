"""A bounded HTTP load generator: count requests and failures while something else happens.

Used to prove "0 failed requests during an update". Each request opens its own connection
(`Connection: close`), so a failure is the server's, not a client reusing a keep-alive
connection the server had just closed. Bounded in count and time by construction: it stops
at ``max_requests`` or ``max_seconds``, whichever comes first, even if nobody stops it.
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
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        return len(self.failures)

    def latency(self, quantile: float) -> float:
        """Latency at ``quantile`` (0..1) of the answered requests; 0 when none answered."""
        ordered = sorted(self.latencies)
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
                 max_seconds: float = 300.0, timeout: float = 10.0, headers: dict | None = None):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise UserError(f"load generator: {url!r} is not an http:// URL")
        self.host, self.port = parts.hostname, parts.port or 80
        self.path = parts.path or "/"
        self.workers, self.max_requests, self.max_seconds = workers, max_requests, max_seconds
        self.timeout, self.headers = timeout, dict(headers or {}, Connection="close")
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = 0.0

    def _one(self) -> tuple[str | None, str | None]:
        """(failure reason or None, version served or None)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request("GET", self.path, headers=self.headers)
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            return f"{type(exc).__name__}: {exc}", None
        finally:
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
        while not self._stop.is_set() and time.monotonic() < deadline:
            with self._lock:
                if self.result.requests >= self.max_requests:
                    return
                self.result.requests += 1
            sent = time.monotonic() - self._started
            failure, version = self._one()
            took = time.monotonic() - self._started - sent
            with self._lock:
                if failure:
                    self.result.failures.append(f"sent at {sent:.2f}s, failed after {took:.2f}s: {failure}")
                else:
                    self.result.latencies.append(took)
                if version:
                    self.result.versions[str(version)] += 1

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
