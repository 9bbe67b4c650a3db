"""Waiting for an HTTP health endpoint: the one poll loop every caller shares."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class HealthWait:
    """How a wait ended: seconds until the first 200 (None if it never came) and the last failure."""

    seconds: float | None
    last: str = "no answer"


def wait_for_200(url: str, timeout: float, *, interval: float = 0.2, request_timeout: float = 2.0,
                 give_up: Callable[[], str | None] | None = None) -> HealthWait:
    """Poll GET ``url`` until it answers 200 or ``timeout`` seconds pass.

    ``give_up`` is asked after each failed try; a non-empty answer (why) ends the wait at once,
    e.g. when the server process being waited for has exited.
    """
    started = time.monotonic()
    last = "no answer"
    while time.monotonic() - started < timeout:
        try:
            with urllib.request.urlopen(url, timeout=request_timeout) as resp:
                if resp.status == 200:
                    return HealthWait(time.monotonic() - started)
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except OSError as exc:                  # URLError, refused, reset, timeout
            last = str(getattr(exc, "reason", exc))
        reason = give_up() if give_up else None
        if reason:
            return HealthWait(None, reason)
        time.sleep(interval)
    return HealthWait(None, last)
