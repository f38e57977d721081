"""The ramp controller: decides, tick by tick, how many buckets of generated traffic a stack gets.

LinkedIn's automated load test (see `params.py` for its vocabulary), as a pure function of time,
samples and control records: `tick(now, sample, control)` returns the generated rate to apply and the
decisions taken, and mutates only its `RampState` (JSON, checkpointed by the runner). No I/O, no clock.

- The level it steers by is not the last sample alone: samples show organic and generated traffic
  together, the controller knows what it generated, so it keeps a series of organic traffic (measured
  less generated) across its own steps and predicts the level a change made now will meet: the recent
  organic mean, plus its trend over the metric lag, plus the generated rate (`loadstack.ramp.estimate`).
- Stages 1..n-1 jump by bucket groups toward stage x target (organic traffic included), waiting the
  group interval and a settled sample between jumps; a stage is reached within half a bucket of it.
- The last stage uses two step functions, one bucket at a time, a bucket interval apart. Step up while
  the level is under the target (less half a bucket) and level + bucket + noise margin stays under the
  high watermark: the band is approached from below, so no sample should go above it. Step down when
  the level comes within the margin less one sigma of the high watermark (at once when a sample is
  above it). Once holding, step up only when the level nears the low watermark (two sigma): each step
  is a bet on a noisy reading. The margin is `noise_sigmas` standard deviations of a sample around its
  predicted level: the noise of single samples over the lag (semivariogram of the organic series) and
  the error of the prediction itself (the residuals of earlier steps); stages 1 and 2 teach both.
  When the band is narrower than the noise, the margins would step out of the band to avoid its top:
  there a step is taken only if it is expected to leave fewer samples out of band than staying (a
  sample above the band weighs ABOVE_WEIGHT times one below it).
- The hold starts once a settled sample is in band and no further step is wanted (or possible), and
  ends when the in-band time (the span between consecutive usable samples that are both in band)
  reaches hold_s.
- It acts only on a settled sample: `at >= last action + settle_s` (the sample's `at` already allows
  for the metric lag). A stale sample (age > max_staleness_s) or no data holds the traffic; no
  usable sample for no_data_limit_s aborts. No data is never a pass and never a breach.
- Abort rules are judged on every new sample that is not stale, whatever the last action; an abort,
  a terminate, max_duration_s or the end of the hold drains (rate 0) and ends the ramp.
- A controller built on a checkpointed state resumes at the stage reached (see `_begin`): in the last
  stage one bucket group below where it was, to approach the band from below again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

from loadstack.ramp.approval import HOLD, Approval, describe_point, stage_point
from loadstack.ramp.control import ControlRecord
from loadstack.ramp.estimate import OrganicEstimate, estimate_organic, mean_rate
from loadstack.ramp.params import AbortRule, RampParams
from loadstack.ramp.samples import Sample
from loadstack.ramp.state import RampState, RuleWindow, extend_run
from loadstack.ramp.timeline import Action, Decision, DecisionLog, Phase

# In the hold, a level this many sigmas above the low watermark is left alone: a few samples under the band
# cost a little of the hold's share, a step up on a low reading risks the high watermark.
LOW_SIGMAS = 2.0
# A sample above the high watermark costs this many below the low one: above is where capacity gives out.
ABOVE_WEIGHT = 4.0


class Margins(NamedTuple):
    """Distances from the watermarks, in QPS, derived from the noise sigma.

    up:   a step up must leave the level this far under the high watermark (`noise_sigmas` sigma);
    down: a level this close to the high watermark steps down (one sigma less: hysteresis, so noise alone
          does not step up and down in turn);
    low:  in the hold, a level this close to the low watermark steps up (LOW_SIGMAS sigma).
    """

    up: float
    down: float
    low: float


@dataclass(frozen=True)
class TickResult:
    """What one tick decided: the generated rate to apply now, the decisions recorded, where the ramp is."""

    rate_qps: float
    buckets: int
    phase: Phase
    stage: int
    decisions: tuple[Decision, ...] = ()
    finished: bool = False
    succeeded: bool | None = None
    reason: str = ""

    @classmethod
    def of(cls, state: Any, rate_qps: float, decisions: list[Decision]) -> TickResult:
        """Where a controller's state (`RampState`, `CapacityState`) is after a tick that decided `decisions`."""
        return cls(
            rate_qps=rate_qps,
            buckets=state.buckets,
            phase=state.phase,
            stage=state.stage,
            decisions=tuple(decisions),
            finished=state.finished,
            succeeded=(state.phase == "done") if state.finished else None,
            reason=state.end_reason,
        )

    @property
    def acted(self) -> bool:
        """Whether anything but a wait was decided (the runner checkpoints after every action)."""
        return any(d.action != "wait" for d in self.decisions)


