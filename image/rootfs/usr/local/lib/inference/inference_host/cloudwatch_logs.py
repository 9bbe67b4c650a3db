"""Put log events into one CloudWatch Logs group, within PutLogEvents' limits.

Streams are made on first use (CreateLogStream; one that exists already is fine). A batch is
split where the API's limits say: at most MAX_EVENTS events and MAX_BATCH_BYTES bytes (each
event counts its UTF-8 message plus 26 bytes), spanning less than 24 hours, in time order. A
message over MAX_EVENT_BYTES is cut (and says so) rather than refused. The role's credentials
come from the instance metadata service and are fetched again before they expire.
"""

from __future__ import annotations

import datetime as _dt
import os
import time

from . import aws, imds

MAX_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD = 26
MAX_EVENT_BYTES = 256 * 1024 - EVENT_OVERHEAD
MAX_SPAN_MS = 24 * 3600 * 1000 - 1
CUT_MARK = " ...[cut: over CloudWatch Logs' 256 KiB event limit]"
CREDENTIALS_MARGIN = 300     # fetch new role credentials this many seconds before they expire
CREDENTIALS_DEFAULT_TTL = 900  # when the metadata service gives no Expiration


def fit(message: str) -> str:
    """``message``, cut to CloudWatch's size limit for one event (on a character boundary)."""
    data = message.encode()
    if len(data) <= MAX_EVENT_BYTES:
        return message
    room = MAX_EVENT_BYTES - len(CUT_MARK.encode())
    return data[:room].decode(errors="ignore") + CUT_MARK


def batches(events: list[dict]) -> list[list[dict]]:
    """``events`` ({"timestamp", "message"}) in time order, split into PutLogEvents-sized batches."""
    out: list[list[dict]] = []
    batch: list[dict] = []
    size = 0
    for event in sorted(events, key=lambda e: e["timestamp"]):
        cost = len(event["message"].encode()) + EVENT_OVERHEAD
        if batch and (len(batch) >= MAX_EVENTS or size + cost > MAX_BATCH_BYTES
                      or event["timestamp"] - batch[0]["timestamp"] > MAX_SPAN_MS):
            out.append(batch)
            batch, size = [], 0
        batch.append(event)
        size += cost
    if batch:
        out.append(batch)
    return out


class LogGroup:
    """One log group, written through the Logs API as this instance's role."""

    def __init__(self, name: str, env=None, clock=time.time):
        self.name = name
        self.env = os.environ if env is None else env
        self.clock = clock
        self.streams: set[str] = set()
        self._identity: tuple[str, str, dict] | None = None
        self._expires = 0.0

    def _where(self) -> tuple[str, str, dict]:
        if self._identity is None or self.clock() >= self._expires:
            region, creds = imds.instance_identity(imds.endpoint(self.env))
            self._identity = (aws.endpoint_url("logs", region, self.env), region, creds)
            self._expires = self.clock() + _ttl(creds.get("Expiration", "")) - CREDENTIALS_MARGIN
        return self._identity

    def _call(self, action: str, payload: dict, what: str) -> dict:
        endpoint, region, creds = self._where()
        try:
            return aws.call("logs", endpoint, region, creds, action, payload, what)
        except aws.AwsError as exc:
            if exc.kind in ("ExpiredTokenException", "UnrecognizedClientException"):
                self._identity = None   # the next call fetches the role's credentials again
            raise

    def ensure_stream(self, stream: str) -> None:
        if stream in self.streams:
            return
        try:
            self._call("CreateLogStream", {"logGroupName": self.name, "logStreamName": stream},
                       f"{self.name}:{stream}")
        except aws.AwsError as exc:
            if exc.kind != "ResourceAlreadyExistsException":
                raise
        self.streams.add(stream)

    def put(self, stream: str, events: list[dict]) -> int:
        """Send ``events`` to ``stream``; how many CloudWatch rejected (too old or too new for it).
        AwsError when a call fails: nothing after the failed batch was sent."""
        rejected = 0
        self.ensure_stream(stream)
        for batch in batches(events):
            try:
                answer = self._call("PutLogEvents", {"logGroupName": self.name, "logStreamName": stream,
                                                     "logEvents": batch}, f"{self.name}:{stream}")
            except aws.AwsError as exc:
                if exc.kind == "ResourceNotFoundException":
                    self.streams.discard(stream)   # deleted behind our back: made again next time
                raise
            rejected += _rejected(answer.get("rejectedLogEventsInfo") or {}, len(batch))
        return rejected


def _rejected(info: dict, count: int) -> int:
    """How many events of a batch of ``count`` the rejectedLogEventsInfo of its answer names."""
    too_new = info.get("tooNewLogEventStartIndex")
    too_old = info.get("tooOldLogEventEndIndex")
    expired = info.get("expiredLogEventEndIndex")
    old = max(-1, too_old if too_old is not None else -1, expired if expired is not None else -1) + 1
    new = count - too_new if too_new is not None else 0
    return min(count, old + new)


def _ttl(expiration: str) -> float:
    """Seconds until ``expiration`` (ISO 8601, as the metadata service gives it)."""
    try:
        when = _dt.datetime.fromisoformat(expiration.replace("Z", "+00:00"))
    except ValueError:
        return CREDENTIALS_DEFAULT_TTL
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    return max(CREDENTIALS_MARGIN + 30, (when - _dt.datetime.now(_dt.timezone.utc)).total_seconds())
