from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from loadstack.handlers import HandlerContext, PublishResult, SecretsManagerSecretHandler, get_handler


def make(profile, **raw):
    config = SecretsManagerSecretHandler.validate_config(raw)
    return SecretsManagerSecretHandler(config, HandlerContext(stack="shop", step="db", profile=profile))


def versions(client, name):
    return {v["VersionId"] for v in client.list_secret_version_ids(SecretId=name)["Versions"]}


def test_registered():
    assert get_handler("secrets_manager_secret") is SecretsManagerSecretHandler
    assert SecretsManagerSecretHandler.secret_fields == ("value",)


def test_created_unchanged_updated(aws):
    sm = aws.client("secretsmanager")
    name = "loadstack/shop/db_password"

    assert make(aws, name=name, value="pw-1", description="DB").publish() is PublishResult.CREATED
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "pw-1"
    assert sm.describe_secret(SecretId=name)["Description"] == "DB"
    before = versions(sm, name)

    assert make(aws, name=name, value="pw-1", description="DB").publish() is PublishResult.UNCHANGED
    assert versions(sm, name) == before

    assert make(aws, name=name, value="pw-2").publish() is PublishResult.UPDATED
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "pw-2"
    assert len(versions(sm, name)) == len(before) + 1


def test_mapping_is_json_with_sorted_keys(aws):
    sm = aws.client("secretsmanager")
    name = "loadstack/shop/db"

    assert make(aws, name=name, value={"username": "app", "password": "pw"}).publish() is PublishResult.CREATED
    stored = sm.get_secret_value(SecretId=name)["SecretString"]
    assert stored == '{"password":"pw","username":"app"}'
    before = versions(sm, name)

    # Same mapping in another order, and the same mapping written by someone else with other spacing.
    assert make(aws, name=name, value={"password": "pw", "username": "app"}).publish() is PublishResult.UNCHANGED
    sm.put_secret_value(SecretId=name, SecretString=json.dumps({"username": "app", "password": "pw"}, indent=2))
    assert make(aws, name=name, value={"username": "app", "password": "pw"}).publish() is PublishResult.UNCHANGED
    assert len(versions(sm, name)) == len(before) + 1  # only the outside write


def test_description_change_is_an_update(aws):
    sm = aws.client("secretsmanager")
    name = "loadstack/shop/api_key"
    make(aws, name=name, value="k", description="old").publish()
    assert make(aws, name=name, value="k", description="new").publish() is PublishResult.UPDATED
    assert sm.describe_secret(SecretId=name)["Description"] == "new"
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "k"


def test_secret_scheduled_for_deletion_is_restored(aws):
    sm = aws.client("secretsmanager")
    name = "loadstack/shop/restored"
    make(aws, name=name, value="v").publish()
    sm.delete_secret(SecretId=name, RecoveryWindowInDays=7)

    assert make(aws, name=name, value="v").publish() is PublishResult.UPDATED
    assert "DeletedDate" not in sm.describe_secret(SecretId=name)
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "v"


def test_describe_has_no_secret(aws):
    handler = make(aws, name="loadstack/shop/db_password", value="top-secret")
    assert handler.describe() == "secrets_manager_secret loadstack/shop/db_password"


@pytest.mark.parametrize(
    "raw, field",
    [
        ({"name": "n", "value": "x", "kms_key_id": "k"}, "kms_key_id"),
        ({"name": "bad name", "value": "x"}, "name"),
        ({"name": "", "value": "x"}, "name"),
        ({"name": "n", "value": ""}, "value"),
        ({"name": "n", "value": ["a", "list"]}, "value"),
    ],
)
def test_config_errors(raw, field):
    with pytest.raises(ValidationError) as info:
        SecretsManagerSecretHandler.validate_config(raw)
    assert field in {str(loc) for err in info.value.errors() for loc in err["loc"]}


def test_validation_errors_do_not_echo_the_value():
    with pytest.raises(ValidationError) as info:
        SecretsManagerSecretHandler.validate_config({"name": "n", "value": ["hunter2-secret"]})
    assert "hunter2-secret" not in str(info.value)
