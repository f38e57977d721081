"""loadstack.metrics.prometheus.PrometheusSource against a real Prometheus scraping a real exporter.

A step change of traffic (idle -> 100 rps, 10 % errors, 20 ms) must show in the samples no later than
the source's stated lag, and every sample whose `at` is after the step must reflect the new traffic
fully: that is the promise a controller relies on to never act on traffic it has already changed.
"""

from __future__ import annotations

import time

import pytest

from loadstack.metrics.prometheus import PrometheusQueries, PrometheusSource
from loadstack.prometheus.query import PrometheusQueryError
from loadstack.supervisor import free_port

pytestmark = pytest.mark.integration

WINDOW_S = 4.0
QPS = 100.0


def _poll(source: PrometheusSource, until: float) -> list:
    samples = []
    while time.time() < until:
        sample = source.read(time.time())
        assert sample is not None, source.last_error
        samples.append(sample)
        time.sleep(0.25)
    return samples


def _first(source: PrometheusSource, condition, timeout: float):
    """The first sample meeting `condition` (a rate needs two scrapes in its window before it is a number)."""
    deadline = time.time() + timeout
    while True:
        sample = source.read(time.time())
        if sample is not None and condition(sample):
            return sample
        if time.time() > deadline:
            pytest.fail(f"no sample met the condition within {timeout} s; last: {sample}, {source.last_error}")
        time.sleep(0.25)


def test_a_step_of_traffic_shows_within_the_stated_lag(prometheus, exporter):
    source = PrometheusSource(url=prometheus.url, queries=PrometheusQueries.for_app(WINDOW_S), scrape_interval_s=1.0)
    try:
        assert source.lag_s == WINDOW_S + 1.0
        idle = _first(source, lambda s: s.qps is not None, timeout=WINDOW_S + 3)
        # The series exist but nothing was served: a rate of 0, quantiles and error ratio unknown (NaN).
        assert idle.qps == 0.0 and idle.p99_ms is None and idle.error_ratio is None, idle

        exporter.set(qps=QPS, errors=0.1, latency=0.02)
        step = time.time()
        samples = _poll(source, step + source.lag_s + 2.5)
    finally:
        source.close()

    reached = next(s.taken_at - step for s in samples if s.qps is not None and s.qps >= 0.9 * QPS)
    print(f"90 % of the step seen {reached:.1f} s after it (lag_s {source.lag_s})")
    assert reached <= source.lag_s

    settled = [s for s in samples if s.at >= step]
    assert len(settled) >= 4, "no sample reflects only the new traffic: the lag is not what the source states"
    for sample in settled:
        assert sample.qps == pytest.approx(QPS, rel=0.1), sample
        assert sample.error_ratio == pytest.approx(0.1, abs=0.03), sample
        # 20 ms falls in the (10 ms, 25 ms] bucket: histogram_quantile interpolates inside it.
        assert 10 < sample.p50_ms <= 25 and 10 < sample.p99_ms <= 25, sample
        assert sample.taken_at - sample.at == pytest.approx(source.lag_s, abs=0.01)


def test_a_prometheus_that_does_not_answer_is_no_sample_with_a_reason():
    url = f"http://127.0.0.1:{free_port()}"
    source = PrometheusSource(url=url, timeout_s=1)
    try:
        assert source.read(time.time()) is None
        assert url in source.last_error and "ConnectError" in source.last_error
    finally:
        source.close()


def test_a_query_prometheus_refuses_raises_naming_it(prometheus):
    queries = PrometheusQueries(
        qps="sum(rate(x[5s]", error_ratio=None, p50_ms=None, p95_ms=None, p99_ms=None, window_s=5
    )
    source = PrometheusSource(url=prometheus.url, queries=queries)
    try:
        with pytest.raises(PrometheusQueryError, match=r"refused 'sum\(rate\(x\[5s\]'"):
            source.read(time.time())
    finally:
        source.close()


def test_a_query_that_is_not_aggregated_raises_naming_it(prometheus):
    queries = PrometheusQueries(
        qps="up or vector(1)", error_ratio=None, p50_ms=None, p95_ms=None, p99_ms=None, window_s=5
    )
    source = PrometheusSource(url=prometheus.url, queries=queries)
    try:
        with pytest.raises(PrometheusQueryError, match="returned 2 series"):
            source.read(time.time())
    finally:
        source.close()
