"""CompletionHandlerOperator.execute with a mocked task context: references resolved from the upstream
XCom, secrets masked before the handler runs, the handler's result as the return value."""

from __future__ import annotations

import dataclasses
from unittest import mock

import pytest

from loadstack import masking
from loadstack.airflow.operators.handlers import CompletionHandlerOperator
from loadstack.profiles import load_profile


@pytest.fixture
def aws(tmp_path):
    from moto import mock_aws

    profile = dataclasses.replace(
        load_profile({"LOADSTACK_PROFILE": "local", "LOADSTACK_HOME": str(tmp_path)}), endpoint_url=None
    )
    with mock_aws():
        yield profile


@pytest.fixture
def masked(monkeypatch):
    seen: list = []
    monkeypatch.setattr(masking, "_maskers", [seen.append])
    return seen


def operator(profile, config, **kwargs):
    op = CompletionHandlerOperator(
        task_id="publish_ssm_parameter", stack="shop", step="db", variant="minimal", stack_owner="sre",
        handler="ssm_parameter", config=config, output_sources={"db": "db.apply", "network": "network.apply"},
        **kwargs,
    )
    op.__dict__["profile"] = profile  # the cached profile property: moto's in-memory AWS
    return op


def context(xcoms):
    ti = mock.MagicMock()
    ti.xcom_pull.side_effect = lambda task_ids: xcoms.get(task_ids)
    return {"ti": ti}


def test_publishes_resolved_references_and_reports_the_result(aws, masked):
    ctx = context({"db.apply": {"password": "hunter2", "host": "db.local"}, "network.apply": {"vpc_id": "vpc-1"}})
    config = {"name": "/loadstack/${stack.name}/db", "value": "${outputs.password}", "type": "SecureString"}

    assert operator(aws, config).execute(ctx) == "created"
    assert operator(aws, config).execute(ctx) == "unchanged"

    stored = aws.client("ssm").get_parameter(Name="/loadstack/shop/db", WithDecryption=True)["Parameter"]
    assert (stored["Value"], stored["Type"]) == ("hunter2", "SecureString")
    assert "hunter2" in masked  # masked before the handler could log it
    ctx["ti"].xcom_pull.assert_any_call(task_ids="db.apply")


def test_a_plain_string_parameter_is_not_masked(aws, masked):
    ctx = context({"network.apply": {"vpc_id": "vpc-1"}, "db.apply": {}})
    config = {"name": "/loadstack/shop/vpc", "value": "${steps.network.outputs.vpc_id}"}

    assert operator(aws, config).execute(ctx) == "created"
    assert "vpc-1" not in masked


def test_a_missing_upstream_output_fails_with_the_outputs_it_has(aws, masked):
    ctx = context({"network.apply": {"vpc_id": "vpc-1"}, "db.apply": {}})
    config = {"name": "/loadstack/shop/subnets", "value": "${steps.network.outputs.subnet_ids}"}

    with pytest.raises(LookupError, match="step 'network' has no output 'subnet_ids' \\(has: vpc_id\\)"):
        operator(aws, config).execute(ctx)


def test_an_unknown_variant_is_refused_before_anything_is_published(aws, masked):
    op = operator(aws, {"name": "/x", "value": "v"})
    op.variant = "huge"
    with pytest.raises(ValueError, match="variant 'huge': choose one of minimal, production"):
        op.execute(context({}))
    assert aws.client("ssm").describe_parameters()["Parameters"] == []


def test_constructor_does_no_io():
    with mock.patch("loadstack.airflow.operators.base.task_profile") as task_profile:
        operator(None, {"name": "/x", "value": "v"})
    task_profile.assert_not_called()
