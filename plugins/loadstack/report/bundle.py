"""A ramp's report as files, and their upload: timeline.json, the chart PNGs and index.html.

`build_report` returns ``{file name: bytes}`` and does no I/O, so the Airflow layer decides where the
files go; `store_report` puts them in a bucket (by convention `report_prefix`: reports/<stack>/<run_id>/[<step>/])
with the Content-Type a browser needs to show them, index.html last so the page never points at
pieces not yet there. timeline.json holds everything the page was drawn from (params, timeline,
summary, check results; for a capacity search its result too), enough to draw it again.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from loadstack.ramp.capacity import CapacityParams, CapacityResult
from loadstack.ramp.checks import Check, evaluate_checks
from loadstack.ramp.params import RampParams
from loadstack.ramp.summary import CapacitySummary, RampSummary, summarize, summarize_capacity
from loadstack.ramp.timeline import Timeline
from loadstack.report.page import render_page

REPORT_FORMAT = 1
INDEX = "index.html"
TIMELINE = "timeline.json"
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".png": "image/png", ".json": "application/json",
                 ".md": "text/markdown; charset=utf-8"}


class ReportStoreError(RuntimeError):
    """A report file could not be uploaded; names the bucket and key."""


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: such a number is "no data" (null), recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def build_report(
    *,
    stack: str,
    run_id: str,
    params: RampParams | CapacityParams,
    timeline: Timeline,
    checks: Iterable[Check] = (),
    capacity: CapacityResult | None = None,
    generated_at: float | None = None,
) -> dict[str, bytes]:
    """Every file of the report by name: timeline.json, the charts (qps.png, or levels.png for a capacity search,
    latency.png, errors.png), index.html. `capacity`: a capacity search's result."""
    generated_at = time.time() if generated_at is None else generated_at
    summary = report_summary(params, timeline, capacity)
    checks = list(checks)
    results = evaluate_checks(checks, params, timeline, capacity)
    # matplotlib costs 1-2 s to import here; the operator module importing this one is loaded by every DAG parse.
    from loadstack.report.charts import render_charts

    charts = render_charts(params, timeline, capacity)
    document = {
        "format": REPORT_FORMAT,
        "stack": stack,
        "run_id": run_id,
        "generated_at": generated_at,
        "params": params.to_json(),
        "checks": [check.model_dump() for check in checks],
        "check_results": [result.to_json() for result in results],
        "passed": all(result.passed for result in results),
        "summary": summary.to_json(),
        "timeline": timeline.to_json(),
    }
    if isinstance(params, CapacityParams):
        document["mode"] = "capacity"
        document["capacity"] = capacity.to_json() if capacity is not None else None
    page = render_page(
        stack=stack,
        run_id=run_id,
        params=params,
        timeline=timeline,
        summary=summary,
        results=results,
        charts=charts,
        generated_at=generated_at,
    )
    # default=str: a decision's values are free-form; a value JSON cannot carry is kept as its text.
    data = json.dumps(_finite(document), allow_nan=False, default=str, separators=(",", ":")).encode()
    return {TIMELINE: data, **charts, INDEX: page.encode("utf-8")}


def report_summary(
    params: RampParams | CapacityParams, timeline: Timeline, capacity: CapacityResult | None = None
) -> RampSummary | CapacitySummary:
    """The summary the report shows: a ramp's (`summarize`), or a capacity search's with its result."""
    if isinstance(params, CapacityParams):
        return summarize_capacity(timeline, capacity)
    return summarize(params, timeline)


def report_prefix(stack: str, run_id: str, step: str | None = None) -> str:
    """Where a run's report lives in the report bucket: ``reports/<stack>/<run_id>/[<step>/]``."""
    parts = [("stack", stack), ("run id", run_id)] + ([("step", step)] if step is not None else [])
    for what, value in parts:
        if not value or "/" in value or value in (".", ".."):
            raise ValueError(f"{what} {value!r} cannot name a report folder: it must be non-empty, without '/'")
    return "reports/" + "".join(f"{value}/" for _, value in parts)


def content_type(name: str) -> str:
    suffix = name[name.rfind(".") :] if "." in name else ""
    return CONTENT_TYPES.get(suffix.lower(), "application/octet-stream")


@dataclass(frozen=True)
class StoredReport:
    """Where a report went: the bucket and each file's key."""

    bucket: str
    keys: dict[str, str] = field(default_factory=dict)

    def uri(self, name: str = INDEX) -> str:
        return f"s3://{self.bucket}/{self.keys[name]}"

    @property
    def index_key(self) -> str:
        return self.keys[INDEX]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "uris": {name: self.uri(name) for name in self.keys}}


def store_report(client: Any, bucket: str, prefix: str, files: Mapping[str, bytes]) -> StoredReport:
    """Upload `files` under `prefix` in `bucket` through boto3 S3 `client`, index.html last."""
    prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
    keys: dict[str, str] = {}
    for name in sorted(files, key=lambda n: (n == INDEX, n)):
        key = prefix + name
        try:
            client.put_object(Bucket=bucket, Key=key, Body=files[name], ContentType=content_type(name))
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "?")
            if code == "NoSuchBucket":
                raise ReportStoreError(
                    f"report bucket {bucket} does not exist: create it, or name one that exists (the profile's "
                    f"report_bucket, LOADSTACK_REPORT_BUCKET); s3://{bucket}/{key} not stored, "
                    f"stored before it: {sorted(keys) or 'nothing'}"
                ) from error
            detail = error.response.get("Error", {}).get("Message", error)
            raise ReportStoreError(
                f"could not store the report file {name} at s3://{bucket}/{key}: {code}: {detail} "
                f"(stored before it: {sorted(keys) or 'nothing'})"
            ) from error
        keys[name] = key
    return StoredReport(bucket=bucket, keys=keys)
