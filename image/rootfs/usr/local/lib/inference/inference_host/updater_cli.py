"""inference-update: health-gated blue/green updates of the inference container.

    inference-update [run]     if the tracked tag moved to a new digest: pull it, start it in the
                               idle slot, wait for /health, switch Caddy, drain, stop the old slot
    inference-update check     only ask the registry whether an update is waiting
    inference-update rollback  go back to the previous digest, through the same health gate
    inference-update restart   the serving digest again through the swap (new API keys, settings)
    inference-update status    print the state file
    inference-update schedule  (re)write the timer's schedule from UPDATE_SCHEDULE and UPDATE_SPREAD

The command line of /usr/local/sbin/inference-update (its entry point). Each decision is one JSON
line on stdout and in the journal (tag inference-update). Exit codes: 0 = serving what it should
(updated, unchanged, known-bad digest skipped, another run holds the lock), 1 = the run failed
and nothing changed what serves, 2 = bad configuration or usage.

Host paths come from config.Paths and can be moved with INFERENCE_UPDATE_* variables (tests).
"""

from __future__ import annotations

import argparse
import fcntl
import os
from pathlib import Path

from .config import Paths
from .errors import ConfigError, UpdateError
from .journal import TAG, JournalLog
from .updater import Updater


class Lock:
    """flock on the lock file; a second run finds it held and leaves quietly."""

    def __init__(self, path: Path):
        self.path = path
        self.handle = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.path, "a")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.close()
            self.handle = None
            return False
        return True

    def release(self) -> None:
        if self.handle:
            self.handle.close()
            self.handle = None


def main(argv: list[str] | None = None, updater: Updater | None = None) -> int:
    parser = argparse.ArgumentParser(prog=TAG, description=__doc__.split("\n\n")[0])
    parser.add_argument("command", nargs="?", default="run",
                        choices=["run", "check", "rollback", "restart", "status", "schedule"])
    parser.add_argument("--health-timeout", type=float, help="seconds (default: HEALTH_TIMEOUT)")
    parser.add_argument("--drain", type=float, help="seconds between switch and stop (default: DRAIN_SECONDS)")
    args = parser.parse_args(argv)
    paths = updater.paths if updater else Paths.from_env()
    log = updater.log if updater else JournalLog(use_syslog=os.path.exists("/dev/log"))
    updater = updater or Updater(paths, log=log)
    if args.health_timeout is not None:
        updater.health_timeout = args.health_timeout
    if args.drain is not None:
        updater.drain_seconds = args.drain
    if args.command == "status":
        return updater.status()
    lock = Lock(paths.lock)
    if not lock.acquire():
        log("locked", reason=f"another run holds {paths.lock}", command=args.command)
        return 0
    try:
        action = {"run": updater.update, "check": updater.check, "rollback": updater.rollback,
                  "restart": updater.restart, "schedule": updater.schedule}[args.command]
        return action()
    except ConfigError as exc:
        log("config_error", "error", reason=str(exc), command=args.command)
        return 2
    except UpdateError as exc:  # raised outside a decision (e.g. unreadable daemon.json)
        log(exc.event, "error", reason=exc.reason, command=args.command, **exc.fields)
        return 1
    except Exception as exc:  # noqa: BLE001 - a timer has no terminal: the journal must say why
        log("crash", "error", reason=f"{type(exc).__name__}: {exc}", command=args.command)
        return 1
    finally:
        lock.release()
