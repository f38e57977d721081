"""A step of a long-running job: done with a result, or waiting for something outside before it goes on.

Restores and snapshot builds on AWS spend most of their time waiting for a cluster or a snapshot to
become available. The core describes such a wait with JSON primitives (`Wait`) and carries on when it
is told how the wait ended (`WaitEvent`); how to wait (Airflow's deferrable triggers) is not its
business. `phase` names the step to carry on with, so a job of several waits resumes where it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

# What there is to wait for; each kind takes the arguments named beside it.
RDS_CLUSTER_AVAILABLE = "rds_cluster_available"  # cluster_id: the cluster and all its instances
RDS_CLUSTER_SNAPSHOT_AVAILABLE = "rds_cluster_snapshot_available"  # snapshot_id
ELASTICACHE_GROUP_AVAILABLE = "elasticache_replication_group_available"  # group_id


@dataclass(frozen=True)
class Ready:
    """Done: `result` is the job's result (a step's outputs, a build's summary)."""

    result: dict[str, Any]


@dataclass(frozen=True)
class Wait:
    """Wait for `kind` with `args` (JSON primitives), then resume the job at `phase`."""

    kind: str
    args: dict[str, Any]
    phase: str


Progress = Ready | Wait


@dataclass(frozen=True)
class WaitEvent:
    """How a `Wait` ended: `values` is what the waiter reported besides status and message."""

    phase: str
    succeeded: bool
    message: str = ""
    values: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> "WaitEvent":
        """From a waiter's report ``{"status": "success" | "error", "resume_at": <phase>, "message": ..., ...}``."""
        values = {k: v for k, v in payload.items() if k not in ("status", "resume_at", "message")}
        succeeded = payload.get("status") == "success"
        # A failure without a message is shown whole, so nothing it says is lost.
        message = str(payload.get("message", "" if succeeded else dict(payload)))
        return cls(phase=str(payload.get("resume_at") or ""), succeeded=succeeded, message=message, values=values)


class WaitFailed(RuntimeError):
    """A wait ended in failure (the resource failed, or the waiter gave up); the message says what and where."""


class UnexpectedPhase(RuntimeError):
    """A job was resumed at a phase it never waits in (a trigger of another job, or of an older version)."""

    def __init__(self, job: str, phase: str, known: tuple[str, ...]) -> None:
        super().__init__(f"{job}: resumed at unknown phase {phase!r} (expected one of: {', '.join(known)}); "
                         "clear the task to start it again")
