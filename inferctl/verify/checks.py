"""The HTTP checks of a live service: health, readiness, a known answer, auth, TLS, latency.

Each check gives one Check in the report; a server that does not answer at all gives one
failed "reachable" check naming the host and the fix, and the rest are skipped.
"""

from __future__ import annotations

import datetime as dt
import ssl
import statistics
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from . import http
from .report import FAIL, PASS, SKIP, Check, Report

WRONG_KEY = "inferctl-verify-wrong-key-0000000000"


@dataclass(frozen=True)
class KnownAnswer:
    """A request whose answer is known in advance; ``mismatch`` says what differs (None = right)."""

    path: str
    payload: dict
    mismatch: Callable[[object], str | None]
    auth_header: Callable[[str], dict]


@dataclass(frozen=True)
class Options:
    api_key: str
    known: KnownAnswer
    timeout: float = 10.0
    samples: int = 5
    ca_file: str | None = None


def _check(report: Report, target: str, name: str, fn) -> Check:
    """Run one check function -> (status, detail); time it; an unreachable server is a failure."""
    start = time.perf_counter()
    try:
        status, detail = fn()
    except http.Unreachable as exc:
        status, detail = FAIL, str(exc)
    return report.add(Check(target, name, status, detail, time.perf_counter() - start))


def _expect(answer: http.Answer, code: int, what: str) -> tuple[str, str]:
    if answer.status == code:
        return PASS, f"{what} -> {code}"
    return FAIL, f"{what} -> {answer.status}, expected {code}: {answer.body[:120]!r}"


def run(report: Report, base_url: str, opts: Options, tls_host: str | None = None) -> None:
    """All HTTP checks of one endpoint (``http(s)://host[:port]``) into the report."""
    base = base_url.rstrip("/")
    context = http.tls_context(opts.ca_file) if base.startswith("https://") else None

    def call(method, path, headers=None, body=None):
        return http.request(method, base + path, headers=headers, body=body, timeout=opts.timeout,
                            context=context)

    reach = _check(report, base, "reachable", lambda: (PASS, f"{call('GET', '/health').status} from /health"))
    if reach.status == FAIL:
        for name in ("health", "ready", "infer: known answer", "auth: no key", "auth: wrong key", "tls",
                     "latency"):
            report.add(Check(base, name, SKIP, "not reachable"))
        return
    known = opts.known
    _check(report, base, "health", lambda: _expect(call("GET", "/health"), 200, "GET /health"))
    _check(report, base, "ready", lambda: _expect(call("GET", "/ready"), 200, "GET /ready"))
    _check(report, base, "infer: known answer", lambda: _known_answer(
        call("POST", known.path, known.auth_header(opts.api_key), known.payload), known))
    _check(report, base, "auth: no key", lambda: _expect(
        call("POST", known.path, {}, known.payload), 401, f"POST {known.path} without a key"))
    _check(report, base, "auth: wrong key", lambda: _expect(
        call("POST", known.path, known.auth_header(WRONG_KEY), known.payload), 401,
        f"POST {known.path} with a wrong key"))
    _check(report, base, "tls", lambda: _tls(base, tls_host, opts))
    _check(report, base, "latency", lambda: _latency(call, opts))


def _known_answer(answer: http.Answer, known: KnownAnswer) -> tuple[str, str]:
    if answer.status == 401:
        return FAIL, (f"POST {known.path} -> 401: the API key was rejected; pass the service's key "
                      "(--api-key, INFERCTL_API_KEY or --api-key-file)")
    if answer.status != 200:
        return FAIL, f"POST {known.path} -> {answer.status}: {answer.body[:160]!r}"
    body = answer.json()
    if body is None:
        return FAIL, f"POST {known.path} -> 200 but the body is not JSON: {answer.body[:120]!r}"
    wrong = known.mismatch(body)
    return (FAIL, f"wrong answer: {wrong}") if wrong else (PASS, f"POST {known.path} -> the known answer")


def _tls(base: str, tls_host: str | None, opts: Options) -> tuple[str, str]:
    url = urllib.parse.urlsplit(base)
    if url.scheme != "https":
        if tls_host:
            return FAIL, f"a domain is set ({tls_host}) but the service was reached over plain HTTP"
        return SKIP, "no domain set: the service is plain HTTP"
    try:
        cert = http.peer_certificate(url.hostname, url.port or 443, timeout=opts.timeout,
                                     context=http.tls_context(opts.ca_file))
    except ssl.SSLCertVerificationError as exc:
        return FAIL, f"{url.hostname}: certificate not valid: {exc.verify_message}"
    except (ssl.SSLError, OSError) as exc:
        return FAIL, f"{url.hostname}:{url.port or 443}: TLS handshake failed: {exc}"
    expires = dt.datetime.fromtimestamp(ssl.cert_time_to_seconds(cert["notAfter"]), dt.timezone.utc)
    days = (expires - dt.datetime.now(dt.timezone.utc)).days
    issuer = dict(item[0] for item in cert.get("issuer", ()))
    detail = (f"chain and hostname {url.hostname} valid; issuer {issuer.get('organizationName') or issuer.get('commonName', '?')}; "
              f"expires in {days} days")
    return (PASS if days >= 7 else FAIL), detail + ("" if days >= 7 else " (renewal is failing)")


def _latency(call, opts: Options) -> tuple[str, str]:
    known, times, bad = opts.known, [], []
    for _ in range(opts.samples):
        answer = call("POST", known.path, known.auth_header(opts.api_key), known.payload)
        times.append(answer.seconds)
        if answer.status != 200:
            bad.append(answer.status)
    ms = sorted(t * 1000 for t in times)
    detail = f"p50 {statistics.median(ms):.1f}ms, max {ms[-1]:.1f}ms over {len(ms)} inferences"
    if bad:
        return FAIL, f"{detail}; {len(bad)} not 200: {bad}"
    return PASS, detail
