"""The updater's health gate: does a slot's /health answer? (The unit's own start gate is the
shell script wait-healthy, run by systemd.)"""

from __future__ import annotations

import urllib.error
import urllib.request


def http_healthy(port: int, timeout: float = 2.0) -> bool:
    """True when the slot's /health answers 200 on its loopback port."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False
