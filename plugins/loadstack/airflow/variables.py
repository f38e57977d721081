"""Airflow Variables as the `VariableStore` completion handlers write to (Task SDK: inside a task only)."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Variable


class AirflowVariables:
    def get(self, key: str) -> str | None:
        return Variable.get(key, default=None, deserialize_json=False)

    def set(self, key: str, value: Any, *, description: str | None, serialize_json: bool) -> None:
        Variable.set(key, value, description=description, serialize_json=serialize_json)
