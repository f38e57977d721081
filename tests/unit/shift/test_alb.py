"""loadstack.shift.alb against moto in-process: weighted target groups on an ALB listener, read back."""

from __future__ import annotations

from dataclasses import dataclass

import boto3
import pytest

from loadstack.ramp.traffic import TrafficDriverError
from loadstack.shift.alb import MAX_WEIGHT, SETTLE_S, AlbShiftDriver
from loadstack.shift.weights import WeightSplit, WeightSplitError

REGION = "us-east-1"


@dataclass
class Alb:
    elbv2: object
    listener_arn: str
    production_arn: str
    stack_arn: str
    other_arn: str

    def default_actions(self) -> list[dict]:
        return self.elbv2.describe_listeners(ListenerArns=[self.listener_arn])["Listeners"][0]["DefaultActions"]

    def weights(self) -> dict[str, int]:
        groups = self.default_actions()[0]["ForwardConfig"]["TargetGroups"]
        return {g["TargetGroupArn"]: g["Weight"] for g in groups}

    def driver(self, live_qps: float = 999.0, **kwargs) -> AlbShiftDriver:
        return AlbShiftDriver(
            elbv2=self.elbv2,
            listener_arn=self.listener_arn,
            production_target_group_arn=self.production_arn,
            stack_target_group_arn=self.stack_arn,
            live_qps=live_qps,
            **kwargs,
        )


@pytest.fixture(scope="module")
def alb_world():
    """A VPC with two subnets, an ALB, target groups prod, stack and other, and an HTTP listener, in moto's
    memory; built once for the module (moto's EC2 takes seconds to start), reset by `alb` for each test."""
    from moto import mock_aws

    with pytest.MonkeyPatch.context() as env:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }.items():
            env.setenv(name, value)
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
            env.delenv(name, raising=False)
        with mock_aws():
            ec2 = boto3.client("ec2", region_name=REGION)
            elbv2 = boto3.client("elbv2", region_name=REGION)
            vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
            subnets = [
                ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{zone}")["Subnet"][
                    "SubnetId"
                ]
                for i, zone in enumerate("ab", start=1)
            ]
            lb = elbv2.create_load_balancer(Name="shop", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
            groups = {
                name: elbv2.create_target_group(Name=name, Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0][
                    "TargetGroupArn"
                ]
                for name in ("prod", "stack", "other")
            }
            listener = elbv2.create_listener(
                LoadBalancerArn=lb,
                Protocol="HTTP",
                Port=80,
                DefaultActions=[{"Type": "forward", "TargetGroupArn": groups["prod"]}],
            )["Listeners"][0]["ListenerArn"]
            yield Alb(elbv2, listener, groups["prod"], groups["stack"], groups["other"])


@pytest.fixture
def alb(alb_world) -> Alb:
    """The listener's default action forwarding to prod alone: the state before any shift."""
    alb_world.elbv2.modify_listener(
        ListenerArn=alb_world.listener_arn,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": alb_world.production_arn}],
    )
    return alb_world


def test_a_listener_forwarding_to_production_alone_sends_nothing_to_the_stack(alb):
    assert alb.driver().applied_rate() == 0.0


def test_set_rate_writes_both_weights_and_returns_what_they_send(alb):
    driver = alb.driver(live_qps=1998.0)  # one unit of 999 is 2 QPS
    assert driver.set_rate(301.0) == pytest.approx(302.0)  # 150.5 units -> 151
    assert alb.weights() == {alb.production_arn: 848, alb.stack_arn: 151}
    assert alb.default_actions()[0]["ForwardConfig"]["TargetGroupStickinessConfig"] == {"Enabled": False}
    assert driver.applied_rate() == pytest.approx(302.0)
    assert driver.last is not None and (driver.last.stack, driver.last.production) == (151, 848)

    assert driver.set_rate(100.0) == pytest.approx(100.0)
    assert alb.weights() == {alb.production_arn: 949, alb.stack_arn: 50}


def test_applied_rate_follows_the_live_estimate_and_the_listener(alb):
    driver = alb.driver(live_qps=999.0)
    driver.set_rate(333.0)
    driver.live_qps = 1998.0
    assert driver.applied_rate() == pytest.approx(666.0)  # the same weights, twice the live traffic
    # Somebody else moves the weights: the driver reports what the listener holds, not what it asked.
    alb.elbv2.modify_listener(
        ListenerArn=alb.listener_arn,
        DefaultActions=[
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [
                        {"TargetGroupArn": alb.production_arn, "Weight": 1},
                        {"TargetGroupArn": alb.stack_arn, "Weight": 1},
                    ]
                },
            }
        ],
    )
    assert driver.applied_rate() == pytest.approx(999.0)


def test_drain_puts_all_weight_back_on_production(alb):
    driver = alb.driver()
    driver.set_rate(500.0)
    driver.drain()
    assert alb.weights() == {alb.production_arn: MAX_WEIGHT, alb.stack_arn: 0}
    assert driver.applied_rate() == 0.0
    driver.close()  # drains again, safely
    assert alb.weights() == {alb.production_arn: MAX_WEIGHT, alb.stack_arn: 0}


def test_more_than_the_live_traffic_is_clamped_and_production_keeps_a_unit(alb, caplog):
    driver = alb.driver(live_qps=999.0)
    with caplog.at_level("WARNING", logger="loadstack.shift.alb"):
        assert driver.set_rate(5000.0) == pytest.approx(998.0)
    assert alb.weights() == {alb.production_arn: 1, alb.stack_arn: 998}
    assert driver.last.clamped and "5000 QPS wanted" in caplog.text and alb.listener_arn in caplog.text


