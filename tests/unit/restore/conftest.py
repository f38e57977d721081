"""An aws profile on moto (in memory) for the restore implementations' unit tests."""

from __future__ import annotations

import pytest

from loadstack.profiles import Profile

REGION = "us-east-1"


@pytest.fixture
def aws_profile(tmp_path, monkeypatch) -> Profile:
    from moto import mock_aws  # moto is a test-only dependency

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        profile = Profile(name="aws", region=REGION, state_bucket="state", home=tmp_path, terraform_bin="terraform",
                          plugin_mirror=tmp_path, snapshot_bucket="snapshots")
        profile.client("s3").create_bucket(Bucket="snapshots")
        yield profile
