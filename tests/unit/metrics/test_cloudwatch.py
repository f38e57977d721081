"""CloudWatchSource: the query builder and ARN helpers (pure), the source against moto in-process."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.validate import validate_parameters
from moto import mock_aws

from loadstack.metrics.cloudwatch import (
    DEFAULT_PUBLISH_LAG_S,
    ELB_5XX,
    LATENCY_AVERAGE,
    NAMESPACE,
    REQUESTS,
    TARGET_5XX,
    CloudWatchSource,
    CloudWatchSourceError,
    check_period,
    complete_period,
    load_balancer_dimension,
    metric_data_queries,
    period_sample,
    period_values,
    target_group_dimension,
)

REGION = "us-east-1"
LB_SUFFIX = "app/shop-alb/50dc6c495c0c9188"
LB_ARN = f"arn:aws:elasticloadbalancing:{REGION}:123456789012:loadbalancer/{LB_SUFFIX}"
TG_SUFFIX = "targetgroup/shop-tg/73e2d6bc24d8a067"
TG_ARN = f"arn:aws:elasticloadbalancing:{REGION}:123456789012:{TG_SUFFIX}"


# --- ARN helpers ---------------------------------------------------------------------------------


def test_load_balancer_dimension_is_the_arn_suffix():
    assert load_balancer_dimension(LB_ARN) == LB_SUFFIX
    china = "arn:aws-cn:elasticloadbalancing:cn-north-1:123456789012:loadbalancer/app/x/0123abcd"
    assert load_balancer_dimension(china) == "app/x/0123abcd"
    assert load_balancer_dimension(LB_SUFFIX) == LB_SUFFIX  # Terraform's arn_suffix, as it is
    assert load_balancer_dimension(f"  {LB_ARN}\n") == LB_SUFFIX


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("", "is not the ARN"),
        ("shop-alb", "is not the ARN"),
        (LB_ARN.replace("elasticloadbalancing", "ec2"), "is not the ARN"),
        (LB_ARN.replace("123456789012", "1234"), "is not the ARN"),
        (LB_ARN + "/extra", "is not the ARN"),
        (LB_ARN.replace("/50dc6c495c0c9188", ""), "is not the ARN"),
        (LB_ARN.replace("app/", "net/"), "Network or Gateway Load Balancer"),
        ("net/nlb/0123abcd", "Network or Gateway Load Balancer"),
        (TG_ARN, "another kind of resource (targetgroup)"),
        ("app/-bad/0123abcd", "is not the ARN"),
    ],
)
def test_a_bad_load_balancer_is_refused_naming_the_value_and_the_form(value, says):
    with pytest.raises(CloudWatchSourceError, match="load_balancer") as caught:
        load_balancer_dimension(value)
    assert says in str(caught.value) and repr(value) in str(caught.value)
    assert "arn:aws:elasticloadbalancing:" in str(caught.value) or "Network" in str(caught.value)


def test_target_group_dimension():
    assert target_group_dimension(TG_ARN) == TG_SUFFIX
    assert target_group_dimension(TG_SUFFIX) == TG_SUFFIX
    with pytest.raises(CloudWatchSourceError, match="another kind of resource"):
        target_group_dimension(LB_ARN)
    with pytest.raises(CloudWatchSourceError, match="target_group 'shop-tg'.*targetgroup/"):
        target_group_dimension("shop-tg")


# --- the query builder ---------------------------------------------------------------------------


def by_id(queries):
    return {q["Id"]: q["MetricStat"] for q in queries}


def dims(stat):
    return {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]}


def test_queries_ask_sums_for_counts_and_percentiles_for_latency():
    stats = by_id(metric_data_queries(load_balancer=LB_ARN, period_s=60))
    assert {k: (v["Metric"]["MetricName"], v["Stat"]) for k, v in stats.items()} == {
        REQUESTS: ("RequestCount", "Sum"),
        TARGET_5XX: ("HTTPCode_Target_5XX_Count", "Sum"),
        ELB_5XX: ("HTTPCode_ELB_5XX_Count", "Sum"),
        LATENCY_AVERAGE: ("TargetResponseTime", "Average"),
        "p50": ("TargetResponseTime", "p50"),
        "p95": ("TargetResponseTime", "p95"),
        "p99": ("TargetResponseTime", "p99"),
    }
    for stat in stats.values():
        assert stat["Metric"]["Namespace"] == NAMESPACE == "AWS/ApplicationELB"
        assert stat["Period"] == 60
        assert dims(stat) == {"LoadBalancer": LB_SUFFIX}


def test_a_target_group_scopes_every_metric_but_the_load_balancers_own_5xx():
    stats = by_id(metric_data_queries(load_balancer=LB_SUFFIX, target_group=TG_ARN, period_s=10))
    scoped = {"LoadBalancer": LB_SUFFIX, "TargetGroup": TG_SUFFIX}
    assert {k for k, v in stats.items() if dims(v) == scoped} == {
        REQUESTS,
        TARGET_5XX,
        LATENCY_AVERAGE,
        "p50",
        "p95",
        "p99",
    }
    assert dims(stats[ELB_5XX]) == {"LoadBalancer": LB_SUFFIX}  # CloudWatch has no per-target-group ELB 5xx
    assert {v["Period"] for v in stats.values()} == {10}


def test_without_percentiles_only_the_average_latency_is_asked():
    stats = by_id(metric_data_queries(load_balancer=LB_ARN, percentiles=False))
    assert set(stats) == {REQUESTS, TARGET_5XX, ELB_5XX, LATENCY_AVERAGE}


@pytest.mark.parametrize("target_group", [None, TG_ARN])
def test_the_queries_are_a_valid_get_metric_data_request(target_group):
    """Checked against botocore's own model of the API (no call is made)."""
    model = boto3.client("cloudwatch", region_name=REGION).meta.service_model.operation_model("GetMetricData")
    queries = metric_data_queries(load_balancer=LB_ARN, target_group=target_group)
    validate_parameters(
        {"MetricDataQueries": queries, "StartTime": datetime.now(UTC), "EndTime": datetime.now(UTC)},
        model.input_shape,
    )
    for query in queries:  # CloudWatch: ids start with a lower-case letter; [a-zA-Z0-9_]
        assert query["Id"][0].islower() and query["Id"].replace("_", "").isalnum()


