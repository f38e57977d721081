"""`python_callable`: hand a finished step's outputs to your own function.

Contract
--------
`callable` is "package.module.function" or "package.module:attr.path". At publish time (in the task) the
module is imported and the function called as

    fn(context=HandlerContext(stack, step, profile), **kwargs)

where `kwargs` already have their `${outputs.X}` references resolved. It must be idempotent like the
built-in handlers and return a `PublishResult` or one of the strings "created", "updated",
"unchanged"; anything else (None included) is an error naming the callable. Exceptions it raises
propagate unchanged.

When the spec is parsed, `check()` imports nothing: it finds the module's source file on sys.path and
reads it (`loadstack.handlers.callable_source`), so a module that does work, or exits, at import time
cannot take validation or the DAG processor down. It checks the function is defined there, is not async
and accepts `context` and the keys of `kwargs`; what only the import can tell is left to the task.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Callable
from typing import Any

from pydantic import ConfigDict, Field, field_validator

from loadstack.handlers.base import (
    CompletionHandler,
    HandlerConfig,
    PublishResult,
    register_handler,
)
from loadstack.handlers.callable_source import CallableResolutionError, check_callable, split_callable

__all__ = ["CallableResolutionError", "PythonCallableHandler", "resolve_callable"]

log = logging.getLogger(__name__)

_ALLOWED_RESULTS = ", ".join(repr(r.value) for r in PublishResult)
_split = split_callable


def _import(module: str, path: str):
    """Import `module`; ModuleNotFoundError only when `module` (or a parent) itself is missing."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing == module or module.startswith(missing + "."):
            raise
        raise CallableResolutionError(
            f"callable {path!r}: importing module {module!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    except Exception as exc:
        raise CallableResolutionError(
            f"callable {path!r}: importing module {module!r} failed: {type(exc).__name__}: {exc}"
        ) from exc


def resolve_callable(path: str) -> Callable[..., Any]:
    """Import and return the callable `path` names, or raise CallableResolutionError saying why not.

    This imports the module (and runs its import-time code): publish time only. Parse time uses
    `callable_source.check_callable`, which reads the source instead."""
    module_name, attr = _split(path)
    if attr is not None:
        try:
            obj = _import(module_name, path)
        except ModuleNotFoundError as exc:
            raise CallableResolutionError(
                f"callable {path!r}: module {module_name!r} not found ({exc})"
            ) from None
        attrs = attr.split(".")
    else:
        # "a.b.c": the longest importable prefix is the module, the rest are attributes.
        parts = module_name.split(".")
        obj = None
        first_missing: ModuleNotFoundError | None = None
        for i in range(len(parts) - 1, 0, -1):
            try:
                obj = _import(".".join(parts[:i]), path)
            except ModuleNotFoundError as exc:
                first_missing = first_missing or exc
                continue
            module_name, attrs = ".".join(parts[:i]), parts[i:]
            break
        else:
            raise CallableResolutionError(
                f"callable {path!r}: module {'.'.join(parts[:-1])!r} not found ({first_missing})"
            ) from None
        if first_missing is not None and first_missing.name == f"{module_name}.{attrs[0]}" and not hasattr(
            obj, attrs[0]
        ):
            raise CallableResolutionError(
                f"callable {path!r}: module {first_missing.name!r} not found ({first_missing})"
            ) from None

    owner = module_name
    for name in attrs:
        try:
            obj = getattr(obj, name)
        except AttributeError:
            raise CallableResolutionError(
                f"callable {path!r}: {owner!r} has no attribute {name!r}"
            ) from None
        owner = f"{owner}.{name}"
    if not callable(obj):
        raise CallableResolutionError(f"callable {path!r} is not callable (it is of type {type(obj).__name__})")
    if inspect.iscoroutinefunction(obj) or inspect.isasyncgenfunction(obj):
        raise CallableResolutionError(f"callable {path!r} is async; completion handlers must be plain functions")
    return obj


@register_handler
class PythonCallableHandler(CompletionHandler):
    name = "python_callable"

    class Config(HandlerConfig):
        # Validation errors must not echo `kwargs`, which may hold secrets (pydantic shows inputs).
        model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

        callable: str = Field(description="'package.module.function' or 'package.module:function'.")
        kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments for the call.")

        @field_validator("callable")
        @classmethod
        def _check_path(cls, path: str) -> str:
            try:
                _split(path)
            except CallableResolutionError as exc:
                raise ValueError(str(exc)) from None
            return path

        @field_validator("kwargs")
        @classmethod
        def _check_kwargs(cls, kwargs: dict[str, Any]) -> dict[str, Any]:
            if "context" in kwargs:
                raise ValueError("'context' is reserved: the handler passes the HandlerContext under that name")
            return kwargs

    config: Config

    def check(self) -> None:
        """Parse time: read the module's source, import nothing (see callable_source)."""
        checked = check_callable(self.config.callable, keywords=["context", *self.config.kwargs])
        if checked.note:
            log.debug("%s: not checked statically: %s", self.describe(), checked.note)

    def publish(self) -> PublishResult:
        path = self.config.callable
        fn = resolve_callable(path)
        returned = fn(context=self.context, **self.config.kwargs)
        if isinstance(returned, PublishResult):
            result = returned
        elif isinstance(returned, str) and returned in PublishResult._value2member_map_:
            result = PublishResult(returned)
        else:
            # Say what came back without echoing it: it may be a secret.
            what = "None" if returned is None else f"a value of type {type(returned).__name__}"
            if isinstance(returned, str):
                what = "a str that is not one of those"
            raise TypeError(
                f"python_callable {path!r} returned {what}; it must return {_ALLOWED_RESULTS} or a PublishResult"
            )
        log.info("%s: %s", self.describe(), result.value)
        return result

    def describe(self) -> str:
        return f"{self.name} {self.config.callable}"
