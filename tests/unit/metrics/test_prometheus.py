"""loadstack.metrics.prometheus: default PromQL, Sample timing, no data and no answer (HTTP mocked)."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from loadstack.metrics.prometheus import PrometheusQueries, PrometheusSource, PrometheusSourceError
from loadstack.prometheus.query import PrometheusQueryError

NOW = 1_800_000_000.0


def _vector(value: str | None, at: float) -> dict:
    result = [] if value is None else [{"metric": {}, "value": [at, value]}]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


class FakePrometheus:
    """Answers each query by the first key found in it; records every query and its time."""

    def __init__(self, answers: dict[str, str | None], status: int = 200) -> None:
        self.answers, self.status, self.asked = answers, status, []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = parse_qs(urlparse(str(request.url)).query)
        query, at = params["query"][0], float(params["time"][0])
        self.asked.append((query, at))
        if self.status != 200:
            return httpx.Response(self.status, text="service unavailable")
        value = next((v for k, v in self.answers.items() if k in query), None)
        return httpx.Response(200, text=json.dumps(_vector(value, at)))


def _source(fake: FakePrometheus, **kwargs) -> PrometheusSource:
    return PrometheusSource(url="http://prom:9090/", transport=httpx.MockTransport(fake), **kwargs)


def test_default_queries_sum_the_apps_series_without_health_and_metrics():
    q = PrometheusQueries.for_app(10)
    not_load = 'route!~"/health|/metrics"'
    requests = f"sum(rate(shopapp_requests_total{{{not_load}}}[10s]))"
    # No request series while the app is scraped is a measured 0; no target up stays no data.
    assert q.qps == f"{requests} or 0 * sum(up)"
    assert q.error_ratio == (
        f'(sum(rate(shopapp_requests_total{{status=~"5..",{not_load}}}[10s])) or vector(0)) / {requests}'
    )
    assert q.p95_ms == (
        f"1000 * histogram_quantile(0.95, sum by (le) (rate(shopapp_request_duration_seconds_bucket{{{not_load}}}[10s])))"
    )
    assert q.p50_ms.startswith("1000 * histogram_quantile(0.5, ") and "histogram_quantile(0.99, " in q.p99_ms
    assert q.window_s == 10 and set(q.asked()) == {"qps", "error_ratio", "p50_ms", "p95_ms", "p99_ms"}


def test_queries_can_keep_every_route_or_select_more():
    assert PrometheusQueries.for_app(5, exclude_routes=()).qps == "sum(rate(shopapp_requests_total[5s])) or 0 * sum(up)"
    selected = PrometheusQueries.for_app(5, selector='job="app"', exclude_routes=("/p/{id}",), prefix="x")
    assert selected.qps == 'sum(rate(x_requests_total{job="app",route!~"/p/\\\\{id\\\\}"}[5s])) or 0 * sum(up{job="app"})'


def test_labels_narrow_every_query_and_its_up_to_one_pool():
    q = PrometheusQueries.for_app(4, labels={"pool": "stack"}, selector='job="app"')
    stack = 'job="app",pool="stack",route!~"/health|/metrics"'
    assert q.qps == f'sum(rate(shopapp_requests_total{{{stack}}}[4s])) or 0 * sum(up{{job="app",pool="stack"}})'
    assert q.error_ratio == (
        f'(sum(rate(shopapp_requests_total{{status=~"5..",{stack}}}[4s])) or vector(0)) / '
        f"sum(rate(shopapp_requests_total{{{stack}}}[4s]))"
    )
    assert f"shopapp_request_duration_seconds_bucket{{{stack}}}[4s]" in q.p99_ms
    assert PrometheusQueries.for_app(4, labels={}) == PrometheusQueries.for_app(4)


def test_a_label_that_is_not_a_label_name_is_refused_naming_it():
    with pytest.raises(PrometheusSourceError, match="PrometheusQueries labels: label 'pool-name' is not a Prometheus label name"):
        PrometheusQueries.for_app(4, labels={"pool-name": "stack"})


def test_a_sample_is_dated_back_by_window_plus_scrape_interval():
    fake = FakePrometheus(
        {
            "histogram_quantile(0.5,": "12.5",
            "histogram_quantile(0.95,": "40",
            "histogram_quantile(0.99,": "80",
            "or vector(0)": "0.02",
            "sum(rate(": "250",
        }
    )
    source = _source(fake, queries=PrometheusQueries.for_app(10), scrape_interval_s=2)
    assert source.lag_s == 12
    sample = source.read(NOW)
    assert sample.at == NOW - 12 and sample.taken_at == NOW and sample.age(NOW + 3) == 15
    assert sample.window_s == 12  # the span the rate covers, from `at`
    assert (sample.qps, sample.error_ratio, sample.p50_ms, sample.p95_ms, sample.p99_ms) == (250, 0.02, 12.5, 40, 80)
    # All five evaluated at one instant, so they describe the same traffic.
    assert len(fake.asked) == 5 and {at for _, at in fake.asked} == {NOW}
    assert source.last_error is None


def test_nan_and_empty_results_are_none_not_numbers():
    fake = FakePrometheus({"histogram_quantile": "NaN", "or vector(0)": "NaN", "sum(rate(": "0"})
    sample = _source(fake).read(NOW)
    assert sample.qps == 0 and sample.has_data
    assert (sample.error_ratio, sample.p50_ms, sample.p95_ms, sample.p99_ms) == (None, None, None, None)
    nothing = _source(FakePrometheus({})).read(NOW)
    assert nothing.qps is None and not nothing.has_data and nothing.at == NOW - 6


def test_a_prometheus_that_does_not_answer_gives_no_sample_and_says_why():
    source = _source(FakePrometheus({}, status=503))
    assert source.read(NOW) is None
    assert "http://prom:9090" in source.last_error and "HTTP 503" in source.last_error and "qps" in source.last_error

    def refuse(request):
        raise httpx.ConnectError("connection refused", request=request)

    unreachable = PrometheusSource(url="http://prom:9090", transport=httpx.MockTransport(refuse))
    assert unreachable.read(NOW) is None and "ConnectError" in unreachable.last_error
    source.close()
    with pytest.raises(RuntimeError, match="closed"):
        source.read(NOW)


def test_a_good_read_clears_the_last_error():
    fake = FakePrometheus({"sum(rate(": "1"}, status=503)
    source = _source(fake)
    assert source.read(NOW) is None and source.last_error
    fake.status = 200
    assert source.read(NOW).qps == 1 and source.last_error is None


def test_a_malformed_query_raises_naming_it():
    def bad(request):
        return httpx.Response(400, text='{"status":"error","errorType":"bad_data","error":"parse error"}')

    source = PrometheusSource(url="http://prom:9090", transport=httpx.MockTransport(bad))
    with pytest.raises(PrometheusQueryError, match="refused 'sum.*parse error"):
        source.read(NOW)


def test_only_the_asked_fields_are_queried():
    fake = FakePrometheus({"x": "3"})
    queries = PrometheusQueries(qps="x", error_ratio=None, p50_ms=None, p95_ms=None, p99_ms=None, window_s=4)
    sample = _source(fake, queries=queries).read(NOW)
    assert sample.qps == 3 and sample.p99_ms is None and [q for q, _ in fake.asked] == ["x"]


@pytest.mark.parametrize(("window", "interval"), [(1.0, 1.0), (5.0, 3.0)])
def test_a_window_without_two_scrapes_is_refused(window, interval):
    with pytest.raises(PrometheusSourceError, match="fewer than two scrapes"):
        PrometheusSource(url="http://p", queries=PrometheusQueries.for_app(window), scrape_interval_s=interval)


def test_no_io_before_the_first_read():
    source = PrometheusSource(url="http://nowhere.invalid:1")
    assert source._client is None
    source.close()