@pytest.mark.parametrize("period", [1, 5, 10, 20, 30, 60, 120, 300])
def test_cloudwatch_periods_are_accepted(period):
    assert check_period(period) == period


@pytest.mark.parametrize("period", [0, -60, 15, 45, 90, 61, 2.5, True, "60"])
def test_other_periods_are_refused_with_the_valid_ones(period):
    with pytest.raises(CloudWatchSourceError, match="period_s") as caught:
        metric_data_queries(load_balancer=LB_ARN, period_s=period)
    assert "60" in str(caught.value)


# --- periods and samples (pure) ------------------------------------------------------------------


def test_the_newest_complete_period_ended_a_publish_lag_ago():
    assert complete_period(1000.0, period_s=60, publish_lag_s=120) == (780, 840)
    assert complete_period(1019.9, period_s=60, publish_lag_s=120) == (780, 840)
    assert complete_period(1020.0, period_s=60, publish_lag_s=120) == (840, 900)
    assert complete_period(1005.0, period_s=10, publish_lag_s=0) == (990, 1000)


def test_period_values_keep_the_data_point_of_the_period_and_nothing_else():
    def at(t):
        return datetime.fromtimestamp(t, UTC)

    results = [
        {"Id": REQUESTS, "Timestamps": [at(650), at(600), at(540)], "Values": [7.0, 42.0, 9.0]},
        {"Id": TARGET_5XX, "Timestamps": [at(660)], "Values": [3.0]},  # the next period: not this one
        {"Id": ELB_5XX, "Timestamps": [], "Values": []},
    ]
    assert period_values(results, start=600, end=660) == {REQUESTS: 42.0, TARGET_5XX: None, ELB_5XX: None}


