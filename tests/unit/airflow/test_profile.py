"""On the aws profile, tasks get their AWS sessions from the Airflow AWS connection (the provider's hook):
an assumed role comes with credentials botocore refreshes, so multi-hour tasks outlive the first hour."""

from __future__ import annotations

import json

import pytest
from botocore.credentials import RefreshableCredentials
from moto import mock_aws

from loadstack.airflow.profile import connection_session, task_profile
from loadstack.profiles import load_profile

ROLE = "arn:aws:iam::123456789012:role/loadstack-runner"


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_LOADSTACK_TEST", json.dumps({
        "conn_type": "aws", "login": "AKIAEXAMPLEKEY", "password": "example-secret",
        "extra": {"role_arn": ROLE, "region_name": "us-east-1"},
    }))
    env = {"LOADSTACK_PROFILE": "aws", "LOADSTACK_STATE_BUCKET": "state", "LOADSTACK_HOME": str(tmp_path),
           "LOADSTACK_AWS_CONN_ID": "loadstack_test", "LOADSTACK_ALLOWED_ACCOUNT_IDS": "123456789012"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield env


def test_task_profile_assumes_the_connections_role(aws_env):
    profile = task_profile()

    identity = profile.client("sts").get_caller_identity()
    assert identity["Arn"].startswith("arn:aws:sts::123456789012:assumed-role/loadstack-runner/")
    assert profile.verify_account() == "123456789012"


def test_assumed_role_credentials_refresh_and_reach_terraform(aws_env):
    profile = load_profile(aws_env, session_factory=connection_session)

    credentials = profile._session.get_credentials()
    assert isinstance(credentials, RefreshableCredentials)  # botocore renews them before they expire
    env = profile.aws_credentials()
    assert env["AWS_ACCESS_KEY_ID"] != "AKIAEXAMPLEKEY"  # the role's keys, not the connection's own
    assert env["AWS_SESSION_TOKEN"]


def test_without_airflow_the_aws_profile_uses_boto3s_own_chain(aws_env, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFROMENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "from-env")
    profile = load_profile(aws_env)

    assert profile.aws_credentials()["AWS_ACCESS_KEY_ID"] == "AKIAFROMENV"
