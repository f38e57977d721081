"""The `seed` step kind: load a dataset's realistic rows into a restored database, shard by shard.

The data is the one a `seeded` snapshot definition describes, so a database restored from that
snapshot already holds it: its seed markers say every shard is done, and the step does nothing.
Restored from the `migrated` snapshot instead, the step loads every shard (resumably).
"""

from __future__ import annotations

from typing import Iterable, Literal

from pydantic import Field

from loadstack.data.params import SeedParams
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
        try:
            SeedParams.from_dict(load_definitions(ctx.snapshots_dir)[step.dataset].seed)
        except (TypeError, ValueError) as exc:
            yield "dataset", f"snapshot '{step.dataset}' has bad seed parameters: {exc}"


SEED = register_kind(
    StepKind(
        name="seed",
        model=SeedStep,
        outputs_task_id="summary",
        check=_check,
    )
)
