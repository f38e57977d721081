"""Prometheus's HTTP query API, as pure request builders and response parsers (no I/O).

Callers bring their own HTTP client (a ramp's metric source is synchronous, a gate's trigger is
async); both read the same shapes. A query is expected to give one number: an instant vector with
one series, or a scalar. An empty result, NaN or infinity is "no data", reported as None and never
as a value: `histogram_quantile` is NaN when there was no traffic.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class PrometheusQueryError(RuntimeError):
    """Prometheus refused the query or answered something that is not one number."""


def label_matchers(labels: Mapping[str, str]) -> str:
    """Equality matchers for `labels`, e.g. {"pool": "stack"} -> 'pool="stack"' (comma-separated, sorted).

    Values are quoted as PromQL strings (backslash, double quote and newline escaped), so any value
    matches itself exactly. A name that is not a Prometheus label name raises ValueError naming it (a
    value that is not a string, TypeError).
    """
    matchers = []
    for name, value in sorted(labels.items()):
        if not isinstance(name, str) or not _LABEL_NAME.fullmatch(name) or name.startswith("__"):
            raise ValueError(
                f"label {name!r} is not a Prometheus label name: letters, digits and _, not starting with a digit or __"
            )
        if not isinstance(value, str):
            raise TypeError(f"label {name}'s value {value!r} is not a string")
        quoted = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        matchers.append(f'{name}="{quoted}"')
    return ",".join(matchers)


@dataclass(frozen=True)
class QueryResult:
    """One number (or None: no data) and the time Prometheus evaluated it at (epoch seconds)."""

    value: float | None
    evaluated_at: float
    series: int


def instant_query_url(base_url: str, promql: str, at: float | None = None) -> str:
    """GET URL of an instant query (`/api/v1/query`), evaluated at `at` (epoch seconds) or now."""
    params = {"query": promql}
    if at is not None:
        params["time"] = f"{at:.3f}"
    return f"{base_url.rstrip('/')}/api/v1/query?{urlencode(params)}"


def _number(text: Any) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


def parse_instant(body: Mapping[str, Any], promql: str = "") -> QueryResult:
    """The number an instant query answered; several series are an error (the query must aggregate)."""
    where = f" for {promql!r}" if promql else ""
    if body.get("status") != "success":
        raise PrometheusQueryError(f"Prometheus refused the query{where}: {body.get('errorType', '')} {body.get('error', body)}")
    data = body.get("data") or {}
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        at, text = result
        return QueryResult(_number(text), float(at), 1)
    if kind == "vector":
        if not result:
            return QueryResult(None, math.nan, 0)
        if len(result) > 1:
            labels = ", ".join(str(series.get("metric", {})) for series in result[:3])
            raise PrometheusQueryError(
                f"the query{where} returned {len(result)} series ({labels}, ...): aggregate it to one, e.g. with sum(...)"
            )
        at, text = result[0]["value"]
        return QueryResult(_number(text), float(at), 1)
    raise PrometheusQueryError(f"the query{where} returned a {kind}, not a number: use an instant vector or a scalar")
