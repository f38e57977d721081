"""Traffic and health of an Application Load Balancer as CloudWatch saw it: request rate, error ratio, latency.

A `CloudWatchSource` reads the ALB's `AWS/ApplicationELB` metrics over one period with one
`get_metric_data` call: RequestCount, HTTPCode_Target_5XX_Count and HTTPCode_ELB_5XX_Count (Sum),
TargetResponseTime p50 / p95 / p99 and its Average.

CloudWatch reports late, by periods. An ALB sends its data points every 60 s, and a period's point
can be read only some time after the period ended (`publish_lag_s`, default 120 s: conservative,
because reading too early is the dangerous mistake). A period that is still filling, or whose
points have not all arrived, under-counts: its Sum looks like a drop of traffic and would lead the
controller to add load it does not need. So a read uses only the newest period that ended at least
`publish_lag_s` ago and dates the sample back to it: `at` = the period's start, `window_s` = the
period, `taken_at` = now. A change of traffic just after a period started shows fully only in the
next period, so the longest wait for a sample that reflects it (`lag_s`) is two periods plus the
publish lag; a controller reading this source needs `max_staleness_s` >= `lag_s`.

Periods: 60 s or a multiple for an ALB's own metrics (CloudWatch stores them per minute);
1, 5, 10, 20 or 30 s only for high-resolution metrics (published with StorageResolution 1).

"No data" stays unknown: a period without a RequestCount data point gives qps None (a late or
missing publisher, or a wrong dimension, cannot be told from no traffic), never zero traffic and
never a breach. A data point of 0 is a measured zero: qps 0.0, error ratio and latency None. The
ALB publishes its 5xx counts only when they are non-zero, so with requests counted an absent 5xx
point means no errors.

Percentiles: backends without extended statistics (moto: `p99` fails the whole call; elsewhere
they may come back empty) get a fallback: p50 is TargetResponseTime's Average and p95 / p99 stay
None. The source says so in `percentile_fallback` and logs one warning, once per source.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
)

from loadstack.ramp.samples import MetricSource, Sample

logger = logging.getLogger(__name__)

NAMESPACE = "AWS/ApplicationELB"
DEFAULT_PERIOD_S = 60
HIGH_RESOLUTION_PERIODS_S = (1, 5, 10, 20, 30)
DEFAULT_PUBLISH_LAG_S = 120.0

# Query ids (CloudWatch: a lower-case letter first, then letters, digits, underscores).
REQUESTS = "requests"
TARGET_5XX = "target_5xx"
ELB_5XX = "elb_5xx"
LATENCY_AVERAGE = "latency_average"
#: Sample field -> CloudWatch extended statistic of TargetResponseTime (also its query id).
PERCENTILES = {"p50_ms": "p50", "p95_ms": "p95", "p99_ms": "p99"}

_ARN = re.compile(r"arn:aws[a-z-]*:elasticloadbalancing:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):(?P<resource>.+)")
# ELB names: 1-32 letters, digits and hyphens, not starting or ending with a hyphen; ids are hex.
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?"
_LOAD_BALANCER = re.compile(rf"app/{_NAME}/[0-9a-f]{{1,32}}")
_TARGET_GROUP = re.compile(rf"targetgroup/{_NAME}/[0-9a-f]{{1,32}}")
_THROTTLED = frozenset(
    {"Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded", "TooManyRequestsException"}
)
_MISCONFIGURED = (NoCredentialsError, PartialCredentialsError, NoRegionError, ParamValidationError)


class CloudWatchSourceError(ValueError):
    """The source is configured in a way that cannot give a sound sample; the message says how to fix it."""


def _dimension(value: str, *, field: str, kind: str, pattern: re.Pattern[str], example: str) -> str:
    """The dimension value an ELB ARN of resource type `kind` gives (the part `pattern` matches), checked.

    A value that is not an ARN is taken for the dimension value itself (Terraform's `arn_suffix`).
    """
    text = value.strip() if isinstance(value, str) else ""
    match = _ARN.fullmatch(text)
    dimension = text
    if match is not None:
        resource_type, _, rest = match["resource"].partition("/")
        if resource_type != kind:
            raise CloudWatchSourceError(
                f"{field} {value!r} is the ARN of another kind of resource ({resource_type}): give the ARN of a {kind}, "
                f"e.g. {example}"
            )
        dimension = rest if kind == "loadbalancer" else match["resource"]
    if kind == "loadbalancer" and dimension.startswith(("net/", "gwy/")):
        raise CloudWatchSourceError(
            f"{field} {value!r} is a Network or Gateway Load Balancer: its metrics (AWS/NetworkELB, "
            f"AWS/GatewayELB) have no RequestCount or TargetResponseTime; this source reads Application Load Balancers"
        )
    if not pattern.fullmatch(dimension):
        suffix = example.split(":")[-1].removeprefix("loadbalancer/")
        raise CloudWatchSourceError(
            f"{field} {value!r} is not the ARN of an Application Load Balancer's {kind}: give its ARN, "
            f"e.g. {example}, or the ARN's suffix, e.g. {suffix}"
        )
    return dimension


def load_balancer_dimension(arn: str) -> str:
    """The CloudWatch `LoadBalancer` dimension (`app/NAME/ID`) of an Application Load Balancer's ARN.

    The suffix itself (Terraform's `arn_suffix`) is accepted as it is. Anything else raises,
    naming the value and the expected form.
    """
    return _dimension(
        arn,
        field="load_balancer",
        kind="loadbalancer",
        pattern=_LOAD_BALANCER,
        example="arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/shop/50dc6c495c0c9188",
    )


def target_group_dimension(arn: str) -> str:
    """The CloudWatch `TargetGroup` dimension (`targetgroup/NAME/ID`) of a target group's ARN (or that suffix)."""
    return _dimension(
        arn,
        field="target_group",
        kind="targetgroup",
        pattern=_TARGET_GROUP,
        example="arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop/73e2d6bc24d8a067",
    )


def arn_region(arn: str) -> str | None:
    """The region an ELB ARN names; None for a bare dimension suffix (which names none)."""
    match = _ARN.fullmatch(arn.strip())
    return match["region"] if match else None


def check_period(period_s: int) -> int:
    """`period_s` if CloudWatch accepts it as a period; otherwise a CloudWatchSourceError saying which do."""
    if isinstance(period_s, bool) or not isinstance(period_s, int) or period_s <= 0:
        raise CloudWatchSourceError(
            f"period_s {period_s!r} is not a whole number of seconds: use 60 (or 10 for high-resolution metrics)"
        )
    if period_s % 60 and period_s not in HIGH_RESOLUTION_PERIODS_S:
        raise CloudWatchSourceError(
            f"period_s {period_s} is not a CloudWatch period: use 60 or a multiple of 60 for an ALB's metrics, "
            f"or {', '.join(map(str, HIGH_RESOLUTION_PERIODS_S))} for high-resolution metrics"
        )
    return period_s


def metric_data_queries(
    *, load_balancer: str, target_group: str | None = None, period_s: int = DEFAULT_PERIOD_S, percentiles: bool = True
) -> list[dict[str, Any]]:
    """The `MetricDataQueries` of one read (ARNs or their dimension suffixes).

    With a target group, requests, target 5xx and response times are that group's; CloudWatch
    publishes the load balancer's own 5xx (HTTPCode_ELB_5XX_Count) per load balancer only, so those
    stay the whole load balancer's: the error ratio may be overstated, never understated.
    """
    check_period(period_s)
    whole = [{"Name": "LoadBalancer", "Value": load_balancer_dimension(load_balancer)}]
    scoped = whole + ([{"Name": "TargetGroup", "Value": target_group_dimension(target_group)}] if target_group else [])

    def query(query_id: str, metric: str, stat: str, dimensions: list[dict[str, str]]) -> dict[str, Any]:
        return {
            "Id": query_id,
            "MetricStat": {
                "Metric": {"Namespace": NAMESPACE, "MetricName": metric, "Dimensions": dimensions},
                "Period": period_s,
                "Stat": stat,
            },
            "ReturnData": True,
        }

    queries = [
        query(REQUESTS, "RequestCount", "Sum", scoped),
        query(TARGET_5XX, "HTTPCode_Target_5XX_Count", "Sum", scoped),
        query(ELB_5XX, "HTTPCode_ELB_5XX_Count", "Sum", whole),
        query(LATENCY_AVERAGE, "TargetResponseTime", "Average", scoped),
    ]
    if percentiles:
        queries += [query(stat, "TargetResponseTime", stat, scoped) for stat in PERCENTILES.values()]
    return queries


def complete_period(now: float, *, period_s: int, publish_lag_s: float) -> tuple[int, int]:
    """(start, end) in epoch seconds of the newest period that ended at least `publish_lag_s` before `now`.

    CloudWatch aligns periods to multiples of the period, and so does this.
    """
    end = math.floor((now - publish_lag_s) / period_s) * period_s
    return end - period_s, end


def period_values(results: Sequence[Mapping[str, Any]], *, start: float, end: float) -> dict[str, float | None]:
    """{query id: its data point in [start, end)}; None where CloudWatch returned no data point there."""
    values: dict[str, float | None] = {}
    for result in results:
        points = sorted(
            (stamp.timestamp(), float(value))
            for stamp, value in zip(result.get("Timestamps", []), result.get("Values", []))
            if start <= stamp.timestamp() < end
        )
        # One period asked, so one data point at most: the one at the period's start.
        values[result["Id"]] = points[0][1] if points else None
    return values


def period_sample(
    values: Mapping[str, float | None], *, start: float, period_s: int, taken_at: float
) -> tuple[Sample, bool]:
    """The `Sample` of one period's values (see `period_values`), and whether its p50 is the Average.

    qps = RequestCount / period. Error ratio = (target 5xx + load balancer 5xx) / requests, at most 1:
    the ALB answers some 5xx (e.g. 503, no healthy target) before choosing a target and does not
    count those in RequestCount. 5xx with no request counted: every request failed (1.0).
    """
    requests = values.get(REQUESTS)
    errors = (values.get(TARGET_5XX) or 0.0) + (values.get(ELB_5XX) or 0.0)
    if requests:
        error_ratio: float | None = min(1.0, errors / requests)
    else:
        error_ratio = 1.0 if errors > 0 else None
    latency = {field: _ms(values.get(stat)) for field, stat in PERCENTILES.items()}
    average_ms = _ms(values.get(LATENCY_AVERAGE))
    fell_back = bool(requests) and all(v is None for v in latency.values()) and average_ms is not None
    if fell_back:
        latency["p50_ms"] = average_ms
    sample = Sample(
        at=float(start),
        taken_at=taken_at,
        qps=None if requests is None else requests / period_s,
        error_ratio=error_ratio,
        window_s=float(period_s),
        **latency,
    )
    return sample, fell_back


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


def _brief(error: BaseException) -> str:
    """An error on one line, at most 200 characters (a server's 500 may carry a whole HTML page)."""
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return text if len(text) <= 200 else text[:199] + "…"


def _throttled(error: BaseException) -> bool:
    return isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") in _THROTTLED


def _misconfigured(error: BotoCoreError | ClientError) -> bool:
    """An error retrying will not mend (credentials, permissions, a malformed request)."""
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return 400 <= status < 500 and not _throttled(error)
    return isinstance(error, _MISCONFIGURED)


class CloudWatchSource(MetricSource):
    """Samples of one Application Load Balancer (optionally one of its target groups) from CloudWatch.

    `client`: a boto3 CloudWatch client in the load balancer's region (e.g. `profile.client("cloudwatch")`);
    the source takes it over and closes it in `close()`. `load_balancer`, `target_group`: ARNs or
    their dimension suffixes. `period_s`: the CloudWatch period a sample covers. `publish_lag_s`: how
    long after a period ends its data points are all in CloudWatch. `percentiles=False` asks only
    the Average of TargetResponseTime (the fallback) from the start.
    """

    def __init__(
        self,
        *,
        client: Any,
        load_balancer: str,
        target_group: str | None = None,
        period_s: int = DEFAULT_PERIOD_S,
        publish_lag_s: float = DEFAULT_PUBLISH_LAG_S,
        percentiles: bool = True,
    ) -> None:
        self.load_balancer = load_balancer_dimension(load_balancer)
        self.target_group = target_group_dimension(target_group) if target_group else None
        self.period_s = check_period(period_s)
        if not (isinstance(publish_lag_s, (int, float)) and 0 <= publish_lag_s < 3600):
            raise CloudWatchSourceError(
                f"publish_lag_s {publish_lag_s!r} is not a delay CloudWatch has: give seconds in [0, 3600), "
                f"{DEFAULT_PUBLISH_LAG_S:g} s for an ALB's metrics"
            )
        self.publish_lag_s = float(publish_lag_s)
        client_region = getattr(getattr(client, "meta", None), "region_name", None)
        for arn in (load_balancer, target_group):
            region = arn_region(arn) if arn else None
            if region and client_region and region != client_region:
                raise CloudWatchSourceError(
                    f"{arn} is in {region} but the CloudWatch client is in {client_region}: CloudWatch has a load "
                    f"balancer's metrics only in its own region; use a client (profile) for {region}"
                )
        self.lag_s = 2 * self.period_s + self.publish_lag_s
        self._client = client
        self._ask_percentiles = bool(percentiles)
        #: Why p50 is TargetResponseTime's Average and p95 / p99 are None in some samples; None while
        #: every sample had real percentiles.
        self.percentile_fallback: str | None = None if percentiles else "percentiles=False: only the Average is asked"
        #: Why the last `read()` returned None (CloudWatch did not answer); None after a good read.
        self.last_error: str | None = None
        self._closed = False

    def __repr__(self) -> str:
        scope = f", target_group={self.target_group!r}" if self.target_group else ""
        return f"CloudWatchSource({self.load_balancer!r}{scope}, period_s={self.period_s}, publish_lag_s={self.publish_lag_s:g})"

    def queries(self) -> list[dict[str, Any]]:
        return metric_data_queries(
            load_balancer=self.load_balancer,
            target_group=self.target_group,
            period_s=self.period_s,
            percentiles=self._ask_percentiles,
        )

    def read(self, now: float) -> Sample | None:
        """The newest complete period before `now` (epoch seconds); None when CloudWatch did not answer."""
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        start, end = complete_period(now, period_s=self.period_s, publish_lag_s=self.publish_lag_s)
        try:
            results = self._results(start, end)
        except (BotoCoreError, ClientError) as error:
            if _misconfigured(error):
                raise CloudWatchSourceError(
                    f"CloudWatch refused the metrics of load balancer {self.load_balancer}: {_brief(error)}; check the "
                    f"profile's credentials and region and that it may call cloudwatch:GetMetricData"
                ) from error
            self.last_error = f"CloudWatch did not answer for {self.load_balancer}: {_brief(error)}"
            return None
        unfinished = {
            r["Id"]: r.get("StatusCode")
            for r in results
            if r.get("StatusCode", "Complete") != "Complete" and r["Id"] not in PERCENTILES.values()
        }
        if "Forbidden" in unfinished.values():
            raise CloudWatchSourceError(
                f"CloudWatch withheld metrics of load balancer {self.load_balancer} ({unfinished}): the profile's "
                f"credentials need cloudwatch:GetMetricData on the AWS/ApplicationELB metrics"
            )
        if unfinished:
            self.last_error = f"CloudWatch gave incomplete results for {self.load_balancer}: {unfinished}"
            return None
        self.last_error = None
        complete = [r for r in results if r.get("StatusCode", "Complete") == "Complete"]
        sample, fell_back = period_sample(
            period_values(complete, start=start, end=end), start=start, period_s=self.period_s, taken_at=now
        )
        if fell_back:
            self._fall_back("CloudWatch returned no TargetResponseTime percentiles for a period with requests")
        return sample

    def _results(self, start: int, end: int) -> list[dict[str, Any]]:
        try:
            return self._get_metric_data(self.queries(), start, end)
        # Broad: each backend refuses percentiles its own way (moto: a TypeError in-process, HTTP 500 as a server).
        except Exception as refusal:
            if not self._ask_percentiles or _throttled(refusal) or isinstance(refusal, BotoCoreError):
                raise  # not about percentiles: the call without them would fail the same way
            self._ask_percentiles = False
            try:
                results = self._get_metric_data(self.queries(), start, end)
            except BaseException:
                self._ask_percentiles = True  # failing without them too: the percentiles were not the problem
                raise
            self._fall_back(f"CloudWatch refused the TargetResponseTime percentiles ({_brief(refusal)})")
            return results

    def _get_metric_data(self, queries: list[dict[str, Any]], start: int, end: int) -> list[dict[str, Any]]:
        response = self._client.get_metric_data(
            MetricDataQueries=queries,
            StartTime=datetime.fromtimestamp(start, tz=UTC),
            EndTime=datetime.fromtimestamp(end, tz=UTC),
        )
        return list(response.get("MetricDataResults", []))

    def _fall_back(self, reason: str) -> None:
        if self.percentile_fallback is None:
            self.percentile_fallback = reason
            logger.warning("%r: %s; p50 is now the Average response time and p95/p99 stay unknown", self, reason)

    def close(self) -> None:
        if not self._closed and hasattr(self._client, "close"):
            self._client.close()
        self._closed = True