def test_period_sample_rates_errors_and_percentiles():
    values = {
        REQUESTS: 600.0,
        TARGET_5XX: 9.0,
        ELB_5XX: 3.0,
        LATENCY_AVERAGE: 0.05,
        "p50": 0.04,
        "p95": 0.2,
        "p99": 0.75,
    }
    sample, fell_back = period_sample(values, start=600, period_s=60, taken_at=800.5)
    assert not fell_back
    assert (sample.at, sample.window_s, sample.taken_at) == (600.0, 60.0, 800.5)
    assert sample.qps == pytest.approx(10.0)
    assert sample.error_ratio == pytest.approx(12 / 600)
    assert (sample.p50_ms, sample.p95_ms, sample.p99_ms) == pytest.approx((40.0, 200.0, 750.0))


def test_period_sample_no_data_is_unknown_and_a_zero_is_a_zero():
    nothing, fell_back = period_sample({REQUESTS: None, LATENCY_AVERAGE: None}, start=0, period_s=60, taken_at=200)
    assert not fell_back and not nothing.has_data
    assert (nothing.qps, nothing.error_ratio, nothing.p50_ms, nothing.p99_ms) == (None, None, None, None)
    zero, _ = period_sample({REQUESTS: 0.0}, start=0, period_s=60, taken_at=200)
    assert zero.qps == 0.0 and zero.has_data and zero.error_ratio is None


def test_period_sample_5xx_without_counted_requests_is_all_failing_and_the_ratio_is_capped():
    failing, _ = period_sample({REQUESTS: None, ELB_5XX: 40.0}, start=0, period_s=60, taken_at=200)
    assert failing.qps is None and failing.error_ratio == 1.0
    capped, _ = period_sample({REQUESTS: 10.0, TARGET_5XX: 8.0, ELB_5XX: 5.0}, start=0, period_s=60, taken_at=200)
    assert capped.error_ratio == 1.0


def test_period_sample_falls_back_to_the_average_only_when_requests_exist():
    sample, fell_back = period_sample({REQUESTS: 60.0, LATENCY_AVERAGE: 0.03}, start=0, period_s=60, taken_at=200)
    assert fell_back and sample.p50_ms == pytest.approx(30.0) and sample.p95_ms is None and sample.p99_ms is None
    _, fell_back = period_sample({REQUESTS: 0.0, LATENCY_AVERAGE: 0.03}, start=0, period_s=60, taken_at=200)
    assert not fell_back


# --- the source on moto in-process ---------------------------------------------------------------

PERIOD_S = 10
LAG_S = 30


@pytest.fixture
def cloudwatch():
    with mock_aws():
        yield boto3.client("cloudwatch", region_name=REGION)


@pytest.fixture
def base() -> int:
    """A minute boundary ten minutes ago: the seeded data points are in the past, as CloudWatch has them."""
    return int(time.time()) // 60 * 60 - 600


def put(client, metric, at, value=None, *, dimensions=None, values=None, counts=None, unit="Count"):
    datum = {
        "MetricName": metric,
        "Dimensions": dimensions or [{"Name": "LoadBalancer", "Value": LB_SUFFIX}],
        "Timestamp": datetime.fromtimestamp(at, UTC),
        "Unit": unit,
        "StorageResolution": 1,
    }
    if values is not None:
        datum.update(Values=values, Counts=counts)
    else:
        datum["Value"] = value
    client.put_metric_data(Namespace=NAMESPACE, MetricData=[datum])


def seed_period(client, start, *, requests, target_5xx=0, elb_5xx=0, dimensions=None):
    """Requests (and 5xx) spread over three data points inside [start, start + PERIOD_S)."""
    for offset, share in ((1, 0.5), (4, 0.3), (8, 0.2)):
        put(client, "RequestCount", start + offset, requests * share, dimensions=dimensions)
        if target_5xx:
            put(client, "HTTPCode_Target_5XX_Count", start + offset, target_5xx * share, dimensions=dimensions)
        if elb_5xx:
            put(client, "HTTPCode_ELB_5XX_Count", start + offset, elb_5xx * share)


def source_for(client, **kwargs):
    kwargs.setdefault("load_balancer", LB_ARN)
    return CloudWatchSource(client=client, period_s=PERIOD_S, publish_lag_s=LAG_S, percentiles=False, **kwargs)


