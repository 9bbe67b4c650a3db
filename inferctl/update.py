"""invoke update: run the hosts' updater now, not at its next timer run, one host after another.

Each host's own updater does the work (pull by digest, blue/green, health and inference gates,
rollback): this only starts inference-update.service through the host's channel (SSM on AWS,
nsenter on a local host; the same hosts `invoke verify` finds) and reads the outcome from the
updater's state file. A host whose run fails stops the roll: the hosts after it keep serving
what they served.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from .config import Config
from .errors import UserError
from .verify import default_target, targets

START = "systemctl start inference-update.service"
STATUS = "/usr/local/sbin/inference-update status"


def outcome(status_json: str) -> dict:
    """The updater's last result from ``inference-update status`` (its state file)."""
    try:
        return json.loads(status_json).get("last_result") or {}
    except (ValueError, AttributeError):
        return {}


def describe(result: dict) -> str:
    fields = {k: v for k, v in result.items() if k not in ("event", "ok", "at")}
    return " ".join([result.get("event", "no result"), *(f"{k}={v}" for k, v in fields.items())])


def run(config: Config, host: str = "", *, connect: Callable | None = None, say=print) -> list[dict]:
    """Run the updater on every host of ``host`` (verify's --host forms; default: the service's
    hosts) in turn; returns each host's last result. A failed run raises UserError."""
    if connect is None:
        from .hostspec.runner import host as connect
    host = host or default_target(config)
    hosts = targets.resolve(host, config).hosts
    if not hosts:
        raise UserError(f"no host to update for {host!r}",
                        hint="is the service deployed (invoke deploy)? Pass --host to pick one")
    results = []
    for url in hosts:
        say(f"update: {url}: running its updater")
        machine = connect(url)
        started = machine.run(START)
        result = outcome(machine.run(STATUS).stdout)
        results.append(result)
        if started.rc != 0 or not result.get("ok"):
            left = len(hosts) - len(results)
            raise UserError(f"update: {url}: the updater's run failed: {describe(result)}",
                            hint=f"{left} host(s) after it were not updated; the host's journal has the "
                                 "details (journalctl -t inference-update)")
        say(f"update: {url}: {describe(result)}")
    return results
