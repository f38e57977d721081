"""The history of a stack's runs: one record per run (pass or fail, where it failed, spin-up time, ramp
results, whether it tore down), kept in the profile's state bucket, and an index page in the report bucket.

Records live under `loadstack/history/<stack>/<run>.json`, one object per run: a rerun of the same run (a
retried final task, a backfill reprocessing a failed night) overwrites its own record, so the history never
counts a night twice, and no two runs ever write the same object (no read-modify-write to race on).
The index page, `reports/<stack>/index.html`, is rebuilt from the records after each run.

No Airflow here: the stack DAG's final task writes the record, `loadstack history` reads them.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, Literal

from loadstack.profiles import Profile

HISTORY_PREFIX = "loadstack/history/"
Outcome = Literal["pass", "fail"]
# What became of the stack at the end of the run.
Teardown = Literal["torn_down", "kept_up", "teardown_failed", "not_run"]
FAILED_STATES = frozenset({"failed"})


def run_slug(run_id: str) -> str:
    """A run id as one S3 key segment."""
    return re.sub(r"[^A-Za-z0-9_.=+-]+", "_", run_id)[:200]


def record_key(stack: str, run_id: str) -> str:
    return f"{HISTORY_PREFIX}{stack}/{run_slug(run_id)}.json"


def index_key(stack: str) -> str:
    """The stack's history page in the report bucket, beside its runs' reports (`reports/<stack>/<run>/`)."""
    return f"reports/{stack}/index.html"


@dataclass(frozen=True)
class RampResult:
    step: str
    outcome: str
    reason: str = ""
    url: str = ""


@dataclass(frozen=True)
class RunRecord:
    stack: str
    run_id: str
    run_type: str
    variant: str
    outcome: Outcome
    started_at: datetime
    ended_at: datetime
    # The tasks that failed themselves (not those skipped because an upstream task failed), by task id.
    failed_tasks: tuple[str, ...] = ()
    # From the start of the run until the stack was registered as up; None when it never came up.
    spin_up_s: float | None = None
    ramps: tuple[RampResult, ...] = ()
    teardown: Teardown = "not_run"

    @property
    def failed_at(self) -> str:
        return ", ".join(self.failed_tasks)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["started_at"], data["ended_at"] = self.started_at.isoformat(), self.ended_at.isoformat()
        data["failed_tasks"] = list(self.failed_tasks)
        data["ramps"] = [asdict(ramp) for ramp in self.ramps]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "RunRecord":
        return cls(
            stack=data["stack"], run_id=data["run_id"], run_type=data["run_type"], variant=data["variant"],
            outcome=data["outcome"], started_at=datetime.fromisoformat(data["started_at"]),
            ended_at=datetime.fromisoformat(data["ended_at"]), failed_tasks=tuple(data.get("failed_tasks", ())),
            spin_up_s=data.get("spin_up_s"), ramps=tuple(RampResult(**ramp) for ramp in data.get("ramps", ())),
            teardown=data.get("teardown", "not_run"),
        )


def failed_tasks(states: dict[str, str | None], *, ignore: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The tasks of a run that failed themselves, sorted; `states` is {task id: state} as Airflow reports it."""
    return tuple(sorted(task for task, state in states.items() if state in FAILED_STATES and task not in ignore))


def teardown_of(states: dict[str, str | None], *, remove_task: str, decision_task: str) -> Teardown:
    """What the run did with its stack, from its teardown tasks' states (read once they are all done)."""
    decision = states.get(decision_task)
    if decision == "skipped":
        return "kept_up"
    if decision != "success":
        # The run never got as far as deciding (it did not get the stack lock): it touched nothing.
        return "not_run"
    return "torn_down" if states.get(remove_task) == "success" else "teardown_failed"


class RunHistory:
    """The run records of every stack in one profile's state bucket."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile

    @cached_property
    def _s3(self):
        return self.profile.client("s3")

    def record(self, record: RunRecord) -> str:
        key = record_key(record.stack, record.run_id)
        self._s3.put_object(Bucket=self.profile.state_bucket, Key=key, ContentType="application/json",
                            Body=json.dumps(record.to_json(), sort_keys=True).encode())
        return key

    def list(self, stack: str) -> list[RunRecord]:
        """The stack's runs, oldest first."""
        records = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.profile.state_bucket, Prefix=f"{HISTORY_PREFIX}{stack}/"):
            for item in page.get("Contents", []):
                body = self._s3.get_object(Bucket=self.profile.state_bucket, Key=item["Key"])["Body"].read()
                records.append(RunRecord.from_json(json.loads(body)))
        return sorted(records, key=lambda r: (r.started_at, r.run_id))

    def publish_index(self, stack: str) -> str:
        """Rebuild the stack's history page in the report bucket; returns its key."""
        page = render_index(stack, self.list(stack))
        key = index_key(stack)
        self._s3.put_object(Bucket=self.profile.report_bucket, Key=key, Body=page.encode(),
                            ContentType="text/html; charset=utf-8")
        return key


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"


def ramp_summary(record: RunRecord) -> str:
    return ", ".join(f"{r.step}: {r.outcome}" + (f" ({r.reason})" if r.reason else "") for r in record.ramps) or "-"


def history_rows(records: list[RunRecord]) -> list[tuple[str, ...]]:
    """One row per run, newest first, in HISTORY_COLUMNS order (times in UTC)."""
    return [
        (f"{r.started_at:%Y-%m-%d %H:%M}", r.run_type, r.variant, r.outcome.upper(), r.failed_at or "-",
         format_seconds(r.spin_up_s), ramp_summary(r), r.teardown, r.run_id)
        for r in reversed(records)
    ]


HISTORY_COLUMNS = ("started", "type", "variant", "outcome", "failed at", "spin-up", "ramp", "teardown", "run")


def render_index(stack: str, records: list[RunRecord]) -> str:
    """A small static page: one row per run, newest first, each ramp linking to its report."""
    escape = html.escape
    passed = sum(r.outcome == "pass" for r in records)
    rows = []
    for record, row in zip(reversed(records), history_rows(records)):
        cells = [escape(cell) for cell in row]
        ramp_cell = ", ".join(
            (f'<a href="{escape(r.url)}">{escape(r.step)}: {escape(r.outcome)}</a>' if r.url
             else f"{escape(r.step)}: {escape(r.outcome)}") + (f" ({escape(r.reason)})" if r.reason else "")
            for r in record.ramps
        ) or "-"
        cells[HISTORY_COLUMNS.index("ramp")] = ramp_cell
        rows.append(f'<tr class="{record.outcome}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    header = "".join(f"<th>{escape(c)}</th>" for c in HISTORY_COLUMNS)
    return (
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>"
        f"{escape(stack)}: run history</title><style>body{{font-family:sans-serif}}"
        "td,th{padding:2px 8px;text-align:left}tr.pass td:nth-child(4){color:#17803d}"
        "tr.fail td:nth-child(4){color:#b42318;font-weight:bold}</style></head><body>\n"
        f"<h1>{escape(stack)}: run history</h1>\n<p>{len(records)} runs, {passed} passed. "
        "Each ramp links to its report.</p>\n"
        f"<table><thead><tr>{header}</tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table>\n</body></html>\n"
    )
