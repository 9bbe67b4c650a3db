"""inference-logship: the service's logs and metrics to CloudWatch Logs, from the journal.

Everything the service writes lands in the host's journal first: Caddy's access log (stdout of
caddy.service), the slot containers' lines (Docker's journald log driver, field CONTAINER_NAME)
and the updater's decisions (SYSLOG_IDENTIFIER inference-update). This program reads the
journal (again each second) and sends those lines to LOG_GROUP, one stream per instance and source:

    <instance-id>/caddy   <instance-id>/app-blue   <instance-id>/app-green
    <instance-id>/updater <instance-id>/metrics    (EMF records: host_metrics.py)

The journal is the buffer: a line is read again until CloudWatch has accepted it. After each
accepted flush the journal cursor is saved (CURSOR_FILE); a restart, a reboot or a CloudWatch
outage resumes from there (at least once: a crash between a put and the save sends that flush
twice, never loses it). While CloudWatch cannot be reached the program retries with backoff and
stops reading, so the journal (capped by journald.conf.d) holds what waits. The container starts
no matter what CloudWatch does: that is why this is not Docker's awslogs driver, whose blocking
mode stops a container from starting when CloudWatch is down and whose non-blocking mode drops
lines.

Settings (defaults.env, then inference.env): LOG_GROUP (empty: nothing is shipped, exit 0),
METRICS_NAMESPACE, PROJECT, FLEET_GROUP (a fleet's Auto Scaling group: a second dimension set).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import aws, imds
from .cloudwatch_logs import LogGroup, fit
from .config import read_env
from .errors import ConfigError
from .host_metrics import HostMetrics

ETC = Path("/etc/inference")
STATE = Path("/var/lib/inference/logship")
# the journal's fields for the sources above ("+" between them: any of them)
MATCHES = ["_SYSTEMD_UNIT=caddy.service", "+", "CONTAINER_NAME=inference-blue", "+",
           "CONTAINER_NAME=inference-green", "+", "SYSLOG_IDENTIFIER=inference-update"]
FIELDS = "MESSAGE,_SYSTEMD_UNIT,CONTAINER_NAME,SYSLOG_IDENTIFIER"
FLUSH_SECONDS = 5.0          # a line waits at most this long (while CloudWatch answers)
POLL_SECONDS = 1.0           # the journal is read again this long after it had nothing new
FLUSH_EVENTS = 5_000
FLUSH_BYTES = 900_000
BACKOFF = (1, 2, 5, 10, 30, 60)


def log(event: str, level: str = "info", **fields) -> None:
    """The shipper's own line (its stdout is the journal; it does not ship itself)."""
    print(json.dumps({"event": event, "level": level, **fields}), flush=True)


def source(entry: dict) -> str | None:
    """The stream suffix of a journal entry, None when it is not one of ours."""
    container = entry.get("CONTAINER_NAME", "")
    if container.startswith("inference-"):
        return "app-" + container.removeprefix("inference-")
    if entry.get("SYSLOG_IDENTIFIER") == "inference-update":
        return "updater"
    if entry.get("_SYSTEMD_UNIT") == "caddy.service":
        return "caddy"
    return None


def message(entry: dict) -> str:
    """MESSAGE as text (journald gives a non-UTF-8 message as a list of bytes)."""
    value = entry.get("MESSAGE", "")
    if isinstance(value, list):
        return bytes(value).decode(errors="replace")
    return str(value)


def journal_command(cursor: str) -> list[str]:
    """journalctl for our sources' entries after ``cursor`` (else this machine's whole journal:
    /etc/machine-id is new on each instance, so that is this instance's since its first boot).
    Polled, not --follow: under ProtectKernelTunables a systemd-nspawn host's units see the
    kernel's boot id instead of the container's, and a following journalctl then prints nothing."""
    start = [f"--after-cursor={cursor}"] if cursor else []
    return ["journalctl", "--no-pager", "--output=json", f"--output-fields={FIELDS}", *start, *MATCHES]


def open_journal(cursor: str) -> subprocess.Popen:
    return subprocess.Popen(journal_command(cursor), stdout=subprocess.PIPE)


