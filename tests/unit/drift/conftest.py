"""A profile on moto's in-process S3 with its state and report buckets, for the drift core's tests."""

from __future__ import annotations

import pytest

from loadstack.profiles import Profile


@pytest.fixture
def drift_profile(tmp_path, mocked_aws) -> Profile:
    profile = Profile(name="aws", region="us-east-1", state_bucket="state", report_bucket="reports", home=tmp_path,
                      terraform_bin="terraform", plugin_mirror=tmp_path)
    profile.client("s3").create_bucket(Bucket="state")
    return profile
