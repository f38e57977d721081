"""LocustSource: differencing cumulative counters into windowed samples (no Locust running)."""

from __future__ import annotations

import pytest

from loadstack.locust.master_api import Counters, LocustMasterError
from loadstack.metrics.locust import (
    REPORT_INTERVAL_S,
    LocustSource,
    Snapshot,
    histogram_quantile,
    window_sample,
)


def snap(at, requests, failures=0, histogram=None, epoch=1):
    return Snapshot(
        complete_at=at,
        report_at=at,
        stats_epoch=epoch,
        requests=requests,
        failures=failures,
        histogram=histogram or {},
    )


def test_histogram_quantile_nearest_rank():
    hist = {2: 50, 10: 45, 120: 4, 900: 1}  # 100 requests
    assert histogram_quantile(hist, 0.50) == 2.0
    assert histogram_quantile(hist, 0.51) == 10.0
    assert histogram_quantile(hist, 0.95) == 10.0
    assert histogram_quantile(hist, 0.99) == 120.0
    assert histogram_quantile(hist, 1.0) == 900.0
    assert histogram_quantile({}, 0.5) is None


def test_window_sample_differences_rate_errors_and_latency():
    older = snap(100.0, 1000, 10, {5: 900, 50: 100})
    newer = snap(112.0, 1000 + 1200, 10 + 24, {5: 900 + 1000, 50: 100 + 140, 400: 60})
    sample = window_sample(older, newer, taken_at=113.5)
    assert sample.qps == pytest.approx(100.0)
    assert sample.error_ratio == pytest.approx(0.02)
    assert (sample.p50_ms, sample.p95_ms, sample.p99_ms) == (5.0, 50.0, 400.0)
    assert sample.at == 100.0 and sample.taken_at == 113.5 and sample.window_s == 12.0


def test_a_window_without_requests_is_zero_qps_and_unknown_health():
    sample = window_sample(snap(100.0, 500, 3, {5: 500}), snap(111.0, 500, 3, {5: 500}), taken_at=112)
    assert sample.qps == 0.0 and sample.has_data
    assert sample.error_ratio is None and sample.p50_ms is None and sample.p99_ms is None


def test_window_sample_refuses_mixed_epochs_and_backwards_counters():
    with pytest.raises(ValueError, match="reset"):
        window_sample(snap(100, 10, epoch=1), snap(111, 20, epoch=2), taken_at=112)
    with pytest.raises(ValueError, match="went down"):
        window_sample(snap(100, 10), snap(111, 5), taken_at=112)
    with pytest.raises(ValueError, match="later"):
        window_sample(snap(100, 10), snap(100, 20), taken_at=112)


class FakeMaster:
    """A master whose worker reports every 3 s, sending `rate` requests per second (1 ms each)."""

    def __init__(self, rate=50.0, clock_offset=0.0):
        self.rate = rate
        self.clock_offset = clock_offset  # the master's clock minus ours
        self.epoch = 1
        self.base = 0  # requests before the current epoch's start, for resets
        self.requests_at_last_report = 0
        self.report_at = None
        self.now = 0.0
        self.down = False

    def advance(self, now):
        """Our clock moves to `now`; reports happen at multiples of the report interval."""
        while (self.report_at or 0) + REPORT_INTERVAL_S <= now:
            self.report_at = (self.report_at or 0) + REPORT_INTERVAL_S
            self.requests_at_last_report += round(self.rate * REPORT_INTERVAL_S)
        self.now = now

    def read(self, url):
        if self.down:
            raise LocustMasterError(f"Locust master {url}/loadstack/counters did not answer")
        n = self.requests_at_last_report
        return Counters(
            time=self.now + self.clock_offset,
            complete_at=None if self.report_at is None else self.report_at + self.clock_offset,
            last_report_at=None if self.report_at is None else self.report_at + self.clock_offset,
            stats_epoch=self.epoch,
            requests=n,
            failures=n // 100,
            histogram={1: n},
            workers=1,
        )


def reading(master, source, now):
    master.advance(now)
    return source.read(now)


