"""CloudWatchSource over HTTP against the moto server, through the local profile's boto3 client.

The load balancer and its target group are real moto ELBv2 resources: their ARNs go through the
same dimension helpers a spec's ARNs do. The data points are put into CloudWatch in the past, as
an ALB would have published them, at 10 s resolution.
"""

from __future__ import annotations

import logging
import secrets
import time
from datetime import UTC, datetime

import pytest

from loadstack.metrics.cloudwatch import NAMESPACE, CloudWatchSource, load_balancer_dimension, target_group_dimension

pytestmark = pytest.mark.integration

PERIOD_S = 10
LAG_S = 30


@pytest.fixture
def alb(local_profile):
    """(load balancer ARN, target group ARN) of an application load balancer made in moto for this test."""
    ec2, elbv2 = local_profile.client("ec2"), local_profile.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.77.{i}.0/24", AvailabilityZone=f"{local_profile.region}{zone}")[
            "Subnet"
        ]["SubnetId"]
        for i, zone in enumerate("ab")
    ]
    name = f"cw-{secrets.token_hex(4)}"
    lb = elbv2.create_load_balancer(Name=name, Subnets=subnets, Type="application")["LoadBalancers"][0]
    tg = elbv2.create_target_group(Name=name, Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance")
    tg_arn = tg["TargetGroups"][0]["TargetGroupArn"]
    try:
        yield lb["LoadBalancerArn"], tg_arn
    finally:
        elbv2.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
        elbv2.delete_target_group(TargetGroupArn=tg_arn)
        for subnet in subnets:
            ec2.delete_subnet(SubnetId=subnet)
        ec2.delete_vpc(VpcId=vpc)


@pytest.fixture
def base() -> int:
    """A minute boundary ten minutes ago."""
    return int(time.time()) // 60 * 60 - 600


def publish(client, dimensions, start, *, requests, target_5xx=0, elb_5xx=0, latency_s=None):
    """What an ALB publishes for the 10 s period from `start`, in three data points."""
    load_balancer_only = [d for d in dimensions if d["Name"] == "LoadBalancer"]
    data = []

    def datum(metric, at, value, dims=dimensions, unit="Count"):
        stamp = datetime.fromtimestamp(at, UTC)
        return {
            "MetricName": metric,
            "Dimensions": dims,
            "Timestamp": stamp,
            "Value": value,
            "Unit": unit,
            "StorageResolution": 1,
        }

    for offset, share in ((1, 0.5), (4, 0.3), (8, 0.2)):
        at = start + offset
        data.append(datum("RequestCount", at, requests * share))
        if target_5xx:
            data.append(datum("HTTPCode_Target_5XX_Count", at, target_5xx * share))
        if elb_5xx:
            data.append(datum("HTTPCode_ELB_5XX_Count", at, elb_5xx * share, load_balancer_only))
        if latency_s is not None:
            data.append(datum("TargetResponseTime", at, latency_s, unit="Seconds"))
    client.put_metric_data(Namespace=NAMESPACE, MetricData=data)


def test_source_reads_the_newest_complete_period_through_the_profile(local_profile, alb, base, caplog):
    lb_arn, _ = alb
    client = local_profile.client("cloudwatch")
    lb = [{"Name": "LoadBalancer", "Value": load_balancer_dimension(lb_arn)}]
    publish(client, lb, base + 20, requests=100, latency_s=0.5)
    publish(client, lb, base + 30, requests=600, target_5xx=9, elb_5xx=3, latency_s=0.04)
    publish(client, lb, base + 40, requests=40, latency_s=0.9)  # still filling when read below
    source = CloudWatchSource(
        client=local_profile.client("cloudwatch"), load_balancer=lb_arn, period_s=PERIOD_S, publish_lag_s=LAG_S
    )
    try:
        now = base + 40 + LAG_S + 5
        with caplog.at_level(logging.WARNING, logger="loadstack.metrics.cloudwatch"):
            sample = source.read(now)
            again = source.read(now + 1)
        assert sample is not None, source.last_error
        assert (sample.at, sample.window_s, sample.taken_at) == (base + 30, PERIOD_S, now)
        assert sample.qps == pytest.approx(60.0)
        assert sample.error_ratio == pytest.approx(12 / 600)
        # moto's server answers 500 to a p99 statistic: the source asks without and says so, once.
        assert sample.p50_ms == pytest.approx(40.0) and sample.p95_ms is None and sample.p99_ms is None
        assert "refused the TargetResponseTime percentiles" in source.percentile_fallback
        assert again.qps == sample.qps and again.p50_ms == sample.p50_ms
        assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1

        empty = source.read(base + 70 + LAG_S)  # [60, 70): nothing published
        assert empty is not None and empty.at == base + 60
        assert (empty.qps, empty.error_ratio, empty.p50_ms) == (None, None, None)
    finally:
        source.close()


def test_a_target_groups_traffic_is_its_own(local_profile, alb, base):
    lb_arn, tg_arn = alb
    client = local_profile.client("cloudwatch")
    lb = [{"Name": "LoadBalancer", "Value": load_balancer_dimension(lb_arn)}]
    group = lb + [{"Name": "TargetGroup", "Value": target_group_dimension(tg_arn)}]
    publish(client, lb, base + 30, requests=1000)
    publish(client, group, base + 30, requests=250, target_5xx=5)
    source = CloudWatchSource(
        client=client,
        load_balancer=lb_arn,
        target_group=tg_arn,
        period_s=PERIOD_S,
        publish_lag_s=LAG_S,
        percentiles=False,
    )
    try:
        sample = source.read(base + 40 + LAG_S)
        assert sample.qps == pytest.approx(25.0) and sample.error_ratio == pytest.approx(0.02)
    finally:
        source.close()
