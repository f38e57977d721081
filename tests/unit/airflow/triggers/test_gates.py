"""loadstack.airflow.triggers.gates: serialization round trip, and run() over a scripted probe."""

from __future__ import annotations

import asyncio
import importlib
import json
import time

import pytest

from loadstack.airflow.triggers import gates as trigger_module
from loadstack.airflow.triggers.gates import GateTrigger
from loadstack.gates.checks import GateResult
from loadstack.gates.models import parse_gate
from loadstack.gates.probes import SqlProbe

SQL_GATE = parse_gate(
    {
        "name": "events_seeded",
        "kind": "sql",
        "database": "shop_db",
        "query": "SELECT COUNT(*) FROM events_0",
        "condition": ">= 40000",
        "poke_interval_seconds": 0.01,
        "timeout_seconds": 30,
    }
).model_dump(mode="json")
DATABASE = {"host": "127.0.0.1", "port": 3306, "database": "shop", "username": "root", "secret_id": "stack/shop_db"}


def _round_trip(trigger):
    classpath, kwargs = trigger.serialize()
    json.loads(json.dumps(kwargs))  # JSON primitives only: the triggerer stores them in the metadata DB
    module, name = classpath.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    assert cls is type(trigger)
    again = cls(**kwargs)
    assert again.serialize() == (classpath, kwargs)
    return kwargs


def test_serializes_the_gate_the_database_and_the_deadline_without_secrets():
    trigger = GateTrigger(gate=SQL_GATE, deadline=1_700_000_030.5, database=DATABASE)
    assert trigger.serialize()[0] == "loadstack.airflow.triggers.gates.GateTrigger"
    kwargs = _round_trip(trigger)
    assert kwargs == {"gate": SQL_GATE, "deadline": 1_700_000_030.5, "database": DATABASE}
    assert "password" not in json.dumps(kwargs)
    probe = GateTrigger(**kwargs).probe()
    assert isinstance(probe, SqlProbe) and probe.endpoint.secret_id == "stack/shop_db"


def test_an_http_gate_serializes_without_database():
    gate = parse_gate({"name": "up", "kind": "http", "url": "http://127.0.0.1:1/health"}).model_dump(mode="json")
    assert _round_trip(GateTrigger(gate=gate, deadline=1.0)) == {"gate": gate, "deadline": 1.0, "database": None}


class ScriptedProbe:
    """Answers the scripted results in turn (the last one for ever) and records that it was closed."""

    def __init__(self, results):
        self.results = list(results)
        self.checks = 0
        self.closed = False

    async def check(self):
        self.checks += 1
        return self.results.pop(0) if len(self.results) > 1 else self.results[0]

    async def aclose(self):
        self.closed = True


@pytest.fixture
def scripted(monkeypatch):
    def install(*results):
        probe = ScriptedProbe(results)
        monkeypatch.setattr(GateTrigger, "probe", lambda self: probe)
        return probe

    return install


def _events(trigger):
    async def collect():
        return [event.payload async for event in trigger.run()]

    return asyncio.run(asyncio.wait_for(collect(), 30))


def test_polls_until_the_condition_holds(scripted):
    probe = scripted(
        GateResult(False, None, "refused"),
        GateResult(False, 1200, "1200 does not satisfy >= 40000"),
        GateResult(True, 50000, "50000 satisfies >= 40000"),
    )
    events = _events(GateTrigger(gate=SQL_GATE, deadline=time.time() + 30, database=DATABASE))
    assert events == [
        {
            "status": "success",
            "gate": "events_seeded",
            "observed": 50000,
            "message": "50000 satisfies >= 40000",
            "checks": 3,
        }
    ]
    assert probe.closed


def test_times_out_at_its_deadline_with_the_last_value(scripted, monkeypatch):
    probe = scripted(GateResult(False, 1200, "the query returned: 1200 does not satisfy >= 40000"))
    clock = iter(range(1_000, 2_000, 10))  # every look at the clock is 10 s later
    monkeypatch.setattr(trigger_module.time, "time", lambda: next(clock))
    [event] = _events(GateTrigger(gate=SQL_GATE, deadline=1_035, database=DATABASE))
    assert (
        event["status"] == "timeout" and event["observed"] == 1200 and event["checks"] == 5
    )  # at 1000, 1010, 1020, 1030 and 1040 (past 1035)
    assert event["message"] == (
        "gate events_seeded did not pass within 30 s: last value 1200 "
        "(condition value >= 40000; the query returned: 1200 does not satisfy >= 40000)"
    )
    assert probe.closed


def test_a_deadline_already_past_still_checks_once(scripted):
    scripted(GateResult(True, 200, "HTTP 200"))
    [event] = _events(GateTrigger(gate=SQL_GATE, deadline=0, database=DATABASE))
    assert event["status"] == "success" and event["checks"] == 1


def test_a_gate_it_cannot_check_is_an_error_event():
    [event] = _events(
        GateTrigger(gate={**SQL_GATE, "condition": ">= lots"}, deadline=time.time() + 5, database=DATABASE)
    )
    assert event["status"] == "error" and event["gate"] == "events_seeded"
    assert "gate events_seeded cannot be checked" in event["message"] and "compares numbers" in event["message"]
    [event] = _events(GateTrigger(gate=SQL_GATE, deadline=time.time() + 5))
    assert event["status"] == "error" and "needs the endpoint of its database step" in event["message"]
