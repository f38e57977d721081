"""What a ramp leaves behind: every sample it saw and every decision it took, with the values behind it.

The controller appends to a `Timeline`; the Airflow layer checkpoints it (JSON) so a retry resumes
where the ramp was, and the report draws its charts and its decision log from it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Mapping, Protocol

from loadstack.ramp.samples import Sample

# The sample's values every decision records (what it judged).
SAMPLE_VALUES = ("qps", "error_ratio", "p50_ms", "p95_ms", "p99_ms")

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


class DecisionLogState(Protocol):
    """What a controller's state must carry to record its decisions (`RampState`, `CapacityState`)."""

    stage: int
    buckets: int
    timeline: Timeline
    last_wait_kind: str | None
    last_wait_at: float | None


class DecisionLog:
    """What a controller records its decisions with (`RampController`, `CapacitySearch` inherit it).

    It appends to `self.state.timeline` (a `DecisionLogState`) and to this tick's `self._new`, at the rate
    `self.params.bucket_qps` prices a bucket; a wait is recorded when its kind changes, else at most every
    `self.wait_log_s`. `_standing_thresholds()` adds what every decision carries (none unless overridden).
    """

    state: DecisionLogState
    params: Any
    wait_log_s: float
    _new: list[Decision]

    def _standing_thresholds(self) -> dict[str, Any]:
        return {}

    def _decide(
        self,
        now: float,
        action: Action,
        reason: str,
        sample: Sample | None,
        *,
        buckets_before: int | None = None,
        values: dict[str, Any] | None = None,
        thresholds: dict[str, Any] | None = None,
    ) -> None:
        """Append a decision, with the sample's values and age and the thresholds it was judged by."""
        s = self.state
        seen = {k: getattr(sample, k) for k in SAMPLE_VALUES} if sample is not None else {}
        decision = Decision(
            at=now,
            action=action,
            reason=reason,
            stage=s.stage,
            buckets_before=s.buckets if buckets_before is None else buckets_before,
            buckets_after=s.buckets,
            rate_qps=s.buckets * self.params.bucket_qps,
            values={**seen, **(values or {})},
            thresholds={**self._standing_thresholds(), **(thresholds or {})},
            sample_at=sample.at if sample is not None else None,
            sample_age_s=round(sample.age(now), 3) if sample is not None else None,
        )
        s.timeline.decisions.append(decision)
        self._new.append(decision)
        if action != "wait":
            s.last_wait_kind, s.last_wait_at = None, None

    def _wait(
        self,
        now: float,
        kind: str,
        reason: str,
        sample: Sample | None,
        *,
        values: dict[str, Any] | None = None,
        thresholds: dict[str, Any] | None = None,
    ) -> None:
        """Record a wait when its kind changes, else at most every `wait_log_s` (a ramp waits at nearly every tick)."""
        s = self.state
        if s.last_wait_kind == kind and s.last_wait_at is not None and now - s.last_wait_at < self.wait_log_s:
            return
        self._decide(now, "wait", reason, sample, values={"wait": kind, **(values or {})}, thresholds=thresholds)
        s.last_wait_kind, s.last_wait_at = kind, now
