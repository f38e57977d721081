"""One DAG run from the outside, narrated: wait for the parse, unpause, trigger, follow, explain a failure.

`run_dag()` is the core of `scripts/demo.py` and `loadstack run`. Progress goes to a `Narrator`
(timestamped lines on stdout, problems on stderr); the outcome comes back as a `RunOutcome`.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from airflow_client.client import DAGResponse, ImportErrorResponse, TaskInstanceResponse

from loadstack.rest_client import task_log
from loadstack.rest_client.client import AirflowRestClient, RestError

FINISHED_RUN_STATES = frozenset({"success", "failed"})
BAD_TASK_STATES = frozenset({"failed", "upstream_failed"})
# Waiting with no parse of the DAG but with import errors on the table for this long: report them.
IMPORT_ERROR_GRACE_S = 20.0
PARSE_POLL_S = 2.0


def parse_conf(text: str) -> dict[str, Any]:
    """A run's conf from the command line: a JSON object, or a ValueError that says what to fix."""
    try:
        conf = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"--conf is not valid JSON: {exc}") from None
    if not isinstance(conf, dict):
        raise ValueError(f"--conf must be a JSON object, not {type(conf).__name__}")
    return conf


class Narrator:
    """Timestamped progress on `out` (default stdout), problems on `err` (default stderr)."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self._out, self._err = out, err

    @property
    def out(self) -> TextIO:
        return self._out or sys.stdout

    @property
    def err(self) -> TextIO:
        return self._err or sys.stderr

    @staticmethod
    def now() -> str:
        return datetime.now().strftime("%H:%M:%S")

    def say(self, message: str) -> None:
        print(f"{self.now()}  {message}", file=self.out, flush=True)

    def problem(self, text: str) -> None:
        print(text, file=self.err, flush=True)

    def fail(self, message: str) -> None:
        print(f"\n{self.now()}  FAILED: {message}", file=self.err, flush=True)


@dataclass
class RunOutcome:
    """How a run ended: success | failed | timeout (still going in Airflow) | not_parsed | refused | api_error."""

    dag_id: str
    state: str
    run_id: str | None = None
    url: str | None = None
    elapsed: float = 0.0
    task_instances: list[TaskInstanceResponse] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.state == "success"

    def summary(self) -> str:
        """Task counts by state: `5 success, 1 upstream_failed`."""
        counts: dict[str, int] = {}
        for ti in self.task_instances:
            counts[state_of(ti)] = counts.get(state_of(ti), 0) + 1
        return ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))


def state_of(item: Any) -> str:
    """A task instance's or run's state as text ("none" before the scheduler sets one)."""
    state = getattr(item, "state", None)
    return "none" if state is None else str(getattr(state, "value", state))


def ti_label(ti: TaskInstanceResponse) -> str:
    return ti.task_id + (f"[{ti.map_index}]" if ti.map_index >= 0 else "")


# --- waiting for the parse -------------------------------------------------------------------------
def errors_for(errors: list[ImportErrorResponse], dag_id: str, fileloc: str | None) -> list[ImportErrorResponse]:
    """The import errors of the DAG's file, or of a file named after the DAG or mentioning it."""
    mine = []
    for err in errors:
        name = err.filename or ""
        if fileloc and (fileloc.endswith(name) or name.endswith(fileloc)):
            mine.append(err)
        elif Path(name).stem == dag_id or dag_id in (err.stack_trace or ""):
            mine.append(err)
    return mine


def print_import_errors(errors: list[ImportErrorResponse], narrator: Narrator, base_url: str) -> None:
    for err in errors:
        where = f"{err.bundle_name}:{err.filename}" if err.bundle_name else err.filename
        narrator.problem(f"\n--- import error in {where} ({err.timestamp}) ---")
        narrator.problem((err.stack_trace or "").rstrip())
    narrator.problem(f"\n(also in the UI: {base_url}/dags  ->  import errors)")


