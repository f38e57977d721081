"""What a step kind's renderer is given, and the settings every rendered DAG shares."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from loadstack.kinds import StepBase
from loadstack.profiles import Profile
from loadstack.spec import Stack

START_DATE = datetime(2026, 1, 1, tzinfo=UTC)
VARIANT_TEMPLATE = "{{ params.variant }}"


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
