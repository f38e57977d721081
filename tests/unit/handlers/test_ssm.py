from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from loadstack.handlers import HandlerContext, PublishResult, SsmParameterHandler, get_handler


def make(profile, **raw):
    config = SsmParameterHandler.validate_config(raw)
    return SsmParameterHandler(config, HandlerContext(stack="shop", step="network", profile=profile))


def test_registered():
    assert get_handler("ssm_parameter") is SsmParameterHandler


def test_created_unchanged_updated(aws):
    ssm = aws.client("ssm")
    name = "/loadstack/shop/vpc_id"

    assert make(aws, name=name, value="vpc-1", description="VPC").publish() is PublishResult.CREATED
    first = ssm.get_parameter(Name=name)["Parameter"]
    assert (first["Value"], first["Type"], first["Version"]) == ("vpc-1", "String", 1)

    assert make(aws, name=name, value="vpc-1", description="VPC").publish() is PublishResult.UNCHANGED
    assert ssm.get_parameter(Name=name)["Parameter"]["Version"] == first["Version"]

    assert make(aws, name=name, value="vpc-2").publish() is PublishResult.UPDATED
    after = ssm.get_parameter(Name=name)["Parameter"]
    assert (after["Value"], after["Version"]) == ("vpc-2", 2)


def test_non_string_values_are_canonical_json(aws):
    ssm = aws.client("ssm")
    name = "/loadstack/shop/subnets"
    value = {"private": ["subnet-b", "subnet-a"], "az_count": 2}

    assert make(aws, name=name, value=value).publish() is PublishResult.CREATED
    stored = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    assert json.loads(stored) == value
    # Same mapping, other key order: no new version.
    reordered = {"az_count": 2, "private": ["subnet-b", "subnet-a"]}
    assert make(aws, name=name, value=reordered).publish() is PublishResult.UNCHANGED
    assert ssm.get_parameter(Name=name)["Parameter"]["Version"] == 1


def test_secure_string_is_stored_encrypted(aws):
    ssm = aws.client("ssm")
    name = "/loadstack/shop/db_password"

    handler = make(aws, name=name, value="s3cr3t-pw", type="SecureString")
    assert handler.secret_fields == ("value",)
    assert "s3cr3t-pw" not in handler.describe()
    assert handler.describe() == "ssm_parameter /loadstack/shop/db_password (SecureString)"
    assert handler.publish() is PublishResult.CREATED

    raw = ssm.get_parameter(Name=name, WithDecryption=False)["Parameter"]
    assert raw["Type"] == "SecureString"
    assert raw["Value"] != "s3cr3t-pw"
    assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == "s3cr3t-pw"

    again = make(aws, name=name, value="s3cr3t-pw", type="SecureString")
    assert again.publish() is PublishResult.UNCHANGED
    assert ssm.get_parameter(Name=name)["Parameter"]["Version"] == 1


def test_type_change_is_an_update(aws):
    name = "/loadstack/shop/token"
    assert make(aws, name=name, value="abc").publish() is PublishResult.CREATED
    assert make(aws, name=name, value="abc", type="SecureString").publish() is PublishResult.UPDATED
    assert aws.client("ssm").get_parameter(Name=name)["Parameter"]["Type"] == "SecureString"


def test_secret_fields_follow_the_type(aws):
    assert SsmParameterHandler.secret_fields == ("value",)  # before a config exists: conservative
    assert make(aws, name="/a/b", value="x").secret_fields == ()
    assert make(aws, name="/a/b", value="x").describe() == "ssm_parameter /a/b (String)"


@pytest.mark.parametrize(
    "raw, field",
    [
        ({"name": "/a", "value": "x", "overwrite": True}, "overwrite"),
        ({"name": "loadstack/shop/vpc_id", "value": "x"}, "name"),
        ({"name": "/loadstack//vpc_id", "value": "x"}, "name"),
        ({"name": "/loadstack/vpc id", "value": "x"}, "name"),
        ({"name": "/aws/reserved", "value": "x"}, "name"),
        ({"name": "/a", "value": ""}, "value"),
        ({"name": "/a", "value": "x", "type": "StringList"}, "type"),
        ({"name": "/a"}, "value"),
    ],
)
def test_config_errors(raw, field):
    with pytest.raises(ValidationError) as info:
        SsmParameterHandler.validate_config(raw)
    assert field in {str(loc) for err in info.value.errors() for loc in err["loc"]}


def test_key_id_needs_secure_string():
    with pytest.raises(ValidationError, match="key_id only applies to type SecureString"):
        SsmParameterHandler.validate_config({"name": "/a", "value": "x", "key_id": "alias/k"})


def test_validation_errors_do_not_echo_the_value():
    with pytest.raises(ValidationError) as info:
        SsmParameterHandler.validate_config(
            {"name": "/a", "value": "hunter2-secret", "type": "SecureString", "key_id": 5}
        )
    assert "hunter2-secret" not in str(info.value)


def test_unresolved_references_pass_parse_time_checks():
    raw = {"name": "/loadstack/${stack.name}/network/vpc_id", "value": "${outputs.vpc_id}"}
    assert SsmParameterHandler.validate_config(raw).name == raw["name"]
