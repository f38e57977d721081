"""loadstack.ramp.estimate: organic traffic's level, trend and noise from a series of points, and the mean of a
rate over a window."""

from __future__ import annotations

import random

import pytest

from loadstack.ramp.estimate import estimate_organic, mean_rate


def test_the_mean_rate_weighs_each_rate_by_its_time():
    changes = [[10.0, 100.0], [15.0, 200.0], [30.0, 50.0]]
    assert mean_rate(changes, 10.0, 20.0) == 150.0
    assert mean_rate(changes, 5.0, 15.0) == 50.0  # nothing before the first change
    assert mean_rate(changes, 25.0, 35.0) == 125.0
    assert mean_rate(changes, 40.0, 40.0) == 50.0
    assert mean_rate([], 0.0, 10.0) == 0.0


def test_no_points_no_estimate():
    assert estimate_organic([], 100.0) is None


def test_a_steady_series_is_its_mean():
    estimate = estimate_organic([[float(t), 200.0] for t in range(60)], 100.0)
    assert estimate.level_qps == 200.0 and estimate.slope_qps_per_s == 0.0 and estimate.sigma_qps == 0.0


def test_a_trend_is_extrapolated_to_the_time_asked_for():
    points = [[float(t), 100.0 + 0.5 * t] for t in range(121)]
    estimate = estimate_organic(points, 150.0, recent_s=20.0, trend_s=120.0)
    assert estimate.slope_qps_per_s == pytest.approx(0.5)
    assert estimate.horizon_s == pytest.approx(40.0)  # from the recent points' mean time (110) to 150
    assert estimate.level_qps == pytest.approx(100.0 + 0.5 * 150.0)


def test_a_short_history_has_no_trend_and_no_noise_estimate():
    estimate = estimate_organic([[float(t), 100.0 + t] for t in range(5)], 10.0)
    assert estimate.slope_qps_per_s == 0.0 and estimate.sigma_qps is None and estimate.level_qps == 102.0


def test_the_noise_of_overlapping_windows_is_not_underestimated():
    # A 10 s moving average read every second (a rate() window): neighbours share 9 of their 10 seconds.
    rng = random.Random(3)
    seconds = [rng.gauss(0.0, 30.0) for _ in range(400)]
    windows = [sum(seconds[i : i + 10]) / 10 for i in range(390)]
    points = [[float(t), 500.0 + q] for t, q in enumerate(windows)]
    true_sigma = 30.0 / 10**0.5
    # The spread around the mean of short spans (a traffic level between two steps) underestimates it.
    blocks = [windows[i : i + 20] for i in range(150, 390, 20)]
    naive = (sum(sum((q - sum(b) / 20) ** 2 for q in b) for b in blocks) / (19 * len(blocks))) ** 0.5
    estimate = estimate_organic(points, 400.0, trend_s=240.0)
    assert naive < 0.85 * true_sigma
    assert estimate.sigma_qps == pytest.approx(true_sigma, rel=0.25)


def test_the_few_points_around_each_step_are_outliers_not_noise():
    # A steady 0 QPS of organic traffic, but the source dates each step (every 15 s) a second or two off the
    # controller's record, so the points just after it carry part of the step.
    rng = random.Random(5)
    points = []
    for t in range(240):
        since_step = t % 15
        spike = {0: 13.0, 1: 8.0, 2: 3.0}.get(since_step, 0.0)
        points.append([float(t), spike + rng.gauss(0.0, 0.5)])
    estimate = estimate_organic(points, 240.0, trend_s=240.0)
    assert estimate.sigma_qps < 2.0  # with every point squared in, the spikes made it 4.1
