"""Where a restored data resource lives on the aws profile: the `placement` of aurora_restore and redis_restore.

The local profile runs the database or cache as a process on 127.0.0.1 and needs no placement, so it
ignores these fields. Every value may be a `${steps.<step>.outputs.<name>}` reference (resolved when
the step runs; it also makes the step wait for that one).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from loadstack.refs import is_whole_reference

RENAMED_VARS = (
    "renamed to 'placement' (aws only: where the resource lives); "
    "write the same keys under placement: instead"
)


def _ids_or_one_reference(value: list[str] | str) -> list[str] | str:
    if isinstance(value, str) and not is_whole_reference(value):
        raise ValueError(
            f"'{value}' is not a list: give a list of ids, e.g. [{value}], or one "
            "${steps.<step>.outputs.<name>} reference to a list output"
        )
    return value


# A list of ids, or one reference to another step's list output (resolved when the step runs).
IdList = Annotated[list[str] | str, AfterValidator(_ids_or_one_reference)]


class _Placement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The subnet group the resource is created in (None: the account's default VPC).
    subnet_group: str | None = None
    security_group_ids: IdList = Field(default_factory=list)

    def resolved_security_group_ids(self) -> list[str]:
        """The ids, once references are resolved (a reference left over is a bug of the caller)."""
        if isinstance(self.security_group_ids, str):
            raise ValueError(f"security_group_ids: {self.security_group_ids} is not resolved")
        return list(self.security_group_ids)


class AuroraPlacement(_Placement):
    """An Aurora cluster's engine, DB subnet group and VPC security groups."""

    engine: str = "aurora-mysql"


class CachePlacement(_Placement):
    """An ElastiCache replication group's cache subnet group and VPC security groups."""


def reject_vars(value: Any) -> Any:
    """The old name of `placement`: an error with the fix, so that no setting is silently ignored."""
    raise ValueError(RENAMED_VARS)
