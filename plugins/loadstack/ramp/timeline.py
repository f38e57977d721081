"""What a ramp leaves behind: every sample it saw and every decision it took, with the values behind it.

The controller appends to a `Timeline`; the Airflow layer checkpoints it (JSON) so a retry resumes
where the ramp was, and the report draws its charts and its decision log from it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Mapping

from loadstack.ramp.samples import Sample

# What a decision did. `step_up`/`step_down`: buckets added or removed; `wait`: nothing, and why
# (stale sample, interval not over, paused); the rest change the ramp's phase.
Action = Literal[
    "start", "step_up", "step_down", "wait", "stage_reached", "hold_started", "done",
    "pause", "resume", "terminate", "abort", "drain", "drain_step", "approval_requested", "approved",
]

# Where the ramp is. `stage` (1-based index into params.stages) refines `ramping`.
# `draining`: an abort is ramping the traffic down over params.abort_drain_s (`drain_step`s), then `aborted`.
# `awaiting_approval`: traffic held at params.approve_before until a human approves (loadstack.ramp.approval).
Phase = Literal["ramping", "holding", "paused", "awaiting_approval", "draining", "done", "aborted", "terminated"]


@dataclass(frozen=True)
class Decision:
    """One thing the controller decided at `at` (epoch seconds), and everything it was based on.

    values:     the sample's values it judged (qps, error_ratio, p95_ms, ...) or {} without one.
    thresholds: the limits it compared them with (low/high watermark, stage target, rule limits).
    sample_at / sample_age_s: which sample it used and how old it was at decision time.
    """

    at: float
    action: Action
    reason: str
    stage: int
    buckets_before: int
    buckets_after: int
    rate_qps: float
    values: dict[str, Any] = field(default_factory=dict)
    thresholds: dict[str, Any] = field(default_factory=dict)
    sample_at: float | None = None
    sample_age_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Decision":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})  # type: ignore[arg-type]


@dataclass
class Timeline:
    samples: list[Sample] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "samples": [s.to_json() for s in self.samples],
            "decisions": [d.to_json() for d in self.decisions],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Timeline":
        return cls(
            samples=[Sample.from_json(s) for s in data.get("samples", ())],
            decisions=[Decision.from_json(d) for d in data.get("decisions", ())],
        )
