"""A human's go-ahead at one point of a ramp: before a stage (say stage 3, the full target) or before the hold.

With `RampParams.approve_before` set, the controller stops where the point is reached: phase
`awaiting_approval`, the traffic held where it is (abort rules and the no-data limit still judged), until an
`Approval` arrives through an `ApprovalSource` or `approval_timeout_s` passes. Approved: the ramp goes on.
Rejected, or no answer in time: the ramp is terminated (drained at once), naming who and why.

Where approvals come from is the Airflow layer's business (Airflow's own human-in-the-loop approval task);
the ramp only asks its source while it is waiting.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any, Mapping

HOLD = "hold"
_STAGE = re.compile(r"^stage_([1-9][0-9]*)$")


def point_problem(point: str, stages: int) -> str | None:
    """Why `point` is no approval point of a ramp with `stages` stages (None: it is one)."""
    if point == HOLD:
        return None
    match = _STAGE.fullmatch(point)
    if match is None:
        return f"approve_before {point!r} is neither 'hold' nor 'stage_N' (N a stage number, e.g. stage_3)"
    number = int(match.group(1))
    if not 2 <= number <= stages:
        return (
            f"approve_before {point!r}: this ramp has stages 1..{stages}, and approval comes before one of "
            f"stages 2..{stages} (stage 1 starts right after the gates: gate it with a gate)"
        )
    return None


def stage_point(stage: int) -> str:
    """The approval point before `stage` (1-based)."""
    return f"stage_{stage}"


def describe_point(point: str) -> str:
    return "the hold" if point == HOLD else point.replace("_", " ")


@dataclass(frozen=True)
class Approval:
    """A human's answer: `approved` (or rejected) by `by` at `at` (epoch seconds), with an optional comment."""

    approved: bool
    by: str = ""
    at: float | None = None
    comment: str = ""

    def describe(self) -> str:
        what = "approved" if self.approved else "rejected"
        who = f" by {self.by}" if self.by else ""
        why = f": {self.comment}" if self.comment else ""
        return f"{what}{who}{why}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Approval:
        return cls(
            approved=bool(data["approved"]),
            by=str(data.get("by") or ""),
            at=None if data.get("at") is None else float(data["at"]),
            comment=str(data.get("comment") or ""),
        )


class ApprovalSource(ABC):
    """Where a waiting ramp looks for its answer (read once per tick, only while it waits)."""

    @abstractmethod
    def read(self) -> Approval | None:
        """The answer, or None while nobody has answered."""


class MemoryApproval(ApprovalSource):
    """An answer held in memory: for tests, the simulator and the benchmark."""

    def __init__(self, answer: Approval | None = None) -> None:
        self.answer = answer
        self.reads = 0

    def read(self) -> Approval | None:
        self.reads += 1
        return self.answer
