"""The log shipper (inference_host.logship, cloudwatch_logs, host_metrics) in-process: journal
entries in, CloudWatch Logs (a moto server on loopback) out, with a fake IMDSv2 for the identity."""

import json
import subprocess
import sys
import tempfile
import time

import pytest

from inference_host import aws
from inference_host import logship
from inference_host.cloudwatch_logs import CUT_MARK, MAX_BATCH_BYTES, MAX_EVENT_BYTES, MAX_EVENTS, LogGroup, batches, fit
from inference_host.host_metrics import MINUTE_MS, HostMetrics, percentile, route

from fake_aws import INSTANCE_ID, REGION

GROUP = "/svc/hosts"
T0 = (int(time.time() * 1000) // MINUTE_MS - 10) * MINUTE_MS   # a recent minute's start (ms)


@pytest.fixture(scope="module")
def logs(moto):
    client = moto.client("logs", REGION)
    client.create_log_group(logGroupName=GROUP)
    return client


@pytest.fixture
def env(imds, moto, logs):
    return {"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds, "AWS_ENDPOINT_URL_LOGS": moto.endpoint_url()}


def _events(logs, stream):
    return [e["message"] for e in logs.get_log_events(logGroupName=GROUP, logStreamName=stream,
                                                      startFromHead=True)["events"]]


def _entry(cursor, ts_ms, message, **fields):
    return json.dumps({"__CURSOR": cursor, "__REALTIME_TIMESTAMP": str(ts_ms * 1000), "MESSAGE": message, **fields})


def _access(uri, status, seconds):
    return json.dumps({"level": "info", "logger": "http.log.access", "msg": "handled request",
                       "request": {"method": "POST", "uri": uri}, "status": status, "duration": seconds})


# -- PutLogEvents' limits ----------------------------------------------------------------------
def test_batches_keep_every_limit_and_time_order():
    many = [{"timestamp": T0 + i, "message": "x"} for i in range(MAX_EVENTS + 5)]
    assert [len(b) for b in batches(list(reversed(many)))] == [MAX_EVENTS, 5]
    assert batches(list(reversed(many)))[0][0]["timestamp"] == T0
    big = [{"timestamp": T0, "message": "y" * 200_000} for _ in range(6)]
    assert all(sum(len(e["message"]) + 26 for e in b) <= MAX_BATCH_BYTES for b in batches(big))
    assert [len(b) for b in batches(big)] == [5, 1]
    day = [{"timestamp": T0, "message": "a"}, {"timestamp": T0 + 25 * 3600 * 1000, "message": "b"}]
    assert [len(b) for b in batches(day)] == [1, 1]


def test_an_oversized_message_is_cut_on_a_character_boundary():
    cut = fit("é" * 200_000)
    assert cut.endswith(CUT_MARK) and len(cut.encode()) <= MAX_EVENT_BYTES
    assert fit("short") == "short"


# -- CloudWatch Logs through moto ----------------------------------------------------------------
def test_put_makes_the_stream_and_delivers(env, logs):
    group = LogGroup(GROUP, env)
    assert group.put("i-a/caddy", [{"timestamp": T0 + 1, "message": "two"}, {"timestamp": T0, "message": "one"}]) == 0
    assert LogGroup(GROUP, env).put("i-a/caddy", [{"timestamp": T0 + 2, "message": "three"}]) == 0  # exists: fine
    assert _events(logs, "i-a/caddy") == ["one", "two", "three"]


def test_events_too_old_for_cloudwatch_are_counted_as_rejected(env, logs):
    old = T0 - 15 * 24 * 3600 * 1000
    assert LogGroup(GROUP, env).put("i-a/old", [{"timestamp": old, "message": "old"},
                                                {"timestamp": T0, "message": "new"}]) == 1
    assert _events(logs, "i-a/old") == ["new"]


def test_a_missing_log_group_is_an_aws_error(env):
    with pytest.raises(aws.AwsError, match="ResourceNotFoundException"):
        LogGroup("/no/such/group", env).put("s", [{"timestamp": T0, "message": "m"}])


# -- the shipper: journal entries to streams, the cursor after delivery ---------------------------
def _shipper(env, tmp_path, sleeps=None, instance_id=INSTANCE_ID):
    """A shipper as this instance (its streams: <instance_id>/...)."""
    metrics = HostMetrics("Inference", instance_id, "svc")
    return logship.Shipper(LogGroup(GROUP, env), metrics, instance_id, tmp_path,
                           sleep=(sleeps.append if sleeps is not None else lambda s: None))


def test_entries_go_to_their_streams_and_the_cursor_follows(env, logs, tmp_path):
    shipper = _shipper(env, tmp_path)
    shipper.entry(_entry("c1", T0, _access("/api/infer", 200, 0.004), _SYSTEMD_UNIT="caddy.service"))
    shipper.entry(_entry("c2", T0 + 1, '{"msg": "booting"}', CONTAINER_NAME="inference-blue"))
    shipper.entry(_entry("c3", T0 + 2, '{"event": "check", "level": "info"}', SYSLOG_IDENTIFIER="inference-update"))
    shipper.entry(_entry("c4", T0 + 3, "sshd noise", _SYSTEMD_UNIT="ssh.service"))
    shipper.entry(_entry("c5", T0 + 4, list(b"bytes \xff here"), CONTAINER_NAME="inference-green"))
    assert shipper.flush()
    assert _events(logs, f"{INSTANCE_ID}/caddy") == [_access("/api/infer", 200, 0.004)]
    assert _events(logs, f"{INSTANCE_ID}/app-blue") == ['{"msg": "booting"}']
    assert _events(logs, f"{INSTANCE_ID}/updater") == ['{"event": "check", "level": "info"}']
    assert _events(logs, f"{INSTANCE_ID}/app-green") == ["bytes \ufffd here"]
    assert shipper.saved_cursor() == "c5"


def test_an_outage_keeps_everything_and_the_cursor_until_delivery(env, logs, tmp_path):
    (tmp_path / "cursor").write_text("before\n")
    down = {**env, "AWS_ENDPOINT_URL_LOGS": "http://127.0.0.1:9"}
    sleeps = []
    shipper = _shipper(down, tmp_path, sleeps)
    shipper.entry(_entry("o1", T0, "kept through the outage", CONTAINER_NAME="inference-blue"))
    assert not shipper.flush(attempts=3)
    assert sleeps == [1, 2] and shipper.saved_cursor() == "before"
    shipper.group = LogGroup(GROUP, env)                    # CloudWatch is back
    assert shipper.flush(attempts=1)
    assert _events(logs, f"{INSTANCE_ID}/app-blue").count("kept through the outage") == 1
    assert shipper.saved_cursor() == "o1"


class _Journal:
    """journalctl as the shipper runs it: the entries after a cursor, one JSON line each."""

    def __init__(self, entries: list[str]):
        self.entries, self.asked = entries, []

    def __call__(self, cursor):
        self.asked.append(cursor)
        cursors = [json.loads(e)["__CURSOR"] for e in self.entries]
        after = cursors.index(cursor) + 1 if cursor else 0
        return subprocess.Popen([sys.executable, "-c", "import sys; sys.stdout.write(sys.stdin.read())"],
                                stdin=_text("".join(e + "\n" for e in self.entries[after:])), stdout=subprocess.PIPE)


def _text(data: str):
    """A file holding ``data``, to be a child's standard input."""
    handle = tempfile.TemporaryFile()
    handle.write(data.encode())
    handle.seek(0)
    return handle


def test_the_loop_polls_the_journal_from_its_cursor_until_stopped(env, logs, tmp_path, monkeypatch):
    """Over a flush's worth is read in parts, each resumed from the cursor; a poll that finds
    nothing sleeps; a stop flushes what is pending."""
    monkeypatch.setattr(logship, "FLUSH_EVENTS", 120)
    journal = _Journal([_entry(f"l{i}", T0 + i, f"line {i}", CONTAINER_NAME="inference-blue") for i in range(300)])
    shipper = _shipper(env, tmp_path, instance_id="i-loop")
    shipper.open_journal = journal

    def sleep(seconds):
        shipper.stopping = True                               # nothing new: stop here
    shipper.sleep = sleep
    assert shipper.run() == 0
    assert journal.asked[:3] == ["", "l119", "l239"] and journal.asked[-1] == "l299"
    assert _events(logs, "i-loop/app-blue") == [f"line {i}" for i in range(300)]
    assert shipper.saved_cursor() == "l299"


def test_journal_command_resumes_from_the_cursor_else_the_whole_journal():
    assert "--after-cursor=s=abc" in logship.journal_command("s=abc")
    assert not [a for a in logship.journal_command("") if a.startswith(("--after", "--boot", "--follow"))]
    assert logship.journal_command("")[-7:] == logship.MATCHES


def test_without_a_log_group_nothing_ships(tmp_path, capsys):
    (tmp_path / "defaults.env").write_text("INFERENCE_IMAGE=x:stable\nLOG_GROUP=\n")
    assert logship.main(env={"INFERENCE_LOGSHIP_ETC": str(tmp_path), "INFERENCE_LOGSHIP_STATE": str(tmp_path)}) == 0
    assert '"not_shipping"' in capsys.readouterr().out


def test_a_broken_settings_file_is_a_config_error(tmp_path, capsys):
    (tmp_path / "defaults.env").write_text("not a setting\n")
    assert logship.main(env={"INFERENCE_LOGSHIP_ETC": str(tmp_path), "INFERENCE_LOGSHIP_STATE": str(tmp_path)}) == 2
    assert '"config_error"' in capsys.readouterr().out


# -- the metrics (EMF) --------------------------------------------------------------------------
def test_routes_are_bounded():
    assert route("/api/infer?debug=1") == "/api/infer"
    assert [route(u) for u in ("/", "/health", "/../etc/passwd", "/x" * 50)] == ["/", "/health", "other", "other"]


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))
    assert percentile(values, 0.99) == 99 and percentile(values, 0.5) == 50 and percentile([7], 0.99) == 7