def test_weights_outside_aws_range_are_refused_before_anything_is_sent(alb):
    """moto accepts any weight (5000 included); AWS refuses what is outside 0..999, so the driver checks."""
    driver = alb.driver()
    driver.split = WeightSplit(live_qps=999.0, max_weight=5000, target="a wrong scale")
    with pytest.raises(WeightSplitError, match=r"weight of target group .*stack.* is not an integer in 0\.\.999"):
        driver.set_rate(900.0)
    assert alb.default_actions() == [{"Type": "forward", "TargetGroupArn": alb.production_arn}]


def test_a_weight_that_did_not_take_is_an_error_naming_the_target_group(alb):
    """AWS has been seen storing weight 1 where 0 was sent; the read-back catches any such difference."""

    class NudgingElbv2:
        def __init__(self, real):
            self.real = real

        def describe_listeners(self, **kwargs):
            return self.real.describe_listeners(**kwargs)

        def modify_listener(self, *, ListenerArn, DefaultActions):
            for group in DefaultActions[0]["ForwardConfig"]["TargetGroups"]:
                if group["Weight"] == 0:
                    group["Weight"] = 1
            return self.real.modify_listener(ListenerArn=ListenerArn, DefaultActions=DefaultActions)

    driver = alb.driver()
    driver.elbv2 = NudgingElbv2(alb.elbv2)
    with pytest.raises(
        TrafficDriverError, match=r"target group .*targetgroup/stack/.* reports weight 1 after it was set to 0"
    ):
        driver.drain()


def test_stickiness_is_refused_because_weights_would_not_move_sticky_clients(alb):
    alb.elbv2.modify_listener(
        ListenerArn=alb.listener_arn,
        DefaultActions=[
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [
                        {"TargetGroupArn": alb.production_arn, "Weight": 10},
                        {"TargetGroupArn": alb.stack_arn, "Weight": 0},
                    ],
                    "TargetGroupStickinessConfig": {"Enabled": True, "DurationSeconds": 60},
                },
            }
        ],
    )
    with pytest.raises(TrafficDriverError, match="stickiness is on.*turn stickiness off"):
        alb.driver().set_rate(10.0)
    assert alb.weights() == {alb.production_arn: 10, alb.stack_arn: 0}  # left alone


def test_a_listener_forwarding_elsewhere_is_refused_naming_the_group(alb):
    alb.elbv2.modify_listener(
        ListenerArn=alb.listener_arn, DefaultActions=[{"Type": "forward", "TargetGroupArn": alb.other_arn}]
    )
    with pytest.raises(TrafficDriverError, match=r"targetgroup/other/.* neither production"):
        alb.driver().set_rate(10.0)


def test_a_listener_not_forwarding_to_production_is_refused(alb):
    alb.elbv2.modify_listener(
        ListenerArn=alb.listener_arn, DefaultActions=[{"Type": "forward", "TargetGroupArn": alb.stack_arn}]
    )
    with pytest.raises(TrafficDriverError, match=r"does not forward to production target group .*targetgroup/prod/"):
        alb.driver().applied_rate()


def test_a_listener_without_a_forward_action_is_refused(alb):
    alb.elbv2.modify_listener(
        ListenerArn=alb.listener_arn,
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503"}}],
    )
    with pytest.raises(TrafficDriverError, match=r"0 forward actions \(\['fixed-response'\]\)"):
        alb.driver().set_rate(10.0)


def test_an_unknown_listener_is_an_error_naming_it(alb):
    driver = AlbShiftDriver(
        elbv2=alb.elbv2,
        listener_arn=alb.listener_arn + "0",
        production_target_group_arn=alb.production_arn,
        stack_target_group_arn=alb.stack_arn,
        live_qps=100.0,
    )
    with pytest.raises(TrafficDriverError, match=r"ALB listener .*0: reading it failed: .*ListenerNotFound"):
        driver.applied_rate()


def test_settle_time_has_a_default_and_can_be_given():
    arns = {
        "listener_arn": "arn:aws:l",
        "production_target_group_arn": "arn:aws:x",
        "stack_target_group_arn": "arn:aws:y",
    }
    assert AlbShiftDriver(elbv2=None, live_qps=1.0, **arns).settle_s == SETTLE_S == 10.0
    assert AlbShiftDriver(elbv2=None, live_qps=1.0, settle_s=3.0, **arns).settle_s == 3.0


@pytest.mark.parametrize(
    "change, message",
    [
        ({"listener_arn": "shop"}, "listener_arn 'shop' is not an ARN"),
        ({"stack_target_group_arn": None}, "stack_target_group_arn None is not an ARN"),
        ({"stack_target_group_arn": "arn:aws:x"}, "the same target group"),
        ({"settle_s": -1}, "settle_s -1"),
        ({"live_qps": -1}, "live_qps -1"),
    ],
)
def test_bad_arguments_are_refused_naming_them(change, message):
    arguments = {
        "elbv2": None,
        "listener_arn": "arn:aws:l",
        "production_target_group_arn": "arn:aws:x",
        "stack_target_group_arn": "arn:aws:y",
        "live_qps": 100.0,
        **change,
    }
    with pytest.raises(ValueError, match=message):
        AlbShiftDriver(**arguments)
