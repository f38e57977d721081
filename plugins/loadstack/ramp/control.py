"""What a human tells a running ramp: pause, resume or terminate, with who, why and when.

The record is durable (the Airflow layer keeps it where every worker reads it) and the ramp reads the
current one at every tick through a `ControlSource`. Each new record carries the next sequence number,
and the ramp's checkpointed state remembers the highest number it has applied. That gives the retry rule:

- a record is a command only while its `seq` is above the applied one: a terminate that ended try 1 is
  not applied again when the task is cleared, so the cleared task runs (a new terminate, with a new
  number, stops it again);
- a pause is part of the ramp's state, not only of the record, so a retry of a paused ramp stays paused
  until a resume arrives;
- a record written before the ramp first started (say, left by an earlier run of the stack) is
  history, not a command: the ramp notes its number and ignores it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

ControlAction = Literal["pause", "resume", "terminate"]

# Where the Airflow layer keeps the record and the ramp's short status: keys of the ramp task's task
# state store (`loadstack ramp ...` reads and writes them through the REST API).
CONTROL_KEY = "control"
STATUS_KEY = "status"
CONTROL_ACTIONS: tuple[str, ...] = ("pause", "resume", "terminate")


@dataclass(frozen=True)
class ControlRecord:
    """One command: `action` by `by` at `at` (epoch seconds) because `reason`; `seq` rises by one per record."""

    action: ControlAction
    seq: int
    at: float
    by: str = ""
    reason: str = ""

    def __post_init__(self) -> None:
        if self.action not in CONTROL_ACTIONS:
            raise ValueError(f"control record: action {self.action!r} is not one of {', '.join(CONTROL_ACTIONS)}")
        if not isinstance(self.seq, int) or self.seq < 1:
            raise ValueError(f"control record: seq must be an integer >= 1, got {self.seq!r}")

    @classmethod
    def following(
        cls, previous: ControlRecord | None, action: ControlAction, *, at: float, by: str = "", reason: str = ""
    ) -> ControlRecord:
        """The record that replaces `previous` (None: the first one), numbered after it."""
        return cls(action=action, seq=(previous.seq if previous else 0) + 1, at=at, by=by, reason=reason)

    def is_pending(self, applied_seq: int, ramp_started_at: float | None) -> bool:
        """Whether the ramp should still act on this record (see the module docstring for the rule)."""
        if self.seq <= applied_seq:
            return False
        return ramp_started_at is None or self.at >= ramp_started_at

    def describe(self) -> str:
        who = f" by {self.by}" if self.by else ""
        why = f": {self.reason}" if self.reason else ""
        return f"{self.action} #{self.seq}{who}{why}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ControlRecord:
        missing = [k for k in ("action", "seq", "at") if k not in data]
        if missing:
            raise ValueError(f"control record {dict(data)!r}: missing {', '.join(missing)}")
        return cls(
            action=data["action"],
            seq=int(data["seq"]),
            at=float(data["at"]),
            by=str(data.get("by") or ""),
            reason=str(data.get("reason") or ""),
        )


def command_after(
    stored_record: Any, stored_status: Any, action: ControlAction, *, at: float, by: str, reason: str
) -> ControlRecord:
    """The record a human's command writes (`loadstack ramp ...`, the UI's buttons), given what the ramp's
    task state store holds under CONTROL_KEY and STATUS_KEY (raw JSON values, None when absent).

    It is numbered after the record in force and after the last one the ramp applied (its status says
    which): the ramp ignores a number it has already used, as it would after the record was deleted or
    garbled in the UI's Task State Store tab.
    """
    last_seq = max(_stored_seq(stored_record, "seq"), _stored_seq(stored_status, "applied_control_seq"))
    return ControlRecord(action=action, seq=last_seq + 1, at=at, by=by, reason=reason)


def _stored_seq(value: Any, key: str) -> int:
    """A sequence number in a stored record or status, 0 when there is none (or it is not a number)."""
    seq = value.get(key) if isinstance(value, Mapping) else None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) and seq > 0 else 0


class ControlSource(ABC):
    """Where a ramp reads the current control record (an Airflow Variable, an object in the state bucket)."""

    @abstractmethod
    def read(self) -> ControlRecord | None:
        """The current record, or None when nobody has set one."""


class MemoryControl(ControlSource):
    """A control record held in memory: for tests, the simulator and the benchmark."""

    def __init__(self, record: ControlRecord | None = None) -> None:
        self.record = record

    def read(self) -> ControlRecord | None:
        return self.record

    def set(self, action: ControlAction, *, at: float, by: str = "", reason: str = "") -> ControlRecord:
        self.record = ControlRecord.following(self.record, action, at=at, by=by, reason=reason)
        return self.record
