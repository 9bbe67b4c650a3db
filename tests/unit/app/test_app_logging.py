"""Structured logs: one JSON object per line with the request id."""

import json
import logging
import re
import sys

import falcon.testing

from falcon_app.app import create_app
from falcon_app.logs import JsonFormatter, configure
from falcon_app.settings import Settings


def test_access_log_line_per_request(client, capsys):
    client.simulate_get("/health", headers={"X-Request-ID": "trace-1", "User-Agent": "probe"})
    client.simulate_get("/nope")
    first, second = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert first["msg"] == "request" and first["level"] == "info" and first["logger"] == "falcon_app.access"
    assert (first["request_id"], first["route"], first["status"], first["method"]) == ("trace-1", "/health", 200, "GET")
    assert first["user_agent"] == "probe" and first["duration_ms"] >= 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["ts"])
    assert second["status"] == 404 and second["route"] == "(unmatched)" and second["path"] == "/nope"


def test_access_log_can_be_turned_off(predictor, capsys):
    client = falcon.testing.TestClient(create_app(Settings(allow_anonymous=True, access_log=False), predictor))
    assert client.simulate_get("/health").status_code == 200
    assert capsys.readouterr().out == ""


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


def test_access_lines_in_one_loop_iteration_go_out_in_one_write(monkeypatch):
    import asyncio

    from falcon_app.logs import AccessLog

    writes = []
    monkeypatch.setattr(sys, "stdout", type("Out", (), {"write": lambda self, text: writes.append(text)})())
    log = AccessLog()

    async def burst():
        for i in range(3):
            log.write({"request_id": f"r{i}"})
        assert writes == []                     # held until the iteration ends
        await asyncio.sleep(0)

    asyncio.run(burst())
    assert len(writes) == 1
    assert [json.loads(line)["request_id"] for line in writes[0].splitlines()] == ["r0", "r1", "r2"]
    log.write({"request_id": "outside"})       # no event loop (WSGI): written at once
    assert json.loads(writes[-1])["request_id"] == "outside"


def test_gunicorn_config_keeps_gunicorn_access_log_off(monkeypatch, tmp_path):
    """Any logconfig makes gunicorn build access-log atoms per request only to drop them."""
    import importlib

    from gunicorn.config import Config

    from falcon_app.logs import GunicornLogger

    monkeypatch.setenv("METRICS_DIR", str(tmp_path))
    conf = importlib.reload(importlib.import_module("falcon_app.gunicorn_conf"))
    cfg = Config()
    for name, value in vars(conf).items():
        if name in cfg.settings:                # what gunicorn takes from a python: config
            cfg.set(name, value)
    root = logging.getLogger()
    before = list(root.handlers), root.level
    try:
        logger = cfg.logger_class(cfg)
        assert isinstance(logger, GunicornLogger) and not logger.access_log_enabled
        assert all(isinstance(h.formatter, JsonFormatter) for h in logger.error_log.handlers)
    finally:
        root.handlers[:], root.level = before
