"""A saved plan's JSON → drifted resources: quiet actions ignored, changed attributes named, sensitive
values never kept."""

from __future__ import annotations

import json

import pytest

from loadstack.drift.changes import (
    HIDDEN,
    MAX_VALUE_CHARS,
    UNKNOWN,
    PlanFormatError,
    ResourceDrift,
    contains_true,
    planned_changes,
)

SECRET = "hunter2-not-a-real-password"


def resource_change(address, actions, before=None, after=None, **change):
    kind = address.split(".")[-2]
    return {"address": address, "mode": "managed", "type": kind, "name": address.split(".")[-1],
            "change": {"actions": actions, "before": before, "after": after, **change}}


def plan(*changes, outputs=None):
    return {"format_version": "1.2", "terraform_version": "1.11.4", "resource_changes": list(changes),
            "output_changes": outputs or {}}


def test_no_op_and_read_are_not_drift():
    found = planned_changes(plan(
        resource_change("aws_vpc.this", ["no-op"], {"cidr_block": "10.0.0.0/16"}, {"cidr_block": "10.0.0.0/16"}),
        resource_change("data.aws_ami.app", ["read"]),
    ))
    assert found.resources == () and found.empty


def test_an_update_names_the_attributes_that_differ_with_their_values():
    before = {"id": "sg-1", "name": "app", "tags": {"Owner": "mallory"}, "description": "x"}
    after = {"id": "sg-1", "name": "app", "tags": {}, "description": "x"}
    (drift,) = planned_changes(plan(resource_change(
        "module.net.aws_security_group.app", ["update"], before, after,
        after_unknown={}, before_sensitive={}, after_sensitive={},
    ))).resources
    assert drift.address == "module.net.aws_security_group.app" and drift.type == "aws_security_group"
    assert drift.action == "update"
    assert [(a.name, a.before, a.after, a.sensitive) for a in drift.attributes] == [
        ("tags", '{"Owner": "mallory"}', "{}", False)
    ]


def test_sensitive_attributes_are_named_but_their_values_never_kept():
    before = {"name": "/p", "value": SECRET, "tags": None, "nested": {"password": SECRET, "user": "a"}}
    after = {"name": "/p", "value": "as-planned", "tags": None, "nested": {"password": "other", "user": "a"}}
    (drift,) = planned_changes(plan(resource_change(
        "aws_ssm_parameter.this", ["update"], before, after,
        before_sensitive={"value": True, "nested": {"password": True}}, after_sensitive={"value": True},
    ))).resources
    assert [(a.name, a.before, a.after, a.sensitive) for a in drift.attributes] == [
        ("nested", HIDDEN, HIDDEN, True),
        ("value", HIDDEN, HIDDEN, True),
    ]
    assert SECRET not in json.dumps(drift.to_json()) and "as-planned" not in json.dumps(drift.to_json())


def test_a_sensitive_mark_on_the_whole_object_or_only_after_hides_every_value():
    (whole,) = planned_changes(plan(resource_change(
        "aws_secretsmanager_secret_version.v", ["update"], {"secret_string": SECRET}, {"secret_string": "new"},
        before_sensitive=True, after_sensitive=False,
    ))).resources
    assert whole.attributes[0].sensitive and SECRET not in json.dumps(whole.to_json())
    (after_only,) = planned_changes(plan(resource_change(
        "aws_db_instance.db", ["update"], {"password": None}, {"password": SECRET},
        before_sensitive={}, after_sensitive={"password": True},
    ))).resources
    assert after_only.attributes[0].before == HIDDEN and SECRET not in json.dumps(after_only.to_json())


def test_an_attribute_known_only_after_apply_is_a_change():
    (drift,) = planned_changes(plan(resource_change(
        "aws_lb.app", ["update"], {"arn": "a", "dns_name": "old"}, {"arn": "a", "dns_name": None},
        after_unknown={"dns_name": True},
    ))).resources
    assert [(a.name, a.before, a.after) for a in drift.attributes] == [("dns_name", '"old"', UNKNOWN)]


def test_a_deleted_resource_is_recreated_and_a_replacement_says_why():
    found = planned_changes(plan(
        resource_change("aws_s3_bucket.logs", ["create"], None, {"bucket": "logs"}),
        resource_change("aws_instance.app", ["delete", "create"], {"ami": "a"}, {"ami": "b"},
                        replace_paths=[["ami"]]),
        resource_change("aws_instance.old", ["create", "delete"], {"ami": "a"}, {"ami": "b"}),
    ))
    created, replaced, created_first = found.resources
    assert created.action == "create" and created.attributes == ()  # the whole resource is new
    assert replaced.action == "replace" and replaced.replace_paths == ("ami",)
    assert created_first.action == "replace"


def test_changed_outputs_are_named_without_values():
    found = planned_changes(plan(outputs={
        "url": {"actions": ["update"], "before": "a", "after": "b"},
        "same": {"actions": ["no-op"], "before": "a", "after": "a"},
    }))
    assert found.outputs == ("url",) and not found.empty


def test_long_values_are_cut():
    (drift,) = planned_changes(plan(resource_change(
        "aws_iam_policy.p", ["update"], {"policy": "x" * 1000}, {"policy": "y"}))).resources
    assert len(drift.attributes[0].before) == MAX_VALUE_CHARS and drift.attributes[0].before.endswith("…")


def test_resource_drift_round_trips_through_json():
    (drift,) = planned_changes(plan(resource_change(
        "aws_instance.app", ["delete", "create"], {"ami": "a", "k": SECRET}, {"ami": "b", "k": "z"},
        replace_paths=[["ami"]], before_sensitive={"k": True}))).resources
    assert ResourceDrift.from_json(json.loads(json.dumps(drift.to_json()))) == drift


def test_not_a_plan_is_refused():
    with pytest.raises(PlanFormatError, match="show -json"):
        planned_changes({"resource_changes": []})


@pytest.mark.parametrize("marks, expected", [
    (True, True), (False, False), ({}, False), ({"a": {"b": True}}, True), ([False, [True]], True), (None, False),
])
def test_contains_true(marks, expected):
    assert contains_true(marks) is expected
