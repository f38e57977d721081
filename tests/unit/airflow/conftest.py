"""Fixtures for operator unit tests: a profile operators may not branch on, mocked state and catalog."""

from __future__ import annotations

from unittest import mock

import pytest
from airflow.sdk.execution_time.context import OutletEventAccessors

from loadstack.airflow.operators import base as operators_base
from loadstack.profiles import Profile
from loadstack.snapshots.catalog import CatalogEntry


@pytest.fixture
def profile(tmp_path) -> Profile:
    """A profile whose `is_local` fails the test: operators ask `backends_for`, never the profile."""
    real = Profile(name="aws", region="eu-west-1", state_bucket="state", home=tmp_path, terraform_bin="terraform",
                   plugin_mirror=tmp_path, snapshot_bucket="snapshots", endpoint_url="http://127.0.0.1:1",
                   aws_conn_id="aws_default")
    fake = mock.MagicMock(spec=Profile, wraps=real)
    for name in ("name", "region", "endpoint_url", "aws_conn_id", "snapshot_bucket", "state_bucket", "allowed_account_ids"):
        setattr(fake, name, getattr(real, name))
    type(fake).is_local = mock.PropertyMock(side_effect=AssertionError("an operator branched on the profile"))
    return fake


@pytest.fixture
def recorded(monkeypatch) -> dict[str, mock.Mock]:
    """record_outputs / forget_outputs without the state bucket: what was recorded, what was forgotten."""
    record = mock.Mock(side_effect=lambda profile, stack, step, outputs: outputs)
    forget = mock.Mock()
    monkeypatch.setattr(operators_base, "record_outputs", record)
    monkeypatch.setattr(operators_base, "forget_outputs", forget)
    return {"record": record, "forget": forget}


@pytest.fixture
def entry() -> CatalogEntry:
    """The catalogued snapshot the restore tests ask for."""
    return CatalogEntry(name="fx-seeded", engine="mariadb", kind="seeded", profile="aws", location="shop-seeded-1")


@pytest.fixture
def make_context():
    """`make_context(pulled)`: a task context whose ti answers every xcom_pull with `pulled`."""

    def make(pulled: dict | None = None, *, try_number: int = 1, max_tries: int = 0) -> dict:
        ti = mock.MagicMock(try_number=try_number, max_tries=max_tries)
        ti.xcom_pull.return_value = pulled or {}
        return {"ti": ti, "outlet_events": OutletEventAccessors()}

    return make


@pytest.fixture
def s3_profile(tmp_path, mocked_aws) -> Profile:
    """An aws profile on moto's in-process S3 (boto3's default chain: the static moto credentials), with its
    state bucket; the report bucket ("reports") is left for each test to create or not."""
    profile = Profile(
        name="aws",
        region="us-east-1",
        state_bucket="state",
        report_bucket="reports",
        home=tmp_path,
        terraform_bin="terraform",
        plugin_mirror=tmp_path,
    )
    profile.client("s3").create_bucket(Bucket="state")
    return profile
