"""Synthetic ramp timelines for the report's tests: a small deterministic controller over a noisy plant.

Not the real controller (another module's job): just enough to produce what a real ramp leaves, in
the same vocabulary — a start, group jumps through stages 1 and 2, single buckets into the band in
stage 3, a hold that counts only in-band samples, a wait at every other tick — and, on request, a
pause and resume, or an error burst that an abort rule catches, followed by a drain.
"""

from __future__ import annotations

import math
import random

import pytest

from loadstack.ramp.params import AbortRule, RampParams
from loadstack.ramp.samples import Sample
from loadstack.ramp.timeline import Decision, Timeline

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z

PARAMS = RampParams(
    target_qps=300.0,
    threshold_qps=15.0,
    bucket_qps=10.0,
    bucket_group=5,
    group_interval_s=20.0,
    bucket_interval_s=10.0,
    hold_s=120.0,
    max_staleness_s=30.0,
    abort_rules=(
        AbortRule("error_ratio", 0.05, 30.0),
        AbortRule("p95_ms", 800.0, 60.0),
        AbortRule("p99_ms", 2000.0, 0.0),
    ),
)


def ramp_timeline(
    params: RampParams = PARAMS,
    *,
    lag_s: float = 5.0,
    every_s: float = 1.0,
    burst_at_s: float | None = None,
    pause_at_s: float | None = None,
    pause_for_s: float = 30.0,
    noise_qps: float = 2.0,
    seed: int = 7,
) -> Timeline:
    """A ramp from T0: done after its hold, or aborted by the error-ratio rule after `burst_at_s`."""
    rng = random.Random(seed)
    timeline = Timeline()
    rates: list[tuple[float, float]] = [(T0, 0.0)]  # (from, generated rate)
    stage, buckets, last_action, holding, held = 1, 0, T0, False, 0.0
    breach_since: float | None = None
    paused = False
    stage_buckets = [math.floor(f * params.target_qps / params.bucket_qps) for f in params.stages]
    low, high = params.low_watermark, params.high_watermark
    rule = next(r for r in params.abort_rules if r.metric == "error_ratio")

    def rate_at(moment: float) -> float:
        return next(rate for since, rate in reversed(rates) if since <= moment - 1.0) if moment - 1.0 >= T0 else 0.0

    def decide(at: float, action: str, reason: str, after: int, sample: Sample | None) -> None:
        nonlocal buckets, last_action
        values = (
            {}
            if sample is None
            else {
                "qps": sample.qps,
                "error_ratio": sample.error_ratio,
                "p95_ms": sample.p95_ms,
                "p99_ms": sample.p99_ms,
            }
        )
        timeline.decisions.append(
            Decision(
                at=at,
                action=action,
                reason=reason,
                stage=stage,
                buckets_before=buckets,
                buckets_after=after,
                rate_qps=after * params.bucket_qps,
                values=values,
                thresholds={"low": low, "high": high, "stage_target": stage_buckets[stage - 1] * params.bucket_qps},
                sample_at=None if sample is None else sample.at,
                sample_age_s=None if sample is None else at - sample.at,
            )
        )
        if after != buckets:
            rates.append((at, after * params.bucket_qps))
            last_action = at
        buckets = after

    decide(T0, "start", "all gates passed", 0, None)
    t = T0
    while True:
        t += every_s
        at = t - lag_s
        sent = rate_at(at) + params.organic_qps
        qps = max(0.0, sent + rng.gauss(0.0, noise_qps)) if sent else None  # no traffic: no data
        burst = burst_at_s is not None and at >= T0 + burst_at_s
        p50 = 12.0 + 0.02 * (qps or 0.0) + rng.uniform(0.0, 2.0)
        sample = Sample(
            at=at,
            taken_at=t,
            qps=qps,
            error_ratio=None if qps is None else 0.2 if burst else 0.002,
            p50_ms=None if qps is None else p50,
            p95_ms=None if qps is None else 3 * p50,
            p99_ms=None if qps is None else (15 if burst else 5) * p50,
        )
        timeline.samples.append(sample)
        fresh = at >= last_action + 1.0 and (qps is not None or buckets == 0)
        if sample.error_ratio is not None and sample.error_ratio > rule.limit:
            breach_since = at if breach_since is None else breach_since
        else:
            breach_since = None
        if breach_since is not None and at - breach_since >= rule.window_s:
            decide(
                t, "abort", f"{rule.name}: {sample.error_ratio:.3f} since {at - breach_since:.0f} s", buckets, sample
            )
            decide(t, "drain", "abort drains the generated traffic", 0, sample)
            for _ in range(int(20 / every_s)):  # the drain as monitoring sees it
                t += every_s
                timeline.samples.append(Sample(at=t - lag_s, taken_at=t, qps=rate_at(t - lag_s) or None))
            return timeline
        if pause_at_s is not None and not paused and t >= T0 + pause_at_s:
            paused = True
            decide(t, "pause", "paused by admin through `loadstack ramp pause`", buckets, sample)
            continue
        if paused:
            if t >= T0 + pause_at_s + pause_for_s:
                paused, pause_at_s = False, None
                decide(t, "resume", "resumed by admin", buckets, sample)
            else:
                decide(t, "wait", "paused", buckets, sample)
            continue
        if not fresh:
            decide(t, "wait", f"sample from {at - T0:.0f} s predates the last action", buckets, sample)
            continue
        if stage < len(params.stages):
            target = stage_buckets[stage - 1]
            if t - last_action < params.group_interval_s and buckets:
                decide(t, "wait", "group interval not over", buckets, sample)
            elif buckets < target:
                decide(
                    t,
                    "step_up",
                    f"stage {stage}: +{min(params.bucket_group, target - buckets)} buckets",
                    min(buckets + params.bucket_group, target),
                    sample,
                )
            else:
                decide(t, "stage_reached", f"stage {stage} reached at {qps:.1f} QPS", buckets, sample)
                stage += 1
            continue
        if t - last_action < params.bucket_interval_s:
            decide(t, "wait", "bucket interval not over", buckets, sample)
        elif qps < low and not holding:
            decide(t, "step_up", f"{qps:.1f} QPS below the low watermark {low:g}", buckets + 1, sample)
        elif qps > high:
            decide(t, "step_down", f"{qps:.1f} QPS above the high watermark {high:g}", buckets - 1, sample)
        elif not holding and low <= qps:
            decide(t, "stage_reached", f"stage {stage}: in band at {qps:.1f} QPS", buckets, sample)
            decide(t, "hold_started", f"in band at {qps:.1f} QPS; holding {params.hold_s:g} s", buckets, sample)
            holding = True
        elif holding:
            held += every_s if low <= qps <= high else 0.0
            if held >= params.hold_s:
                decide(t, "done", f"held {held:.0f} s in band", buckets, sample)
                decide(t, "drain", "the ramp is over", 0, sample)
                return timeline
            decide(t, "wait", f"holding: {held:.0f} of {params.hold_s:g} s in band", buckets, sample)
        else:
            decide(t, "wait", "nothing to do", buckets, sample)


@pytest.fixture(scope="session")
def params() -> RampParams:
    return PARAMS


# Session-wide: timelines are read, never changed, by the tests; charts take ~0.4 s each to draw here.
@pytest.fixture(scope="session")
def done_timeline() -> Timeline:
    return ramp_timeline(pause_at_s=60.0)


@pytest.fixture(scope="session")
def aborted_timeline() -> Timeline:
    return ramp_timeline(burst_at_s=170.0)


@pytest.fixture(scope="session")
def done_charts(params, done_timeline) -> dict[str, bytes]:
    from loadstack.report.charts import render_charts

    return render_charts(params, done_timeline)


@pytest.fixture(scope="session")
def aborted_charts(params, aborted_timeline) -> dict[str, bytes]:
    from loadstack.report.charts import render_charts

    return render_charts(params, aborted_timeline)
