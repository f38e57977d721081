"""GateSensor: one gate of a ramp step, as a deferrable sensor task.

It resolves the gate's `${...}` references (and, for a SQL gate, its database step's outputs), checks
once at once (a gate that already holds passes without deferring), and otherwise defers to
`GateTrigger`, which polls in the triggerer until the condition holds or the gate's timeout. A gate
that times out fails the task naming the gate, the last value seen and the condition, e.g.

    gate events_seeded did not pass within 600 s: last value 1200 (condition value >= 40000; ...)

The trigger ends on its own deadline; the deferral timeout is set a margin later and only catches a
triggerer that never answered (then no value is known). The result (gate, observed value, message)
goes to XCom.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout, TaskDeferralTimeout
from pydantic import ValidationError

from loadstack.airflow.operators.base import StackStepOperator
from loadstack.airflow.triggers.gates import GateTrigger, gate_event
from loadstack.gates.checks import GateResult
from loadstack.gates.models import GATE_KINDS, HttpGate, PrometheusGate, SqlGate, parse_gate
from loadstack.gates.probes import DatabaseEndpoint, probe_for

RESUME_METHOD = "execute_complete"
# The deferral timeout's margin over the trigger's own deadline: the trigger's last check (one
# request or query) and its event must fit in it, so that its message, with the value, wins.
DEFERRAL_MARGIN_SECONDS = 60


def deferral_timeout(gate: Any) -> timedelta:
    one_check = getattr(gate, "request_timeout_seconds", 0) or getattr(gate, "query_timeout_seconds", 0)
    return timedelta(seconds=gate.timeout_seconds + one_check + DEFERRAL_MARGIN_SECONDS)


def _problem(error: Any) -> str:
    location = list(error["loc"])
    if location and location[0] in GATE_KINDS:
        location = location[1:]  # the union's tag: the gate's kind, not a field
    return f"{'.'.join(map(str, location))}: {error['msg'].removeprefix('Value error, ')}"


class GateSensor(StackStepOperator):
    """Wait until `gate` (a gate's spec dict, see loadstack.gates.models) passes; fail when it times out.

    `output_sources` maps the steps its references name (and a SQL gate's database step) to the
    tasks holding their outputs.
    """

    template_fields = ("variant",)
    ui_color = "#e6f0ff"

    def __init__(self, *, gate: dict[str, Any], output_sources: dict[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate = gate
        self.output_sources = output_sources

    @property
    def gate_name(self) -> str:
        return str(self.gate.get("name", self.task_id))

    def resolved(self, context) -> tuple[Any, DatabaseEndpoint | None]:
        """The gate with every reference answered, and a SQL gate's database endpoint."""
        where = f"steps.{self.step}.gates[{self.gate_name}]"
        try:
            declared = parse_gate(self.gate)
            resolved = self.resolve_references(self.gate, context, output_sources=self.output_sources)
            gate = parse_gate(resolved)
        except ValidationError as exc:
            problems = "; ".join(_problem(error) for error in exc.errors())
            raise ValueError(f"{where}: {problems} (after resolving references)") from None
        database = None
        if isinstance(declared, SqlGate):
            outputs = self.resolve_references(
                declared.database_references(), context, output_sources=self.output_sources
            )
            database = DatabaseEndpoint.from_outputs(outputs, declared.database)
        return gate, database

    def check_once(self, gate: Any, database: DatabaseEndpoint | None) -> GateResult:
        """One check, here in the worker, with the same probe the trigger uses."""

        async def check() -> GateResult:
            probe = probe_for(gate, profile=lambda: self.profile, database=database)
            try:
                return await probe.check()
            finally:
                await probe.aclose()

        return asyncio.run(check())

    def execute(self, context) -> dict[str, Any]:
        started = time.time()
        gate, database = self.resolved(context)
        self.log.info("gate %s (%s): %s", gate.name, gate.kind, self._target(gate))
        result = self.check_once(gate, database)
        if result.passed:
            self.log.info("gate %s passed at once: %s", gate.name, result.message)
            return gate_event("success", gate.name, result, 1)
        self.log.info("gate %s not yet (%s): deferring, up to %g s", gate.name, result.message, gate.timeout_seconds)
        trigger = GateTrigger(
            gate=gate.model_dump(mode="json"),
            deadline=started + gate.timeout_seconds,
            database=None if database is None else database.as_dict(),
        )
        self.defer(trigger=trigger, method_name=RESUME_METHOD, timeout=deferral_timeout(gate))

    def execute_complete(self, context, event: dict[str, Any]) -> dict[str, Any]:
        status = event.get("status")
        if status == "success":
            self.log.info("gate %s passed after %s check(s): %s", event["gate"], event.get("checks"), event["message"])
            return event
        if status == "timeout":
            raise AirflowSensorTimeout(event["message"])
        raise AirflowException(event.get("message") or f"gate {self.gate_name}: the trigger sent {event!r}")

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context):
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except TaskDeferralTimeout:
            timeout = self.gate.get("timeout_seconds", "its timeout")
            raise AirflowSensorTimeout(
                f"gate {self.gate_name} did not pass within {timeout} s: its trigger sent no event before the "
                f"deferral timeout, so no last value is known; check that the triggerer is running"
            ) from None

    @staticmethod
    def _target(gate: Any) -> str:
        if isinstance(gate, (HttpGate, PrometheusGate)):
            return f"{gate.url} must give {gate.describe()}"
        if isinstance(gate, SqlGate):
            return f"{gate.query!r} on {gate.database}'s database must give {gate.describe()}"
        return f"{gate.target_group_arn}: {gate.describe()}"
