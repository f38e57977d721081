"""Judging a gate's raw answer: pure functions from what a service said to a `GateResult`.

The probes (loadstack.gates.probes) fetch the answers; these functions say whether the gate passes,
which value was seen and why, so the sensor's first check, its trigger and the tests all judge
the same way. A failed check is "not yet": the trigger keeps polling until the gate's timeout.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from loadstack.gates.conditions import Condition, show
from loadstack.prometheus.query import PrometheusQueryError, parse_instant


@dataclass(frozen=True)
class GateResult:
    """One check's outcome. `observed` is a JSON primitive (None: no value could be read)."""

    passed: bool
    observed: Any
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def json_value(value: Any) -> Any:
    """A value from a driver or a JSON body as a JSON primitive (Decimal → int or float, dates → ISO)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, sort_keys=True, default=str)  # a JSON object or list: compared as its text


def _judge(condition: Condition, observed: Any, what: str) -> GateResult:
    verdict = condition.evaluate(observed)
    return GateResult(verdict.passed, observed, f"{what}: {verdict.reason}")


# --- http -----------------------------------------------------------------------------------------
_MISSING = object()


def value_at(document: Any, path: str) -> Any:
    """The value at a dotted path (`checks.0.status`); `_MISSING` where the path leads nowhere."""
    current = document
    for part in path.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.lstrip("-").isdigit() and -len(current) <= int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def check_http(
    status: int, body: bytes | str, *, expect_status: int, path: str | None = None, condition: Condition | None = None
) -> GateResult:
    """The status first (observed: the status); then, with a body condition, the JSON field's value."""
    if status != expect_status:
        return GateResult(False, status, f"HTTP {status}, expected {expect_status}")
    if condition is None or path is None:
        return GateResult(True, status, f"HTTP {status}")
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    try:
        document = json.loads(text)
    except ValueError:
        return GateResult(False, None, f"HTTP {status}, but the body is not JSON (starts {text[:60]!r})")
    found = value_at(document, path)
    if found is _MISSING:
        keys = ", ".join(sorted(document)[:10]) if isinstance(document, Mapping) else type(document).__name__
        return GateResult(False, None, f"HTTP {status}, but the JSON body has no {path!r} (top level: {keys})")
    return _judge(condition, json_value(found), f"HTTP {status}, {path}")


# --- sql ------------------------------------------------------------------------------------------
def check_sql(rows: Sequence[Sequence[Any]], condition: Condition) -> GateResult:
    """A query's rows: one row of one column is the value; no row is "no data"."""
    if not rows:
        return _judge(condition, None, "the query returned no row")
    if len(rows) > 1 or len(rows[0]) != 1:
        return GateResult(
            False,
            None,
            f"the query returned {len(rows)} row(s) of {len(rows[0])} column(s): make it return one value "
            "(e.g. SELECT COUNT(*) ... or add LIMIT 1)",
        )
    return _judge(condition, json_value(rows[0][0]), "the query returned")


# --- prometheus -----------------------------------------------------------------------------------
def check_prometheus(body: Mapping[str, Any], promql: str, condition: Condition) -> GateResult:
    """An instant query's answer (see loadstack.prometheus.query): no series or NaN is "no data"."""
    try:
        result = parse_instant(body, promql)
    except (PrometheusQueryError, KeyError, TypeError, ValueError) as exc:
        return GateResult(False, None, str(exc))
    return _judge(condition, result.value, promql)


# --- lb_targets -----------------------------------------------------------------------------------
def check_lb_targets(response: Mapping[str, Any], min_healthy: int) -> GateResult:
    """ELBv2 `describe_target_health`: how many targets are healthy (observed), and what the others are."""
    descriptions = response.get("TargetHealthDescriptions", [])
    healthy = 0
    others = []
    for item in descriptions:
        health = item.get("TargetHealth", {})
        if health.get("State") == "healthy":
            healthy += 1
        else:
            target = item.get("Target", {})
            reason = f": {health['Reason']}" if health.get("Reason") else ""
            others.append(f"{target.get('Id')}:{target.get('Port', '')} {health.get('State', 'unknown')}{reason}")
    passed = healthy >= min_healthy
    message = f"{healthy} of {len(descriptions)} targets healthy, {'≥' if passed else '<'} {min_healthy} needed"
    if others:
        message += f" (others: {'; '.join(others[:5])}{' ...' if len(others) > 5 else ''})"
    return GateResult(passed, healthy, message)


def failure_message(name: str, timeout_seconds: float, last: GateResult | None, describe: str) -> str:
    """Why a gate failed: its name, its time limit, the last value seen and what should have held."""
    if last is None:
        return f"gate {name} did not pass within {show(float(timeout_seconds))} s: no check finished ({describe})"
    return (
        f"gate {name} did not pass within {show(float(timeout_seconds))} s: last value {show(last.observed)} "
        f"(condition {describe}; {last.message})"
    )
