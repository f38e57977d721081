"""The fault switch: which fault is in effect, from the environment and the Redis key."""

from __future__ import annotations

import asyncio
import json
import random

import pytest
from shopapp.faults import OFF, Fault, FaultSwitch, parse_fault


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Key:
    """The Redis key as the switch reads it: a value, or an error to raise."""

    def __init__(self, value=None) -> None:
        self.value = value
        self.error: Exception | None = None

    async def __call__(self):
        if self.error is not None:
            raise self.error
        return self.value


def refresh(switch: FaultSwitch) -> None:
    asyncio.run(switch.refresh())


def test_parse_fault_reads_the_documented_json():
    assert parse_fault(b'{"latency_ms": 200, "error_ratio": 0.1, "until": 1700000000}') == Fault(200.0, 0.1, 1.7e9)
    assert parse_fault('{"error_ratio": 1}') == Fault(0.0, 1.0, None)
    assert parse_fault("{}") == OFF


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("nope", "is not JSON"),
        ("[1]", "must be a JSON object"),
        ('{"ratio": 1}', "unknown field(s) ratio"),
        ('{"error_ratio": 1.5}', "error_ratio=1.5 must lie between 0 and 1"),
        ('{"latency_ms": -1}', "latency_ms=-1 must lie between 0 and 60000"),
        ('{"latency_ms": "5"}', "latency_ms must be a number"),
        ('{"error_ratio": true}', "error_ratio must be a number"),
        ('{"until": "soon"}', "until must be epoch seconds or null"),
    ],
)
def test_parse_fault_refuses_malformed_keys_saying_why(raw, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_fault(raw)


def test_the_dynamic_fault_replaces_the_static_one_until_it_expires():
    clock, key = Clock(), Key()
    static = Fault(latency_ms=10)
    switch = FaultSwitch(static, key, clock=clock)
    refresh(switch)
    assert switch.current() == static and switch.source() == "static"
    key.value = json.dumps({"latency_ms": 0, "error_ratio": 0.5, "until": clock.now + 30}).encode()
    refresh(switch)
    assert switch.current().error_ratio == 0.5 and switch.source() == "dynamic"
    clock.now += 30
    assert switch.current() == static and switch.dynamic is None
    key.value = None
    refresh(switch)
    assert switch.source() == "static"


def test_no_fault_unless_configured():
    switch = FaultSwitch(OFF, Key())
    refresh(switch)
    assert switch.source() == "none" and switch.decide() == (0.0, False)


def test_a_malformed_key_is_ignored_and_logged_once(caplog):
    key = Key(b'{"error_ratio": 2}')
    switch = FaultSwitch(Fault(error_ratio=0.1), key)
    for _ in range(3):
        refresh(switch)
    assert switch.current() == Fault(error_ratio=0.1)
    assert [r.getMessage() for r in caplog.records] == [
        "ignoring shopapp:fault.error_ratio=2 must lie between 0 and 1; the static fault applies"
    ]


def test_an_unreadable_key_keeps_the_last_fault_read():
    key = Key(b'{"error_ratio": 0.4}')
    switch = FaultSwitch(OFF, key)
    refresh(switch)
    key.error = ConnectionError("redis is down")
    refresh(switch)
    assert switch.current().error_ratio == 0.4


def test_decide_fails_the_configured_share_and_adds_the_latency():
    switch = FaultSwitch(Fault(latency_ms=120, error_ratio=0.25), Key(), rng=random.Random(3))
    decisions = [switch.decide() for _ in range(4000)]
    assert {latency for latency, _ in decisions} == {0.12}
    assert 0.22 < sum(fail for _, fail in decisions) / 4000 < 0.28


def test_run_refreshes_until_cancelled():
    key = Key(b'{"error_ratio": 1}')
    switch = FaultSwitch(OFF, key, interval=0.01)

    async def scenario():
        task = asyncio.create_task(switch.run())
        await asyncio.sleep(0.05)
        seen = switch.current().error_ratio
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return seen

    assert asyncio.run(scenario()) == 1.0
