"""What a ramp achieved, computed from its timeline: the numbers post-ramp checks judge and the report shows.

The ramp's windows come from its decisions: the ramp runs from `start` to its end (`done`, `abort` or
`terminate`, else the last thing recorded); the hold runs from the first `hold_started` to that end;
"ramp" is the time before the hold. A ramp terminated and then run again (a `start` after an ending)
is judged by its last attempt: that attempt's ending and hold. A sample belongs to the traffic
moment `at` it reflects, not to when it was read, so a window judges the traffic sent during it.

Between samples a value holds until the next sample (a step function, like the controller sees it),
but never longer than `max_staleness_s`: beyond that the time is unknown, and unknown time is never
in band. Hence:
- achieved QPS: mean weighted by the time each sample governs, and the lowest sample;
- in-band share: time with a QPS between the watermarks (inclusive) / the window's length;
- error ratio: weighted by requests (QPS x time), i.e. failed / total requests over the window;
- p50 / p95 / p99: the *highest* sample in the window, not a mean (a mean of quantiles is not a
  quantile, and it hides a bad minute).
A metric no sample in the window carries is None ("no data"), never 0.

A capacity search (`summarize_capacity`) has no band or hold: its summary is the outcome and reason (the
same ending rules), when it ran, and its `CapacityResult`: the highest sustainable QPS, the bracket, the
knee and every level it tried.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from loadstack.ramp.capacity import CapacityResult
from loadstack.ramp.params import RampParams
from loadstack.ramp.samples import Sample
from loadstack.ramp.timeline import Decision, Timeline

Window = Literal["hold", "ramp", "all"]

# The actions that end a ramp, and the outcome each one means (`drain` follows them; it is not one).
_ENDINGS = {"done": "done", "abort": "aborted", "terminate": "terminated"}
# For a ramp that has not ended: the phase its last phase-changing action left it in.
_PHASES = {
    "start": "ramping",
    "stage_reached": "ramping",
    "hold_started": "holding",
    "pause": "paused",
    "resume": "ramping",
    "approval_requested": "awaiting_approval",
    "approved": "ramping",
}


@dataclass(frozen=True)
class Spans:
    """Epoch seconds bounding a ramp's windows; None where the timeline has not got there."""

    start: float | None
    end: float | None
    hold_start: float | None
    ending: Decision | None

    def window(self, window: Window) -> tuple[float, float] | None:
        if self.start is None or self.end is None:
            return None
        if window == "all":
            return self.start, self.end
        if window == "ramp":
            return self.start, self.hold_start if self.hold_start is not None else self.end
        return (self.hold_start, self.end) if self.hold_start is not None else None


def spans(timeline: Timeline) -> Spans:
    decisions = timeline.decisions
    moments = [d.at for d in decisions] + [s.at for s in timeline.samples]
    if not moments:
        return Spans(start=None, end=None, hold_start=None, ending=None)
    starts = [d.at for d in decisions if d.action == "start"]
    start = starts[0] if starts else min(moments)
    # A `start` after an ending is a new attempt (a terminated ramp cleared and run again): its ending and
    # hold are the ramp's. A `start` with no ending before it (a worker lost mid-ramp) continues the attempt.
    attempt, ended = start, False
    for d in decisions:
        if d.action in _ENDINGS:
            ended = True
        elif d.action == "start" and ended:
            attempt, ended = d.at, False
    endings = [d for d in decisions if d.action in _ENDINGS and d.at >= attempt]
    ending = endings[0] if endings else None
    end = ending.at if ending else max(moments)
    holds = [d.at for d in decisions if d.action == "hold_started" and attempt <= d.at <= end]
    return Spans(start=start, end=end, hold_start=holds[0] if holds else None, ending=ending)


def ordered_samples(samples: Iterable[Sample]) -> list[Sample]:
    """Samples by the moment they reflect; of two readings of the same moment, the later one wins."""
    newest: dict[float, Sample] = {}
    for sample in samples:
        kept = newest.get(sample.at)
        if kept is None or sample.taken_at >= kept.taken_at:
            newest[sample.at] = sample
    return [newest[at] for at in sorted(newest)]


def _segments(samples: list[Sample], start: float, end: float, max_gap: float) -> list[tuple[Sample, float]]:
    """(sample, seconds it governs inside [start, end)) for every sample governing some of that time."""
    segments = []
    for i, sample in enumerate(samples):
        until = sample.at + max_gap
        if i + 1 < len(samples):
            until = min(until, samples[i + 1].at)
        seconds = min(until, end) - max(sample.at, start)
        if seconds > 0:
            segments.append((sample, seconds))
    return segments


