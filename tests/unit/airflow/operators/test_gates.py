"""GateSensor with a mocked context and a scripted probe: references resolved, pass at once, defer to
GateTrigger with a deadline inside the deferral timeout, and fail naming the gate and the last value."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout, TaskDeferralTimeout, TaskDeferred

from loadstack.airflow.operators import gates as operators
from loadstack.airflow.operators.gates import GateSensor
from loadstack.airflow.triggers.gates import GateTrigger
from loadstack.gates.checks import GateResult
from loadstack.gates.probes import DatabaseEndpoint, HttpProbe

DB_OUTPUTS = {
    "engine": "mariadb",
    "host": "127.0.0.1",
    "port": 3307,
    "database": "commerce",
    "username": "root",
    "secret_id": "loadstack/shop/shop_db/mariadb",
    "snapshot": "s",
    "snapshot_kind": "seeded",
}
APP_OUTPUTS = {"url": "http://127.0.0.1:8123"}
SQL_GATE = {
    "name": "events_seeded",
    "kind": "sql",
    "database": "shop_db",
    "query": "SELECT COUNT(*) FROM events_0",
    "condition": ">= ${steps.app.outputs.min_rows}",
    "timeout_seconds": 120,
}
HTTP_GATE = {
    "name": "app_healthy",
    "kind": "http",
    "url": "${steps.app.outputs.url}/health",
    "timeout_seconds": 30,
    "body": {"path": "status", "condition": "== ok"},
}
SOURCES = {"shop_db": "shop_db.restore", "app": "app.start"}


@pytest.fixture
def context(make_context):
    context = make_context()
    pulled = {"shop_db.restore": DB_OUTPUTS, "app.start": {**APP_OUTPUTS, "min_rows": 40000}}
    context["ti"].xcom_pull.side_effect = lambda task_ids: pulled[task_ids]
    return context


@pytest.fixture
def probe(monkeypatch):
    """Replace the probe the sensor's first check uses; records what it was built for."""
    built = []

    class Probe:
        result = GateResult(True, 50000, "50000 satisfies >= 40000")
        closed = False

        async def check(self):
            return self.result

        async def aclose(self):
            Probe.closed = True

    def probe_for(gate, *, profile, database=None):
        built.append((gate, database, profile()))
        return Probe()

    monkeypatch.setattr(operators, "probe_for", probe_for)
    Probe.built = built
    return Probe


def build(profile, gate) -> GateSensor:
    op = GateSensor(
        task_id=f"gates.{gate['name']}", stack="shop", step="ramp", variant="minimal", gate=gate, output_sources=SOURCES
    )
    op.__dict__["profile"] = profile
    return op


def test_constructor_does_no_io_and_keeps_the_spec_dict(profile):
    op = GateSensor(task_id="g", stack="shop", step="ramp", variant="minimal", gate=SQL_GATE, output_sources=SOURCES)
    assert op.gate == SQL_GATE and op.template_fields == ("variant",) and op.gate_name == "events_seeded"
    with pytest.raises(TypeError):
        GateSensor("g", stack="shop", step="ramp", variant="minimal", gate=SQL_GATE, output_sources=SOURCES)


def test_resolves_references_and_the_database_steps_outputs(profile, context):
    gate, database = build(profile, SQL_GATE).resolved(context)
    assert gate.condition == ">= 40000" and gate.parsed_condition().operand == 40000.0
    assert database == DatabaseEndpoint(
        host="127.0.0.1", port=3307, database="commerce", username="root", secret_id="loadstack/shop/shop_db/mariadb"
    )
    http, none = build(profile, HTTP_GATE).resolved(context)
    assert http.url == "http://127.0.0.1:8123/health" and none is None


def test_a_reference_that_resolves_to_a_bad_value_names_the_gate(profile, context):
    context["ti"].xcom_pull.side_effect = lambda task_ids: {**APP_OUTPUTS, "min_rows": "many"}
    with pytest.raises(ValueError, match=r"steps.ramp.gates\[events_seeded\]: condition: .*compares numbers"):
        build(profile, SQL_GATE).resolved(context)


def test_passes_at_once_without_deferring(profile, context, probe):
    result = build(profile, SQL_GATE).execute(context)
    assert result == {
        "status": "success",
        "gate": "events_seeded",
        "observed": 50000,
        "message": "50000 satisfies >= 40000",
        "checks": 1,
    }
    [(gate, database, used_profile)] = probe.built
    assert gate.name == "events_seeded" and database.port == 3307 and used_profile is profile
    assert probe.closed


def test_defers_to_its_trigger_when_not_yet(profile, context, probe):
    probe.result = GateResult(False, 1200, "1200 does not satisfy >= 40000")
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        build(profile, SQL_GATE).execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, GateTrigger) and deferred.value.method_name == "execute_complete"
    assert trigger.gate["condition"] == ">= 40000" and trigger.database["secret_id"] == DB_OUTPUTS["secret_id"]
    assert before + 120 <= trigger.deadline <= time.time() + 120
    # The trigger's own deadline comes first, so its event (with the last value) decides.
    assert deferred.value.timeout == timedelta(seconds=120 + 30 + operators.DEFERRAL_MARGIN_SECONDS)
    assert "password" not in str(trigger.serialize())


def test_a_real_probe_is_built_for_the_first_check(profile, context, monkeypatch):
    built = []
    real = operators.probe_for
    monkeypatch.setattr(operators, "probe_for", lambda gate, **kw: built.append(real(gate, **kw)) or built[-1])
    with pytest.raises(TaskDeferred):  # nothing listens on 127.0.0.1:1: refused at once, so not yet
        build(profile, {**HTTP_GATE, "url": "http://127.0.0.1:1/health"}).execute(context)
    assert isinstance(built[0], HttpProbe) and built[0]._client is None  # closed after the check


def test_succeeds_on_the_triggers_success_event(profile, context):
    event = {"status": "success", "gate": "events_seeded", "observed": 40001, "message": "ok", "checks": 7}
    assert build(profile, SQL_GATE).execute_complete(context, event) == event


def test_fails_with_the_triggers_message_naming_gate_and_last_value(profile, context):
    message = (
        "gate events_seeded did not pass within 120 s: last value 1200 "
        "(condition value >= 40000; the query returned: 1200 does not satisfy >= 40000)"
    )
    event = {"status": "timeout", "gate": "events_seeded", "observed": 1200, "message": message, "checks": 13}
    with pytest.raises(AirflowSensorTimeout) as failed:
        build(profile, SQL_GATE).execute_complete(context, event)
    assert str(failed.value) == message
    with pytest.raises(AirflowException, match="cannot be checked"):
        build(profile, SQL_GATE).execute_complete(
            context, {"status": "error", "gate": "events_seeded", "message": "gate events_seeded cannot be checked: x"}
        )


def test_a_deferral_timeout_still_names_the_gate(profile, context, monkeypatch):
    def fail(self, next_method, next_kwargs, context):
        raise TaskDeferralTimeout("Trigger timeout")

    monkeypatch.setattr(operators.StackStepOperator, "resume_execution", fail)
    with pytest.raises(AirflowSensorTimeout, match=r"gate events_seeded did not pass within 120 s: .*no last value"):
        build(profile, SQL_GATE).resume_execution("__fail__", {"error": "Trigger timeout"}, context)
