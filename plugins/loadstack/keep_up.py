"""Whether a stack run tears its stack down at the end, or keeps it up for people to use.

The run's `keep_up` Param decides when it is set; left empty (null), the kind of run decides: a run someone
started by hand keeps the stack up (they want to use it), every other run (the nightly schedule, a backfill,
an Asset event) tears it down, since nobody is there to use it and a forgotten stack costs money.
"""

from __future__ import annotations

KEEP_UP_PARAM = "keep_up"
# Airflow's DagRunType value of a run started from the UI, the REST API or the CLI.
MANUAL_RUN_TYPE = "manual"


def keeps_stack_up(keep_up: bool | None, run_type: str) -> bool:
    if keep_up is not None:
        return bool(keep_up)
    return run_type == MANUAL_RUN_TYPE


def describe(keep_up: bool | None, run_type: str) -> str:
    """The decision and why, for the task log."""
    kept = keeps_stack_up(keep_up, run_type)
    why = f"keep_up={keep_up}" if keep_up is not None else f"keep_up unset and this is a {run_type} run"
    return f"{'keeps the stack up' if kept else 'tears the stack down'} ({why})"
