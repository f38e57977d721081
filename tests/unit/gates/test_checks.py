"""loadstack.gates.checks: each kind's raw answer → (passed, observed value, message)."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

from loadstack.gates.checks import (
    GateResult,
    check_http,
    check_lb_targets,
    check_prometheus,
    check_sql,
    failure_message,
    json_value,
    value_at,
)
from loadstack.gates.conditions import parse_condition

OK = parse_condition("== ok")


def test_http_status_alone():
    assert check_http(200, b"", expect_status=200) == GateResult(True, 200, "HTTP 200")
    assert check_http(503, b"db down", expect_status=200) == GateResult(False, 503, "HTTP 503, expected 200")
    assert check_http(204, b"", expect_status=204).passed


def test_http_json_body_condition():
    body = json.dumps({"status": "ok", "checks": [{"name": "db", "state": "down"}], "rows": 12}).encode()
    passed = check_http(200, body, expect_status=200, path="status", condition=OK)
    assert passed == GateResult(True, "ok", "HTTP 200, status: ok satisfies == ok")
    failed = check_http(200, body, expect_status=200, path="checks.0.state", condition=OK)
    assert not failed.passed and failed.observed == "down"
    assert check_http(200, body, expect_status=200, path="rows", condition=parse_condition(">= 10")).passed
    # The status is judged first: a 503 with a body that would pass does not.
    assert check_http(503, body, expect_status=200, path="status", condition=OK).observed == 503


def test_http_body_that_is_not_json_or_lacks_the_field():
    not_json = check_http(200, b"<html>", expect_status=200, path="status", condition=OK)
    assert not not_json.passed and not_json.observed is None and "not JSON" in not_json.message
    missing = check_http(200, b'{"state": "ok"}', expect_status=200, path="status", condition=OK)
    assert not missing.passed and "no 'status' (top level: state)" in missing.message


def test_value_at_walks_dicts_and_lists():
    document = {"a": {"b": [10, {"c": None}]}}
    assert value_at(document, "a.b.0") == 10
    assert value_at(document, "a.b.-1.c") is None
    assert value_at(document, "a.b.2") is not None  # missing: the sentinel, never a value
    assert value_at(document, "a.x") is value_at(document, "a.b.2")


def test_sql_one_value():
    at_least = parse_condition(">= 40000")
    assert check_sql([(Decimal(50000),)], at_least) == GateResult(
        True, 50000, "the query returned: 50000 satisfies >= 40000"
    )
    assert check_sql([(1200,)], at_least).observed == 1200 and not check_sql([(1200,)], at_least).passed
    no_row = check_sql([], at_least)
    assert not no_row.passed and no_row.observed is None and "no row" in no_row.message
    too_many = check_sql([(1, 2)], at_least)
    assert not too_many.passed and "1 row(s) of 2 column(s)" in too_many.message
    assert "LIMIT 1" in check_sql([(1,), (2,)], at_least).message


def test_sql_values_become_json_primitives():
    assert json_value(Decimal("0.25")) == 0.25
    assert json_value(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05"
    assert json_value(b"ok") == "ok" and json_value(float("nan")) is None
    assert json_value({"b": 1, "a": [2]}) == '{"a": [2], "b": 1}'


def _vector(*values: str) -> dict:
    result = [{"metric": {"job": f"j{i}"}, "value": [1700000000.5, v]} for i, v in enumerate(values)]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def test_prometheus_number_no_data_and_refusals():
    two = parse_condition(">= 2")
    assert check_prometheus(_vector("3"), "sum(up)", two) == GateResult(True, 3.0, "sum(up): 3 satisfies >= 2")
    assert not check_prometheus(_vector("1"), "sum(up)", two).passed
    for no_data in (_vector(), _vector("NaN")):
        result = check_prometheus(no_data, "q", two)
        assert not result.passed and result.observed is None and "no data" in result.message
    several = check_prometheus(_vector("1", "1"), "up", two)
    assert not several.passed and "aggregate it" in several.message
    refused = {"status": "error", "errorType": "bad_data", "error": "parse error at char 4"}
    assert "parse error at char 4" in check_prometheus(refused, "up{", two).message


def _health(*states: str) -> dict:
    return {
        "TargetHealthDescriptions": [
            {
                "Target": {"Id": f"i-{i}", "Port": 80},
                "TargetHealth": {"State": s, **({"Reason": "Elb.X"} if s != "healthy" else {})},
            }
            for i, s in enumerate(states)
        ]
    }


def test_lb_targets_counts_healthy():
    assert check_lb_targets(_health("healthy", "healthy"), 2) == GateResult(
        True, 2, "2 of 2 targets healthy, ≥ 2 needed"
    )
    short = check_lb_targets(_health("healthy", "unhealthy", "initial"), 2)
    assert not short.passed and short.observed == 1
    assert "i-1:80 unhealthy: Elb.X" in short.message and "i-2:80 initial" in short.message
    assert check_lb_targets({"TargetHealthDescriptions": []}, 1) == GateResult(
        False, 0, "0 of 0 targets healthy, < 1 needed"
    )


def test_failure_message_names_gate_time_value_and_condition():
    last = GateResult(False, 1200, "the query returned: 1200 does not satisfy >= 40000")
    assert failure_message("events_seeded", 600.0, last, "value >= 40000") == (
        "gate events_seeded did not pass within 600 s: last value 1200 "
        "(condition value >= 40000; the query returned: 1200 does not satisfy >= 40000)"
    )
    assert "no check finished" in failure_message("g", 1.5, None, "HTTP 200")
