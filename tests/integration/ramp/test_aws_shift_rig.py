"""A ramp step's aws shift settings through open_rig against the moto server, clients from the local profile.

The spec's `load` (alb_shift, route53_shift) and `metrics` (cloudwatch) blocks, validated and reduced to
their settings as the DAG renders them, make a rig whose driver moves real (moto) listener weights and
record weights, reads them back, and drains them on close; the CloudWatch source reads the stack's
target group's published data points.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime

import pytest

from loadstack.kinds.ramp import RampStep
from loadstack.metrics.cloudwatch import NAMESPACE, load_balancer_dimension, target_group_dimension
from loadstack.ramp_rig import open_rig
from loadstack.shift.alb import AlbShiftDriver
from loadstack.shift.route53 import Route53ShiftDriver

pytestmark = pytest.mark.integration
RAMP = {"kind": "ramp", "target_url": "http://shop.example.com", "target_qps": 300, "threshold_qps": 30, "bucket_qps": 10}


@pytest.fixture
def alb(local_profile):
    """(load balancer, listener, production target group, stack target group) ARNs, made in moto for this test."""
    ec2, elbv2 = local_profile.client("ec2"), local_profile.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.78.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.78.{i}.0/24", AvailabilityZone=f"{local_profile.region}{zone}")[
            "Subnet"
        ]["SubnetId"]
        for i, zone in enumerate("ab")
    ]
    name = f"sh-{secrets.token_hex(4)}"
    lb = elbv2.create_load_balancer(Name=name, Subnets=subnets, Type="application")["LoadBalancers"][0]["LoadBalancerArn"]
    groups = [
        elbv2.create_target_group(Name=f"{name}-{pool}", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0][
            "TargetGroupArn"
        ]
        for pool in ("prod", "stack")
    ]
    listener = elbv2.create_listener(
        LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=[{"Type": "forward", "TargetGroupArn": groups[0]}]
    )["Listeners"][0]["ListenerArn"]
    try:
        yield lb, listener, groups[0], groups[1]
    finally:
        elbv2.delete_listener(ListenerArn=listener)
        elbv2.delete_load_balancer(LoadBalancerArn=lb)
        for group in groups:
            elbv2.delete_target_group(TargetGroupArn=group)
        for subnet in subnets:
            ec2.delete_subnet(SubnetId=subnet)
        ec2.delete_vpc(VpcId=vpc)


def listener_weights(local_profile, listener: str) -> dict[str, int]:
    [found] = local_profile.client("elbv2").describe_listeners(ListenerArns=[listener])["Listeners"]
    [forward] = [a for a in found["DefaultActions"] if a["Type"] == "forward"]
    return {g["TargetGroupArn"]: g["Weight"] for g in forward["ForwardConfig"]["TargetGroups"]}


def test_an_alb_shift_read_from_cloudwatch_moves_real_listener_weights_and_reads_the_stacks_group(local_profile, alb, tmp_path):
    lb, listener, production, stack = alb
    step = RampStep.model_validate(
        {
            **RAMP,
            "load": {
                "driver": "alb_shift", "live_qps": 999, "listener_arn": listener,
                "production_target_group_arn": production, "stack_target_group_arn": stack,
            },
            "metrics": {"source": "cloudwatch", "load_balancer": lb, "target_group": stack, "period_s": 10, "publish_lag_s": 30},
            "max_staleness_s": 60,
        }
    )
    # What an ALB publishes for the stack's target group: 250 requests in one 10 s period, some time ago.
    start = int(time.time()) // 10 * 10 - 60
    dimensions = [
        {"Name": "LoadBalancer", "Value": load_balancer_dimension(lb)},
        {"Name": "TargetGroup", "Value": target_group_dimension(stack)},
    ]
    local_profile.client("cloudwatch").put_metric_data(
        Namespace=NAMESPACE,
        MetricData=[
            {"MetricName": "RequestCount", "Dimensions": dimensions, "Timestamp": datetime.fromtimestamp(start + 2, UTC),
             "Value": 250, "Unit": "Count", "StorageResolution": 1},
        ],
    )
    rig = open_rig(
        run_dir=tmp_path, project_root=tmp_path, target_url=step.target_url, load=step.load.settings(),
        metrics=step.metrics.settings(), profile=local_profile,
    )
    try:
        assert isinstance(rig.driver, AlbShiftDriver)
        assert rig.driver.set_rate(300) == 300.0  # 300 of 999 weight units
        assert listener_weights(local_profile, listener) == {production: 699, stack: 300}
        assert rig.driver.applied_rate() == 300.0
        sample = rig.source.read(start + 10 + 30 + 1)
        assert sample is not None and sample.at == start and sample.qps == pytest.approx(25.0), rig.source.last_error
    finally:
        rig.close()
    assert listener_weights(local_profile, listener) == {production: 999, stack: 0}  # drained on close


def test_a_route53_shift_moves_real_record_weights_and_waits_for_their_ttl(local_profile, tmp_path):
    route53 = local_profile.client("route53")
    zone_name = f"shift-{secrets.token_hex(3)}.example.com"
    zone = route53.create_hosted_zone(Name=zone_name, CallerReference=secrets.token_hex(8))["HostedZone"]["Id"]
    name = f"shop.{zone_name}."
    records = [
        {"Name": name, "Type": "A", "SetIdentifier": identifier, "Weight": weight, "TTL": 30,
         "ResourceRecords": [{"Value": address}]}
        for identifier, weight, address in (("production", 255, "10.0.0.1"), ("stack", 0, "10.0.0.2"))
    ]
    route53.change_resource_record_sets(
        HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": r} for r in records]}
    )
    step = RampStep.model_validate(
        {
            **RAMP,
            "load": {
                "driver": "route53_shift", "live_qps": 510, "hosted_zone_id": zone, "record_name": name,
                "production_set_identifier": "production", "stack_set_identifier": "stack", "propagation_s": 5,
            },
            "metrics": {"url": "http://127.0.0.1:9", "window_s": 5},
        }
    )
    rig = open_rig(
        run_dir=tmp_path, project_root=tmp_path, target_url=step.target_url, load=step.load.settings(),
        metrics=step.metrics.settings(), profile=local_profile,
    )
    try:
        try:
            assert isinstance(rig.driver, Route53ShiftDriver) and rig.driver.settle_s == 30 + 5
            assert rig.driver.set_rate(100) == 100.0  # 50 of 255 units at 2 QPS each
            assert record_weights(route53, zone, name) == {"production": 205, "stack": 50}
        finally:
            rig.close()
        assert record_weights(route53, zone, name) == {"production": 255, "stack": 0}  # drained on close
    finally:
        # The moto server is shared: leave it as it was found.
        listed = route53.list_resource_record_sets(HostedZoneId=zone, StartRecordName=name, StartRecordType="A")
        mine = [r for r in listed["ResourceRecordSets"] if r.get("SetIdentifier")]
        route53.change_resource_record_sets(
            HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": r} for r in mine]}
        )
        route53.delete_hosted_zone(Id=zone)


def record_weights(route53, zone: str, name: str) -> dict[str, int]:
    listed = route53.list_resource_record_sets(HostedZoneId=zone, StartRecordName=name, StartRecordType="A")
    return {r["SetIdentifier"]: r["Weight"] for r in listed["ResourceRecordSets"] if r.get("SetIdentifier")}
