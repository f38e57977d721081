"""Organic traffic as the ramp can know it: the measured rate less its own, its trend, and its noise.

A sample shows organic and generated traffic together. The controller knows what it generated while a
settled sample was measured (no action since), so each such sample gives a point (at, organic QPS).
Organic traffic does not care about the ramp's steps, so the points of every traffic level make one
series; averaging a span of it measures the level far better than the last sample alone, and its trend
extrapolated over the metric lag says where the traffic will be when the next step lands (a drifting
baseline is what a lagging pipeline hides).

The noise a single sample carries is measured by the semivariogram: half the typical squared difference of
points `h` seconds apart, for a few `h`, the largest kept. The plain spread of the points around their
mean would underestimate it: a source's windows overlap (a 10 s rate read every second), so
neighbouring points share most of their traffic and scatter far less than samples a window apart do.

Both spreads leave out outliers first: a real source dates a step a second or two off the controller's
record of it, so the few points around each step carry the step's size as spurious "organic" traffic.
Squared, a handful of those made a noiseless 60 QPS stack look as noisy as a third of its band. A
point further than OUTLIER_SIGMAS robust sigmas (from the median absolute deviation) is dropped, and
the rest is measured as usual (a median alone would do, but scatters more: the 30 s delay bench lost
its 95 % in band with it).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

# Fewer points than this: no trend and no noise estimate (a line through a handful of correlated samples
# says more about the noise than about the trend).
MIN_TREND_POINTS = 10
# Distances (seconds of sample time) the semivariogram is measured at, and the pairs each needs.
NOISE_LAGS_S = (10.0, 20.0, 40.0)
MIN_PAIRS = 5
# For normal errors: the median absolute deviation is 0.6745 sigma; the median of a squared N(0, 1) is 0.4549.
MAD_PER_SIGMA = 0.6745
MEDIAN_CHI2_1 = 0.4549
# Points further than this from the centre, in robust sigmas, are outliers (a normal puts 0.006 % there).
OUTLIER_SIGMAS = 4.0


@dataclass(frozen=True)
class OrganicEstimate:
    level_qps: float  # organic QPS predicted at the horizon asked for
    mean_qps: float  # mean of the recent points
    slope_qps_per_s: float  # trend over the longer span (0 when the history is too short)
    horizon_s: float  # how far the mean was extrapolated
    sigma_qps: float | None  # the noise of a single sample; None with too few points
    points: int


def estimate_organic(
    points: Sequence[Sequence[float]],
    at: float,
    *,
    recent_s: float = 20.0,
    trend_s: float = 120.0,
    max_horizon_s: float = 120.0,
) -> OrganicEstimate | None:
    """Organic traffic at time `at` from `points` [(sample at, organic QPS), ...] in time order; None if empty.

    The level is the mean of the points of the last `recent_s` (sample time) plus the trend of the last
    `trend_s` times the distance from those points to `at` (at most `max_horizon_s`). The trend counts only
    once the points cover half of `trend_s`.
    """
    if not points:
        return None
    newest = points[-1][0]
    window = [(t, q) for t, q in points if t >= newest - trend_s]
    recent = [(t, q) for t, q in window if t >= newest - recent_s] or window[-1:]
    mean_t = sum(t for t, _ in recent) / len(recent)
    mean_q = sum(q for _, q in recent) / len(recent)

    horizon = min(max(0.0, at - mean_t), max_horizon_s)
    slope, sigma = 0.0, None
    if len(window) >= MIN_TREND_POINTS:
        wt = sum(t for t, _ in window) / len(window)
        wq = sum(q for _, q in window) / len(window)
        sxx = sum((t - wt) ** 2 for t, _ in window)
        covers_enough = window[-1][0] - window[0][0] >= trend_s / 2
        if covers_enough and sxx > 0:
            slope = sum((t - wt) * (q - wq) for t, q in window) / sxx
        residuals = [q - (wq + slope * (t - wt)) for t, q in window]
        centre = _median(residuals)
        limit = OUTLIER_SIGMAS * _median([abs(r - centre) for r in residuals]) / MAD_PER_SIGMA
        kept = [r for r in residuals if abs(r - centre) <= limit]
        dof = len(kept) - (2 if slope else 1)
        variances = [sum(r * r for r in kept) / dof if dof > 0 else 0.0]
        # At the horizon too: how far traffic wanders, beyond its trend, in as long as the prediction reaches.
        lags = sorted({*NOISE_LAGS_S, round(max(horizon, NOISE_LAGS_S[0]))})
        variances += [v for h in lags if (v := _semivariance(window, h)) is not None]
        sigma = math.sqrt(max(variances))
    return OrganicEstimate(
        level_qps=mean_q + slope * horizon,
        mean_qps=mean_q,
        slope_qps_per_s=slope,
        horizon_s=horizon,
        sigma_qps=sigma,
        points=len(window),
    )


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _semivariance(points: Sequence[tuple[float, float]], h: float) -> float | None:
    """Half the mean squared difference of points about `h` seconds apart (the first point at or after
    t + h, if within a quarter of h), outliers left out; None with fewer than MIN_PAIRS pairs."""
    squares, j, n = [], 0, len(points)
    for t, q in points:
        # Points are in time order, so the partner of the next point is never before this one's.
        while j < n and points[j][0] < t + h:
            j += 1
        if j == n:
            break
        if points[j][0] - t <= h * 1.25:
            squares.append((points[j][1] - q) ** 2)
    if len(squares) < MIN_PAIRS:
        return None
    # A difference of two normal points: its square's median is MEDIAN_CHI2_1 times its variance.
    limit = OUTLIER_SIGMAS**2 * _median(squares) / MEDIAN_CHI2_1
    kept = [d for d in squares if d <= limit]
    return sum(kept) / len(kept) / 2


def mean_rate(changes: Sequence[Sequence[float]], start: float, end: float) -> float:
    """The time-weighted mean over [start, end] of a rate given as changes [(effective from, rate), ...] in
    time order (0 before the first); the rate at `start` when the span is empty."""

    def rate_at(t: float) -> float:
        i = bisect.bisect_right([c[0] for c in changes], t) - 1
        return changes[i][1] if i >= 0 else 0.0

    if end <= start:
        return rate_at(start)
    total, t, rate = 0.0, start, rate_at(start)
    for effective, new_rate in changes:
        if effective <= start:
            continue
        if effective >= end:
            break
        total += rate * (effective - t)
        t, rate = effective, new_rate
    total += rate * (end - t)
    return total / (end - start)
