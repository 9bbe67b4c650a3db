"""The demo host's logs and metrics in the local region's CloudWatch: Caddy's access lines, the
serving container's lines and the host's EMF metrics arrive from the booted host through
inference-logship, one stream per instance and source, with no credential in any line."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
import uuid

import pytest
from e2e_cli import invoke, service_instances

GROUP = "/inference/hosts"
WAIT = 150   # seconds: a flush every 5 s; a minute's metrics once it is over (up to 70 s)


def _wait_for(what: str, probe):
    deadline = time.monotonic() + WAIT
    while True:
        found = probe()
        if found or time.monotonic() > deadline:
            assert found, f"after {WAIT} s: no {what}"
            return found
        time.sleep(3)


@pytest.fixture(scope="module")
def shipped(demo, region):
    """An updater run on the host (`invoke update`) and a traced request through the front door
    (one without a key, one with it), then what the log group holds once the trace arrived."""
    [instance] = service_instances(region)
    update = invoke("update", "--local", timeout=600)
    assert update.returncode == 0, update.stderr[-2000:]
    url = re.search(r"The service: (http://\S+)", demo).group(1)
    key = re.search(r"Authorization: Bearer (\S+)'", demo).group(1)
    trace = uuid.uuid4().hex
    body = json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2]]}).encode()
    for headers in ({}, {"Authorization": f"Bearer {key}"}):
        request = urllib.request.Request(f"{url}/api/infer?trace={trace}", data=body,
                                         headers={"Content-Type": "application/json", **headers})
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except urllib.error.HTTPError as exc:
            assert exc.code == 401
    found = {"instance": instance["InstanceId"], "trace": trace, "key": key, "logs": region.client("logs")}
    stream = f"{instance['InstanceId']}/caddy"
    _wait_for(f"access line with trace {trace} in {GROUP}:{stream}",
              lambda: [m for m in _events(found, stream) if trace in m])
    return found


def _events(shipped, stream: str) -> list[str]:
    """Every message of ``stream`` (FilterLogEvents, what `aws logs tail` reads), [] before it exists."""
    logs, events, token = shipped["logs"], [], None
    while True:
        try:
            page = logs.filter_log_events(logGroupName=GROUP, logStreamNames=[stream],
                                          **({"nextToken": token} if token else {}))
        except logs.exceptions.ResourceNotFoundException:
            return events
        events += [e["message"] for e in page["events"]]
        token = page.get("nextToken")
        if not token:
            return events


def test_the_group_has_a_stream_per_source_of_this_instance(shipped):
    names = {s["logStreamName"] for s in shipped["logs"].describe_log_streams(logGroupName=GROUP)["logStreams"]}
    instance = shipped["instance"]
    assert {f"{instance}/caddy", f"{instance}/updater", f"{instance}/metrics"} <= names, names
    assert {f"{instance}/app-blue", f"{instance}/app-green"} & names, names


def test_the_access_lines_are_caddys_json_without_credentials(shipped):
    traced = [json.loads(m) for m in _events(shipped, f"{shipped['instance']}/caddy") if shipped["trace"] in m]
    assert sorted(line["status"] for line in traced) == [200, 401], traced
    everything = [m for s in ("caddy", "app-blue", "app-green", "updater")
                  for m in _events(shipped, f"{shipped['instance']}/{s}")]
    assert not [m for m in everything if shipped["key"] in m], "an API key reached CloudWatch Logs"


def test_the_containers_lines_arrive(shipped):
    lines = _events(shipped, f"{shipped['instance']}/app-blue") + _events(shipped, f"{shipped['instance']}/app-green")
    assert any("/api/infer" in line for line in lines), lines[-5:]


def test_the_hosts_metrics_reach_cloudwatch_metrics(shipped, region):
    """EMF records in the metrics stream, and CloudWatch (the local region extracts EMF as AWS does)
    holds the instance's requests and disk use."""
    instance = shipped["instance"]
    records = [json.loads(m) for m in _events(shipped, f"{instance}/metrics")]
    assert any("disk_used_percent" in r for r in records)
    cloudwatch = region.client("cloudwatch")
    now = time.time()

    def datapoints(metric: str) -> list[dict]:
        return cloudwatch.get_metric_statistics(
            Namespace="Inference", MetricName=metric, Dimensions=[{"Name": "InstanceId", "Value": instance}],
            StartTime=now - 3600, EndTime=now + 300, Period=60, Statistics=["Sum", "Maximum"])["Datapoints"]
    assert _wait_for("requests datapoints", lambda: datapoints("requests"))
    disk = datapoints("disk_used_percent")
    assert disk and all(0 < d["Maximum"] <= 100 for d in disk), disk
