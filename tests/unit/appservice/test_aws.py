"""loadstack.appservice.aws on moto (in process): outputs from the app_cluster's ALB, nothing to start or remove."""

from __future__ import annotations

import pytest

from loadstack.appservice.aws import AwsAppService
from loadstack.appservice.base import AppConfig, AppServiceError
from loadstack.profiles import Profile


@pytest.fixture
def aws(tmp_path, monkeypatch):
    from moto import mock_aws  # moto only for these tests

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield Profile(
            name="aws",
            region="us-east-1",
            state_bucket="state",
            home=tmp_path,
            terraform_bin="terraform",
            plugin_mirror=tmp_path,
        )


def _target_group(profile: Profile, instances: int) -> str:
    ec2, elbv2 = profile.client("ec2"), profile.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    arn = elbv2.create_target_group(Name="shop-app-8000", Protocol="HTTP", Port=8000, VpcId=vpc)["TargetGroups"][0][
        "TargetGroupArn"
    ]
    if instances:
        ids = [
            i["InstanceId"]
            for i in ec2.run_instances(ImageId="ami-04681a1dbd79675a5", MinCount=instances, MaxCount=instances)[
                "Instances"
            ]
        ]
        elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": i} for i in ids])
    return arn


def _config(**overrides) -> AppConfig:
    values = {
        "stack": "shop",
        "step": "app",
        "instances": 2,
        "db_secret_id": "db",
        "db_name": "shop",
        "cache_secret_id": "cache",
    }
    return AppConfig(**{**values, **overrides})


def test_outputs_are_the_load_balancers(aws):
    arn = _target_group(aws, 3)
    outputs = AwsAppService(aws, "shop", "app").deploy(
        _config(load_balancer_url="http://shop-app.elb.example/", target_group_arn=arn)
    )
    assert outputs == {
        "url": "http://shop-app.elb.example",
        "health_url": "http://shop-app.elb.example/health",
        "prometheus_url": None,
        "instances": 3,
        "target_group_arn": arn,
    }


def test_missing_load_balancer_fields_are_named(aws):
    with pytest.raises(
        AppServiceError, match=r"load_balancer.url and load_balancer.target_group_arn not set.*app_cluster"
    ):
        AwsAppService(aws, "shop", "app").deploy(_config())


def test_an_unknown_target_group_is_named(aws):
    arn = _target_group(aws, 0).replace("shop-app-8000", "gone")
    with pytest.raises(AppServiceError, match="target group .*gone.* cannot be read"):
        AwsAppService(aws, "shop", "app").deploy(_config(load_balancer_url="http://lb", target_group_arn=arn))


def test_teardown_is_terraforms(aws):
    assert AwsAppService(aws, "shop", "app").teardown() is False
