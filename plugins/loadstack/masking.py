"""Secret values must never reach a log. Core code reports each secret it handles to `mask`; the
runtime it runs in decides how to hide it (inside Airflow, `loadstack.airflow` registers the task
log's masker). Outside a runtime (the CLI, tests) nothing is registered and `mask` does nothing."""

from __future__ import annotations

from typing import Any, Callable

_maskers: list[Callable[[Any], None]] = []


def register_masker(masker: Callable[[Any], None]) -> None:
    if masker not in _maskers:
        _maskers.append(masker)


def mask(value: Any) -> None:
    if value in (None, ""):
        return
    for masker in _maskers:
        masker(value)