def test_qps_and_error_ratio_come_from_the_newest_complete_period(cloudwatch, base):
    seed_period(cloudwatch, base + 20, requests=100)  # older: not the newest complete period
    seed_period(cloudwatch, base + 30, requests=500, target_5xx=6, elb_5xx=4)
    source = source_for(cloudwatch)
    now = base + 40 + LAG_S + 3.5  # [30, 40) ended a lag ago; [40, 50) is not complete yet
    sample = source.read(now)
    assert sample.qps == pytest.approx(500 / PERIOD_S)
    assert sample.error_ratio == pytest.approx(10 / 500)
    assert (sample.at, sample.window_s, sample.taken_at) == (base + 30, PERIOD_S, now)
    assert sample.age(now) == pytest.approx(PERIOD_S + LAG_S + 3.5)
    assert source.lag_s == 2 * PERIOD_S + LAG_S and source.last_error is None


def test_the_newest_period_still_filling_is_ignored(cloudwatch, base):
    seed_period(cloudwatch, base + 30, requests=500)
    put(cloudwatch, "RequestCount", base + 41, 20)  # [40, 50): so far only its first second
    source = source_for(cloudwatch)
    sample = source.read(base + 40 + LAG_S + 9.9)
    assert sample.at == base + 30 and sample.qps == pytest.approx(50.0)
    sample = source.read(base + 50 + LAG_S)  # [40, 50) ended a lag ago: now it is the one read
    assert sample.at == base + 40 and sample.qps == pytest.approx(2.0)


def test_other_load_balancers_and_target_groups_are_not_counted(cloudwatch, base):
    other = [{"Name": "LoadBalancer", "Value": "app/other/0123456789abcdef"}]
    scoped = [{"Name": "LoadBalancer", "Value": LB_SUFFIX}, {"Name": "TargetGroup", "Value": TG_SUFFIX}]
    seed_period(cloudwatch, base + 30, requests=900, dimensions=other)
    seed_period(cloudwatch, base + 30, requests=300, target_5xx=3, dimensions=scoped)
    seed_period(cloudwatch, base + 30, requests=1000)  # the whole load balancer
    now = base + 40 + LAG_S
    assert source_for(cloudwatch).read(now).qps == pytest.approx(100.0)
    group = source_for(cloudwatch, target_group=TG_ARN).read(now)
    assert group.qps == pytest.approx(30.0) and group.error_ratio == pytest.approx(0.01)


def test_no_data_points_give_a_sample_of_unknowns_and_a_zero_gives_zero_traffic(cloudwatch, base):
    seed_period(cloudwatch, base + 30, requests=500)
    source = source_for(cloudwatch)
    empty = source.read(base + 60 + LAG_S)  # [50, 60): nothing published
    assert empty is not None and empty.at == base + 50 and empty.window_s == PERIOD_S
    assert not empty.has_data
    assert (empty.qps, empty.error_ratio, empty.p50_ms, empty.p95_ms, empty.p99_ms) == (None,) * 5
    put(cloudwatch, "RequestCount", base + 55, 0)
    zero = source.read(base + 60 + LAG_S)
    assert zero.qps == 0.0 and zero.has_data and zero.error_ratio is None


def seed_latency(client, start):
    """TargetResponseTime as a distribution: 90 requests at 20 ms, 10 at 200 ms (average 38 ms)."""
    put(client, "TargetResponseTime", start + 2, values=[0.02, 0.2], counts=[90, 10], unit="Seconds")


def test_moto_refuses_percentiles_so_the_source_falls_back_once_and_says_so(cloudwatch, base, caplog):
    seed_period(cloudwatch, base + 30, requests=100)
    seed_latency(cloudwatch, base + 30)
    seed_period(cloudwatch, base + 40, requests=100)
    seed_latency(cloudwatch, base + 40)
    calls = []
    cloudwatch.meta.events.register("before-call.cloudwatch.GetMetricData", lambda **kw: calls.append(kw))
    source = CloudWatchSource(client=cloudwatch, load_balancer=LB_ARN, period_s=PERIOD_S, publish_lag_s=LAG_S)
    assert source.percentile_fallback is None
    with caplog.at_level(logging.WARNING, logger="loadstack.metrics.cloudwatch"):
        first = source.read(base + 40 + LAG_S)
        assert len(calls) == 2  # the refused call with percentiles, then the one without
        second = source.read(base + 50 + LAG_S)
        assert len(calls) == 3  # from then on, one call per read
    for sample in (first, second):
        assert sample.p50_ms == pytest.approx(38.0)  # the Average, in milliseconds
        assert sample.p95_ms is None and sample.p99_ms is None
        assert sample.qps == pytest.approx(10.0)
    assert "refused the TargetResponseTime percentiles" in source.percentile_fallback
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "Average" in warnings[0].getMessage()