def test_a_minute_of_traffic_becomes_records_once_it_is_over():
    metrics = HostMetrics("Inference", "i-1", "svc", fleet_group="svc-asg")
    for i in range(100):
        metrics.access_line(_access("/api/infer", 500 if i < 3 else 200, (i + 1) / 1000), T0 + i)
    metrics.access_line(_access("/health", 404, 0.001), T0 + 200)
    metrics.access_line("not json", T0 + 300)
    assert metrics.due(T0 + 30_000) == []                     # the minute is not over
    metrics.access_line(_access("/", 200, 0.001), T0 + MINUTE_MS + 3_000)
    total, *per_route = metrics.due(T0 + MINUTE_MS + 3_000)
    assert total["_aws"]["Timestamp"] == T0
    assert total["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["InstanceId"], ["AutoScalingGroupName"]]
    assert (total["requests"], total["responses_5xx"], total["responses_4xx"]) == (101, 3, 1)
    assert total["latency_p99_ms"] == 99.0 and total["AutoScalingGroupName"] == "svc-asg"
    assert {r["Route"]: r["requests"] for r in per_route} == {"/api/infer": 100, "/health": 1}
    assert all(r["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["InstanceId", "Route"]] for r in per_route)
    rest = metrics.flush_all()                                # stopping: the unfinished minute too
    assert [r.get("Route") for r in rest] == [None, "/"] and rest[0]["requests"] == 1


def test_updater_errors_and_host_samples():
    metrics = HostMetrics("Inference", "i-1", "svc")
    metrics.updater_line('{"event": "check", "level": "info"}', T0)
    metrics.updater_line('{"event": "unhealthy", "level": "error", "reason": "no /health"}', T0 + 5)
    metrics.host_sample(T0 + 10)
    failure, sample = metrics.due(T0 + 20)
    assert (failure["updater_failures"], failure["Project"], failure["event"]) == (1, "svc", "unhealthy")
    assert failure["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Project"]]
    assert 0 <= sample["disk_used_percent"] <= 100 and 0 < sample["mem_used_percent"] <= 100
    assert metrics.due(T0 + 30) == []
