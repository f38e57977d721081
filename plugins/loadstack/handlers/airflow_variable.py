"""`airflow_variable`: write a value to an Airflow Variable, from inside a running task.

Writes through the context's `VariableStore`: inside an Airflow task, `loadstack.airflow.variables`
(the Task SDK's `Variable`, which talks to the Execution API); there is none outside a task. Strings are stored as they are; anything else with `serialize_json=True`.
The comparison is on the value only (the Task SDK cannot read a Variable's description): a rerun
with the same value is `unchanged` and leaves the description as it was.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from pydantic import Field, field_validator

from loadstack.handlers.base import (
    CompletionHandler,
    HandlerConfig,
    PublishResult,
    register_handler,
)

log = logging.getLogger(__name__)

def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _same_value(current: str, value: Any) -> bool:
    if isinstance(value, str):
        return current == value
    try:
        return _canonical_json(json.loads(current)) == _canonical_json(value)
    except ValueError:
        return False


@register_handler
class AirflowVariableHandler(CompletionHandler):
    name = "airflow_variable"

    class Config(HandlerConfig):
        key: str = Field(description="Variable key.")
        value: Any = Field(description="A string, or any JSON value (stored with serialize_json).")
        description: str | None = None

        @field_validator("key")
        @classmethod
        def _check_key(cls, key: str) -> str:
            if not key.strip():
                raise ValueError("Variable key cannot be empty")
            if len(key) > 250:
                raise ValueError("Variable keys are at most 250 characters")
            if re.search(r"\s", key):
                raise ValueError(f"Variable key {key!r} cannot contain whitespace")
            return key

        @field_validator("value")
        @classmethod
        def _check_value(cls, value: Any) -> Any:
            if not isinstance(value, str):
                try:
                    json.dumps(value)
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"value is not JSON-serializable ({type(value).__name__})") from exc
            return value

    config: Config

    def publish(self) -> PublishResult:
        store = self.context.variables
        if store is None:
            raise RuntimeError(f"{self.describe()}: Airflow Variables can only be written from inside an Airflow task")
        cfg = self.config
        # Raw (serialized) text, or None: a found Variable is always a string.
        current = store.get(cfg.key)
        if current is not None and _same_value(current, cfg.value):
            log.info("%s: unchanged", self.describe())
            return PublishResult.UNCHANGED
        is_json = not isinstance(cfg.value, str)
        store.set(cfg.key, cfg.value, description=cfg.description, serialize_json=is_json)
        result = PublishResult.CREATED if current is None else PublishResult.UPDATED
        log.info("%s: %s", self.describe(), result.value)
        return result

    def describe(self) -> str:
        return f"{self.name} {self.config.key}"