@dataclass(frozen=True)
class WindowMetrics:
    """One window's numbers (see the module docstring for how each is computed); None: no data."""

    window: Window
    # Relative to the ramp's start, seconds; None (and everything else empty) when the window never began.
    start_s: float | None = None
    end_s: float | None = None
    samples: int = 0
    covered_s: float = 0.0
    achieved_qps_mean: float | None = None
    achieved_qps_min: float | None = None
    achieved_qps_max: float | None = None
    achieved_ratio: float | None = None
    in_band_share: float | None = None
    samples_above_high: int | None = None
    error_ratio: float | None = None
    error_ratio_max: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None

    @property
    def duration_s(self) -> float | None:
        return None if self.start_s is None or self.end_s is None else self.end_s - self.start_s

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "duration_s": self.duration_s}


def _weighted_mean(pairs: list[tuple[float, float]]) -> float | None:
    total = sum(weight for _, weight in pairs)
    return sum(value * weight for value, weight in pairs) / total if total > 0 else None


def window_metrics(params: RampParams, timeline: Timeline, window: Window) -> WindowMetrics:
    return _window_metrics(params, ordered_samples(timeline.samples), spans(timeline), window)


def _window_metrics(params: RampParams, samples: list[Sample], ramp: Spans, window: Window) -> WindowMetrics:
    bounds = ramp.window(window)
    if bounds is None or ramp.start is None:
        return WindowMetrics(window=window)
    start, end = bounds
    segments = _segments(samples, start, end, params.max_staleness_s)
    inside = [s for s in samples if start <= s.at < end]
    with_qps = [(s.qps, seconds) for s, seconds in segments if s.qps is not None]
    in_band = sum(
        seconds
        for s, seconds in segments
        if s.qps is not None and params.low_watermark <= s.qps <= params.high_watermark
    )
    mean_qps = _weighted_mean(with_qps)
    errors = [
        (s.error_ratio, s.qps * seconds) for s, seconds in segments if s.error_ratio is not None and s.qps is not None
    ]

    def highest(name: str) -> float | None:
        values = [getattr(s, name) for s, _ in segments if getattr(s, name) is not None]
        return max(values) if values else None

    qps_values = [qps for qps, _ in with_qps]
    return WindowMetrics(
        window=window,
        start_s=start - ramp.start,
        end_s=end - ramp.start,
        samples=len(inside),
        covered_s=sum(seconds for _, seconds in with_qps),
        achieved_qps_mean=mean_qps,
        achieved_qps_min=min(qps_values) if qps_values else None,
        achieved_qps_max=max(qps_values) if qps_values else None,
        achieved_ratio=None if mean_qps is None else mean_qps / params.target_qps,
        in_band_share=in_band / (end - start) if end > start and with_qps else None,
        samples_above_high=sum(1 for s in inside if s.qps is not None and s.qps > params.high_watermark)
        if any(s.qps is not None for s in inside)
        else None,
        error_ratio=_weighted_mean(errors),
        error_ratio_max=highest("error_ratio"),
        p50_ms=highest("p50_ms"),
        p95_ms=highest("p95_ms"),
        p99_ms=highest("p99_ms"),
    )


@dataclass(frozen=True)
class StageSummary:
    """One stage: its target, when it began and was reached (seconds from the ramp's start)."""

    stage: int
    fraction: float
    target_qps: float
    started_s: float | None
    reached_s: float | None
    # Until reached, or until the ramp ended for a stage it did not reach; None if it never began.
    duration_s: float | None

    @property
    def reached(self) -> bool:
        return self.reached_s is not None


def _stages(params: RampParams, decisions: list[Decision], ramp: Spans) -> list[StageSummary]:
    assert ramp.start is not None and ramp.end is not None
    reached: dict[int, float] = {}
    for d in decisions:
        if d.action == "stage_reached":
            reached.setdefault(d.stage, d.at)
    # The last stage is reached when the hold starts, whether or not the controller says so separately.
    last = len(params.stages)
    if ramp.hold_start is not None:
        reached[last] = min(reached.get(last, ramp.hold_start), ramp.hold_start)
    result = []
    began: float | None = ramp.start
    for number, fraction in enumerate(params.stages, start=1):
        at = reached.get(number)
        result.append(
            StageSummary(
                stage=number,
                fraction=fraction,
                target_qps=fraction * params.target_qps,
                started_s=None if began is None else began - ramp.start,
                reached_s=None if at is None else at - ramp.start,
                duration_s=None if began is None else (at if at is not None else ramp.end) - began,
            )
        )
        began = at
    return result


