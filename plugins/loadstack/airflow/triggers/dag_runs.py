"""Waits in the triggerer until a DAG has no run left in the given states (say, none queued or running).

For a run another task started, whose run id this task cannot learn: the task SDK counts a DAG's runs by
state but does not list them. Polls the count every `poll_interval` seconds, as providers-standard's
DagStateTrigger does for a known run.

Event: ``{"status": "ended", "dag_id"}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
from airflow.triggers.base import BaseTrigger, TriggerEvent
from asgiref.sync import sync_to_async


class DagRunsEndedTrigger(BaseTrigger):
    def __init__(self, *, dag_id: str, states: list[str], poll_interval: float) -> None:
        super().__init__()
        self.dag_id = dag_id
        self.states = states
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"dag_id": self.dag_id, "states": self.states, "poll_interval": self.poll_interval},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while await sync_to_async(RuntimeTaskInstance.get_dr_count)(dag_id=self.dag_id, states=self.states):
            await asyncio.sleep(self.poll_interval)
        yield TriggerEvent({"status": "ended", "dag_id": self.dag_id})
