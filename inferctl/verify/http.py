"""Minimal HTTP(S) client for the checks: status, body and time of one request, stdlib only."""

from __future__ import annotations

import json
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass


@dataclass
class Answer:
    status: int
    body: bytes
    seconds: float

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class Unreachable(Exception):
    """The server did not answer at all (refused, timed out, DNS, TLS handshake)."""


def tls_context(ca_file: str | None = None) -> ssl.SSLContext:
    """The system's trust store (plus an extra CA file when given), chain and hostname verified."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


def request(method: str, url: str, *, headers: dict | None = None, body: dict | None = None,
            timeout: float = 10.0, context: ssl.SSLContext | None = None) -> Answer:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:
            return Answer(resp.status, resp.read(), time.perf_counter() - start)
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.read(), time.perf_counter() - start)
    except (urllib.error.URLError, OSError) as exc:
        raise Unreachable(describe(url, getattr(exc, "reason", exc), timeout)) from None


def describe(url: str, reason, timeout: float) -> str:
    """A one-line cause and fix for a server that did not answer."""
    where = urllib.parse.urlsplit(url).netloc
    if isinstance(reason, ConnectionRefusedError):
        return (f"{where} refused the connection: nothing listens there; check the service runs "
                "(on the host: systemctl status caddy inference@blue) and the port is right")
    if isinstance(reason, (socket.timeout, TimeoutError)) or "timed out" in str(reason):
        return (f"{where} did not answer within {timeout:.0f}s: check the instance runs and its "
                "security group / network lets you reach ports 80/443")
    if isinstance(reason, socket.gaierror):
        return f"{where}: name does not resolve ({reason}); check the DNS record or use the instance's address"
    if isinstance(reason, ssl.SSLCertVerificationError):
        return f"{where}: TLS certificate not valid: {reason.verify_message}"
    return f"{where}: no answer ({reason})"


def peer_certificate(host: str, port: int, *, timeout: float = 10.0,
                     context: ssl.SSLContext | None = None) -> dict:
    """Handshake with chain and hostname verification; returns the verified peer certificate."""
    context = context or tls_context()
    with socket.create_connection((host, port), timeout=timeout) as sock:
        with context.wrap_socket(sock, server_hostname=host) as tls:
            return tls.getpeercert()
