"""Capacity search: raise generated load until an abort rule is about to trip; report the highest sustainable QPS.

A ramp mode next to `RampController`, driven by the same runner (`run_ramp`) through the same tick:
`tick(now, sample, control) -> TickResult`, a JSON state (`CapacityState`) checkpointed after every
action so a retry resumes the search where it was, and `Decision`s in the same timeline, with the
values, thresholds and sample ages behind each. No I/O, no clock.

The search sets generated QPS (a multiple of `bucket_qps`) but brackets the capacity in total QPS (organic
traffic included, as the ramp's target is), so organic traffic drifting between levels does not move the
bracket: health is a matter of the total the stack serves. Every fresh sample gives a point of organic
traffic (its QPS less what was generated over its window, from the rate history); a level's total is its
rate plus the mean of the points within `organic_span_s` of its settled samples. A dwell's own mean would
scatter with the counting noise (on the simulator by up to 1.7 %), and the samples read while the next
level settles are organic points too.
- stage 1, growth: from `start_qps`, each healthy level multiplies the rate by `growth` (at most
  `max_qps`), until a level is unhealthy;
- stage 2, bisection: between the healthy level of highest total (low) and the unhealthy level of lowest
  total (high), the next rate is the one meant to put the middle of the two totals on the stack, given the
  organic traffic expected when it lands (the newest `organic_span_s` of points carried forward by their
  trend, as the ramp controller does); until high - low is within the precision (`precision_qps`, or
  `precision_ratio` of the capacity, whichever is looser), or within a bucket;
- stage 3, confirmation: low's total is held until settled samples cover `confirm_s`: sustained, not only
  healthy for a dwell. A confirmation that lands further under high than the precision (organic traffic
  moved meanwhile) is tried again, CONFIRM_TRIES in all; one that turns unhealthy sends the search back to
  the bisection.
Then it drains and reports (`CapacityResult`): the highest sustainable QPS (the best confirmed level's
total), the bracket it lies in and its width (the precision), the knee, every level, how long it took.

Health, per level, on the abort rules' metrics with a safety margin (trip = `trip_fraction` x limit):
- a sample counts for a level only when settled: `at >= the level's change + settle_s` (its `at` already
  allows for the metric lag), fresh (age <= max_staleness_s) and with data;
- unhealthy: a rule's metric above its trip level over the rule's window (every settled sample in a run
  of `window_s` of sample time; a hard rule, window 0, on one sample), or any sample above the abort
  limit itself. The latter is also judged on a sample that only partly reflects the level, right after a
  step up (the rest of its window is the healthy level below): so load found above a limit is taken off
  at the first sample that shows it, never after a dwell;
- healthy: settled samples carry every rule's metric over `dwell_s` of sample time (at least the longest
  rule window) and no rule has a run above its trip level open. In clock time a level thus lasts the
  settle time + the metric lag + the dwell;
- "no data" (no sample, no qps, a metric None) is unknown: it neither extends nor clears a run and
  never counts toward the dwell. No usable sample, or no value of a rule's metric, for
  `no_data_limit_s` aborts naming what was missing.
An unhealthy level is left at once, for the bisection's next (lower) rate. Newer evidence wins: a level
whose verdict contradicts an earlier one by more than the precision (healthy at a higher total than an
earlier unhealthy one: the capacity itself moved, a surge) retires it (`bracket`). A level judged unhealthy
has its total over the traffic the samples that showed it covered (a surge must not be averaged away);
judged on a sample partly after its step up, over the `organic_span_s` before it. A partly settled sample
only ever takes load off: a step up waits for settled samples.

Pause holds the current rate and takes no step, but levels are still judged: an unhealthy level while
paused backs off to the highest healthy level's total (rate 0 without one) and stays paused. Terminate,
an abort (no data, max_duration_s, nothing sustainable) or the end of the search drains (rate 0).

The knee: the lowest level (by total QPS) whose error ratio rose more than `knee_error_rise` above the
lowest level's, or whose p95 or p99 rose more than `knee_latency_rise` (a fraction) above it, level means
over their settled samples; reported with the highest level below it that showed no rise (the knee lies
between the two).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from loadstack.ramp.control import ControlRecord
from loadstack.ramp.controller import TickResult
from loadstack.ramp.estimate import estimate_organic, mean_rate
from loadstack.ramp.params import AbortRule
from loadstack.ramp.samples import Sample
from loadstack.ramp.state import (
    TERMINAL_PHASES,
    RuleWindow,
    extend_run,
    points_json,
    state_from_json,
    state_to_json,
)
from loadstack.ramp.timeline import Action, Decision, DecisionLog, Phase, Timeline

LEVEL_METRICS = ("error_ratio", "p50_ms", "p95_ms", "p99_ms")
KNEE_LATENCIES = ("p95_ms", "p99_ms")
MODE = "capacity"
GROWTH, BISECTION, CONFIRM = 1, 2, 3
STAGE_NAMES = {GROWTH: "growth", BISECTION: "bisection", CONFIRM: "confirmation"}
# A confirmation that lands further under the lowest unhealthy total than the precision (organic traffic moved
# between the estimate and the level) is tried again, this many times in all before the search ends anyway.
CONFIRM_TRIES = 3
# Seconds (sample time) of organic traffic whose trend carries its level forward to when a new rate lands
# (the controller's trend span): with a metric lag, the newest points are that far behind.
TREND_SPAN_S = 240.0


@dataclass(frozen=True)
class CapacityParams:
    """How a capacity search runs. Rates are generated QPS, multiples of `bucket_qps`.

    start_qps:         the first level.
    abort_rules:       the rules whose metrics judge health (`loadstack.ramp.params.AbortRule`).
    trip_fraction:     a level is unhealthy once a rule's metric stays above this fraction of its limit.
    growth:            stage 1 multiplies the rate by this after each healthy level.
    precision_qps / precision_ratio: the search ends once the bracket is this narrow (absolute, or relative
                       to the capacity found); give either or both (both: the looser one ends it).
    dwell_s:           seconds of settled samples (sample time) a level needs to be called healthy; at least
                       the longest rule window is used.
    confirm_s:         seconds of settled samples the highest healthy level is held for at the end (0: none).
    organic_span_s:    organic traffic (measured less generated) is averaged this far (sample time) either side
                       of a level to tell its total QPS: a dwell's own mean scatters with the counting noise.
    max_qps:           the highest rate tried; a search healthy there ends there ("limited by max_qps").
    knee_error_rise / knee_latency_rise: what counts as a rise for the knee (absolute error ratio; a fraction
                       of the lowest level's p95 / p99).
    """

    start_qps: float
    abort_rules: tuple[AbortRule, ...]
    bucket_qps: float = 1.0
    trip_fraction: float = 0.8
    growth: float = 2.0
    precision_qps: float | None = None
    precision_ratio: float | None = 0.01
    dwell_s: float = 10.0
    confirm_s: float = 60.0
    organic_span_s: float = 30.0
    max_qps: float | None = None
    max_staleness_s: float = 60.0
    no_data_limit_s: float = 90.0
    max_duration_s: float | None = None
    knee_error_rise: float = 0.005
    knee_latency_rise: float = 0.5

    def __post_init__(self) -> None:
        problems = []
        if not self.bucket_qps > 0:
            problems.append(f"bucket_qps {self.bucket_qps} must be > 0")
        if not self.start_qps >= self.bucket_qps:
            problems.append(f"start_qps {self.start_qps} must be >= bucket_qps {self.bucket_qps}")
        if not self.abort_rules:
            problems.append("abort_rules is empty: health is judged on the abort rules' metrics; give at least one")
        for rule in self.abort_rules:
            if not isinstance(rule, AbortRule):
                problems.append(f"abort_rules: {rule!r} is not an AbortRule")
            elif not rule.limit > 0 or rule.window_s < 0:
                problems.append(f"abort rule '{rule.name}': limit must be > 0 and window_s >= 0")
        if not 0 < self.trip_fraction <= 1:
            problems.append(f"trip_fraction {self.trip_fraction} must be in (0, 1]")
        if not self.growth > 1:
            problems.append(f"growth {self.growth} must be > 1")
        if self.precision_qps is None and self.precision_ratio is None:
            problems.append("give precision_qps or precision_ratio (or both)")
        if self.precision_qps is not None and not self.precision_qps > 0:
            problems.append(f"precision_qps {self.precision_qps} must be > 0")
        if self.precision_ratio is not None and not 0 < self.precision_ratio < 1:
            problems.append(f"precision_ratio {self.precision_ratio} must be in (0, 1)")
        if not self.dwell_s >= 0 or not self.confirm_s >= 0:
            problems.append(f"dwell_s {self.dwell_s} and confirm_s {self.confirm_s} must be >= 0")
        if self.max_qps is not None and not self.max_qps >= self.start_qps:
            problems.append(f"max_qps {self.max_qps} must be >= start_qps {self.start_qps}")
        if not self.organic_span_s > 0:
            problems.append(f"organic_span_s {self.organic_span_s} must be > 0")
        if not self.max_staleness_s > 0 or not self.no_data_limit_s > 0:
            problems.append("max_staleness_s and no_data_limit_s must be > 0")
        if self.max_duration_s is not None and not self.max_duration_s > 0:
            problems.append(f"max_duration_s {self.max_duration_s} must be > 0 (or None: no limit)")
        if not self.knee_error_rise > 0 or not self.knee_latency_rise > 0:
            problems.append("knee_error_rise and knee_latency_rise must be > 0")
        if problems:
            raise ValueError("capacity params: " + "; ".join(problems))

    @property
    def judged_span_s(self) -> float:
        """Seconds of settled samples a level needs: dwell_s, and never less than a rule's window."""
        return max([self.dwell_s, *(rule.window_s for rule in self.abort_rules)])

    def trip(self, rule: AbortRule) -> float:
        return rule.limit * self.trip_fraction

    def precision_for(self, capacity_qps: float | None) -> float:
        """The bracket width that ends the search, for a capacity found so far."""
        bounds = [self.precision_qps or 0.0]
        if self.precision_ratio is not None and capacity_qps is not None:
            bounds.append(self.precision_ratio * capacity_qps)
        return max(bounds)

    def to_json(self) -> dict[str, Any]:
        """The params as JSON, tagged `"mode": "capacity"`: a checkpoint's params say which mode wrote it."""
        data = asdict(self)
        data["abort_rules"] = [asdict(rule) for rule in self.abort_rules]
        return {"mode": MODE, **data}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CapacityParams:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known - {"mode"})
        if unknown:
            raise ValueError(
                f"capacity params: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        if data.get("mode", MODE) != MODE:
            raise ValueError(f"capacity params: mode {data['mode']!r} is not {MODE!r}: these are another mode's params")
        values = {k: v for k, v in data.items() if k != "mode"}
        values["abort_rules"] = tuple(
            rule if isinstance(rule, AbortRule) else AbortRule(**rule) for rule in values.get("abort_rules", ())
        )
        return cls(**values)


@dataclass
class Level:
    """One rate the search held, and what its settled samples showed."""

    buckets: int
    stage: int
    began_at: float  # clock time the rate was asked for
    settled_from: float  # sample time from which samples reflect this rate alone
    stepped_up: bool  # above the level before it: a partly settled sample showing a limit blames it
    samples: int = 0
    qps_sum: float = 0.0
    sums: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    highs: dict[str, float] = field(default_factory=dict)
    # Per metric, [first, last] `at` of settled samples carrying it: the span the dwell counts.
    known: dict[str, list[float]] = field(default_factory=dict)
    runs: dict[str, RuleWindow] = field(default_factory=dict)  # per rule name: a run above its trip level
    verdict: str | None = None  # "healthy" | "unhealthy" | "interrupted"
    verdict_at: float | None = None
    reason: str = ""
    # Unhealthy: the sample time the samples that showed it cover, [first at, last at + window] (None: a sample
    # partly after the step up).
    judged_span: list[float] | None = None

    def mean(self, metric: str) -> float | None:
        if metric == "qps":
            return self.qps_sum / self.samples if self.samples else None
        count = self.counts.get(metric, 0)
        return self.sums[metric] / count if count else None

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["runs"] = {name: run.to_json() for name, run in self.runs.items()}
        data["known"] = {k: list(v) for k, v in self.known.items()}
        for name in ("sums", "counts", "highs"):
            data[name] = dict(data[name])
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Level:
        values = dict(data)
        values["runs"] = {name: RuleWindow.from_json(run) for name, run in (values.get("runs") or {}).items()}
        values["known"] = {k: list(v) for k, v in (values.get("known") or {}).items()}
        return cls(**values)


@dataclass(frozen=True)
class CapacityResult:
    """What a search found (so far, for one that has not ended).

    capacity_qps:      the total QPS of the best confirmed level once the search has ended by its precision,
                       else of the highest healthy level so far (None: no level was healthy).
    capacity_rate_qps: the generated rate of that level.
    precision_qps:     the distance from capacity_qps to the lowest unhealthy total (None without one); the
                       capacity lies in bracket_qps, those two in order (within the precision the sides may
                       cross: samples are noisy, and a level confirmed over confirm_s outweighs a short one).
    limited_by:        why the search ended where it did: found ("precision", "bucket": the bracket is within a
                       bucket, "max_qps": healthy up to it) or not ("max_duration", "no_data", "terminated",
                       "nothing_sustainable"); None while it runs.
    knee_qps / knee_below_qps / knee_metric: see the module docstring; None without a rise.
    steps:             every level: rate, stage, verdict and why, its measured means and sample count.
    duration_s:        from the search's start to its end (or to `now` while it runs).
    """

    found: bool
    capacity_qps: float | None
    capacity_rate_qps: float | None
    precision_qps: float | None
    bracket_qps: tuple[float, float] | None
    bracket_rate_qps: tuple[float | None, float | None]
    limited_by: str | None
    knee_qps: float | None
    knee_below_qps: float | None
    knee_metric: str | None
    knee_rise: float | None
    steps: tuple[dict[str, Any], ...]
    duration_s: float | None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["bracket_qps"] = list(self.bracket_qps) if self.bracket_qps is not None else None
        data["bracket_rate_qps"] = list(self.bracket_rate_qps)
        data["steps"] = [dict(step) for step in self.steps]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CapacityResult:
        values = dict(data)
        values["bracket_qps"] = tuple(values["bracket_qps"]) if values.get("bracket_qps") is not None else None
        values["bracket_rate_qps"] = tuple(values["bracket_rate_qps"])
        values["steps"] = tuple(dict(step) for step in values.get("steps", ()))
        return cls(**values)


@dataclass
class CapacityState:
    """The search's checkpoint: a retry built on `CapacityState.from_json(...)` resumes the search."""

    phase: Phase = "ramping"
    stage: int = GROWTH
    buckets: int = 0
    started_at: float | None = None
    try_started_at: float | None = None
    tries: int = 0
    last_action_at: float | None = None
    last_sample_at: float | None = None
    last_usable_seen_at: float | None = None
    metric_seen_at: dict[str, float] = field(default_factory=dict)  # clock time a rule's metric was last known
    applied_control_seq: int = 0
    paused_phase: Phase | None = None
    levels: list[Level] = field(default_factory=list)
    confirmed_level: int | None = None  # index in levels: the level held for confirm_s that ended the search
    # The generated rate's history, [[effective from, QPS], ...], and organic traffic as every sample showed it,
    # [[sample at, measured less generated QPS], ...], from `organic_from` on (a retry restores traffic at a new
    # time; what was generated in between is unknown).
    rates: list[list[float]] = field(default_factory=list)
    organic: list[list[float]] = field(default_factory=list)
    organic_from: float | None = None
    limited_by: str | None = None
    confirming: str | None = None  # in stage 3: why the bisection ended ("precision", "bucket", "max_qps")
    confirm_tries: int = 0
    drained_from: int = 0
    last_wait_kind: str | None = None
    last_wait_at: float | None = None
    end_reason: str = ""
    ended_at: float | None = None
    result: dict[str, Any] | None = None  # CapacityResult.to_json() once ended
    timeline: Timeline = field(default_factory=Timeline)

    @property
    def finished(self) -> bool:
        return self.phase in TERMINAL_PHASES

    @property
    def in_band_s(self) -> float:
        """A search holds no band; `run_ramp` reads this for its outcome."""
        return 0.0

    def to_json(self) -> dict[str, Any]:
        convert = {"levels": lambda levels: [level.to_json() for level in levels], "metric_seen_at": dict,
                   "rates": points_json, "organic": points_json}  # fmt: skip
        return state_to_json(self, convert)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CapacityState:
        parse = {"levels": lambda levels: [Level.from_json(level) for level in levels or ()],
                 "metric_seen_at": lambda seen: dict(seen or {}), "rates": points_json, "organic": points_json}  # fmt: skip
        hint = ("is it a ramp's checkpoint, or was it written by a newer loadstack? Clear the checkpoint to start the "
                "search from zero")  # fmt: skip
        return state_from_json(cls, data, parse, what="capacity state", hint=hint)


class CapacitySearch(DecisionLog):
    """One capacity search. Build it on a checkpointed `CapacityState` to resume a search.

    settle_s:   the driver's settle time (the runner raises it to its driver's `settle_s`).
    wait_log_s: a wait is recorded when its kind changes, else at most this often.
    """

    def __init__(
        self,
        params: CapacityParams,
        state: CapacityState | None = None,
        *,
        settle_s: float = 0.0,
        wait_log_s: float = 30.0,
    ) -> None:
        self.params = params
        self.state = state if state is not None else CapacityState()
        self.settle_s = settle_s
        self.wait_log_s = wait_log_s
        self._begun = False
        self._now = 0.0
        self._new: list[Decision] = []
        s = self.state
        if s.confirmed_level is not None and not 0 <= s.confirmed_level < len(s.levels):
            raise ValueError(
                f"capacity state: confirmed_level {s.confirmed_level} is outside its {len(s.levels)} levels; the "
                "checkpoint is damaged: clear it to start the search from zero"
            )

    # --- the tick --------------------------------------------------------------------------------------------
    # A capacity search has no approval point: `approval` is never set (the runner asks only while awaiting one).
    awaiting_approval = False

    def tick(
        self, now: float, sample: Sample | None, control: ControlRecord | None = None, approval: object = None
    ) -> TickResult:
        s, p = self.state, self.params
        self._new = []
        self._now = now
        if not self._begun:
            self._begun = True
            self._begin(now)
        if s.finished:
            return self._result()

        if control is not None and control.seq > s.applied_control_seq:
            if control.is_pending(s.applied_control_seq, s.started_at):
                self._apply_control(now, control, sample)
                if s.finished:
                    return self._result()
            else:
                s.applied_control_seq = control.seq  # set before this search started: history, not a command

        if p.max_duration_s is not None and s.try_started_at is not None and now - s.try_started_at > p.max_duration_s:
            self._end(
                now,
                "aborted",
                "abort",
                f"max_duration_s {p.max_duration_s:g} s exceeded (ran {now - s.try_started_at:.0f} s in this try) "
                f"before the bracket was within the precision; {self._bracket_text()}",
                sample,
                thresholds={"max_duration_s": p.max_duration_s},
                limited_by="max_duration",
            )
            return self._result()

        new = sample is not None and (s.last_sample_at is None or sample.at > s.last_sample_at)
        if new:
            assert sample is not None
            s.timeline.samples.append(sample)
            if sample.has_data and not (sample.age(now) > p.max_staleness_s):
                self._note_organic(sample)
            s.last_sample_at = sample.at
        age = sample.age(now) if sample is not None else None
        stale = age is not None and age > p.max_staleness_s
        usable = sample is not None and sample.has_data and not stale
        if usable:
            assert sample is not None
            s.last_usable_seen_at = now
            for metric in self._rule_metrics():
                if getattr(sample, metric) is not None:
                    s.metric_seen_at[metric] = now
        if self._no_data_abort(now, sample, usable, age):
            return self._result()

        level = s.levels[-1]
        if new and usable:
            assert sample is not None
            self._observe(now, level, sample)

        if level.verdict == "unhealthy":
            self._leave_unhealthy(now, level, sample)
            return self._result()
        if s.phase == "paused":
            self._wait(now, "paused", "paused: rate held, no steps (an unhealthy level still backs off)", sample)
            return self._result()
        if level.verdict == "healthy":
            self._after_healthy(now, level, sample)
            return self._result()
        if sample is None or not sample.has_data:
            what = "the source returned no sample" if sample is None else "the sample has no qps"
            self._wait(now, "no_data", f"no data: {what}; neither healthy nor a breach, holding the rate", sample)
        elif stale:
            self._wait(
                now,
                "stale",
                f"stale sample: {age:.1f} s old > max_staleness_s {p.max_staleness_s:g} s; holding the rate",
                sample,
                thresholds={"max_staleness_s": p.max_staleness_s},
            )
        elif sample.at < level.settled_from:
            self._wait(
                now,
                "settling",
                f"waiting for a sample of this level alone (sample at {sample.at:.1f} < change + settle "
                f"{level.settled_from:.1f})",
                sample,
                thresholds={"settled_from": level.settled_from},
            )
        else:
            self._wait(
                now,
                "dwelling",
                f"judging {self._rate(level.buckets):g} QPS: {self._dwell_text(level)}",
                sample,
                values=self._level_values(level),
                thresholds=self._thresholds(),
            )
        return self._result()

    # --- judging a level -------------------------------------------------------------------------------------
    def _observe(self, now: float, level: Level, sample: Sample) -> None:
        """Fold a fresh sample into the current level; set its verdict when the sample decides it."""
        p = self.params
        # A healthy level still being held (paused) is still watched: it may turn unhealthy.
        if level.verdict not in (None, "healthy"):
            return
        settled = sample.at >= level.settled_from
        partly = (
            not settled
            and level.stepped_up
            and sample.window_s is not None
            and sample.at + sample.window_s > level.settled_from
        )
        if not settled and not partly:
            return
        for rule in p.abort_rules:
            value = getattr(sample, rule.metric)
            if value is not None and value > rule.limit:
                which = "a sample" if settled else "a sample partly after the step up"
                self._verdict(
                    now,
                    level,
                    "unhealthy",
                    f"{which} shows {rule.metric} {value:g} above the abort limit of '{rule.name}'",
                )
                level.judged_span = [sample.at, sample.at + (sample.window_s or 0.0)] if settled else None
                return
        if not settled:
            return
        assert sample.qps is not None
        level.samples += 1
        level.qps_sum += sample.qps
        level.known.setdefault("qps", [sample.at, sample.at])[1] = sample.at
        for metric in LEVEL_METRICS:
            value = getattr(sample, metric)
            if value is None:
                continue
            level.sums[metric] = level.sums.get(metric, 0.0) + value
            level.counts[metric] = level.counts.get(metric, 0) + 1
            level.highs[metric] = max(level.highs.get(metric, value), value)
            span = level.known.setdefault(metric, [sample.at, sample.at])
            span[1] = sample.at
        for rule in p.abort_rules:
            value = getattr(sample, rule.metric)
            if value is None:
                continue  # unknown: neither extends nor clears a run
            trip = p.trip(rule)
            if value <= trip:
                level.runs.pop(rule.name, None)
                continue
            run = extend_run(level.runs, rule.name, sample.at, value, sample.age(now), p.max_staleness_s)
            if sample.at - run.since >= rule.window_s:
                shown = ", ".join(f"{v:g}" for v in run.values)
                self._verdict(
                    now,
                    level,
                    "unhealthy",
                    f"{rule.metric} {shown} above the trip level {trip:g} ({p.trip_fraction:g} x '{rule.name}') "
                    f"over {run.last_at - run.since:.1f} s of samples",
                )
                level.judged_span = [run.since, run.last_at + (sample.window_s or 0.0)]
                return
        span = self._span_for(level)
        if level.verdict is None and not level.runs and all(
            metric in level.known and level.known[metric][1] - level.known[metric][0] >= span
            for metric in self._rule_metrics()
        ):
            self._verdict(
                now, level, "healthy", f"every rule's metric under its trip level over {span:g} s of settled samples"
            )

    def _verdict(self, now: float, level: Level, verdict: str, reason: str) -> None:
        level.verdict, level.verdict_at, level.reason = verdict, now, reason

    def _leave_unhealthy(self, now: float, level: Level, sample: Sample | None) -> None:
        s, p = self.state, self.params
        if s.stage != BISECTION:
            s.stage, s.confirming, s.confirm_tries = BISECTION, None, 0
        values = {**self._level_values(level), "verdict": "unhealthy"}
        if level.buckets == 0:
            self._end(
                now,
                "aborted",
                "abort",
                f"unhealthy with no generated traffic at all ({level.reason}): organic traffic alone trips the "
                "rules; there is no capacity to search",
                sample,
                values=values,
                limited_by="nothing_sustainable",
            )
            return
        low, high = self.bracket()
        what = f"unhealthy at {self._rate(level.buckets):g} QPS ({level.reason})"
        if s.phase == "paused":
            back = self._buckets_for(self.total_qps(low)) if low is not None else 0
            self._move(
                now,
                back,
                f"{what} while paused: back to {self._rate(back):g} QPS, the highest healthy level, and staying paused",
                sample,
                values,
            )
            return
        ended = self._ended_by(low, high)
        if ended is not None:
            self._confirm(now, ended, what, sample, values)
            return
        probe = self._probe(low, high)
        if probe is None:
            self._end(
                now,
                "aborted",
                "abort",
                f"{what}, and no bucket of {p.bucket_qps:g} QPS below it is left to try: nothing sustainable found",
                sample,
                values=values,
                limited_by="nothing_sustainable",
            )
            return
        self._move(now, probe, f"{what}: back off at once to {self._probe_text(probe, low, high)}", sample, values)

    def _after_healthy(self, now: float, level: Level, sample: Sample | None) -> None:
        s, p = self.state, self.params
        values = {**self._level_values(level), "verdict": "healthy"}
        what = f"healthy at {self._rate(level.buckets):g} QPS (measured {level.mean('qps'):.1f} QPS in total)"
        if s.stage == CONFIRM and s.confirming is not None:
            _, high = self.bracket()
            high_total = self.total_qps(high) if high is not None else None
            best = self._best_confirmed()
            total = self.total_qps(best)
            assert total is not None
            if (
                high_total is not None
                and self._ended_by_width(total, high_total) is None
                and s.confirm_tries < CONFIRM_TRIES
            ):
                under = f"{what}, sustained, but {high_total - total:.1f} QPS under the lowest unhealthy level"
                self._confirm(now, s.confirming, under, sample, values)
                return
            s.confirmed_level = s.levels.index(best)
            self._finish(now, s.confirming, f"{what}, sustained", sample, values)
            return
        low, high = self.bracket()
        if high is None:
            ceiling = self._max_buckets()
            if ceiling is not None and level.buckets >= ceiling:
                self._confirm(now, "max_qps", f"{what}, and max_qps {p.max_qps:g} reached", sample, values)
                return
            grown = max(level.buckets + 1, math.ceil(level.buckets * p.growth - 1e-9))
            if ceiling is not None:
                grown = min(grown, ceiling)
            self._move(now, grown, f"{what}: grow x{p.growth:g} to {self._rate(grown):g} QPS", sample, values)
            return
        ended = self._ended_by(low, high)
        if ended is not None:
            self._confirm(now, ended, what, sample, values)
            return
        probe = self._probe(low, high)
        assert probe is not None  # a healthy level below the unhealthy one: low is known
        self._move(now, probe, f"{what}: bisect to {self._probe_text(probe, low, high)}", sample, values)

    def _confirm(self, now: float, limited_by: str, what: str, sample: Sample | None, values: dict[str, Any]) -> None:
        """The bisection is over: hold the highest healthy level for confirm_s (stage 3), then finish."""
        s, p = self.state, self.params
        low, _ = self.bracket()
        if p.confirm_s <= 0 or low is None:
            self._finish(now, limited_by, what, sample, values)
            return
        s.stage, s.confirming = CONFIRM, limited_by
        s.confirm_tries += 1
        total = self.total_qps(low)
        assert total is not None
        target = self._buckets_for(total)
        why = f"{what}; the search ends ({limited_by}) once {total:.1f} QPS in total holds {p.confirm_s:g} s"
        current = s.levels[-1]
        if current is low and current.buckets == target:
            # Traffic stays as it is: the level goes on, its samples so far count toward the confirmation.
            current.stage, current.verdict, current.verdict_at, current.reason = CONFIRM, None, None, ""
            thresholds = self._thresholds()
            self._decide(now, "stage_reached", f"{why}: holding it", sample, values=values, thresholds=thresholds)
        else:
            self._move(now, target, f"{why}: {self._rate(target):g} QPS generated", sample, values)

    def _best_confirmed(self) -> Level:
        """The confirmed level of highest total still standing (the current level, just confirmed, when none is)."""
        healthy, _ = self._standing()
        confirmed = [item for item in healthy if item[1].stage == CONFIRM]
        return max(confirmed, key=lambda item: item[0])[1] if confirmed else self.state.levels[-1]

    def _span_for(self, level: Level) -> float:
        p = self.params
        return max(p.judged_span_s, p.confirm_s) if level.stage == CONFIRM else p.judged_span_s

    # --- the bracket, in total QPS ----------------------------------------------------------------------------
    def total_qps(self, level: Level) -> float:
        """The total QPS a level put on the stack: its rate plus the organic traffic while it was judged (sample
        time). Unhealthy: over the traffic the samples that showed it covered (a surge must not be averaged
        away with what came before), or, judged on a sample partly after its step up, over organic_span_s
        before it. Otherwise over its settled samples widened by organic_span_s either side (later samples
        refine it). Without any organic point, the rate alone."""
        span, wide = self.params.organic_span_s, self.params.organic_span_s
        if level.verdict == "unhealthy":
            if level.judged_span is not None:
                first, last = level.judged_span
                wide = 0.0
            else:
                first = last = level.settled_from
                organic = self._organic_between(first - span, last)
                return self._rate(level.buckets) + (organic if organic is not None else 0.0)
        else:
            first, last = level.known.get("qps", [level.settled_from, level.settled_from])
        organic = self._organic_between(first - wide, last + wide)
        return self._rate(level.buckets) + (organic if organic is not None else 0.0)

    def organic_qps(self) -> float | None:
        """Organic traffic by the time a rate set now lands (now + settle): the mean of the newest organic_span_s
        of the series carried forward by its trend (`loadstack.ramp.estimate`); None before any sample."""
        estimate = estimate_organic(
            self.state.organic,
            self._now + self.settle_s,
            recent_s=self.params.organic_span_s,
            trend_s=TREND_SPAN_S,
            max_horizon_s=TREND_SPAN_S,
        )
        return None if estimate is None else estimate.level_qps

    def _organic_between(self, start: float, end: float) -> float | None:
        points = [q for at, q in self.state.organic if start <= at <= end]
        return sum(points) / len(points) if points else None

    def _note_organic(self, sample: Sample) -> None:
        """Add the organic traffic a fresh sample shows: its QPS less what was generated over its window (from the
        rate history: a sample straddling a change counts too), or less the current rate once it is settled."""
        s = self.state
        assert sample.qps is not None
        if s.organic_from is not None and sample.at < s.organic_from:
            return
        if sample.window_s:
            generated = mean_rate(s.rates, sample.at, sample.at + sample.window_s)
        elif sample.at >= s.levels[-1].settled_from:
            generated = self._rate(s.levels[-1].buckets)
        else:
            return
        s.organic.append([sample.at, sample.qps - generated])

    def bracket(self) -> tuple[Level | None, Level | None]:
        """(the healthy level of highest total QPS, the unhealthy level of lowest total QPS) among the levels still
        standing (`_standing`); None for a side with none."""
        healthy, unhealthy = self._standing()
        low = max(healthy, key=lambda item: item[0])[1] if healthy else None
        high = min(unhealthy, key=lambda item: item[0])[1] if unhealthy else None
        return low, high

    def _standing(self) -> tuple[list[tuple[float, Level]], list[tuple[float, Level]]]:
        """The judged levels still standing, [(total, level)] healthy and unhealthy. Newer evidence wins: a level
        judged healthy at a total more than the precision above an earlier unhealthy one (the capacity itself
        moved, a surge) retires that one, and the other way round. Closer than the precision the two sides may
        cross (noise): the bracket is then as narrow as the search asks, and it ends."""
        healthy: list[tuple[float, Level]] = []
        unhealthy: list[tuple[float, Level]] = []
        for level in self.state.levels:
            if level.verdict not in ("healthy", "unhealthy"):
                continue
            total = self.total_qps(level)
            assert total is not None
            margin = self.params.precision_for(total)
            if level.verdict == "healthy":
                unhealthy = [item for item in unhealthy if item[0] > total - margin]
                healthy.append((total, level))
            else:
                healthy = [item for item in healthy if item[0] < total + margin]
                unhealthy.append((total, level))
        return healthy, unhealthy

    def _ended_by(self, low: Level | None, high: Level | None) -> str | None:
        """"precision" or "bucket" once the bracket is that narrow; None while it is wider."""
        if low is None or high is None:
            return None
        low_total, high_total = self.total_qps(low), self.total_qps(high)
        assert low_total is not None and high_total is not None
        return self._ended_by_width(low_total, high_total)

    def _ended_by_width(self, low_total: float, high_total: float) -> str | None:
        width = high_total - low_total
        if width <= self.params.precision_for(low_total):
            return "precision"
        return "bucket" if width <= self.params.bucket_qps else None

    def _probe(self, low: Level | None, high: Level | None) -> int | None:
        """The next rate, in buckets: the one meant to put the middle of the bracket's totals on the stack, given
        the organic traffic expected when it lands; without a healthy level below, half the unhealthy rate
        (None when that is no bucket at all)."""
        assert high is not None
        if low is None:
            half = min(high.buckets, self.state.levels[-1].buckets) // 2
            return half if half >= 1 else None
        low_total, high_total = self.total_qps(low), self.total_qps(high)
        assert low_total is not None and high_total is not None
        return self._buckets_for((low_total + high_total) / 2)

    def _buckets_for(self, total_qps: float) -> int:
        """The rate, in buckets, that puts `total_qps` on the stack with the organic traffic expected then."""
        organic = self.organic_qps() or 0.0
        return max(0, round((total_qps - organic) / self.params.bucket_qps))

    def _probe_text(self, probe: int, low: Level | None, high: Level | None) -> str:
        if low is None or high is None:
            return f"{self._rate(probe):g} QPS, half the lowest unhealthy rate"
        return (
            f"{self._rate(probe):g} QPS, meant for the middle of [{self.total_qps(low):.1f}, "
            f"{self.total_qps(high):.1f}] QPS in total (organic {self.organic_qps() or 0.0:.1f} QPS)"
        )

    def _no_data_abort(self, now: float, sample: Sample | None, usable: bool, age: float | None) -> bool:
        s, p = self.state, self.params
        last_usable = s.last_usable_seen_at if s.last_usable_seen_at is not None else now
        missing = None
        if not usable and now - last_usable > p.no_data_limit_s:
            if sample is None:
                what = "no sample"
            elif not sample.has_data:
                what = "no qps in the samples"
            else:
                what = f"only stale samples (newest {age:.1f} s old)"
            missing = f"no usable sample for {now - last_usable:.0f} s ({what})"
        else:
            for metric in self._rule_metrics():
                seen = s.metric_seen_at.get(metric, now)
                if now - seen > p.no_data_limit_s:
                    missing = (
                        f"no value of {metric} for {now - seen:.0f} s: health cannot be judged without it; "
                        f"fix the metric source or drop the rules on {metric}"
                    )
                    break
        if missing is None:
            return False
        self._end(
            now,
            "aborted",
            "abort",
            f"{missing}; no_data_limit_s is {p.no_data_limit_s:g} s; {self._bracket_text()}",
            sample,
            thresholds={"no_data_limit_s": p.no_data_limit_s, "max_staleness_s": p.max_staleness_s},
            limited_by="no_data",
        )
        return True

    # --- control ---------------------------------------------------------------------------------------------
    def _apply_control(self, now: float, record: ControlRecord, sample: Sample | None) -> None:
        s = self.state
        s.applied_control_seq = record.seq
        values = {"control_seq": record.seq, "control_by": record.by, "control_at": record.at}
        if record.action == "terminate":
            self._end(
                now,
                "terminated",
                "terminate",
                f"terminated ({record.describe()}); {self._bracket_text()}",
                sample,
                values=values,
                limited_by="terminated",
            )
        elif record.action == "pause":
            if s.phase == "paused":
                self._wait(
                    now, "control_ignored", f"{record.describe()} ignored: already paused", sample, values=values
                )
                return
            s.paused_phase, s.phase = s.phase, "paused"
            self._decide(now, "pause", f"paused ({record.describe()}); rate held", sample, values=values)
        else:
            if s.phase != "paused":
                self._wait(now, "control_ignored", f"{record.describe()} ignored: not paused", sample, values=values)
                return
            s.phase, s.paused_phase = s.paused_phase or "ramping", None
            self._decide(now, "resume", f"resumed ({record.describe()})", sample, values=values)

    # --- beginnings, moves and ends --------------------------------------------------------------------------
    def _begin(self, now: float) -> None:
        s, p = self.state, self.params
        s.tries += 1
        s.try_started_at = now
        s.last_usable_seen_at = now
        s.metric_seen_at = {metric: now for metric in self._rule_metrics()}
        if s.started_at is None:
            s.started_at = now
            start = max(1, round(p.start_qps / p.bucket_qps))
            self._new_level(now, start, stepped_up=True)
            self._decide(
                now,
                "start",
                f"capacity search from {self._rate(start):g} QPS: grow x{p.growth:g} while healthy, then bisect; "
                f"unhealthy at {p.trip_fraction:g} x each abort rule's limit",
                None,
                buckets_before=0,
                values={"bucket_qps": p.bucket_qps},
                thresholds=self._thresholds(),
            )
            return
        if s.phase == "done":
            return
        base, why = s.buckets, f"resumed from a checkpoint (try {s.tries})"
        if s.phase in ("aborted", "terminated"):
            base = s.drained_from
            why = f"cleared after it {s.phase} ({s.end_reason}); searching again (try {s.tries})"
            s.phase, s.end_reason, s.ended_at, s.limited_by, s.result = "ramping", "", None, None, None
        if s.levels and s.levels[-1].verdict is None:
            self._verdict(now, s.levels[-1], "interrupted", "the try ended before a verdict")
        # The traffic went away with the try: the level is judged afresh, as a step up from nothing.
        self._new_level(now, base, stepped_up=True)
        s.organic_from = s.levels[-1].settled_from
        s.last_wait_kind = None
        self._decide(
            now,
            "start",
            f"{why}: stage {s.stage}, judging {self._rate(base):g} QPS afresh; {self._bracket_text()}",
            None,
            buckets_before=0,
            thresholds=self._thresholds(),
        )

    def _new_level(self, now: float, buckets: int, *, stepped_up: bool, same_traffic: bool = False) -> None:
        s = self.state
        s.buckets = buckets
        s.last_action_at = now
        # A new level at the rate already flowing (a confirmation of the same rate) changes no traffic: its
        # samples are settled from when that rate was, or a breach in the next settle + window would be seen by
        # no level at all (CI: 22.7 s at a rate whose sample showed p99 above its limit).
        settled_from = s.levels[-1].settled_from if same_traffic and s.levels else now + self.settle_s
        level = Level(buckets=buckets, stage=s.stage, began_at=now, settled_from=settled_from, stepped_up=stepped_up)
        s.levels.append(level)
        if not same_traffic:
            s.rates.append([level.settled_from, self._rate(buckets)])

    def _move(self, now: float, buckets: int, reason: str, sample: Sample | None, values: dict[str, Any]) -> None:
        before = self.state.buckets
        self._new_level(now, buckets, stepped_up=buckets > before, same_traffic=buckets == before)
        action: Action = "step_up" if buckets > before else "step_down" if buckets < before else "wait"
        self._decide(now, action, reason, sample, buckets_before=before, values=values, thresholds=self._thresholds())

    def _finish(self, now: float, limited_by: str, what: str, sample: Sample | None, values: dict[str, Any]) -> None:
        s = self.state
        self.state.limited_by = limited_by
        result = self.result(now)
        if limited_by == "max_qps":
            found = f"at least {result.capacity_qps:.1f} QPS (healthy up to max_qps; no limit found)"
        else:
            found = (
                f"{result.capacity_qps:.1f} QPS sustainable, capacity in [{result.bracket_qps[0]:.1f}, "
                f"{result.bracket_qps[1]:.1f}] (precision {result.precision_qps:g} QPS, limited by {limited_by})"
            )
        knee = (
            f"; knee at {result.knee_qps:.1f} QPS ({result.knee_metric} rose {result.knee_rise:g}, none at "
            f"{result.knee_below_qps:.1f})"
            if result.knee_qps is not None and result.knee_below_qps is not None
            else ""
        )
        self._end(
            now,
            "done",
            "done",
            f"{what}: {found}{knee}; {len(s.levels)} levels in {result.duration_s:.0f} s",
            sample,
            values={**values, **_summary_values(result)},
            limited_by=limited_by,
        )

    def _end(
        self,
        now: float,
        phase: Phase,
        action: Action,
        reason: str,
        sample: Sample | None,
        *,
        values: dict[str, Any] | None = None,
        thresholds: dict[str, Any] | None = None,
        limited_by: str,
    ) -> None:
        s = self.state
        s.limited_by = limited_by
        if s.levels and s.levels[-1].verdict is None:
            self._verdict(now, s.levels[-1], "interrupted", f"the search ended ({action})")
        s.ended_at = now
        s.result = self.result(now).to_json()
        thresholds = {**self._thresholds(), **(thresholds or {})}
        self._decide(now, action, reason, sample, values=values, thresholds=thresholds)
        s.drained_from = s.buckets
        before = s.buckets
        s.buckets = 0
        s.rates.append([now + self.settle_s, 0.0])
        s.phase = phase
        s.end_reason = reason
        s.last_action_at = now
        self._decide(now, "drain", f"drain: generated traffic to 0 ({action})", sample, buckets_before=before)

    # --- the result ------------------------------------------------------------------------------------------
    def result(self, now: float) -> CapacityResult:
        """What the search has found by `now` (its final result once it has ended)."""
        s = self.state
        low, high = self.bracket()
        if s.confirmed_level is not None:
            low = s.levels[s.confirmed_level]  # held for confirm_s: the capacity measured over the longest span
        capacity = self.total_qps(low) if low is not None else None
        high_total = self.total_qps(high) if high is not None else None
        precision = bracket = None
        if capacity is not None and high_total is not None:
            # Within the precision the two sides may cross (noise): the capacity is then between them all the same.
            precision = abs(high_total - capacity)
            bracket = (min(capacity, high_total), max(capacity, high_total))
        knee = find_knee(s.levels, self.params, self.total_qps)
        end = s.ended_at if s.ended_at is not None else now
        return CapacityResult(
            found=s.limited_by in ("precision", "bucket", "max_qps"),
            capacity_qps=capacity,
            capacity_rate_qps=self._rate(low.buckets) if low is not None else None,
            precision_qps=precision,
            bracket_qps=bracket,
            bracket_rate_qps=(
                self._rate(low.buckets) if low is not None else None,
                self._rate(high.buckets) if high is not None else None,
            ),
            limited_by=s.limited_by,
            knee_qps=knee[0] if knee else None,
            knee_below_qps=knee[1] if knee else None,
            knee_metric=knee[2] if knee else None,
            knee_rise=knee[3] if knee else None,
            steps=tuple(self._step_json(level) for level in s.levels),
            duration_s=(end - s.started_at) if s.started_at is not None else None,
        )

    def _step_json(self, level: Level) -> dict[str, Any]:
        return {
            "rate_qps": self._rate(level.buckets),
            "stage": level.stage,
            "began_at": level.began_at,
            "verdict": level.verdict,
            "verdict_at": level.verdict_at,
            "reason": level.reason,
            "samples": level.samples,
            "total_qps": _round(self.total_qps(level)),
            **{f"{metric}_mean": _round(level.mean(metric)) for metric in ("qps", *LEVEL_METRICS)},
            **{f"{metric}_max": _round(level.highs.get(metric)) for metric in LEVEL_METRICS},
        }

    # --- records ---------------------------------------------------------------------------------------------
    def _rate(self, buckets: int) -> float:
        return buckets * self.params.bucket_qps

    def _max_buckets(self) -> int | None:
        p = self.params
        return None if p.max_qps is None else max(1, math.floor(p.max_qps / p.bucket_qps + 1e-9))

    def _rule_metrics(self) -> list[str]:
        return sorted({rule.metric for rule in self.params.abort_rules})

    def _bracket_text(self) -> str:
        s = self.state
        low, high = self.bracket()

        def shown(level: Level | None) -> str:
            if level is None:
                return "none"
            return f"{self.total_qps(level):.1f} QPS ({self._rate(level.buckets):g} generated)"

        return f"highest healthy level {shown(low)}, lowest unhealthy {shown(high)}"

    def _dwell_text(self, level: Level) -> str:
        span = self._span_for(level)
        spans = {m: (level.known[m][1] - level.known[m][0]) if m in level.known else None for m in self._rule_metrics()}
        shown = ", ".join(f"{m} {v:.0f}/{span:g} s" if v is not None else f"{m} no data yet" for m, v in spans.items())
        runs = f"; above trip: {', '.join(level.runs)}" if level.runs else ""
        return f"settled samples cover {shown}{runs}"

    def _level_values(self, level: Level) -> dict[str, Any]:
        values: dict[str, Any] = {"level_samples": level.samples}
        for metric in ("qps", *LEVEL_METRICS):
            mean = level.mean(metric)
            if mean is not None:
                values[f"level_{metric}_mean"] = _round(mean)
        return values

    def _thresholds(self) -> dict[str, Any]:
        p = self.params
        thresholds: dict[str, Any] = {f"trip {rule.name}": _round(p.trip(rule)) for rule in p.abort_rules}
        thresholds["judged_span_s"] = p.judged_span_s
        low, high = self.bracket()
        if low is not None:
            thresholds["bracket_low_qps"] = _round(self.total_qps(low))
        if high is not None:
            thresholds["bracket_high_qps"] = _round(self.total_qps(high))
        return thresholds

    def _result(self) -> TickResult:
        return TickResult.of(self.state, self._rate(self.state.buckets), self._new)


def find_knee(
    levels: list[Level], params: CapacityParams, total_qps: Callable[[Level], float | None]
) -> tuple[float, float | None, str, float] | None:
    """(knee QPS, highest QPS below it without a rise, the metric that rose, its rise) or None; see the module
    docstring. Levels without settled samples are left out."""
    totals = {id(lv): total_qps(lv) or 0.0 for lv in levels if lv.samples}
    measured = sorted((lv for lv in levels if lv.samples), key=lambda lv: totals[id(lv)])
    if len(measured) < 2:
        return None
    base = measured[0]

    def rise(level: Level) -> tuple[str, float] | None:
        base_error, error = base.mean("error_ratio"), level.mean("error_ratio")
        if base_error is not None and error is not None and error - base_error > params.knee_error_rise:
            return "error_ratio", round(error - base_error, 6)
        for metric in KNEE_LATENCIES:
            base_value, value = base.mean(metric), level.mean(metric)
            if base_value and value is not None and value / base_value - 1 > params.knee_latency_rise:
                return metric, round(value / base_value - 1, 4)
        return None

    for i, level in enumerate(measured):
        rose = rise(level)
        if rose is not None:
            calm = [totals[id(lv)] for lv in measured[:i] if rise(lv) is None]
            return totals[id(level)], (max(calm) if calm else None), rose[0], rose[1]
    return None


def _summary_values(result: CapacityResult) -> dict[str, Any]:
    """The result's scalars, flat, for the decision log (the report shows values as key = value pairs)."""
    return {
        "capacity_qps": _round(result.capacity_qps),
        "capacity_rate_qps": result.capacity_rate_qps,
        "precision_qps": result.precision_qps,
        "limited_by": result.limited_by,
        "knee_qps": _round(result.knee_qps),
        "knee_below_qps": _round(result.knee_below_qps),
        "knee_metric": result.knee_metric,
        "levels": len(result.steps),
        "duration_s": _round(result.duration_s),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def result_of(params: CapacityParams, state: CapacityState) -> CapacityResult:
    """A checkpoint's result: the one stored when the search ended, else what it had found by its last sample or
    decision (a try that died mid-search)."""
    if state.result is not None:
        return CapacityResult.from_json(state.result)
    moments = [d.at for d in state.timeline.decisions] + [s.taken_at for s in state.timeline.samples]
    now = max(moments) if moments else (state.started_at or 0.0)
    return CapacitySearch(params, state).result(now)
