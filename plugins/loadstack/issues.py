"""Problems found in a file the user wrote, each as `file: field path: what to fix`.

Shared by stack specs, snapshot definitions and step kinds: one way to turn pydantic's errors into
lines a person can act on, and one "did you mean" for every misspelt name.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from types import UnionType
from typing import Any, Iterable, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError


@dataclass(frozen=True)
class SpecIssue:
    path: str
    message: str


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice closest to a misspelt `word`, or None when none is close."""
    close = difflib.get_close_matches(str(word), sorted(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """ "did you mean 'x'? " when a choice is close to `word`, else "" (to put before a list of choices)."""
    match = closest(word, choices)
    return f"did you mean '{match}'? " if match else ""


def unknown_name(what: str, word: str, choices: Iterable[str], *, known_label: str = "known", fix: str = "") -> str:
    """ "unknown <what> 'word' (did you mean 'x'? known: a, b[; fix])": the message for a misspelt name."""
    choices = sorted(choices)
    tail = f"; {fix}" if fix else ""
    return f"unknown {what} '{word}' ({did_you_mean(word, choices)}{known_label}: {', '.join(choices) or 'none'}{tail})"




def _format_loc(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for "the dict key itself was invalid"
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def join_path(prefix: str, rest: str) -> str:
    if not rest:
        return prefix
    if not prefix:
        return rest
    return prefix + rest if rest.startswith("[") else f"{prefix}.{rest}"


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model that owns the field at `loc`, descending through nested models, dicts and lists."""
    current: Any = model
    for part in loc:
        current = _optional_model(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(part) if isinstance(part, str) else None
            if info is None:
                return None
            current = info.annotation
            continue
        origin, args = get_origin(current), get_args(current)
        if origin is dict and len(args) == 2:
            current = args[1]  # `part` is a key of the dict
        elif origin is list and args:
            current = args[0]  # `part` is an index
        else:
            return None
    current = _optional_model(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _optional_model(annotation: Any) -> Any:
    """The model of an optional block (`Model | None`); any other annotation as it is."""
    models = [arg for arg in get_args(annotation) if isinstance(arg, type) and issubclass(arg, BaseModel)]
    return models[0] if get_origin(annotation) in (Union, UnionType) and len(models) == 1 else annotation


def _suggest(word: str, choices: Iterable[str]) -> str:
    match = closest(word, choices)
    return f"did you mean '{match}'?" if match else f"valid keys: {', '.join(sorted(choices))}"


def issues_from_validation(
    exc: ValidationError, model: type[BaseModel], prefix: str = "", *, echo_input: bool = True
) -> list[SpecIssue]:
    """pydantic errors as spec issues. `echo_input=False` where a value may be a secret (handler configs)."""
    issues = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = join_path(prefix, _format_loc(loc))
        kind = err["type"]
        if kind == "extra_forbidden":
            parent = _model_at(model, loc[:-1])
            hint = f" ({_suggest(str(loc[-1]), parent.model_fields)})" if parent else ""
            issues.append(SpecIssue(path, f"unknown key '{loc[-1]}'{hint}"))
        elif kind == "missing":
            issues.append(SpecIssue(path, f"required key '{loc[-1]}' is missing; add it"))
        elif kind == "value_error":
            issues.append(SpecIssue(path, str(err["ctx"]["error"]) if "ctx" in err else err["msg"]))
        elif kind == "string_pattern_mismatch":
            got = f"'{err['input']}'" if echo_input else "value"
            issues.append(SpecIssue(path, f"{got} must match {err['ctx']['pattern']}"))
        else:
            got = f" (got {err['input']!r})" if echo_input else ""
            issues.append(SpecIssue(path, f"{err['msg']}{got}"))
    return issues
