"""The deferrable half of a gate: polls it in the triggerer until its condition holds or its deadline.

One trigger for every kind: its kwargs are the resolved gate (a JSON dict whose `kind` picks the
probe, see `loadstack.gates.probes`), the database step's endpoint for a SQL gate (the secret's id,
never the password: the probe reads it here, in the triggerer), and the deadline as epoch seconds.
An absolute deadline keeps its meaning when the triggerer restarts and re-creates the trigger from
its kwargs.

The trigger fails the gate itself when its deadline passes, with the last value it saw, before the
task's own deferral timeout (which the sensor sets a margin later): that timeout only says "timed
out" and the last value would be lost.

Events: ``{"status": "success" | "timeout" | "error", "gate", "observed", "message", "checks"}``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent
from pydantic import ValidationError

from loadstack.airflow.profile import task_profile
from loadstack.gates.checks import GateResult, failure_message
from loadstack.gates.models import parse_gate
from loadstack.gates.probes import DatabaseEndpoint, Probe, probe_for


def gate_event(
    status: str, gate_name: str, result: GateResult | None, checks: int, message: str = ""
) -> dict[str, Any]:
    return {
        "status": status,
        "gate": gate_name,
        "observed": None if result is None else result.observed,
        "message": message or ("" if result is None else result.message),
        "checks": checks,
    }


class GateTrigger(BaseTrigger):
    """Check a gate every `poke_interval_seconds` until it passes (success) or `deadline` passes (timeout)."""

    def __init__(self, *, gate: dict[str, Any], deadline: float, database: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.gate = gate
        self.deadline = deadline
        self.database = database

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"gate": self.gate, "deadline": self.deadline, "database": self.database},
        )

    def probe(self) -> Probe:
        gate = parse_gate(self.gate)
        database = DatabaseEndpoint(**self.database) if self.database is not None else None
        return probe_for(gate, profile=task_profile, database=database)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        # The event is built first and yielded last: dag.test() takes the first event and never
        # resumes the generator, so nothing after a yield is sure to run (the probe's cleanup).
        yield TriggerEvent(await self._poll())

    async def _poll(self) -> dict[str, Any]:
        name = str(self.gate.get("name", "?"))
        try:
            gate = parse_gate(self.gate)
            probe = self.probe()
        except (ValidationError, ValueError, TypeError) as exc:
            return gate_event("error", name, None, 0, f"gate {name} cannot be checked: {exc}")
        last: GateResult | None = None
        checks = 0
        try:
            while True:
                last = await probe.check()
                checks += 1
                if last.passed:
                    self.log.info("gate %s passed after %d check(s): %s", name, checks, last.message)
                    return gate_event("success", name, last, checks)
                remaining = self.deadline - time.time()
                if remaining <= 0:
                    message = failure_message(name, gate.timeout_seconds, last, gate.describe())
                    return gate_event("timeout", name, last, checks, message)
                self.log.info(
                    "gate %s not yet (%s); next check in %g s",
                    name,
                    last.message,
                    min(gate.poke_interval_seconds, remaining),
                )
                await asyncio.sleep(min(gate.poke_interval_seconds, remaining))
        finally:
            await probe.aclose()
