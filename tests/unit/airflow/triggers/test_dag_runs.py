"""DagRunsEndedTrigger: polls the count of a DAG's runs in the given states until there is none."""

from __future__ import annotations

import asyncio

from loadstack.airflow.triggers.dag_runs import DagRunsEndedTrigger


def test_fires_once_no_run_is_queued_or_running_any_more(monkeypatch):
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    counts, asked = [2, 1, 0], []

    def get_dr_count(**kwargs):
        asked.append(kwargs)
        return counts.pop(0)

    monkeypatch.setattr(RuntimeTaskInstance, "get_dr_count", staticmethod(get_dr_count))
    trigger = DagRunsEndedTrigger(dag_id="loadstack_snapshots", states=["queued", "running"], poll_interval=0.01)

    async def first_event():
        return await trigger.run().__anext__()

    assert asyncio.run(first_event()).payload == {"status": "ended", "dag_id": "loadstack_snapshots"}
    assert asked == [{"dag_id": "loadstack_snapshots", "states": ["queued", "running"]}] * 3


def test_serializes_to_its_own_class_and_json_primitives():
    trigger = DagRunsEndedTrigger(dag_id="loadstack_snapshots", states=["queued", "running"], poll_interval=15)
    classpath, kwargs = trigger.serialize()
    assert classpath == "loadstack.airflow.triggers.dag_runs.DagRunsEndedTrigger"
    assert DagRunsEndedTrigger(**kwargs).serialize() == (classpath, kwargs)
