"""Traffic and health as Prometheus saw it: request rate, error ratio and latency quantiles, with their lag.

A `PrometheusSource` asks Prometheus's HTTP API for one number per question, all evaluated at the
same instant, and returns them as one `Sample`. Prometheus reports late: a `rate()` over a window W
fully reflects a change only W after it, plus up to one scrape interval before the last sample is in
(measured: shared/notes/ramp-and-traffic.md). So `lag_s` = W + scrape interval, and each sample's
`at` is its evaluation time minus that lag: the controller never takes it for traffic it has since
changed.

"No data" stays unknown: an empty result or NaN (a quantile with no traffic, 0/0) is None, and a
Prometheus that does not answer makes `read()` return None with the reason in `last_error`. A query
Prometheus refuses as malformed, or one that is not aggregated to one series, is a configuration
error and raises: retrying would not mend it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import httpx

from loadstack.prometheus.config import DEFAULT_SCRAPE_INTERVAL_S, duration
from loadstack.prometheus.query import (
    PrometheusQueryError,
    QueryResult,
    instant_query_url,
    label_matchers,
    parse_instant,
)
from loadstack.ramp.samples import MetricSource, Sample

DEFAULT_WINDOW_S = 5.0
APP_METRIC_PREFIX = "shopapp"
# Not load: HAProxy's health checks and Prometheus's own scrapes (each ~1/s per process).
NOT_LOAD_ROUTES = ("/health", "/metrics")


class PrometheusSourceError(ValueError):
    """The source is configured in a way that cannot give a sound sample; the message says how to fix it."""


def _regex(values: Sequence[str]) -> str:
    """A PromQL regex matching exactly `values` (PromQL anchors regexes), quoted for a label matcher."""
    specials = set(r"\.+*?()|[]{}^$")
    escaped = ["".join(f"\\\\{c}" if c in specials else c for c in value) for value in values]
    return "|".join(escaped)


@dataclass(frozen=True)
class PrometheusQueries:
    """The PromQL behind each field of a `Sample`; each must give one number (aggregate with sum).

    qps: requests per second; error_ratio: 0..1; p50_ms, p95_ms, p99_ms: milliseconds. A field set
    to None is not asked (its value stays None). `window_s` is the longest range window the queries
    use: it is what makes them late.
    """

    qps: str | None
    error_ratio: str | None
    p50_ms: str | None
    p95_ms: str | None
    p99_ms: str | None
    window_s: float

    @classmethod
    def for_app(
        cls,
        window_s: float = DEFAULT_WINDOW_S,
        *,
        prefix: str = APP_METRIC_PREFIX,
        exclude_routes: Sequence[str] = NOT_LOAD_ROUTES,
        selector: str = "",
        labels: Mapping[str, str] | None = None,
    ) -> PrometheusQueries:
        """Queries over the app's `<prefix>_requests_total{route,method,status}` and
        `<prefix>_request_duration_seconds` histogram, summed over every process.

        `exclude_routes`: routes that are not load (default /health and /metrics); () keeps all.
        `selector`: further label matchers for every series, e.g. 'job="app"'.
        `labels`: labels every series must carry, e.g. {"pool": "stack"}: only the stack's pool of a live
        deployment (its `up` too, so "scraped, no requests" is still the stack's own zero).
        """
        try:
            wanted = label_matchers(labels or {})
        except (TypeError, ValueError) as error:
            raise PrometheusSourceError(f"PrometheusQueries labels: {error}") from None
        selector = ",".join(m for m in (selector.strip().strip(","), wanted) if m)
        matchers = [m for m in (selector,) if m]
        if exclude_routes:
            matchers.append(f'route!~"{_regex(exclude_routes)}"')
        window = duration(window_s)

        def series(metric: str, *extra: str) -> str:
            labels = ",".join([*extra, *matchers])
            return f"{metric}{{{labels}}}" if labels else metric

        counter, histogram = f"{prefix}_requests_total", f"{prefix}_request_duration_seconds_bucket"
        server_errors = 'status=~"5.."'
        requests = f"sum(rate({series(counter)}[{window}]))"
        errors = f"sum(rate({series(counter, server_errors)}[{window}]))"
        buckets = f"sum by (le) (rate({series(histogram)}[{window}]))"

        def quantile(q: float) -> str:
            return f"1000 * histogram_quantile({q}, {buckets})"

        # No request series at all while the app is scraped means no requests (0), not no data: at the
        # start of a ramp there is no load yet, and the controller must see that as a measured zero.
        # With no target up the answer stays empty: then nothing is known.
        scraped = f"0 * sum(up{{{selector.strip().strip(',')}}})" if selector.strip() else "0 * sum(up)"
        return cls(
            qps=f"{requests} or {scraped}",
            # No 5xx series at all means no errors (0), not no data; no requests at all still gives none.
            error_ratio=f"({errors} or vector(0)) / {requests}",
            p50_ms=quantile(0.5),
            p95_ms=quantile(0.95),
            p99_ms=quantile(0.99),
            window_s=window_s,
        )

    def asked(self) -> dict[str, str]:
        """{Sample field: PromQL} for the fields that have a query."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "window_s" and getattr(self, f.name)}


class PrometheusSource(MetricSource):
    """Samples read from a Prometheus at `url` (e.g. "http://127.0.0.1:9090"), synchronously.

    `scrape_interval_s` must be the interval Prometheus scrapes these series at; with `queries`'
    window it sets `lag_s`. A rate needs two scrapes inside its window, so a window shorter than two
    intervals is refused. `transport`: an httpx transport to use instead of the network (tests).
    """

    def __init__(
        self,
        *,
        url: str,
        queries: PrometheusQueries | None = None,
        scrape_interval_s: float = DEFAULT_SCRAPE_INTERVAL_S,
        timeout_s: float = 2.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.queries = queries if queries is not None else PrometheusQueries.for_app()
        if not self.queries.asked():
            raise PrometheusSourceError("PrometheusQueries asks nothing: give at least the qps query")
        if not self.queries.window_s >= 2 * scrape_interval_s:
            raise PrometheusSourceError(
                f"a rate window of {self.queries.window_s} s holds fewer than two scrapes at {scrape_interval_s} s: "
                f"use a window of at least {2 * scrape_interval_s} s (4 scrape intervals is steadier)"
            )
        self.scrape_interval_s = scrape_interval_s
        self.timeout_s = timeout_s
        self._transport = transport
        self.lag_s = self.queries.window_s + scrape_interval_s
        #: Why the last `read()` returned None (Prometheus unreachable, 5xx, ...); None after a good read.
        self.last_error: str | None = None
        self._client: httpx.Client | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"PrometheusSource({self.url!r}, lag_s={self.lag_s})"

    def _http(self) -> httpx.Client:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout_s, transport=self._transport)
        return self._client

    def _query(self, promql: str, at: float) -> QueryResult:
        response = self._http().get(instant_query_url(self.url, promql, at))
        if response.status_code == 400:
            # bad_data: the query itself is wrong (syntax, unknown function); it will never succeed.
            raise PrometheusQueryError(f"Prometheus at {self.url} refused {promql!r}: {response.text.strip()[:300]}")
        if response.status_code != 200:
            raise httpx.HTTPStatusError(
                f"HTTP {response.status_code}: {response.text.strip()[:200]}",
                request=response.request,
                response=response,
            )
        return parse_instant(response.json(), promql)

    def read(self, now: float) -> Sample | None:
        """Every query evaluated at `now` (epoch seconds); None when Prometheus did not answer."""
        values: dict[str, float | None] = {}
        evaluated_at = now
        try:
            for field, promql in self.queries.asked().items():
                result = self._query(promql, now)
                values[field] = result.value
                if not math.isnan(result.evaluated_at):
                    evaluated_at = result.evaluated_at
        except (httpx.HTTPError, ValueError) as error:  # ValueError: a body that is not JSON
            self.last_error = f"Prometheus at {self.url} did not answer {field}: {type(error).__name__}: {error}"
            return None
        self.last_error = None
        # The rate covers from `at` (a window and a scrape back) up to the evaluation.
        return Sample(at=evaluated_at - self.lag_s, taken_at=now, window_s=self.lag_s, **values)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None
        self._closed = True