def test_source_waits_for_a_full_window_then_slides():
    master = FakeMaster(rate=50)
    source = LocustSource(url="http://m", window_s=10, read_counters=master.read)
    assert reading(master, source, 1.0) is None  # no report yet
    assert "reported" in source.last_problem
    assert reading(master, source, 4.0) is None  # the report at 3: nothing to difference yet
    assert "needs 10 s" in source.last_problem
    for now in (7.0, 10.0, 13.0):  # reports at 6, 9, 12: window 3 -> 12 is only 9 s
        assert reading(master, source, now) is None
    sample = reading(master, source, 16.5)  # the report at 15: window 3 -> 15
    assert sample.qps == pytest.approx(50.0)
    assert sample.error_ratio == pytest.approx(0.01, abs=0.002)
    assert sample.p99_ms == 1.0
    assert sample.at == 3.0 and sample.taken_at == 16.5
    assert source.last_window == (3.0, 15.0)
    assert sample.age(16.5) == pytest.approx(13.5)
    assert source.lag_s == 10 + REPORT_INTERVAL_S
    # the next report slides the window by one report, keeping it >= 10 s
    master.rate = 110
    sample = reading(master, source, 19.0)
    assert sample.at == 6.0
    assert sample.qps == pytest.approx((50 * 9 + 110 * 3) / 12)
    # reads further apart than a report see a longer window, never a shorter one
    sample = reading(master, source, 30.0)  # the report at 30; the previous read saw 18
    assert sample.at == 18.0 and sample.qps == pytest.approx(110)


def test_rates_are_exact_however_reads_fall_between_reports():
    master = FakeMaster(rate=80)
    source = LocustSource(url="http://m", window_s=10, read_counters=master.read)
    samples = [reading(master, source, t / 10) for t in range(0, 600, 7)]  # reads every 0.7 s
    rates = {round(s.qps, 9) for s in samples if s is not None}
    assert rates == {80.0}


def test_master_clock_skew_does_not_change_ages():
    master = FakeMaster(rate=20, clock_offset=-3600.0)  # the master's clock is an hour behind ours
    source = LocustSource(url="http://m", window_s=10, read_counters=master.read)
    for t in (1, 4, 7, 10, 13, 16):
        sample = reading(master, source, t + 0.5)
    assert sample.at == pytest.approx(3.0)
    assert sample.qps == pytest.approx(20.0)


def test_a_stats_reset_restarts_the_window():
    master = FakeMaster(rate=30)
    source = LocustSource(url="http://m", window_s=10, read_counters=master.read)
    for t in range(1, 20):
        reading(master, source, t)
    assert reading(master, source, 20.0) is not None
    master.epoch, master.requests_at_last_report = 2, 0  # Locust cleared its stats
    assert reading(master, source, 21.5) is None
    assert reading(master, source, 30.0) is None  # 21 -> 30: still under 10 s of the new epoch
    sample = reading(master, source, 33.5)
    assert sample is not None and sample.at >= 21.0 and sample.qps == pytest.approx(30.0)


def test_counters_going_down_in_one_epoch_count_as_a_reset():
    master = FakeMaster(rate=30)
    source = LocustSource(url="http://m", window_s=10, read_counters=master.read)
    for t in range(1, 17):
        reading(master, source, t)
    master.requests_at_last_report = 5
    assert reading(master, source, 18.5) is None


def test_a_master_that_does_not_answer_gives_no_sample_and_says_why():
    master = FakeMaster()
    source = LocustSource(url="http://m", window_s=10, read_counters=master.read)
    master.down = True
    assert reading(master, source, 5) is None
    assert "did not answer" in source.last_problem


def test_a_stale_master_keeps_the_last_window_whose_age_grows():
    master = FakeMaster(rate=40)
    source = LocustSource(url="http://m", window_s=10, read_counters=master.read)
    for t in range(1, 17):
        sample = reading(master, source, t)
    master.advance(16)
    frozen = master.read("http://m")
    later = source._read_counters
    source._read_counters = lambda url: Counters(**{**frozen.__dict__, "time": 60.0})
    stale = source.read(60.0)
    source._read_counters = later
    assert stale.at == sample.at and stale.age(60.0) > 45


def test_window_must_cover_several_reports():
    with pytest.raises(ValueError, match="window_s >= 10"):
        LocustSource(url="http://m", window_s=5)


def test_reading_after_close_is_an_error():
    source = LocustSource(url="http://m", read_counters=FakeMaster().read)
    source.close()
    with pytest.raises(RuntimeError, match="closed"):
        source.read(1.0)
