"""loadstack.gates.models: the four kinds in YAML, strictness, references and the parsed conditions."""

from __future__ import annotations

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from loadstack.gates.models import GateList, HttpGate, LbTargetsGate, PrometheusGate, SqlGate, parse_gate

SPEC = """
gates:
  - name: app_healthy
    kind: http
    url: ${steps.app.outputs.url}/health
    body: {path: checks.database, condition: "== ok"}
  - name: events_seeded
    kind: sql
    database: shop_db
    query: SELECT COUNT(*) FROM events_0
    condition: ">= 40000"
    timeout_seconds: 120
  - name: app_scraped
    kind: prometheus
    url: http://127.0.0.1:9090
    query: sum(up{job="shopapp"})
    condition: ">= ${steps.app.outputs.processes}"
  - name: targets_healthy
    kind: lb_targets
    target_group_arn: ${steps.app.outputs.target_group_arn}
    min_healthy: 2
    poke_interval_seconds: 5
"""


class Holder(BaseModel):
    gates: GateList


def test_the_four_kinds_read_from_yaml():
    gates = Holder.model_validate(yaml.safe_load(SPEC)).gates
    assert [type(g) for g in gates] == [HttpGate, SqlGate, PrometheusGate, LbTargetsGate]
    http, sql, prometheus, lb = gates
    assert http.expect_status == 200 and http.body.path == "checks.database"
    assert http.describe() == "HTTP 200 and checks.database == ok"
    assert sql.parsed_condition().operand == 40000.0 and sql.timeout_seconds == 120
    assert sql.step_links() == [("database", "shop_db")]
    assert sql.database_references()["secret_id"] == "${steps.shop_db.outputs.secret_id}"
    assert prometheus.condition == ">= ${steps.app.outputs.processes}"  # parsed once resolved
    assert lb.min_healthy == 2 and lb.poke_interval_seconds == 5 and lb.describe() == "healthy targets >= 2"
    assert all(g.timeout_seconds > 0 and g.poke_interval_seconds > 0 for g in gates)


def test_a_gate_dumps_and_reads_back_the_same():
    for gate in Holder.model_validate(yaml.safe_load(SPEC)).gates:
        assert parse_gate(gate.model_dump(mode="json")) == gate


def _error(value) -> str:
    with pytest.raises(ValidationError) as caught:
        parse_gate(value)
    return str(caught.value)


def test_unknown_fields_kinds_and_bad_conditions_are_refused():
    base = {"name": "g", "kind": "sql", "database": "db", "query": "SELECT 1", "condition": ">= 1"}
    assert "Extra inputs are not permitted" in _error({**base, "treshold": 3})
    assert "expected tags: 'http', 'sql', 'prometheus', 'lb_targets'" in _error({**base, "kind": "tcp"})
    assert "compares numbers" in _error({**base, "condition": ">= many"})
    assert "String should match pattern" in _error({**base, "name": "Bad Name"})
    assert "greater than 0" in _error({**base, "timeout_seconds": 0})
    assert "not an http(s) URL" in _error({"name": "h", "kind": "http", "url": "127.0.0.1:8080/health"})
    assert "does not parse" in _error(
        {"name": "h", "kind": "http", "url": "http://x", "body": {"path": "status", "condition": "ok"}}
    )


def test_gate_names_are_unique_in_a_list():
    gate = {"name": "same", "kind": "lb_targets", "target_group_arn": "arn"}
    with pytest.raises(ValidationError, match="two gates are named 'same'"):
        Holder.model_validate({"gates": [gate, gate]})