def test_a_source_told_not_to_ask_percentiles_makes_one_call_and_flags_the_average(cloudwatch, base):
    seed_period(cloudwatch, base + 30, requests=100)
    seed_latency(cloudwatch, base + 30)
    calls = []
    cloudwatch.meta.events.register("before-call.cloudwatch.GetMetricData", lambda **kw: calls.append(kw))
    source = source_for(cloudwatch)
    assert source.read(base + 40 + LAG_S).p50_ms == pytest.approx(38.0)
    assert len(calls) == 1 and source.percentile_fallback


def test_a_load_balancer_in_another_region_than_the_client_is_refused(cloudwatch):
    with pytest.raises(CloudWatchSourceError, match="eu-west-1 but the CloudWatch client is in us-east-1"):
        CloudWatchSource(client=cloudwatch, load_balancer=LB_ARN.replace(REGION, "eu-west-1"))


@pytest.mark.parametrize("lag", [-1, 3600, float("nan"), "120"])
def test_a_publish_lag_out_of_range_is_refused(cloudwatch, lag):
    with pytest.raises(CloudWatchSourceError, match="publish_lag_s"):
        CloudWatchSource(client=cloudwatch, load_balancer=LB_ARN, publish_lag_s=lag)


def test_defaults_suit_an_alb(cloudwatch):
    source = CloudWatchSource(client=cloudwatch, load_balancer=LB_ARN)
    assert (source.period_s, source.publish_lag_s) == (60, DEFAULT_PUBLISH_LAG_S)
    assert source.lag_s == 2 * 60 + DEFAULT_PUBLISH_LAG_S


def test_reading_after_close_is_an_error(cloudwatch):
    source = source_for(cloudwatch)
    source.close()
    with pytest.raises(RuntimeError, match="closed"):
        source.read(time.time())


# --- a backend that has percentiles, and failures (a scripted client) ------------------------------


class ScriptedCloudWatch:
    """Answers get_metric_data with one data point per id at the asked StartTime, or raises `error`.

    `statuses`: {id: StatusCode} for results that are not "Complete".
    """

    def __init__(self, values=None, error=None, statuses=None):
        self.values, self.error, self.statuses, self.calls = values or {}, error, statuses or {}, []

    def get_metric_data(self, **request):
        self.calls.append(request)
        if self.error is not None:
            raise self.error
        start = request["StartTime"]
        results = []
        for query in request["MetricDataQueries"]:
            value = self.values.get(query["Id"])
            results.append(
                {
                    "Id": query["Id"],
                    "Timestamps": [start] if value is not None else [],
                    "Values": [value] if value is not None else [],
                    "StatusCode": self.statuses.get(query["Id"], "Complete"),
                }
            )
        return {"MetricDataResults": results}


def test_real_percentiles_are_used_in_milliseconds_and_nothing_is_flagged():
    client = ScriptedCloudWatch({REQUESTS: 1200.0, LATENCY_AVERAGE: 0.05, "p50": 0.03, "p95": 0.25, "p99": 0.9})
    source = CloudWatchSource(client=client, load_balancer=LB_ARN)
    sample = source.read(10_000.0)
    assert (sample.p50_ms, sample.p95_ms, sample.p99_ms) == pytest.approx((30.0, 250.0, 900.0))
    assert sample.qps == pytest.approx(20.0) and sample.error_ratio == 0.0
    assert source.percentile_fallback is None and len(client.calls) == 1
    request = client.calls[0]
    assert request["StartTime"].timestamp() == 9780 and request["EndTime"].timestamp() == 9840  # ended >= 120 s before


