"""The updater's decision log: one JSON line per decision on stdout and in the journal."""

from __future__ import annotations

import datetime as _dt
import json
import sys

TAG = "inference-update"  # the updater's name: syslog identifier, its units, usage


def utc_now() -> str:
    """The timestamp of log lines and of state.json entries (UTC, milliseconds)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


class JournalLog:
    """Each decision: one JSON line on stdout and one journal entry (syslog ident `TAG`)."""

    def __init__(self, stream=None, use_syslog: bool = True):
        self.stream = stream
        self.syslog = None
        if use_syslog:
            import syslog  # on a systemd host /dev/log is journald's socket
            syslog.openlog(TAG, 0, syslog.LOG_DAEMON)
            self.syslog = syslog

    def __call__(self, event: str, level: str = "info", **fields) -> dict:
        record = {"ts": utc_now(), "event": event, "level": level, **fields}
        line = json.dumps(record, sort_keys=False)
        print(line, file=self.stream or sys.stdout, flush=True)
        if self.syslog:
            priority = {"error": self.syslog.LOG_ERR, "warning": self.syslog.LOG_WARNING}.get(level, self.syslog.LOG_INFO)
            self.syslog.syslog(priority, line)
        return record
