"""What every step kind shares: the common spec fields and the registry entry a kind provides."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from loadstack.queues import INFRA
from loadstack.terraform.state import recorded_outputs_key

# A stack comes in two sizes, chosen per run with the `variant` Param.
Variant = Literal["minimal", "production"]
VARIANTS: tuple[str, ...] = get_args(Variant)
STEP_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,48}$"


class StepBase(BaseModel):
    """Fields every step has, whatever its kind."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    description: str = ""
    depends: list[str] = Field(default_factory=list)
    retries: int | None = Field(default=None, ge=0, le=10)
    timeout_minutes: int = Field(default=60, ge=1, le=24 * 60)
    on_complete: list[dict[str, Any]] = Field(default_factory=list)

    # Fields whose values may carry ${steps.X.outputs.Y} references (they add graph edges).
    reference_fields: ClassVar[tuple[str, ...]] = ()
    # The class of work its tasks do, which picks their Celery queue (loadstack.queues).
    work: ClassVar[str] = INFRA

    def run_params(self, step: str) -> dict[str, dict[str, Any]]:
        """DAG Params this step adds to the Trigger form: {name: {default, enum?, title, description}}."""
        return {}

    def step_links(self) -> list[tuple[str, str]]:
        """Other steps this one names in kind-specific fields, as (field path, step): each adds an edge."""
        return []

    def declared_outputs(self, modules_dir: Path) -> set[str] | None:
        """The names of the outputs this step will have, for `${steps.<step>.outputs.<name>}` references to be
        checked at parse time; None when any name may be there (the default: the kind does not say)."""
        return None

    def state_object(self, stack: str, step: str) -> str | None:
        """The object in the state bucket holding this step's outputs (Terraform's outputs format).

        Terraform steps have their remote state; other kinds record their outputs here when they
        succeed, so a teardown can still answer references to them.
        """
        return recorded_outputs_key(stack, step)


@dataclass(frozen=True)
class CheckContext:
    """What a kind's parse-time check may look at besides its own step."""

    stack_name: str
    step_name: str
    spec_dir: Path
    modules_dir: Path
    # The `kind` each step of the spec declares (raw), for checks that look across steps.
    step_kinds: dict[str, str] = field(default_factory=dict)

    @property
    def snapshots_dir(self) -> Path:
        """Specs in include/stacks/ name snapshots defined in include/snapshots/."""
        return self.spec_dir.parent / "snapshots"


@dataclass(frozen=True)
class StepKind:
    """A registry entry: the spec model and its extra parse-time checks.

    How a kind becomes tasks is Airflow's business: `loadstack.airflow.render` keeps a renderer per
    kind name. `outputs_task_id` is the task (inside the step's group) whose return value holds the
    step's outputs.
    """

    name: str
    model: type[StepBase]
    outputs_task_id: str
    # Yields (path relative to the step, message) for problems the model alone cannot see.
    check: Callable[[StepBase, CheckContext], Iterable[tuple[str, str]]] = field(default=lambda step, ctx: ())


STEP_KINDS: dict[str, StepKind] = {}


def register_kind(kind: StepKind) -> StepKind:
    if kind.name in STEP_KINDS and STEP_KINDS[kind.name] != kind:
        raise ValueError(f"step kind {kind.name!r} is registered twice")
    STEP_KINDS[kind.name] = kind
    return kind
