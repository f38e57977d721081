"""`ssm_parameter`: write a value to an SSM Parameter Store parameter.

Non-string values are stored as compact JSON with sorted keys, so the same mapping always produces
the same parameter value and a rerun is `unchanged` (no new parameter version).
"""

from __future__ import annotations

import logging
import re
from typing import Any, Literal, Self

from pydantic import ConfigDict, Field, field_validator, model_validator

from loadstack.handlers.base import (
    CompletionHandler,
    HandlerConfig,
    PublishResult,
    encode_text,
    literal_parts,
    register_handler,
)

log = logging.getLogger(__name__)

_NAME_CHARS = re.compile(r"[A-Za-z0-9_.\-/]*")


class _SecretFieldsForSecureString:
    """`secret_fields` that is ("value",) for a SecureString handler, () for a String one.

    Read on the class (before a config exists) it answers conservatively: ("value",).
    """

    def __get__(self, instance: Any, owner: type) -> tuple[str, ...]:
        if instance is None or getattr(instance.config, "type", "SecureString") == "SecureString":
            return ("value",)
        return ()


@register_handler
class SsmParameterHandler(CompletionHandler):
    name = "ssm_parameter"
    secret_fields = _SecretFieldsForSecureString()  # type: ignore[assignment]

    class Config(HandlerConfig):
        # Validation errors must not echo a secret `value` (pydantic shows inputs by default).
        model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

        name: str = Field(description="Parameter name, a path starting with '/'.")
        value: Any = Field(description="A string, or any JSON value (stored JSON-encoded).")
        type: Literal["String", "SecureString"] = "String"
        description: str | None = None
        key_id: str | None = Field(default=None, description="KMS key for a SecureString.")

        @field_validator("name")
        @classmethod
        def _check_name(cls, name: str) -> str:
            # At parse time `name` may still hold `${...}` references: check only the literal parts.
            literal = literal_parts(name)
            if not name.startswith(("/", "${")):
                raise ValueError(f"SSM parameter name {name!r} must start with '/'")
            if len(name) > 2048:
                raise ValueError("SSM parameter names are at most 2048 characters")
            if not _NAME_CHARS.fullmatch(literal):
                raise ValueError(
                    f"SSM parameter name {name!r} may only contain letters, digits and _ . - /"
                )
            segments = literal.split("/")[1:] if name.startswith("/") else literal.split("/")
            if not all(segments):
                raise ValueError(f"SSM parameter name {name!r} has an empty path segment")
            if name.startswith("/") and segments[0].lower().startswith(("aws", "ssm")):
                raise ValueError(f"SSM parameter name {name!r}: names may not begin with 'aws' or 'ssm'")
            return name

        @field_validator("value")
        @classmethod
        def _check_value(cls, value: Any) -> Any:
            try:
                text = encode_text(value)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"value is not JSON-serializable ({type(value).__name__})") from exc
            if text == "":
                raise ValueError("SSM parameter values cannot be empty")
            return value

        @model_validator(mode="after")
        def _check_key_id(self) -> Self:
            if self.key_id is not None and self.type != "SecureString":
                raise ValueError("key_id only applies to type SecureString")
            return self

    config: Config

    def publish(self) -> PublishResult:
        cfg = self.config
        client = self.context.profile.client("ssm")
        wanted = encode_text(cfg.value)
        try:
            current = client.get_parameter(Name=cfg.name, WithDecryption=True)["Parameter"]
        except client.exceptions.ParameterNotFound:
            current = None
        if current is not None and current["Type"] == cfg.type and current["Value"] == wanted:
            log.info("%s: unchanged (version %s)", self.describe(), current.get("Version"))
            return PublishResult.UNCHANGED

        kwargs: dict[str, Any] = {"Name": cfg.name, "Value": wanted, "Type": cfg.type, "Overwrite": True}
        if cfg.description is not None:
            kwargs["Description"] = cfg.description
        if cfg.key_id is not None:
            kwargs["KeyId"] = cfg.key_id
        version = client.put_parameter(**kwargs).get("Version")
        result = PublishResult.CREATED if current is None else PublishResult.UPDATED
        log.info("%s: %s (version %s)", self.describe(), result.value, version)
        return result

    def describe(self) -> str:
        return f"{self.name} {self.config.name} ({self.config.type})"