def wait_for_dag(
    client: AirflowRestClient,
    dag_id: str,
    *,
    timeout: float,
    narrator: Narrator,
    poll: float = PARSE_POLL_S,
    grace: float = IMPORT_ERROR_GRACE_S,
    not_found_hint: str = "",
) -> DAGResponse | None:
    """The DAG once parsed; None (after saying why, with the import errors) if it never is."""
    start = time.monotonic()
    first_errors_seen: float | None = None
    announced = False
    while True:
        errors = client.import_errors()
        dag = client.dag(dag_id)
        if dag is not None:
            if dag.has_import_errors:
                print_import_errors(errors_for(errors, dag_id, dag.relative_fileloc or dag.fileloc) or errors, narrator, client.base_url)
                narrator.fail(f"DAG {dag_id!r} was parsed before, but its file now fails to import (see above)")
                return None
            return dag
        elapsed = time.monotonic() - start
        mine = errors_for(errors, dag_id, None)
        if errors and first_errors_seen is None:
            first_errors_seen = elapsed
        if mine or (first_errors_seen is not None and elapsed - first_errors_seen >= grace):
            print_import_errors(mine or errors, narrator, client.base_url)
            narrator.fail(f"DAG {dag_id!r} is not available: a DAG file fails to import (see above)")
            return None
        if elapsed >= timeout:
            known = ", ".join(sorted(d.dag_id for d in client.dags())) or "none"
            narrator.fail(
                f"DAG {dag_id!r} not found after {timeout:.0f} s (DAGs known to Airflow: {known})."
                + (f" {not_found_hint}" if not_found_hint else "")
            )
            return None
        if not announced:
            narrator.say(f"waiting for the dag-processor to parse DAG {dag_id!r} ...")
            announced = True
        time.sleep(poll)


# --- following a run -------------------------------------------------------------------------------
def follow_run(
    client: AirflowRestClient, dag_id: str, run_id: str, *, timeout: float, poll: float, narrator: Narrator
) -> tuple[str, list[TaskInstanceResponse]]:
    """Poll until the run finishes (or `timeout`: state "timeout"), saying every task state change."""
    seen: dict[tuple[str, int], tuple[str, int]] = {}
    run_state = "queued"
    deadline = time.monotonic() + timeout
    width = 28
    while True:
        run = client.run(dag_id, run_id)
        tis = client.task_instances(dag_id, run_id)
        state = state_of(run)
        if state != run_state and state not in FINISHED_RUN_STATES:
            narrator.say(f"run {run_id}: {state}")
        run_state = state
        width = max([width] + [len(ti_label(ti)) for ti in tis])
        for ti in sorted(tis, key=_start_order):
            key = (ti.task_id, ti.map_index)
            ti_state, tries = state_of(ti), ti.try_number or 0
            old_state, old_tries = seen.get(key, ("none", 0))
            if key not in seen and ti_state == "none":
                seen[key] = (ti_state, tries)
                continue
            if (ti_state, tries) != (old_state, old_tries):
                extra = f"  (try {tries})" if tries > 1 and ti_state in ("running", "queued") else ""
                if ti_state in ("success", "failed") and ti.duration is not None:
                    extra = f"  ({ti.duration:.1f} s)"
                if ti_state != old_state:
                    narrator.say(f"{ti_label(ti):{width}s} {old_state} \u2192 {ti_state}{extra}")
                seen[key] = (ti_state, tries)
        if run_state in FINISHED_RUN_STATES:
            return run_state, tis
        if time.monotonic() > deadline:
            return "timeout", tis
        time.sleep(poll)


def _start_order(ti: TaskInstanceResponse) -> tuple:
    started = ti.start_date
    return (started is None, started.timestamp() if started else 0.0, ti.task_id, ti.map_index)


def log_path(log_folder: Path, dag_id: str, run_id: str, ti: TaskInstanceResponse) -> Path:
    """Where Airflow's default log_filename_template puts a task attempt's log."""
    path = log_folder / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={ti.task_id}"
    if ti.map_index >= 0:
        path = path / f"map_index={ti.map_index}"
    return path / f"attempt={max(ti.try_number or 1, 1)}.log"


def report_failed(
    client: AirflowRestClient,
    dag_id: str,
    run_id: str,
    tis: list[TaskInstanceResponse],
    narrator: Narrator,
    *,
    log_folder: Path | None = None,
) -> None:
    """The failed tasks, each with the tail of its log (from the API, else the local file) and its UI page."""
    bad = [ti for ti in tis if state_of(ti) in BAD_TASK_STATES]
    if not bad:
        narrator.problem("no task is marked failed; see the run in the UI")
        return
    narrator.problem("\nfailed tasks:")
    for ti in bad:
        narrator.problem(f"  {ti_label(ti):40s} {state_of(ti)}")
    for ti in (t for t in bad if state_of(t) == "failed"):
        narrator.problem(f"\n--- {ti_label(ti)}: last lines of its log ---")
        local = log_path(log_folder, dag_id, run_id, ti) if log_folder else None
        try:
            records = client.task_log(dag_id, run_id, ti.task_id, try_number=max(ti.try_number or 1, 1), map_index=ti.map_index)
            narrator.problem(task_log.tail(records))
        except RestError as exc:
            if local and local.exists():
                narrator.problem(task_log.tail(local.read_text(errors="replace").splitlines()))
            else:
                narrator.problem(f"(could not fetch the log: {exc})")
        if local:
            narrator.problem(f"log file: {local}")
        narrator.problem(f"in the UI: {client.task_url(dag_id, run_id, ti.task_id, ti.map_index)}")


