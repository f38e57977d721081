"""How each step kind becomes tasks: a renderer per kind name, registered by the kind's render module.

The kinds themselves (`loadstack.kinds`) know nothing of Airflow; a new kind adds its model there and
its renderer here (one module under `loadstack.airflow.render`, imported by the package).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from loadstack.airflow.render.context import StepRenderContext, TeardownRenderContext


@dataclass(frozen=True)
class KindRenderer:
    # Builds the step's tasks inside its TaskGroup; returns the task its handlers follow.
    render: Callable[[StepRenderContext], Any]
    # Builds the step's teardown tasks; None for a kind with nothing to destroy.
    render_teardown: Callable[[TeardownRenderContext], Any] | None = None


RENDERERS: dict[str, KindRenderer] = {}


def register_renderer(kind: str, renderer: KindRenderer) -> KindRenderer:
    if kind in RENDERERS and RENDERERS[kind] != renderer:
        raise ValueError(f"step kind {kind!r} has two renderers")
    RENDERERS[kind] = renderer
    return renderer


def renderer_for(kind: str) -> KindRenderer:
    try:
        return RENDERERS[kind]
    except KeyError:
        raise LookupError(f"step kind {kind!r} has no renderer: add one under loadstack.airflow.render") from None
