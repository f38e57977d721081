"""Remote state read without Terraform: whether a workspace still holds resources (a destroy's no-op check)."""

from __future__ import annotations

import json

import pytest

from loadstack.profiles import Profile
from loadstack.terraform.state import holds_resources


@pytest.fixture
def profile(tmp_path, mocked_aws) -> Profile:
    profile = Profile(name="aws", region="us-east-1", state_bucket="state", home=tmp_path, terraform_bin="terraform",
                      plugin_mirror=tmp_path)
    profile.client("s3").create_bucket(Bucket="state")
    return profile


def put_state(profile, key: str, resources: list) -> None:
    body = {"version": 4, "outputs": {"x": {"value": "secret", "type": "string"}}, "resources": resources}
    profile.client("s3").put_object(Bucket="state", Key=key, Body=json.dumps(body).encode())


def test_no_state_object_holds_nothing(profile):
    assert holds_resources(profile, "env:/shop-network/loadstack/network.tfstate") is False


def test_an_applied_then_destroyed_workspace_holds_nothing(profile):
    put_state(profile, "env:/a/s.tfstate", [])
    put_state(profile, "env:/b/s.tfstate", [{"mode": "data", "type": "aws_ssm_parameter", "instances": [{}]}])
    put_state(profile, "env:/c/s.tfstate", [{"mode": "managed", "type": "aws_ssm_parameter", "instances": []}])
    assert [holds_resources(profile, f"env:/{w}/s.tfstate") for w in "abc"] == [False, False, False]


def test_a_managed_resource_with_an_instance_is_held(profile):
    put_state(profile, "env:/a/s.tfstate", [{"mode": "managed", "type": "aws_ssm_parameter", "instances": [{}]}])
    assert holds_resources(profile, "env:/a/s.tfstate") is True
