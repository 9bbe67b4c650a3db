"""Structured logs: one JSON object per line with the request id."""

import json
import logging
import sys

from falcon_app.logs import JsonFormatter, configure


def test_access_log_line_per_request(client, caplog):
    with caplog.at_level(logging.INFO, logger="falcon_app.access"):
        client.simulate_get("/health", headers={"X-Request-ID": "trace-1", "User-Agent": "probe"})
        client.simulate_get("/nope")
    first, second = [r for r in caplog.records if r.name == "falcon_app.access"]
    line = json.loads(JsonFormatter().format(first))
    assert line["msg"] == "request" and line["level"] == "info"
    assert (line["request_id"], line["route"], line["status"], line["method"]) == ("trace-1", "/health", 200, "GET")
    assert line["user_agent"] == "probe" and line["duration_ms"] >= 0 and line["ts"].endswith("Z")
    assert second.status == 404 and second.route == "(unmatched)"


def test_exceptions_are_one_json_line():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("x").makeRecord("x", logging.ERROR, __file__, 1, "failed %s", ("here",),
                                                   sys.exc_info())
    text = JsonFormatter().format(record)
    assert "\n" not in text
    line = json.loads(text)
    assert line["msg"] == "failed here" and "ValueError: boom" in line["exception"]


def test_configure_writes_json_to_stdout(capsys):
    root = logging.getLogger()
    before = list(root.handlers), root.level
    try:
        configure("INFO")
        configure("INFO")                       # idempotent: one handler
        logging.getLogger("falcon_app.test").info("hello", extra={"request_id": "r1"})
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [line["msg"] for line in lines] == ["hello"] and lines[0]["request_id"] == "r1"
    finally:
        root.handlers[:], root.level = before
