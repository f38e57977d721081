"""The `seed` step kind: load a dataset's realistic rows into a restored database, shard by shard.

The data is the one a `seeded` snapshot definition describes, so a database restored from that
snapshot already holds it: its seed markers say every shard is done, and the step does nothing.
Restored from the `migrated` snapshot instead, the step loads every shard (resumably).
"""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any, Iterable, Literal

from pydantic import Field

from loadstack.data.params import SeedParams
from loadstack.issues import kind_of, unknown_name
from loadstack.kinds.base import CheckContext, StepBase, StepKind, register_kind
from loadstack.kinds.snapshot_refs import check_snapshot_names
from loadstack.snapshots.catalog import load_definitions
from loadstack.snapshots.names import SNAPSHOT_NAME_PATTERN


class SeedStep(StepBase):
    kind: Literal["seed"]
    database: str = Field(description="the aurora_restore step whose database is seeded")
    dataset: str = Field(pattern=SNAPSHOT_NAME_PATTERN, description="a seeded snapshot definition")

    def step_links(self) -> list[tuple[str, str]]:
        return [("database", self.database)]


def _check(step: StepBase, ctx: CheckContext) -> Iterable[tuple[str, str]]:
    assert isinstance(step, SeedStep)
    kind = ctx.step_kinds.get(step.database)
    if kind is not None and kind != "aurora_restore":
        yield "database", f"step '{step.database}' is a {kind} step; seed needs an aurora_restore step"
    problems = list(check_snapshot_names(ctx, [("dataset", step.dataset)], engine="mariadb", kinds=("seeded",)))
    yield from problems
    if not problems:
        problem = seed_params_problem(load_definitions(ctx.snapshots_dir)[step.dataset].seed)
        if problem:
            yield "dataset", (
                f"snapshot '{step.dataset}' has bad seed parameters: {problem}; fix its seed in snapshots/*.yaml"
            )


def seed_params_problem(seed: dict[str, Any]) -> str | None:
    """What is wrong with a definition's seed parameters, in words (no class or function names), or None."""
    fields = {f.name: f for f in dataclasses.fields(SeedParams)}
    unknown = sorted(str(key) for key in seed if key not in fields)
    if unknown:
        return unknown_name("parameter", unknown[0], fields)
    for name, value in seed.items():
        default = fields[name].default
        if isinstance(default, date):
            wanted, fits = "a date", isinstance(value, (date, str))
        elif isinstance(default, float):
            wanted, fits = "a number", isinstance(value, (int, float)) and not isinstance(value, bool)
        else:
            wanted, fits = "a whole number", isinstance(value, int) and not isinstance(value, bool)
        if not fits:
            return f"'{name}' must be {wanted} (got {kind_of(value)})"
    try:
        SeedParams.from_dict(seed)
    except (TypeError, ValueError) as exc:
        return str(exc)
    return None


SEED = register_kind(
    StepKind(
        name="seed",
        model=SeedStep,
        outputs_task_id="summary",
        check=_check,
    )
)
