"""invoke update: each host's own updater, started in turn; a failed run stops the roll."""

import json
import types

import pytest

from inferctl import config, update
from inferctl.errors import UserError
from inferctl.verify import targets


class FakeHost:
    def __init__(self, ok: bool):
        self.ok, self.commands = ok, []

    def run(self, command):
        self.commands.append(command)
        if command == update.START:
            return types.SimpleNamespace(rc=0 if self.ok else 1, stdout="")
        result = {"event": "swapped", "ok": True, "digest": "sha256:ab"} if self.ok else \
            {"event": "unhealthy", "ok": False, "reason": "no /health in 90 s"}
        return types.SimpleNamespace(rc=0, stdout=json.dumps({"active_slot": "blue", "last_result": result}))


@pytest.fixture
def fleet(monkeypatch):
    hosts = {"nspawn://a": FakeHost(True), "nspawn://b": FakeHost(False), "nspawn://c": FakeHost(True)}
    monkeypatch.setattr(targets, "resolve", lambda target, cfg: targets.Plan(target, hosts=list(hosts)))
    return hosts


def test_hosts_update_in_turn_and_a_failure_stops_the_roll(fleet):
    said = []
    with pytest.raises(UserError, match=r"nspawn://b: the updater's run failed: unhealthy reason=no /health") as err:
        update.run(config.load(overrides={}), connect=fleet.get, say=said.append)
    assert "1 host(s) after it were not updated" in err.value.hint
    assert fleet["nspawn://a"].commands == [update.START, update.STATUS]
    assert fleet["nspawn://c"].commands == []                        # never reached
    assert said[1] == "update: nspawn://a: swapped digest=sha256:ab"


def test_no_host_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(targets, "resolve", lambda target, cfg: targets.Plan(target))
    with pytest.raises(UserError, match="no host to update"):
        update.run(config.load(overrides={}), connect=pytest.fail)


def test_an_unreadable_status_is_no_result():
    assert update.outcome("not json") == {} and update.describe({}) == "no result"