def _time_to_band(params: RampParams, samples: list[Sample], ramp: Spans) -> float | None:
    assert ramp.start is not None and ramp.end is not None
    for s in samples:
        if (
            ramp.start <= s.at <= ramp.end
            and s.qps is not None
            and params.low_watermark <= s.qps <= params.high_watermark
        ):
            return s.at - ramp.start
    return None


@dataclass(frozen=True)
class RampSummary:
    """The whole ramp in numbers.

    outcome: done | aborted | terminated once ended, else the phase it was left in (ramping, holding,
    paused), or "not started" for an empty timeline; reason: the ending decision's (or last decision's).
    time_to_band_s: from the start to the first sample whose traffic was in band.
    """

    outcome: str
    reason: str
    started_at: float | None
    ended_at: float | None
    duration_s: float | None
    time_to_band_s: float | None
    hold_started_s: float | None
    hold_s: float | None
    stages: tuple[StageSummary, ...]
    hold: WindowMetrics
    actions: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["stages"] = [{**asdict(s), "reached": s.reached} for s in self.stages]
        data["hold"] = self.hold.to_json()
        return data


def summarize(params: RampParams, timeline: Timeline) -> RampSummary:
    ramp = spans(timeline)
    samples = ordered_samples(timeline.samples)
    decisions = timeline.decisions
    actions: dict[str, int] = {}
    for d in decisions:
        actions[d.action] = actions.get(d.action, 0) + 1
    if ramp.start is None or ramp.end is None:
        return RampSummary(
            outcome="not started",
            reason="the timeline is empty",
            started_at=None,
            ended_at=None,
            duration_s=None,
            time_to_band_s=None,
            hold_started_s=None,
            hold_s=None,
            stages=(),
            hold=WindowMetrics(window="hold"),
            actions=actions,
        )
    outcome, reason = _outcome(ramp, decisions)
    return RampSummary(
        outcome=outcome,
        reason=reason,
        started_at=ramp.start,
        ended_at=ramp.end,
        duration_s=ramp.end - ramp.start,
        time_to_band_s=_time_to_band(params, samples, ramp),
        hold_started_s=None if ramp.hold_start is None else ramp.hold_start - ramp.start,
        hold_s=None if ramp.hold_start is None else ramp.end - ramp.hold_start,
        stages=tuple(_stages(params, decisions, ramp)),
        hold=_window_metrics(params, samples, ramp, "hold"),
        actions=actions,
    )


def _outcome(ramp: Spans, decisions: list[Decision]) -> tuple[str, str]:
    """(outcome, reason): the ending's, or for a ramp that has not ended the phase it was left in and why."""
    if ramp.ending is not None:
        return _ENDINGS[ramp.ending.action], ramp.ending.reason
    phased = [d for d in decisions if d.action in _PHASES]
    outcome = _PHASES[phased[-1].action] if phased else "ramping"
    return outcome, decisions[-1].reason if decisions else "no decision recorded"


@dataclass(frozen=True)
class CapacitySummary:
    """A capacity search in numbers: how it ended (as `RampSummary` says it) and what it found (`result`)."""

    outcome: str
    reason: str
    started_at: float | None
    ended_at: float | None
    duration_s: float | None
    result: CapacityResult | None
    actions: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": "capacity",
            "outcome": self.outcome,
            "reason": self.reason,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "duration_s": self.duration_s,
            "actions": dict(self.actions),
            "capacity": self.result.to_json() if self.result is not None else None,
        }


def summarize_capacity(timeline: Timeline, result: CapacityResult | None) -> CapacitySummary:
    ramp = spans(timeline)
    actions: dict[str, int] = {}
    for d in timeline.decisions:
        actions[d.action] = actions.get(d.action, 0) + 1
    if ramp.start is None or ramp.end is None:
        return CapacitySummary("not started", "the timeline is empty", None, None, None, result, actions)
    outcome, reason = _outcome(ramp, timeline.decisions)
    return CapacitySummary(outcome, reason, ramp.start, ramp.end, ramp.end - ramp.start, result, actions)
