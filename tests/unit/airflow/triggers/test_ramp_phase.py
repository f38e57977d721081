"""RampPhaseTrigger: serialization round trip, and run() over checkpoints in moto's in-process S3."""

from __future__ import annotations

import asyncio
import importlib
import json
import time

import pytest

from loadstack.airflow.triggers import ramp as trigger_module
from loadstack.airflow.triggers.ramp import RampPhaseTrigger
from loadstack.ramp.state import RampState
from loadstack.ramp_store import RampStore

RUN_ID = "scheduled__2026-11-30T00:00:00+00:00"


def trigger(deadline: float, **changes) -> RampPhaseTrigger:
    kwargs = dict(stack="shop", run_id=RUN_ID, step="surge", phase="awaiting_approval", deadline=deadline, poll_s=0.01)
    return RampPhaseTrigger(**{**kwargs, **changes})


@pytest.fixture
def store(s3_profile, monkeypatch):
    monkeypatch.setattr(trigger_module, "task_profile", lambda: s3_profile)
    return RampStore(s3_profile, "shop", RUN_ID, "surge")


def run(t: RampPhaseTrigger) -> dict:
    async def first():
        async for event in t.run():
            return event.payload

    return asyncio.run(first())


def test_kwargs_are_json_primitives_and_round_trip():
    t = trigger(1_800_000_000.5)
    classpath, kwargs = t.serialize()
    json.loads(json.dumps(kwargs))
    module, name = classpath.rsplit(".", 1)
    again = getattr(importlib.import_module(module), name)(**kwargs)
    assert again.serialize() == (classpath, kwargs)


def test_fires_once_the_checkpoint_reaches_the_phase(store):
    store.save({"state": RampState(phase="ramping", stage=2).to_json()})
    t = trigger(time.time() + 30)

    async def later():
        await asyncio.sleep(0.2)
        await asyncio.to_thread(store.save, {"state": RampState(phase="awaiting_approval", stage=3).to_json()})

    async def both():
        waiter = asyncio.create_task(later())
        async for event in t.run():
            await waiter
            return event.payload

    assert asyncio.run(both()) == {"status": "reached", "phase": "awaiting_approval", "stage": 3,
                                   "message": "the ramp is awaiting_approval at stage 3"}


def test_a_ramp_that_ended_first_is_an_ended_event_with_its_reason(store):
    store.save({"state": RampState(phase="aborted", stage=2, end_reason="p99_ms > 800 for 10 s").to_json()})
    event = run(trigger(time.time() + 30))
    assert event["status"] == "ended" and "aborted: p99_ms > 800 for 10 s" in event["message"]


def test_the_deadline_passes_without_a_checkpoint(store):
    event = run(trigger(time.time() + 0.05))
    assert event["status"] == "timeout" and "no checkpoint yet" in event["message"]


def test_a_ramp_paused_at_the_point_is_there(store):
    store.save({"state": RampState(phase="paused", paused_phase="awaiting_approval", stage=3).to_json()})
    assert run(trigger(time.time() + 30))["status"] == "reached"
