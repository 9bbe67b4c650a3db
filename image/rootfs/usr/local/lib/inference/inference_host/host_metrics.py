"""The host's metrics as CloudWatch embedded metric format (EMF) records: log lines that
CloudWatch turns into metrics, so no agent, scraper or cloudwatch:PutMetricData grant is needed.

What is published (terraform/modules/monitoring/README.md, "Metrics the hosts publish"):
- per minute, from Caddy's access lines (the front door: what clients got): requests,
  responses_4xx, responses_5xx, latency_p50_ms and latency_p99_ms (the minute's exact percentiles),
  for the instance (and the fleet's group), and per route (a bounded set: ROUTES, else "other");
- per minute, of the host: disk_used_percent (root filesystem) and mem_used_percent;
- updater_failures: 1 for each updater line of level error, by Project.

A minute is published once a later line shows it is over (or SETTLE_MS after it on the clock):
lines arrive in time order, so it is complete then. The counts live in memory until then: a
shipper that crashes loses at most the unpublished minute's metrics (its log lines are resent).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

ROUTES = ("/api/infer", "/health", "/ready", "/metrics", "/openapi.json", "/")
MINUTE_MS = 60_000
SETTLE_MS = 10_000


def route(uri: str) -> str:
    """The route dimension of a request URI: one of ROUTES, else "other" (bounded: clients
    cannot make new metric series)."""
    path = uri.split("?", 1)[0].split("#", 1)[0]
    return path if path in ROUTES else "other"


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values`` (not empty)."""
    ordered = sorted(values)
    rank = max(1, -(-int(fraction * 1000) * len(ordered) // 1000))
    return ordered[min(rank, len(ordered)) - 1]


def record(timestamp_ms: int, namespace: str, dimension_sets: list[list[str]],
           metrics: dict[str, tuple[float, str]], members: dict) -> dict:
    """One EMF record: ``metrics`` (name -> (value, unit)) under every dimension set, whose
    values (and any other fields) are ``members``."""
    return {"_aws": {"Timestamp": int(timestamp_ms), "CloudWatchMetrics": [{
        "Namespace": namespace, "Dimensions": dimension_sets,
        "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in metrics.items()]}]},
        **members, **{name: value for name, (value, _) in metrics.items()}}


@dataclass
class _Traffic:
    durations_ms: list[float] = field(default_factory=list)
    responses_4xx: int = 0
    responses_5xx: int = 0

    def add(self, status: int, duration_ms: float) -> None:
        self.durations_ms.append(duration_ms)
        self.responses_4xx += 400 <= status < 500
        self.responses_5xx += status >= 500


class HostMetrics:
    """Counts what it is shown and hands out the EMF records that are due."""

    def __init__(self, namespace: str, instance_id: str, project: str, fleet_group: str = ""):
        self.namespace = namespace
        self.instance = {"InstanceId": instance_id}
        self.project = project
        self.fleet = {"AutoScalingGroupName": fleet_group} if fleet_group else {}
        self.minutes: dict[int, dict[str, _Traffic]] = {}   # minute start -> route -> traffic
        self.latest_ms = 0
        self.ready: list[dict] = []

    def _host_sets(self) -> list[list[str]]:
        return [["InstanceId"]] + ([["AutoScalingGroupName"]] if self.fleet else [])

    def access_line(self, message: str, timestamp_ms: int) -> None:
        """A line of Caddy's log: an access line counts; anything else is ignored."""
        try:
            line = json.loads(message)
            status = int(line["status"])
            duration_ms = float(line["duration"]) * 1000
            uri = str(line["request"]["uri"])
        except (ValueError, TypeError, KeyError):
            return
        minute = timestamp_ms - timestamp_ms % MINUTE_MS
        self.minutes.setdefault(minute, {}).setdefault(route(uri), _Traffic()).add(status, duration_ms)
        self.latest_ms = max(self.latest_ms, timestamp_ms)

    def updater_line(self, message: str, timestamp_ms: int) -> None:
        """A line of the updater: one of level error is a failure (its event and reason go along)."""
        try:
            line = json.loads(message)
        except ValueError:
            return
        if not isinstance(line, dict) or line.get("level") != "error":
            return
        self.ready.append(record(timestamp_ms, self.namespace, [["Project"]], {"updater_failures": (1, "Count")},
                                 {"Project": self.project, **self.instance, "event": str(line.get("event", "")),
                                  "reason": str(line.get("reason", ""))[:500]}))

    def host_sample(self, timestamp_ms: int, root: str = "/", meminfo: str = "/proc/meminfo") -> None:
        """The root filesystem's and the memory's use now."""
        fs = os.statvfs(root)
        used = fs.f_blocks - fs.f_bfree
        disk = 100.0 * used / (used + fs.f_bavail) if used + fs.f_bavail else 0.0
        info = {}
        with open(meminfo, encoding="ascii") as handle:
            for line in handle:
                key, _, rest = line.partition(":")
                info[key] = int(rest.split()[0]) if rest.split() else 0
        total = info.get("MemTotal", 0)
        memory = 100.0 * (total - info.get("MemAvailable", total)) / total if total else 0.0
        self.ready.append(record(timestamp_ms, self.namespace, self._host_sets(),
                                 {"disk_used_percent": (round(disk, 2), "Percent"),
                                  "mem_used_percent": (round(memory, 2), "Percent")},
                                 {**self.instance, **self.fleet}))

    def due(self, now_ms: int) -> list[dict]:
        """The records ready to send: updater failures, host samples and every finished minute."""
        for minute in sorted(self.minutes):
            end = minute + MINUTE_MS
            if self.latest_ms < end and now_ms < end + SETTLE_MS:
                break
            self.ready.extend(self._traffic_records(minute, self.minutes.pop(minute)))
        out, self.ready = self.ready, []
        return out

    def flush_all(self) -> list[dict]:
        """Everything counted so far, finished or not (the shipper is stopping)."""
        for minute in sorted(self.minutes):
            self.ready.extend(self._traffic_records(minute, self.minutes.pop(minute)))
        out, self.ready = self.ready, []
        return out

    def _traffic_records(self, minute: int, routes: dict[str, _Traffic]) -> list[dict]:
        total = _Traffic()
        for traffic in routes.values():
            total.durations_ms += traffic.durations_ms
            total.responses_4xx += traffic.responses_4xx
            total.responses_5xx += traffic.responses_5xx
        out = [record(minute, self.namespace, self._host_sets(), _traffic_metrics(total, full=True),
                      {**self.instance, **self.fleet})]
        for name, traffic in sorted(routes.items()):
            out.append(record(minute, self.namespace, [["InstanceId", "Route"]],
                              _traffic_metrics(traffic, full=False), {**self.instance, "Route": name}))
        return out


def _traffic_metrics(traffic: _Traffic, full: bool) -> dict[str, tuple[float, str]]:
    metrics = {"requests": (len(traffic.durations_ms), "Count"), "responses_5xx": (traffic.responses_5xx, "Count")}
    if full:
        metrics["responses_4xx"] = (traffic.responses_4xx, "Count")
        metrics["latency_p50_ms"] = (round(percentile(traffic.durations_ms, 0.50), 3), "Milliseconds")
    metrics["latency_p99_ms"] = (round(percentile(traffic.durations_ms, 0.99), 3), "Milliseconds")
    return metrics
