"""What a step kind's renderer is given, and the settings every rendered DAG shares."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import CronTriggerTimetable

from loadstack.kinds import StepBase
from loadstack.profiles import Profile
from loadstack.spec import Stack

START_DATE = datetime(2026, 1, 1, tzinfo=UTC)
VARIANT_TEMPLATE = "{{ params.variant }}"
# How long after its tick a scheduled stack's run may still start (Airflow's own floor for this window).
TICK_GRACE = timedelta(minutes=5)


def stack_schedule(cron: str | None) -> tuple[CronTriggerTimetable | None, datetime | None]:
    """(schedule, start_date) of a stack's DAG: a scheduled stack runs at its next tick, not at one long past.

    With catchup off and a start date, Airflow still runs the latest past tick the moment a DAG is unpaused (and
    again after that run is deleted). A stack stands up a clone of production, so unpausing one mid-day must not.
    With no start date, `run_immediately` decides how far past a tick may be and still run; Airflow 3.3 reads
    False as "a tenth of the period" (2.4 h for a nightly stack). Zero would be wrong too: until a stack's first
    scheduled run exists, every parse recomputes its next run, and a parse just after the tick would move it to
    the next day before the scheduler created it. `TICK_GRACE` is that window. A missed night is retried by a
    backfill. Unscheduled stacks keep the shared start date.
    """
    if cron is None:
        return None, START_DATE
    return CronTriggerTimetable(cron, timezone="UTC", run_immediately=TICK_GRACE), None


@dataclass(frozen=True)
class StepRenderContext:
    """What a kind's renderer gets: the stack, the step, and where upstream outputs come from."""

    stack: Stack
    name: str
    step: StepBase
    output_sources: dict[str, str]
    retries: int
    execution_timeout: timedelta


@dataclass(frozen=True)
class TeardownRenderContext:
    """What a kind's teardown renderer gets: upstream outputs come from remote state, not XCom."""

    stack: Stack
    name: str
    step: StepBase
    state_objects: dict[str, str]
    retries: int
    execution_timeout: timedelta


def queue_args(profile: Profile, work: str) -> dict[str, str]:
    """Default arguments that put tasks on the profile's queue for `work`; none where it names no queue."""
    queue = profile.queue_for(work)
    return {"queue": queue} if queue else {}


def step_operator_args(ctx: StepRenderContext | TeardownRenderContext) -> dict[str, Any]:
    """The constructor arguments every `StackStepOperator` of a step takes."""
    return dict(
        stack=ctx.stack.name,
        step=ctx.name,
        variant=VARIANT_TEMPLATE,
        stack_owner=ctx.stack.model.owner,
        retries=ctx.retries,
        execution_timeout=ctx.execution_timeout,
    )