class Shipper:
    def __init__(self, group: LogGroup, metrics: HostMetrics, instance_id: str, state: Path,
                 clock=time.time, sleep=time.sleep, journal=open_journal):
        self.group = group
        self.metrics = metrics
        self.instance_id = instance_id
        self.cursor_file = state / "cursor"
        self.clock = clock
        self.sleep = sleep
        self.open_journal = journal
        self.pending: dict[str, list[dict]] = {}
        self.pending_bytes = 0
        self.pending_since = 0.0
        self.cursor = ""
        self.stopping = False
        self.next_sample = 0.0

    def saved_cursor(self) -> str:
        try:
            return self.cursor_file.read_text().strip()
        except FileNotFoundError:
            return ""

    def add(self, stream: str, text: str, timestamp_ms: int) -> None:
        if not self.pending_bytes and not any(self.pending.values()):
            self.pending_since = self.clock()
        text = fit(text)
        self.pending.setdefault(stream, []).append({"timestamp": timestamp_ms, "message": text})
        self.pending_bytes += len(text) + 26

    def entry(self, raw: str) -> None:
        """One journal entry (a line of journalctl's JSON output)."""
        try:
            entry = json.loads(raw)
        except ValueError:
            return
        self.cursor = entry.get("__CURSOR", self.cursor)
        kind = source(entry)
        if kind is None:
            return
        text = message(entry)
        timestamp_ms = int(entry.get("__REALTIME_TIMESTAMP", self.clock() * 1e6)) // 1000
        self.add(kind, text, timestamp_ms)
        if kind == "caddy":
            self.metrics.access_line(text, timestamp_ms)
        elif kind == "updater":
            self.metrics.updater_line(text, timestamp_ms)

    def tick(self) -> None:
        """The host's sample once a minute; the metrics that are due; a flush when one is due."""
        now = self.clock()
        if now >= self.next_sample:
            self.metrics.host_sample(int(now * 1000))
            self.next_sample = now - now % 60 + 60
        for rec in self.metrics.due(int(now * 1000)):
            self.add("metrics", json.dumps(rec), rec["_aws"]["Timestamp"])
        if any(self.pending.values()) and (now - self.pending_since >= FLUSH_SECONDS or self.full()):
            self.flush()

    def flush(self, attempts: int | None = None) -> bool:
        """Send what is pending (retrying with backoff; ``attempts`` bounds that), then save the
        cursor. False when it gave up (stopping, or out of attempts): nothing is lost, the
        journal has it from the saved cursor on."""
        tries = 0
        while any(self.pending.values()):
            stream = next(name for name, events in self.pending.items() if events)
            try:
                rejected = self.group.put(f"{self.instance_id}/{stream}", self.pending[stream])
            except aws.AwsError as exc:
                tries += 1
                if self.stopping or (attempts is not None and tries >= attempts):
                    return False
                delay = BACKOFF[min(tries, len(BACKOFF)) - 1]
                log("put_failed", "warning", stream=stream, events=len(self.pending[stream]),
                    retry_in=delay, reason=str(exc))
                self.sleep(delay)
                continue
            if rejected:
                log("events_rejected", "warning", stream=stream, rejected=rejected,
                    reason="outside CloudWatch's accepted time range (older than 14 days or retention, or ahead)")
            if tries:
                log("put_recovered", stream=stream, after_failures=tries)
                tries = 0
            self.pending[stream] = []
        self.pending_bytes = 0
        if self.cursor:
            tmp = self.cursor_file.with_suffix(".tmp")
            tmp.write_text(self.cursor + "\n")
            tmp.replace(self.cursor_file)
        return True

    def full(self) -> bool:
        return self.pending_bytes >= FLUSH_BYTES or sum(map(len, self.pending.values())) >= FLUSH_EVENTS

    def read_journal(self) -> int:
        """The entries after the cursor, up to a full flush's worth; how many were read."""
        count = 0
        with self.open_journal(self.cursor) as journal:
            try:
                for raw in journal.stdout:
                    self.entry(raw.decode(errors="replace"))
                    count += 1
                    if self.full():
                        break
            finally:
                if journal.poll() is None:
                    journal.kill()
        return count

    def run(self) -> int:
        self.cursor = self.saved_cursor()
        while not self.stopping:
            read = self.read_journal()
            self.tick()
            if not read:
                self.sleep(POLL_SECONDS)
        for rec in self.metrics.flush_all():
            self.add("metrics", json.dumps(rec), rec["_aws"]["Timestamp"])
        self.stopping = False
        self.flush(attempts=2)
        return 0


def main(argv: list[str] | None = None, env=None) -> int:
    env = os.environ if env is None else env
    etc = Path(env.get("INFERENCE_LOGSHIP_ETC", ETC))
    state = Path(env.get("INFERENCE_LOGSHIP_STATE", STATE))
    try:
        settings = read_env(etc / "defaults.env", etc / "inference.env")
    except ConfigError as exc:
        log("config_error", "error", reason=str(exc))
        return 2
    group_name = settings.get("LOG_GROUP", "")
    if not group_name:
        log("not_shipping", reason="LOG_GROUP is not set (inference.env): logs stay in the host's journal")
        return 0
    try:
        instance_id = imds.instance_id(imds.endpoint(env))
    except aws.AwsError as exc:
        log("no_identity", "error", reason=str(exc))
        return 1
    state.mkdir(parents=True, exist_ok=True)
    metrics = HostMetrics(settings.get("METRICS_NAMESPACE") or "Inference", instance_id,
                          settings.get("PROJECT", ""), settings.get("FLEET_GROUP", ""))
    shipper = Shipper(LogGroup(group_name, env), metrics, instance_id, state)

    def stop(*_):
        shipper.stopping = True
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log("shipping", log_group=group_name, instance=instance_id,
        resume="saved cursor" if shipper.saved_cursor() else "start of this instance's journal")
    return shipper.run()


if __name__ == "__main__":
    sys.exit(main())
