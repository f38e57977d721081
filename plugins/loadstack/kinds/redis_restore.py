"""The `redis_restore` step kind: a cache restored from an RDB snapshot.

aws: an ElastiCache replication group created from the snapshot. local: a private redis-server
loading the RDB from the snapshot bucket.
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
from loadstack.kinds.placement import CachePlacement, reject_vars
from loadstack.kinds.snapshot_refs import check_snapshot_names
from loadstack.queues import SERVICES
from loadstack.snapshots.names import SNAPSHOT_NAME_PATTERN


class RedisSize(BaseModel):
    model_config = ConfigDict(extra="forbid")

    node_type: str = Field(pattern=r"^cache\.[a-z0-9]+\.[a-z0-9]+$")
    replicas: int = Field(ge=0, le=5)


DEFAULT_SIZES = {
    "minimal": RedisSize(node_type="cache.t4g.small", replicas=0),
    "production": RedisSize(node_type="cache.r6g.xlarge", replicas=2),
}


class RedisRestoreStep(StepBase):
    kind: Literal["redis_restore"]
    snapshot: str = Field(pattern=SNAPSHOT_NAME_PATTERN)
    # aws only: where the replication group lives (subnet_group, security_group_ids), references allowed.
    placement: CachePlacement = Field(default_factory=CachePlacement)
    # The old name of `placement`: rejected with the fix.
    vars: Any = Field(default=None, exclude=True)
    variants: dict[Variant, RedisSize] = Field(default_factory=dict)

    reference_fields: ClassVar[tuple[str, ...]] = ("placement",)
    work: ClassVar[str] = SERVICES

    @field_validator("vars")
    @classmethod
    def _vars_renamed(cls, value: Any) -> Any:
        return reject_vars(value)

    def size_for(self, variant: str) -> RedisSize:
        return self.variants.get(variant, DEFAULT_SIZES[variant])  # type: ignore[call-overload]


def _check(step: StepBase, ctx: CheckContext) -> Iterable[tuple[str, str]]:
    assert isinstance(step, RedisRestoreStep)
    yield from check_snapshot_names(ctx, [("snapshot", step.snapshot)], engine="redis", kinds=("rdb",))


REDIS_RESTORE = register_kind(
    StepKind(
        name="redis_restore",
        model=RedisRestoreStep,
        outputs_task_id="restore",
        check=_check,
    )
)
