"""Waits in the triggerer until a running ramp reaches a phase (its approval point), or ends.

The ramp task checkpoints its state to the state bucket after every action (`loadstack.ramp_store`);
this trigger reads that checkpoint every `poll_s` seconds. The deadline is absolute (epoch seconds), so it
keeps its meaning when the triggerer restarts and re-creates the trigger from its kwargs.

Events: ``{"status": "reached" | "ended" | "timeout" | "error", "phase", "stage", "message"}``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from loadstack.airflow.profile import task_profile
from loadstack.ramp.state import TERMINAL_PHASES
from loadstack.ramp_store import RampStore


class RampPhaseTrigger(BaseTrigger):
    """Fire when the checkpointed ramp of (stack, run_id, step) is in `phase`, has ended, or `deadline` passed."""

    def __init__(self, *, stack: str, run_id: str, step: str, phase: str, deadline: float, poll_s: float = 5.0) -> None:
        super().__init__()
        self.stack, self.run_id, self.step = stack, run_id, step
        self.phase = phase
        self.deadline = deadline
        self.poll_s = poll_s

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"stack": self.stack, "run_id": self.run_id, "step": self.step, "phase": self.phase,
             "deadline": self.deadline, "poll_s": self.poll_s},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        yield TriggerEvent(await self._poll())

    async def _poll(self) -> dict[str, Any]:
        store = RampStore(task_profile(), self.stack, self.run_id, self.step)
        while True:
            try:
                saved = await asyncio.to_thread(store.load)
            except Exception as exc:  # noqa: BLE001 - the bucket unreachable for good ends the wait with why
                if time.time() >= self.deadline:
                    return _event("error", None, f"reading the ramp's checkpoint {store.location} failed: {exc}")
                self.log.warning("reading the ramp's checkpoint %s failed (%s); trying again", store.location, exc)
                saved = None
            state = (saved or {}).get("state") or {}
            phase = state.get("phase")
            # A human may have paused the ramp while it waits there: it is still at the point.
            if self.phase in (phase, state.get("paused_phase")):
                return _event("reached", state, f"the ramp is {phase} at stage {state.get('stage')}")
            if phase in TERMINAL_PHASES:
                reason = state.get("end_reason") or ""
                return _event("ended", state, f"the ramp ended ({phase}: {reason}) before it was {self.phase}")
            if time.time() >= self.deadline:
                seen = f"phase {phase}" if phase else "no checkpoint yet"
                return _event("timeout", state, f"the ramp was not {self.phase} by the deadline ({seen})")
            await asyncio.sleep(self.poll_s)


def _event(status: str, state: dict[str, Any] | None, message: str) -> dict[str, Any]:
    state = state or {}
    return {"status": status, "phase": state.get("phase"), "stage": state.get("stage"), "message": message}