def test_percentiles_coming_back_empty_fall_back_and_are_flagged(caplog):
    client = ScriptedCloudWatch({REQUESTS: 1200.0, LATENCY_AVERAGE: 0.05})
    source = CloudWatchSource(client=client, load_balancer=LB_ARN)
    with caplog.at_level(logging.WARNING, logger="loadstack.metrics.cloudwatch"):
        for now in (10_000.0, 10_060.0, 10_120.0):
            sample = source.read(now)
            assert sample.p50_ms == pytest.approx(50.0) and sample.p99_ms is None
    assert "no TargetResponseTime percentiles" in source.percentile_fallback
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    assert len(client.calls) == 3 and all(len(c["MetricDataQueries"]) == 7 for c in client.calls)  # still asked


def test_cloudwatch_not_answering_gives_none_and_the_reason():
    client = ScriptedCloudWatch(
        error=EndpointConnectionError(endpoint_url="https://monitoring.us-east-1.amazonaws.com")
    )
    source = CloudWatchSource(client=client, load_balancer=LB_ARN)
    assert source.read(10_000.0) is None
    assert "did not answer" in source.last_error and LB_SUFFIX in source.last_error
    assert len(client.calls) == 1 and source.percentile_fallback is None  # not taken for a percentile refusal


def test_throttling_is_not_taken_for_a_percentile_refusal():
    throttled = ClientError(
        {"Error": {"Code": "Throttling", "Message": "Rate exceeded"}, "ResponseMetadata": {"HTTPStatusCode": 400}},
        "GetMetricData",
    )
    client = ScriptedCloudWatch(error=throttled)
    source = CloudWatchSource(client=client, load_balancer=LB_ARN)
    assert source.read(10_000.0) is None and "Throttling" in source.last_error
    assert len(client.calls) == 1 and source.percentile_fallback is None


def test_a_permission_error_is_a_configuration_error_and_percentiles_are_not_blamed():
    denied = ClientError(
        {"Error": {"Code": "AccessDenied", "Message": "not authorized"}, "ResponseMetadata": {"HTTPStatusCode": 403}},
        "GetMetricData",
    )
    client = ScriptedCloudWatch(error=denied)
    source = CloudWatchSource(client=client, load_balancer=LB_ARN)
    with pytest.raises(CloudWatchSourceError, match="cloudwatch:GetMetricData"):
        source.read(10_000.0)
    assert source.percentile_fallback is None and source.queries()[-1]["Id"] == "p99"


def test_a_server_error_with_and_without_percentiles_is_no_answer_and_keeps_percentiles():
    page = "<!doctype html>\n<html>\n" + "<p>Internal Server Error</p>\n" * 50 + "</html>"
    broken = ClientError(
        {"Error": {"Code": "500", "Message": page}, "ResponseMetadata": {"HTTPStatusCode": 500}}, "GetMetricData"
    )
    client = ScriptedCloudWatch(error=broken)
    source = CloudWatchSource(client=client, load_balancer=LB_ARN)
    assert source.read(10_000.0) is None
    assert len(client.calls) == 2  # asked again without percentiles, which failed too: not their fault
    assert source.percentile_fallback is None and source.queries()[-1]["Id"] == "p99"
    assert "\n" not in source.last_error and len(source.last_error) < 300


def test_a_result_cloudwatch_could_not_finish_is_no_answer_and_a_withheld_one_is_an_error():
    values = {REQUESTS: 600.0, LATENCY_AVERAGE: 0.05}
    client = ScriptedCloudWatch(values, statuses={REQUESTS: "InternalError"})
    source = CloudWatchSource(client=client, load_balancer=LB_ARN)
    assert source.read(10_000.0) is None and "InternalError" in source.last_error
    client.statuses = {"p99": "InternalError"}  # only a percentile: the others still make a sample
    assert source.read(10_000.0).qps == pytest.approx(10.0) and source.last_error is None
    client.statuses = {TARGET_5XX: "Forbidden"}
    with pytest.raises(CloudWatchSourceError, match="cloudwatch:GetMetricData"):
        source.read(10_000.0)