# --- the whole run -----------------------------------------------------------------------------------
def catch_up_due(dag: DAGResponse, now: datetime | None = None) -> datetime | None:
    """When the run that unpausing `dag` starts at once was due (its next run's time, already past), or None.

    A DAG with catchup off and a start date has its latest past interval as its next run until that run exists:
    the scheduler creates it on its first loop after the unpause or, with one run at a time and a run already
    active, right after that one ends; deleted, it is created again. Stack DAGs have no such run (their next run
    is their next tick: `loadstack.airflow.render.context.stack_schedule`).
    """
    if not dag.timetable_summary or dag.next_dagrun_run_after is None:
        return None
    run_after = dag.next_dagrun_run_after
    if run_after.tzinfo is None:
        run_after = run_after.replace(tzinfo=UTC)
    return run_after if run_after <= (now or datetime.now(UTC)) else None


def run_dag(
    client: AirflowRestClient,
    dag_id: str,
    conf: dict[str, Any] | None = None,
    *,
    timeout: float,
    parse_timeout: float,
    poll: float = 1.0,
    narrator: Narrator | None = None,
    log_folder: Path | None = None,
    not_found_hint: str = "",
) -> RunOutcome:
    """Wait for the DAG, unpause it, trigger a run with `conf`, follow it to its end and explain a failure.

    When unpausing also starts a missed run (`catch_up_due`), says so: that run is Airflow's to keep."""
    narrator = narrator or Narrator()
    started = time.monotonic()
    try:
        dag = wait_for_dag(client, dag_id, timeout=parse_timeout, narrator=narrator, poll=poll, not_found_hint=not_found_hint)
        if dag is None:
            return RunOutcome(dag_id, "not_parsed")
        narrator.say(f"DAG {dag_id!r} is parsed ({dag.relative_fileloc or dag.fileloc})")
        if dag.is_paused:
            due = catch_up_due(dag)
            client.unpause(dag_id)
            narrator.say(f"unpaused {dag_id!r}")
            if due is not None:
                narrator.say(f"unpausing {dag_id!r} ({dag.timetable_summary}) also starts its run due at "
                             f"{due:%Y-%m-%d %H:%M} UTC (catchup off): one runs after the other")
        try:
            run = client.trigger(dag_id, conf)
        except RestError as exc:
            narrator.fail(f"the run was refused: {exc}")
            return RunOutcome(dag_id, "refused")
        outcome = RunOutcome(dag_id, "queued", run_id=run.dag_run_id, url=client.dag_run_url(dag_id, run.dag_run_id))
        narrator.say(f"triggered run {run.dag_run_id}" + (f" with conf {json.dumps(conf)}" if conf else ""))
        narrator.say(f"follow it in the UI: {outcome.url}")
        outcome.state, outcome.task_instances = follow_run(
            client, dag_id, run.dag_run_id, timeout=timeout, poll=poll, narrator=narrator
        )
    except RestError as exc:
        narrator.fail(f"talking to the Airflow API at {client.base_url}: {exc}")
        return RunOutcome(dag_id, "api_error", elapsed=time.monotonic() - started)
    outcome.elapsed = time.monotonic() - started
    if outcome.succeeded:
        print(f"\n{narrator.now()}  run {outcome.run_id} succeeded in {outcome.elapsed:.0f} s ({outcome.summary()})",
              file=narrator.out, flush=True)
    elif outcome.state == "timeout":
        narrator.fail(f"run {outcome.run_id} still running after {timeout:.0f} s ({outcome.summary()}); it goes on in Airflow")
    else:
        narrator.fail(f"run {outcome.run_id} ended {outcome.state} after {outcome.elapsed:.0f} s ({outcome.summary()})")
        report_failed(client, dag_id, outcome.run_id, outcome.task_instances, narrator, log_folder=log_folder)
    return outcome
