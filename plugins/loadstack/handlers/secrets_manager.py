"""`secrets_manager_secret`: write a value to an AWS Secrets Manager secret.

A mapping is stored as JSON with sorted keys. A new secret version is only written when the
current value differs, so a rerun creates no version and reports `unchanged`. A secret that is
scheduled for deletion (e.g. by a previous teardown) is restored first.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from pydantic import ConfigDict, Field, field_validator

from loadstack.handlers.base import (
    CompletionHandler,
    HandlerConfig,
    PublishResult,
    encode_text,
    literal_parts,
    register_handler,
)

log = logging.getLogger(__name__)

_NAME_CHARS = re.compile(r"[A-Za-z0-9/_+=.@\-]+")


def _same_value(current: str | None, wanted: str, value: str | dict[str, Any]) -> bool:
    if current is None:
        return False
    if current == wanted:
        return True
    if isinstance(value, dict):
        # Another writer may have stored the same mapping with other spacing or key order.
        try:
            return encode_text(json.loads(current)) == wanted
        except ValueError:
            return False
    return False


@register_handler
class SecretsManagerSecretHandler(CompletionHandler):
    name = "secrets_manager_secret"
    secret_fields = ("value",)

    class Config(HandlerConfig):
        # Validation errors must not echo a secret `value` (pydantic shows inputs by default).
        model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

        name: str = Field(description="Secret name, e.g. loadstack/shop/db_password.")
        value: str | dict[str, Any] = Field(description="A string, or a mapping stored as JSON.")
        description: str | None = None

        @field_validator("name")
        @classmethod
        def _check_name(cls, name: str) -> str:
            literal = literal_parts(name)
            if not 1 <= len(name) <= 512:
                raise ValueError("secret names are 1 to 512 characters long")
            if not _NAME_CHARS.fullmatch(literal):
                raise ValueError(
                    f"secret name {name!r} may only contain letters, digits and / _ + = . @ -"
                )
            return name

        @field_validator("value")
        @classmethod
        def _check_value(cls, value: str | dict[str, Any]) -> str | dict[str, Any]:
            try:
                text = encode_text(value)
            except (TypeError, ValueError) as exc:
                raise ValueError("value mapping is not JSON-serializable") from exc
            if text == "":
                raise ValueError("secret values cannot be empty")
            return value

    config: Config

    def publish(self) -> PublishResult:
        cfg = self.config
        client = self.context.profile.client("secretsmanager")
        wanted = encode_text(cfg.value)
        try:
            meta = client.describe_secret(SecretId=cfg.name)
        except client.exceptions.ResourceNotFoundException:
            meta = None

        if meta is None:
            kwargs: dict[str, Any] = {"Name": cfg.name, "SecretString": wanted}
            if cfg.description is not None:
                kwargs["Description"] = cfg.description
            client.create_secret(**kwargs)
            log.info("%s: created", self.describe())
            return PublishResult.CREATED

        changed = False
        if meta.get("DeletedDate"):
            client.restore_secret(SecretId=cfg.name)
            log.info("%s: restored a secret that was scheduled for deletion", self.describe())
            changed = True
        if cfg.description is not None and meta.get("Description") != cfg.description:
            client.update_secret(SecretId=cfg.name, Description=cfg.description)
            changed = True
        try:
            current = client.get_secret_value(SecretId=cfg.name).get("SecretString")
        except client.exceptions.ResourceNotFoundException:
            current = None  # the secret exists but has no AWSCURRENT version yet
        if not _same_value(current, wanted, cfg.value):
            client.put_secret_value(SecretId=cfg.name, SecretString=wanted)
            changed = True

        result = PublishResult.UPDATED if changed else PublishResult.UNCHANGED
        log.info("%s: %s", self.describe(), result.value)
        return result

    def describe(self) -> str:
        return f"{self.name} {self.config.name}"
