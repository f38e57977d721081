"""JSON credentials in the profile's Secrets Manager: how passwords reach tasks without XCom or logs."""

from __future__ import annotations

import json
from typing import Any

from loadstack.masking import mask
from loadstack.profiles import Profile


def put_json_secret(profile: Profile, name: str, value: dict[str, Any], *, description: str = "") -> str:
    """Create or overwrite the secret `name`; returns its ARN."""
    client = profile.client("secretsmanager")
    body = json.dumps(value, sort_keys=True)
    try:
        return client.put_secret_value(SecretId=name, SecretString=body)["ARN"]
    except client.exceptions.ResourceNotFoundException:
        return client.create_secret(Name=name, SecretString=body, Description=description)["ARN"]


def get_json_secret(profile: Profile, name: str) -> dict[str, Any]:
    value = profile.client("secretsmanager").get_secret_value(SecretId=name)["SecretString"]
    parsed = json.loads(value)
    if "password" in parsed:
        mask(parsed["password"])
    return parsed


def delete_secret(profile: Profile, name: str) -> None:
    client = profile.client("secretsmanager")
    try:
        client.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    except client.exceptions.ResourceNotFoundException:
        pass