class RampController(DecisionLog):
    """One ramp. Build it on a checkpointed `RampState` to resume a ramp where an earlier try left it.

    settle_s:     the driver's settle time (the runner raises it to its driver's `settle_s`).
    noise_sigmas: the margin kept below the high watermark, in standard deviations of the prediction error.
                  Tuned on the simulator (bench/ramp.py, 60 held-out seeds per delay): 4 let samples above the
                  high watermark through at a 30 s metric delay; 4.5 left more holds under 95 % in band.
    wait_log_s:   a wait is recorded when its kind changes, else at most this often.
    level_span_s: seconds (sample time) of organic traffic averaged into the measured level.
    trend_span_s: seconds (sample time) of organic traffic its trend and noise are measured over.
    """

    def __init__(
        self,
        params: RampParams,
        state: RampState | None = None,
        *,
        settle_s: float = 0.0,
        noise_sigmas: float = 4.25,
        wait_log_s: float = 30.0,
        level_span_s: float = 20.0,
        trend_span_s: float = 240.0,
    ) -> None:
        self.params = params
        self.state = state if state is not None else RampState()
        self.settle_s = settle_s
        self.noise_sigmas = noise_sigmas
        self.wait_log_s = wait_log_s
        self.level_span_s = level_span_s
        self.trend_span_s = trend_span_s
        self._begun = False
        self._estimate: tuple[tuple[float, int, float | None], OrganicEstimate | None] | None = None
        self._new: list[Decision] = []
        if not 1 <= self.state.stage <= len(params.stages):
            raise ValueError(
                f"ramp state: stage {self.state.stage} is outside the {len(params.stages)} stages of these params; "
                "the checkpoint belongs to another ramp: clear the checkpoint to start from zero"
            )

    # --- the tick --------------------------------------------------------------------------------------------
    def tick(
        self, now: float, sample: Sample | None, control: ControlRecord | None = None, approval: Approval | None = None
    ) -> TickResult:
        s, p = self.state, self.params
        self._new = []
        if not self._begun:
            self._begun = True
            self._begin(now)
        if s.finished:
            return self._result()
        if approval is not None:
            self._answer_approval(now, approval)
            if s.finished:
                return self._result()

        if control is not None and control.seq > s.applied_control_seq:
            if control.is_pending(s.applied_control_seq, s.started_at):
                self._apply_control(now, control, sample)
                if s.finished:
                    return self._result()
            else:
                # Set before this ramp first started: someone else's history, not a command for it.
                s.applied_control_seq = control.seq

        if p.max_duration_s is not None and s.try_started_at is not None and now - s.try_started_at > p.max_duration_s:
            self._end(
                now,
                "aborted",
                "abort",
                f"max_duration_s {p.max_duration_s:g} s exceeded "
                f"(ran {now - s.try_started_at:.0f} s in this try) at stage {s.stage}",
                sample,
                thresholds={"max_duration_s": p.max_duration_s},
            )
            return self._result()

        new = sample is not None and (s.last_sample_at is None or sample.at > s.last_sample_at)
        if new:
            assert sample is not None
            s.timeline.samples.append(sample)
            s.last_sample_at = sample.at
        age = sample.age(now) if sample is not None else None
        stale = age is not None and age > p.max_staleness_s
        usable = sample is not None and sample.has_data and not stale
        if usable:
            s.last_usable_seen_at = now

        if s.phase == "draining":
            hard = self._hard_breach(sample) if new and not stale else None
            if hard is not None:
                assert sample is not None
                self._end(
                    now,
                    "aborted",
                    "abort",
                    f"hard limit '{hard.name}' breached while draining: drained at once",
                    sample,
                )
            else:
                self._drain_tick(now, sample)
            return self._result()

        if new and not stale:
            assert sample is not None
            breach = self._judge_rules(now, sample)
            if breach is not None:
                rule, window = breach
                self._abort_on_rule(now, sample, rule, window)
                return self._result()

        last_usable = s.last_usable_seen_at if s.last_usable_seen_at is not None else now
        if not usable and now - last_usable > p.no_data_limit_s:
            what = (
                "no sample"
                if sample is None
                else (
                    "no qps in the samples" if not sample.has_data else f"only stale samples (newest {age:.1f} s old)"
                )
            )
            self._abort(
                now,
                f"no usable sample for {now - last_usable:.0f} s ({what}); no_data_limit_s is {p.no_data_limit_s:g} s",
                sample,
                gradual=True,
                thresholds={"no_data_limit_s": p.no_data_limit_s, "max_staleness_s": p.max_staleness_s},
            )
            return self._result()

        if new and usable and s.phase == "holding":
            assert sample is not None and sample.qps is not None
            self._count_hold(sample)
            if s.in_band_s >= p.hold_s:
                self._end(
                    now,
                    "done",
                    "done",
                    f"held {s.in_band_s:.0f} s in band (hold_s {p.hold_s:g} s; {s.out_of_band_s:.0f} s out of band)",
                    sample,
                    values={"in_band_s": s.in_band_s, "out_of_band_s": s.out_of_band_s},
                    thresholds={"hold_s": p.hold_s},
                )
                return self._result()

        if new and usable:
            assert sample is not None
            self._note_organic(sample)

        if s.phase == "paused":
            self._wait(now, "paused", "paused: traffic held, no steps, hold time not counting", sample)
            return self._result()
        if s.phase == "awaiting_approval":
            self._wait_for_approval(now, sample)
            return self._result()
        if sample is None:
            self._wait(now, "no_data", "no data: the source returned no sample; holding traffic", sample)
            return self._result()
        if not sample.has_data:
            self._wait(now, "no_data", "no data: the sample has no qps; holding traffic", sample)
            return self._result()
        if stale:
            self._wait(
                now,
                "stale",
                f"stale sample: {age:.1f} s old > max_staleness_s {p.max_staleness_s:g} s; holding traffic",
                sample,
                thresholds={"max_staleness_s": p.max_staleness_s},
            )
            return self._result()

        settled_from = None if s.last_action_at is None else s.last_action_at + self.settle_s
        if settled_from is not None and sample.at < settled_from:
            self._wait(
                now,
                "settling",
                f"waiting for a sample of traffic after the last action (sample at "
                f"{sample.at:.1f} < last action + settle {settled_from:.1f})",
                sample,
                thresholds={"settled_from": settled_from},
            )
            return self._result()
        self._steer(now, sample)
        return self._result()

    # --- steering ---------------------------------------------------------------------------------------------
    def _steer(self, now: float, sample: Sample) -> None:
        s, p = self.state, self.params
        assert sample.qps is not None
        measured = sample.qps
        organic = self.organic_estimate(now)
        level = measured if organic is None else organic.level_qps + s.buckets * p.bucket_qps
        margins = self.margins(now)
        margin, down_margin = margins.up, margins.down
        b = p.bucket_qps
        values: dict[str, Any] = {"level_qps": round(level, 3), "noise_margin_qps": round(margin, 3)}
        if organic is not None:
            values["organic_qps"] = round(organic.level_qps, 3)
            values["organic_trend_qps_per_s"] = round(organic.slope_qps_per_s, 4)

        urgent = measured > p.high_watermark
        # In a band narrower than the noise the margin reaches under the low watermark: there a bucket less is
        # taken only if it leaves fewer samples out of band than staying (else the ramp goes on as if clear).
        near_high = level > p.high_watermark - down_margin and self._better_by_buckets(now, level, -1)
        if urgent or near_high:
            if s.buckets == 0:
                self._wait(
                    now,
                    "organic_above",
                    "organic traffic alone is near or above the high watermark; nothing to remove",
                    sample,
                    values=values,
                )
            elif urgent or self._since_action(now) >= p.bucket_interval_s:
                what = (
                    f"sample {measured:.1f} above the high watermark {p.high_watermark:g}"
                    if urgent
                    else f"level {level:.1f} within {down_margin:.1f} (noise margin less one sigma) of the high "
                    f"watermark {p.high_watermark:g}"
                )
                self._step(now, -1, f"step down one bucket: {what}", sample, values, level)
            else:
                self._wait(now, "interval", "near the high watermark; bucket interval not over", sample, values=values)
            return

        while s.stage < len(p.stages):
            if self._since_action(now) < p.group_interval_s:
                self._wait(
                    now,
                    "interval",
                    f"stage {s.stage}: group interval ({p.group_interval_s:g} s) not over",
                    sample,
                    values=values,
                )
                return
            stage_target = p.stages[s.stage - 1] * p.target_qps
            stage_values = {**values, "stage_target_qps": stage_target}
            if level >= stage_target - b / 2:
                self._decide(
                    now,
                    "stage_reached",
                    f"stage {s.stage} reached: level {level:.1f} within half a bucket of {stage_target:g}",
                    sample,
                    values=stage_values,
                )
                s.stage += 1
                if self._stop_for_approval(now, stage_point(s.stage), sample, stage_values):
                    return
                continue
            wanted = math.ceil((stage_target - level) / b)
            room = math.floor((p.high_watermark - margin - level) / b)
            add = min(p.bucket_group, wanted, room)
            if add <= 0:
                self._decide(
                    now,
                    "stage_reached",
                    f"stage {s.stage} ends below its target {stage_target:g}: "
                    f"no room for a bucket under the high watermark less the margin",
                    sample,
                    values=stage_values,
                )
                s.stage += 1
                if self._stop_for_approval(now, stage_point(s.stage), sample, stage_values):
                    return
                continue
            self._step(
                now,
                add,
                f"stage {s.stage}: jump {add} bucket(s) toward {stage_target:g} (level {level:.1f})",
                sample,
                stage_values,
                level,
            )
            return

        can_add = level + b + margin <= p.high_watermark
        wants_more = level < p.target_qps - b / 2
        in_band = p.low_watermark <= measured <= p.high_watermark
        # The hold starts once the ramp has settled in the band (no further step wanted or possible), not
        # at the first noisy sample over the low watermark: time spent climbing through it is not the hold.
        if s.phase == "ramping" and in_band and level >= p.low_watermark and not (wants_more and can_add):
            if self._stop_for_approval(now, HOLD, sample, values):
                return
            s.phase = "holding"
            if s.hold_started_at is None:
                s.hold_started_at = sample.at
            s.prev_usable_at, s.prev_in_band = sample.at, True
            resumed = f" ({s.in_band_s:.0f} s already held)" if s.in_band_s else ""
            self._decide(
                now,
                "hold_started",
                f"in band: {measured:.1f} within [{p.low_watermark:g}, "
                f"{p.high_watermark:g}]; holding for {p.hold_s:g} s in band{resumed}",
                sample,
                values=values,
            )

        why = f"level {level:.1f} below target {p.target_qps:g} less half a bucket"
        if s.phase == "holding":
            # In the hold a step is a bet on a noisy estimate, taken exactly when the estimate reads low (so
            # the true level after it is likely higher than predicted): step up only when the level nears the
            # low watermark, the mirror of the step-down rule.
            wants_more = level < p.low_watermark + margins.low
            why = f"level {level:.1f} within {margins.low:.1f} of the low watermark {p.low_watermark:g}"
        # Under the band with no room for the margin, a bucket is still worth it when the noise makes staying
        # under the band cost more than the risk above it.
        narrow_up = not can_add and level < p.low_watermark and self._better_by_buckets(now, level, +1)
        if wants_more and (can_add or narrow_up):
            if self._since_action(now) >= p.bucket_interval_s:
                room = (
                    f"level + bucket + margin {level + b + margin:.1f} <= high watermark"
                    if can_add
                    else f"under the band one bucket more ({level + b:.1f}) leaves fewer samples out of band "
                    "than staying"
                )
                self._step(now, +1, f"step up one bucket: {why}, and {room}", sample, values, level)
            else:
                self._wait(
                    now, "interval", f"bucket interval ({p.bucket_interval_s:g} s) not over", sample, values=values
                )
        elif level < p.low_watermark:
            self._wait(
                now,
                "band_too_narrow",
                f"below the band but one more bucket ({b:g}) plus the noise margin "
                f"({margin:.1f}) would risk the high watermark",
                sample,
                values=values,
            )
        elif s.phase == "holding":
            self._wait(
                now,
                "holding",
                f"holding in band: {s.in_band_s:.0f} of {p.hold_s:g} s",
                sample,
                values={**values, "in_band_s": s.in_band_s},
            )
        else:
            self._wait(now, "below_band", "below the band, level settling", sample, values=values)

    def _note_organic(self, sample: Sample) -> None:
        """Add the organic traffic this sample shows (measured less generated) to the series, when the
        generated rate behind it is known: from the rate history over its window, or, without a window, when
        it is settled (no action since it began)."""
        s, p = self.state, self.params
        assert sample.qps is not None
        if s.organic_from is not None and sample.at < s.organic_from:
            return  # from before this try restored its traffic: what was generated then is unknown
        if sample.window_s:
            generated = mean_rate(s.rates, sample.at, sample.at + sample.window_s)
        elif s.last_action_at is None or sample.at >= s.last_action_at + self.settle_s:
            generated = s.buckets * p.bucket_qps
        else:
            return
        s.organic.append([sample.at, sample.qps - generated])
        cutoff = sample.at - self.trend_span_s
        while s.organic and s.organic[0][0] < cutoff:
            s.organic.pop(0)
        # Keep the rate in effect at the cutoff and every change after it.
        while len(s.rates) > 1 and s.rates[1][0] <= cutoff:
            s.rates.pop(0)

    def _rate_changed(self, now: float) -> None:
        self.state.rates.append([now + self.settle_s, self.state.buckets * self.params.bucket_qps])

    def organic_estimate(self, now: float) -> OrganicEstimate | None:
        """Organic traffic by the time a change made now lands (now + settle), from the organic series."""
        series = self.state.organic
        key = (now + self.settle_s, len(series), series[-1][0] if series else None)
        if self._estimate is None or self._estimate[0] != key:
            estimate = estimate_organic(
                series, key[0], recent_s=self.level_span_s, trend_s=self.trend_span_s, max_horizon_s=self.trend_span_s
            )
            self._estimate = (key, estimate)
        return self._estimate[1]

    def level(self, now: float) -> float | None:
        """The traffic level expected once a change made now lands: organic estimate + generated rate."""
        organic = self.organic_estimate(now)
        return None if organic is None else organic.level_qps + self.state.buckets * self.params.bucket_qps

    def noise_sigma(self, now: float) -> float | None:
        """The standard deviation of a sample around the level predicted for it.

        A sample scatters around the true level (the organic points' spread around their trend), and the
        predicted level itself misses the true one (the RMS step residual, the predicted level against the
        one measured at the next step, holds that error twice). None while there are too few organic
        points to measure the spread.
        """
        s = self.state
        organic = self.organic_estimate(now)
        if organic is None or organic.sigma_qps is None:
            return None
        variance = organic.sigma_qps**2
        if s.residual_n >= 3:
            variance += s.residual_ss / s.residual_n / 2
        return math.sqrt(variance)

    def margins(self, now: float) -> Margins:
        """How close to the watermarks the level may come (see `Margins`); before any noise estimate, half
        the threshold (a quarter above the low watermark)."""
        sigma = self.noise_sigma(now)
        if sigma is None:
            half = self.params.threshold_qps / 2
            return Margins(up=half, down=half, low=half / 2)
        return Margins(
            up=self.noise_sigmas * sigma, down=max(0.0, self.noise_sigmas - 1) * sigma, low=LOW_SIGMAS * sigma
        )

    def out_of_band_cost(self, level: float, sigma: float) -> float:
        """The expected share of samples out of band at this level, a sample above the band counting
        ABOVE_WEIGHT times one below it (samples normal around the level with this sigma)."""
        p = self.params
        below = _normal_cdf((p.low_watermark - level) / sigma)
        above = 1.0 - _normal_cdf((p.high_watermark - level) / sigma)
        return below + ABOVE_WEIGHT * above

    def _better_by_buckets(self, now: float, level: float, delta: int) -> bool:
        """Whether `delta` buckets more (or fewer) is expected to cost less out of band than staying; with no
        noise estimate yet, True (the margins alone decide)."""
        sigma = self.noise_sigma(now)
        if sigma is None or sigma <= 0:
            return True
        moved = level + delta * self.params.bucket_qps
        return self.out_of_band_cost(moved, sigma) < self.out_of_band_cost(level, sigma)

    def _since_action(self, now: float) -> float:
        return math.inf if self.state.last_action_at is None else now - self.state.last_action_at

    # --- hold accounting --------------------------------------------------------------------------------------
    def _count_hold(self, sample: Sample) -> None:
        s, p = self.state, self.params
        assert sample.qps is not None
        in_band = p.low_watermark <= sample.qps <= p.high_watermark
        if s.prev_usable_at is not None:
            span = sample.at - s.prev_usable_at
            # A longer gap between two usable samples is unknown traffic: neither in nor out of band.
            if 0 < span <= p.max_staleness_s:
                if in_band and s.prev_in_band:
                    s.in_band_s += span
                else:
                    s.out_of_band_s += span
        s.prev_usable_at, s.prev_in_band = sample.at, in_band

    # --- abort rules ------------------------------------------------------------------------------------------
    def _judge_rules(self, now: float, sample: Sample) -> tuple[AbortRule, RuleWindow] | None:
        s, p = self.state, self.params
        for rule in p.abort_rules:
            value = getattr(sample, rule.metric)
            if value is None:
                continue  # unknown: neither extends nor clears the run
            if value <= rule.limit:
                s.rule_windows.pop(rule.name, None)
                continue
            window = extend_run(s.rule_windows, rule.name, sample.at, value, sample.age(now), p.max_staleness_s)
            if sample.at - window.since >= rule.window_s:
                return rule, window
        return None

    def _abort_on_rule(self, now: float, sample: Sample, rule: AbortRule, window: RuleWindow) -> None:
        span = window.last_at - window.since
        shown = ", ".join(f"{v:g}" for v in window.values)
        ages = ", ".join(f"{a:.1f}" for a in window.ages_s)
        reason = (
            f"abort rule '{rule.name}' breached: {rule.metric} {shown} above {rule.limit:g} "
            f"over {span:.1f} s of samples (sample ages {ages} s)"
        )
        self._abort(
            now,
            reason,
            sample,
            gradual=rule.window_s > 0,
            values={
                "rule": rule.name,
                "metric": rule.metric,
                "breach_values": list(window.values),
                "breach_since": window.since,
                "breach_span_s": span,
                "sample_ages_s": list(window.ages_s),
            },
            thresholds={"limit": rule.limit, "window_s": rule.window_s},
        )

    # --- approval ---------------------------------------------------------------------------------------------
    @property
    def awaiting_approval(self) -> bool:
        """Whether the ramp waits for a human's answer (the runner then reads its ApprovalSource)."""
        s = self.state
        return s.phase == "awaiting_approval" or (s.phase == "paused" and s.paused_phase == "awaiting_approval")

    def _answer_approval(self, now: float, answer: Approval) -> None:
        """Act on a human's answer at the approval point; an answer given before the ramp asked is stale."""
        s, p = self.state, self.params
        if not self.awaiting_approval or s.approval_requested_at is None:
            return
        if answer.at is not None and answer.at < s.approval_requested_at:
            return
        point = describe_point(p.approve_before or HOLD)
        values = {"approval_by": answer.by, "approval_at": answer.at, "approval_comment": answer.comment}
        if not answer.approved:
            self._end(now, "terminated", "terminate", f"{answer.describe()} at the approval before {point}", None,
                      values=values)
            return
        s.approval = answer.to_json()
        if s.phase == "paused":
            s.paused_phase = "ramping"
        else:
            s.phase = "ramping"
        # The traffic stood still while the human looked: the next step waits its interval from now.
        s.last_action_at = now
        self._decide(now, "approved", f"{answer.describe()}: going on to {point}", None, values=values)

    def _stop_for_approval(self, now: float, point: str, sample: Sample, values: dict[str, Any]) -> bool:
        """At the approval point without an approval: hold the traffic and ask (True: stopped here)."""
        s, p = self.state, self.params
        if p.approve_before != point or s.approval is not None:
            return False
        s.phase = "awaiting_approval"
        s.approval_requested_at = now
        s.prev_usable_at = None
        self._decide(
            now,
            "approval_requested",
            f"waiting for a human's approval before {describe_point(point)}: traffic held at "
            f"{s.buckets * p.bucket_qps:g} QPS generated (measured {sample.qps:.1f}); terminated if not approved "
            f"within {p.approval_timeout_s:g} s",
            sample,
            values=values,
            thresholds={"approval_timeout_s": p.approval_timeout_s},
        )
        return True

    def _wait_for_approval(self, now: float, sample: Sample | None) -> None:
        s, p = self.state, self.params
        asked = s.approval_requested_at if s.approval_requested_at is not None else now
        if now - asked > p.approval_timeout_s:
            self._end(
                now,
                "terminated",
                "terminate",
                f"no approval before {describe_point(p.approve_before or HOLD)} within approval_timeout_s "
                f"{p.approval_timeout_s:g} s",
                sample,
                thresholds={"approval_timeout_s": p.approval_timeout_s},
            )
            return
        self._wait(
            now,
            "awaiting_approval",
            f"awaiting approval before {describe_point(p.approve_before or HOLD)} "
            f"({now - asked:.0f} of {p.approval_timeout_s:g} s): traffic held, no steps",
            sample,
        )

    # --- control ----------------------------------------------------------------------------------------------
    def _apply_control(self, now: float, record: ControlRecord, sample: Sample | None) -> None:
        s = self.state
        s.applied_control_seq = record.seq
        values = {"control_seq": record.seq, "control_by": record.by, "control_at": record.at}
        if record.action == "terminate":
            self._end(now, "terminated", "terminate", f"terminated ({record.describe()})", sample, values=values)
        elif s.phase == "draining":
            self._wait(
                now,
                "control_ignored",
                f"{record.describe()} ignored: the ramp is draining after an abort",
                sample,
                values=values,
            )
        elif record.action == "pause":
            if s.phase == "paused":
                self._wait(
                    now, "control_ignored", f"{record.describe()} ignored: already paused", sample, values=values
                )
                return
            s.paused_phase, s.phase = s.phase, "paused"
            s.prev_usable_at = None
            self._decide(now, "pause", f"paused ({record.describe()}); traffic held", sample, values=values)
        else:
            if s.phase != "paused":
                self._wait(now, "control_ignored", f"{record.describe()} ignored: not paused", sample, values=values)
                return
            s.phase, s.paused_phase = s.paused_phase or "ramping", None
            s.prev_usable_at = None
            self._decide(now, "resume", f"resumed ({record.describe()})", sample, values=values)

    # --- beginnings and ends ----------------------------------------------------------------------------------
    def _begin(self, now: float) -> None:
        s, p = self.state, self.params
        s.tries += 1
        s.try_started_at = now
        s.last_usable_seen_at = now
        thresholds = self._thresholds()
        if s.started_at is None:
            s.started_at = now
            self._decide(
                now,
                "start",
                f"ramp to {p.target_qps:g} QPS in stages "
                f"{', '.join(f'{x:g}' for x in p.stages)}, band [{p.low_watermark:g}, {p.high_watermark:g}]",
                None,
                values={"organic_qps": p.organic_qps, "bucket_qps": p.bucket_qps},
                thresholds=thresholds,
            )
            return
        if s.phase == "done":
            return
        if s.phase == "draining":
            # The try that was draining is gone, and with it its load: this try starts at 0. The abort stands.
            self._drain_now(now, "aborted", s.end_reason, None, why=f"abort; try {s.tries} found it draining")
            return
        base, why = s.buckets, f"resumed from a checkpoint (try {s.tries})"
        if s.phase in ("aborted", "terminated"):
            base, why = s.drained_from, f"cleared after it {s.phase} ({s.end_reason}); starting again (try {s.tries})"
            s.phase, s.end_reason, s.ended_at = "ramping", "", None
            s.approval_requested_at = None
        if s.phase == "holding":
            s.phase = "ramping"  # holding again once a settled sample is back in band
        if s.paused_phase == "holding":
            s.paused_phase = "ramping"
        # Organic traffic may have moved while the ramp was away: the last stage comes back one group below
        # where it was and approaches the band from below again.
        last_stage = s.stage == len(p.stages)
        restore = max(0, base - p.bucket_group) if last_stage else base
        before = s.buckets
        s.buckets = restore
        s.last_action_at = now
        s.predicted_qps = None
        s.rates = []
        self._rate_changed(now)
        s.organic_from = s.rates[0][0]
        s.prev_usable_at = None
        s.rule_windows = {}
        s.last_wait_kind = None
        self._decide(
            now,
            "start",
            f"{why}: stage {s.stage}, {restore} bucket(s) ({s.in_band_s:.0f} s of the hold already in band)",
            None,
            buckets_before=before,
            values={"buckets_checkpointed": base},
            thresholds=thresholds,
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
    ) -> None:
        self._decide(now, action, reason, sample, values=values, thresholds=thresholds)
        self._drain_now(now, phase, reason, sample, why=action)

    def _abort(
        self,
        now: float,
        reason: str,
        sample: Sample | None,
        *,
        gradual: bool,
        values: dict[str, Any] | None = None,
        thresholds: dict[str, Any] | None = None,
    ) -> None:
        """Abort: drain at once, or over abort_drain_s when the spec asks for it and the cause allows it."""
        s, p = self.state, self.params
        if not gradual or p.abort_drain_s <= 0 or s.buckets == 0:
            self._end(now, "aborted", "abort", reason, sample, values=values, thresholds=thresholds)
            return
        self._decide(
            now,
            "abort",
            f"{reason}; draining over {p.abort_drain_s:g} s",
            sample,
            values=values,
            thresholds={**(thresholds or {}), "abort_drain_s": p.abort_drain_s},
        )
        s.phase = "draining"
        s.end_reason = reason
        s.drain_started_at = now
        s.drain_start_buckets = s.buckets
        s.paused_phase = None
        self._drain_tick(now, sample)

    def _drain_tick(self, now: float, sample: Sample | None) -> None:
        """Lower the traffic along a straight line from where the abort found it to 0 at abort_drain_s."""
        s, p = self.state, self.params
        assert s.drain_started_at is not None
        elapsed = now - s.drain_started_at
        wanted = math.ceil(s.drain_start_buckets * max(0.0, 1.0 - elapsed / p.abort_drain_s) - 1e-9)
        if wanted <= 0:
            self._drain_now(now, "aborted", s.end_reason, sample, why=f"abort, gradually over {p.abort_drain_s:g} s")
        elif wanted < s.buckets:
            before = s.buckets
            s.buckets = wanted
            s.last_action_at = now
            s.predicted_qps = None
            self._rate_changed(now)
            self._decide(
                now,
                "drain_step",
                f"abort drain: {before} -> {wanted} bucket(s), {elapsed:.0f} of {p.abort_drain_s:g} s",
                sample,
                buckets_before=before,
                thresholds={"abort_drain_s": p.abort_drain_s},
            )

    def _drain_now(self, now: float, phase: Phase, reason: str, sample: Sample | None, *, why: str) -> None:
        """Generated traffic to 0 at once; the ramp ends in `phase`."""
        s = self.state
        # Where a cleared task starts again from: the traffic before the drain, not a step of it.
        s.drained_from = s.drain_start_buckets if s.phase == "draining" else s.buckets
        before = s.buckets
        s.buckets = 0
        s.phase = phase
        s.end_reason = reason
        s.ended_at = now
        s.last_action_at = now
        s.predicted_qps = None
        self._rate_changed(now)
        self._decide(now, "drain", f"drain: generated traffic to 0 ({why})", sample, buckets_before=before)

    def _hard_breach(self, sample: Sample | None) -> AbortRule | None:
        """The first hard-limit rule (window 0) this sample breaks, if any."""
        if sample is None:
            return None
        for rule in self.params.abort_rules:
            value = getattr(sample, rule.metric)
            if rule.window_s == 0 and value is not None and value > rule.limit:
                return rule
        return None

    def _step(self, now: float, delta: int, reason: str, sample: Sample, values: dict[str, Any], level: float) -> None:
        s = self.state
        before = s.buckets
        s.buckets = max(0, s.buckets + delta)
        self._rate_changed(now)
        s.last_action_at = now
        if s.predicted_qps is not None:
            s.residual_ss += (level - s.predicted_qps) ** 2
            s.residual_n += 1
        s.predicted_qps = level + (s.buckets - before) * self.params.bucket_qps
        self._decide(now, "step_up" if delta > 0 else "step_down", reason, sample, buckets_before=before, values=values)

    # --- records ----------------------------------------------------------------------------------------------
    def _thresholds(self) -> dict[str, Any]:
        p = self.params
        return {"target_qps": p.target_qps, "low_watermark": p.low_watermark, "high_watermark": p.high_watermark}

    def _standing_thresholds(self) -> dict[str, Any]:
        return self._thresholds()  # every decision carries the target and the watermarks

    def _result(self) -> TickResult:
        return TickResult.of(self.state, self.state.buckets * self.params.bucket_qps, self._new)


def _normal_cdf(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))
