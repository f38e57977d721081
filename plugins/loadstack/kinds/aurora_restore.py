"""The `aurora_restore` step kind: a database restored from a logical snapshot.

aws: an Aurora MySQL cluster restored from the snapshot's RDS snapshot, with the variant's
instances. local: a private MariaDB server restored from the packed mariadb-backup artifact.
"""

from __future__ import annotations

from typing import Any, ClassVar, Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from loadstack.kinds.base import (
    CheckContext,
    StepBase,
    StepKind,
    Variant,
    register_kind,
)
from loadstack.kinds.placement import AuroraPlacement, reject_vars
from loadstack.kinds.snapshot_refs import check_snapshot_names
from loadstack.queues import SERVICES
from loadstack.snapshots.names import SNAPSHOT_NAME_PATTERN


class AuroraSize(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instances: int = Field(ge=1, le=15)
    instance_class: str = Field(pattern=r"^db\.[a-z0-9]+\.[a-z0-9]+$")


DEFAULT_SIZES = {
    "minimal": AuroraSize(instances=1, instance_class="db.t4g.medium"),
    "production": AuroraSize(instances=3, instance_class="db.r6g.2xlarge"),
}


class AuroraRestoreStep(StepBase):
    kind: Literal["aurora_restore"]
    snapshot: str = Field(pattern=SNAPSHOT_NAME_PATTERN)
    # Other snapshots a user may pick per run in the Trigger form (`<step>_snapshot` Param).
    snapshot_choices: list[str] = Field(default_factory=list)
    # aws only: where the cluster lives (engine, subnet_group, security_group_ids), references allowed.
    placement: AuroraPlacement = Field(default_factory=AuroraPlacement)
    # The old name of `placement`: rejected with the fix.
    vars: Any = Field(default=None, exclude=True)
    variants: dict[Variant, AuroraSize] = Field(default_factory=dict)

    reference_fields: ClassVar[tuple[str, ...]] = ("placement",)
    work: ClassVar[str] = SERVICES

    @field_validator("vars")
    @classmethod
    def _vars_renamed(cls, value: Any) -> Any:
        return reject_vars(value)

    def size_for(self, variant: str) -> AuroraSize:
        return self.variants.get(variant, DEFAULT_SIZES[variant])  # type: ignore[call-overload]

    def snapshot_param(self, step: str) -> str:
        return f"{step}_snapshot"

    def allowed_snapshots(self) -> list[str]:
        return [self.snapshot, *[c for c in self.snapshot_choices if c != self.snapshot]]

    def run_params(self, step: str) -> dict[str, dict[str, Any]]:
        return {
            self.snapshot_param(step): {
                "default": self.snapshot,
                "enum": self.allowed_snapshots(),
                "title": f"{step}: snapshot",
                "description": "Which snapshot the database is restored from (a migrated one leaves seeding to the seed step).",
            }
        }


def _check(step: StepBase, ctx: CheckContext) -> Iterable[tuple[str, str]]:
    assert isinstance(step, AuroraRestoreStep)
    names = [("snapshot", step.snapshot)] + [(f"snapshot_choices[{i}]", n) for i, n in enumerate(step.snapshot_choices)]
    yield from check_snapshot_names(ctx, names, engine="mariadb", kinds=("migrated", "seeded"))


AURORA_RESTORE = register_kind(
    StepKind(
        name="aurora_restore",
        model=AuroraRestoreStep,
        outputs_task_id="restore",
        check=_check,
    )
)
