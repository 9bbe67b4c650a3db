"""Retrying an AWS call that may fail for a while (the metadata service or a role not ready yet
at boot, throttling, a short outage): waits of 1 s doubling to 30 s, within a time budget."""

from __future__ import annotations

import sys
import time

from . import aws

FIRST, LONGEST = 1.0, 30.0


class GaveUp(Exception):
    """The budget ran out; the message is the last failure and how long it was tried."""


def retry(call, budget: float, label: str, *, sleep=time.sleep, clock=time.monotonic):
    """``call()``'s answer, trying again after each AwsError or OSError (one stderr line, prefixed
    ``label``, per failed attempt) for at most ``budget`` seconds; then raises GaveUp."""
    started, delay, attempt = clock(), FIRST, 1
    while True:
        try:
            return call()
        except (aws.AwsError, OSError) as exc:
            waited = clock() - started
            if waited + delay > budget:
                raise GaveUp(f"{exc} (gave up after {attempt} attempt(s) in {waited:.0f}s)") from None
            print(f"{label}: attempt {attempt} failed: {exc}; retrying in {delay:.0f}s", file=sys.stderr, flush=True)
            sleep(delay)
            delay, attempt = min(delay * 2, LONGEST), attempt + 1
