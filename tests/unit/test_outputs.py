"""Outputs between tasks: what reaches XCom, and how references are answered (XCom, then remote state)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from loadstack.outputs import SENSITIVE_MARKER, OutputResolver, publishable_outputs
from loadstack.profiles import load_profile
from loadstack.refs import Ref

RAW = {
    "vpc_id": {"value": "vpc-1", "type": "string", "sensitive": False},
    "password": {"value": "hunter2", "type": "string", "sensitive": True},
}
STATE = "env:/shop-network/loadstack/network.tfstate"


class FakeTI:
    def __init__(self, xcoms):
        self.xcoms = xcoms

    def pull(self, task_id):
        return self.xcoms.get(task_id)


def test_sensitive_outputs_become_markers():
    published = publishable_outputs(RAW, STATE)
    assert published == {"vpc_id": "vpc-1", "password": {SENSITIVE_MARKER: {"state_object": STATE, "output": "password"}}}
    assert "hunter2" not in json.dumps(published)


@pytest.fixture
def profile(tmp_path):
    from moto import mock_aws

    with mock_aws():
        profile = dataclasses.replace(load_profile({"LOADSTACK_HOME": str(tmp_path)}), endpoint_url=None)
        s3 = profile.client("s3")
        s3.create_bucket(Bucket=profile.state_bucket)
        s3.put_object(Bucket=profile.state_bucket, Key=STATE, Body=json.dumps({"outputs": RAW}).encode())
        yield profile


def test_resolver_reads_xcom_and_fetches_sensitive_values_from_state(profile):
    ti = FakeTI({"network.apply": publishable_outputs(RAW, STATE)})
    resolver = OutputResolver(
        pull=ti.pull, profile=profile, stack_fields={"name": "shop", "owner": "o", "variant": "minimal"},
        output_sources={"network": "network.apply"},
    )
    assert resolver(Ref("step", "vpc_id", "network")) == "vpc-1"
    assert resolver(Ref("step", "password", "network")) == "hunter2"
    assert resolver(Ref("stack", "variant")) == "minimal"
    with pytest.raises(LookupError, match="has no output 'nope' \\(has: password, vpc_id\\)"):
        resolver(Ref("step", "nope", "network"))
    with pytest.raises(KeyError, match="step 'db' is not upstream"):
        resolver(Ref("step", "x", "db"))


def test_resolver_falls_back_to_remote_state_for_teardown(profile):
    resolver = OutputResolver(
        pull=FakeTI({}).pull, profile=profile, stack_fields={}, output_sources={}, state_objects={"network": STATE},
    )
    assert resolver(Ref("step", "vpc_id", "network")) == "vpc-1"
    assert resolver(Ref("step", "password", "network")) == "hunter2"


def test_missing_upstream_xcom_is_a_clear_error(profile):
    resolver = OutputResolver(
        pull=FakeTI({}).pull, profile=profile, stack_fields={}, output_sources={"network": "network.apply"},
    )
    with pytest.raises(LookupError, match="step 'network' has published no outputs"):
        resolver(Ref("step", "vpc_id", "network"))


def test_teardown_without_recorded_outputs_explains_what_to_do(profile):
    resolver = OutputResolver(
        pull=FakeTI({}).pull, profile=profile, stack_fields={}, output_sources={},
        state_objects={"events_db": "loadstack/outputs/shop/events_db.json"},
    )
    with pytest.raises(LookupError, match="step 'events_db' has no outputs at s3://.*run the stack DAG once"):
        resolver(Ref("step", "host", "events_db"))
