"""Problems found in a file the user wrote, each as `file: field path: what to fix`.

Shared by stack specs, snapshot definitions and step kinds: one way to turn pydantic's errors into
lines a person can act on, one "did you mean" for every misspelt name, and the few helpers that keep
a message one line long and short whatever the user wrote (`issue_line`, `shown`, `listing`).
"""

from __future__ import annotations

import difflib
import heapq
import re
import reprlib
from dataclasses import dataclass
from datetime import date, datetime
from types import NoneType, UnionType
from typing import Annotated, Any, Iterable, Literal, Mapping, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

# Values echoed in a message are cut to this many characters; a name in a list of choices to NAME_LIMIT.
SHOWN_LIMIT = 80
NAME_LIMIT = 40
# Past this many choices "did you mean" compares only names one edit away (difflib over thousands of
# names, once per problem, made a 2,000-step spec take a minute to report).
_DIFFLIB_CHOICES = 200
# A word this long is no misspelling of a name: no suggestion (and no quadratic comparison).
_LONGEST_WORD = 100


@dataclass(frozen=True)
class SpecIssue:
    path: str
    message: str


# --- one line, short ------------------------------------------------------------------------------

# C0 and C1 control characters, DEL, and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _ESCAPES:
        return _ESCAPES[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def issue_line(text: str, limit: int | None = None) -> str:
    """`text` as one line: line breaks, tabs and other control characters written as escapes (\\n, \\x1b),
    so a name holding a line break cannot forge a line of the output; cut to `limit` characters if given."""
    text = _CONTROL.sub(_escape, str(text))
    return _cut(text, limit) if limit else text


# A message that echoes a long value whole (a 5,000-character condition, say) is cut in the middle: its
# start says where and what, its end the fix.
LINE_LIMIT = 1000
_KEEP_END = 300


def _cut_middle(text: str, limit: int = LINE_LIMIT) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - _KEEP_END - 5] + " ... " + text[-_KEEP_END:]


def format_issue(source: str, issue: SpecIssue) -> str:
    """`source: path: message` (or `source: message`), as one line of at most LINE_LIMIT characters."""
    where = f"{source}: {issue_line(issue.path, 200)}: " if issue.path else f"{source}: "
    return _cut_middle(where + issue_line(issue.message))


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."


_REPR = reprlib.Repr()
_REPR.maxlevel = 2
_REPR.maxdict = _REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxfrozenset = 6
_REPR.maxstring = _REPR.maxother = SHOWN_LIMIT


def shown(value: Any, limit: int = SHOWN_LIMIT) -> str:
    """A value the user wrote, as it may be echoed in a message: its repr, on one line, cut to `limit`
    characters with "..." (a whole YAML document pasted into a name stays a short message)."""
    try:
        text = repr(value[: limit + 1]) if isinstance(value, str) else _REPR.repr(value)
    except Exception:  # noqa: BLE001 - a repr that fails is no reason to fail the message
        text = f"<{kind_of(value)}>"
    return _cut(issue_line(text), limit)


def kind_of(value: Any) -> str:
    """What a YAML value is, in plain words: "a list", "a mapping", "a number", "text", "true/false", "nothing"."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, (set, frozenset)):
        return "a set"
    if isinstance(value, datetime):
        return "a date and time"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, (bytes, bytearray)):
        return "binary data"
    return "a value of another type"


def listing(names: Iterable[Any], limit: int = 12, *, empty: str = "none") -> str:
    """The first `limit` names in sorted order, then ", and N more": a list of choices that stays short
    however many there are (`empty` when there are none)."""
    distinct = {str(n) for n in names}
    if not distinct:
        return empty
    head = ", ".join(_cut(name, NAME_LIMIT) for name in heapq.nsmallest(limit, distinct))
    rest = len(distinct) - limit
    return f"{head}, and {rest} more" if rest > 0 else head


# --- misspelt names -------------------------------------------------------------------------------


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice closest to a misspelt `word`, or None when none is close."""
    if not isinstance(word, str) or len(word) > _LONGEST_WORD:
        return None
    options = {c for c in choices if isinstance(c, str)}
    if len(options) > _DIFFLIB_CHOICES:
        options = _one_edit_away(word, options)
    close = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.6)
    return close[0] if close else None


def _one_edit_away(word: str, choices: set[str]) -> set[str]:
    """The choices one deletion, insertion, substitution or swap of neighbours away from `word`."""
    letters = set("".join(choices))
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    found = {a + b[1:] for a, b in splits if b}
    found |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    found |= {a + c + b[1:] for a, b in splits if b for c in letters}
    found |= {a + c + b for a, b in splits for c in letters}
    return found & choices


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """ "did you mean 'x'? " when a choice is close to `word`, else "" (to put before a list of choices)."""
    match = closest(word, choices)
    return f"did you mean {shown(match)}? " if match else ""


def unknown_name(what: str, word: str, choices: Iterable[str], *, known_label: str = "known", fix: str = "") -> str:
    """ "unknown <what> 'word' (did you mean 'x'? known: a, b[; fix])": the message for a misspelt name.

    A `word` that is no name at all (a list, a mapping, a number) gets `not_a_name`'s message instead.
    """
    choices = list(choices)
    if not isinstance(word, str):
        return not_a_name(what, word, choices, known_label=known_label)
    tail = f"; {fix}" if fix else ""
    return f"unknown {what} {shown(word)} ({did_you_mean(word, choices)}{known_label}: {listing(choices)}{tail})"


def not_a_name(what: str, value: Any, choices: Iterable[str], *, known_label: str = "known") -> str:
    """ "must be a <what> name (got a list); known: a, b": where a name is expected and something else is there."""
    return f"must be a {what} name (got {kind_of(value)}); {known_label}: {listing(choices)}"


# --- pydantic's errors ----------------------------------------------------------------------------

# What a value of the wrong type should have been, by pydantic error type.
_EXPECTED = {
    "dict_type": "a mapping of keys to values",
    "model_type": "a mapping of keys to values",
    "model_attributes_type": "a mapping of keys to values",
    "dataclass_type": "a mapping of keys to values",
    "list_type": "a list",
    "tuple_type": "a list",
    "set_type": "a list",
    "iterable_type": "a list",
    "string_type": "text",
    "string_unicode": "text",
    "bytes_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "decimal_type": "a number",
    "decimal_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "none_required": "empty (null)",
    "date_type": "a date (YYYY-MM-DD)",
    "date_parsing": "a date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "a date (YYYY-MM-DD)",
    "datetime_type": "a date and time",
    "datetime_parsing": "a date and time",
    "time_delta_type": "a duration",
    "time_delta_parsing": "a duration",
}
# A class name pydantic may put into a message ("... or instance of StepModel").
_INSTANCE_OF = re.compile(r",? or (?:an )?instance of [A-Za-z_][\w.]*|(?:an )?instance of [A-Za-z_][\w.]*")
# Labels pydantic puts into an error's location for the member of a union that failed ("str",
# "list[str]", "function-after[...]"), where the location walk cannot tell them from field names.
_TYPE_LABELS = {"str", "int", "float", "bool", "none", "bytes", "dict", "list"}


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


def _bare(annotation: Any) -> Any:
    """`annotation` without Annotated[...] and without the `None` of an optional."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
            continue
        if get_origin(annotation) in (Union, UnionType):
            members = [arg for arg in get_args(annotation) if arg is not NoneType]
            if len(members) == 1:
                annotation = members[0]
                continue
        return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _member(members: tuple[Any, ...], label: Any) -> Any:
    """The union member pydantic's location label names: a model by class name or by its tag, or a
    plain type by its name; None when no member matches."""
    for member in members:
        bare = _bare(member)
        if _is_model(bare):
            if label == bare.__name__:
                return bare
            for info in bare.model_fields.values():
                if get_origin(info.annotation) is Literal and label in get_args(info.annotation):
                    return bare
        elif label == getattr(bare, "__name__", None) or label == str(bare).replace(" ", "").lower():
            return bare
    return None


def _walk(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[list[Any], int | None, Any]:
    """The location without pydantic's union-member labels (a user never wrote them); how many of its
    parts lead to the first union it went through (None: through none); the annotation at its end (None
    where the walk lost track)."""
    current: Any = model
    parts: list[Any] = []
    union_at: int | None = None
    for part in loc:
        annotation = _bare(current) if current is not None else None
        origin, args = get_origin(annotation), get_args(annotation)
        if part == "[key]":
            parts.append(part)
        elif annotation is None:
            if isinstance(part, str) and (part in _TYPE_LABELS or "[" in part):
                union_at = len(parts) if union_at is None else union_at
            else:
                parts.append(part)
        elif _is_model(annotation):
            info = annotation.model_fields.get(part) if isinstance(part, str) else None
            current = info.annotation if info is not None else None
            parts.append(part)
        elif origin in (Union, UnionType):
            union_at = len(parts) if union_at is None else union_at
            current = _member(args, part)
        elif origin in (dict, Mapping) and len(args) == 2:
            current = args[1]
            parts.append(part)
        elif origin in (list, tuple, set, frozenset) and args:
            current = args[0]
            parts.append(part)
        else:
            current = None
            parts.append(part)
    return parts, union_at, current


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model that owns the field at `loc`, descending through nested models, dicts, lists and unions."""
    _, _, annotation = _walk(model, loc)
    annotation = _bare(annotation) if annotation is not None else None
    return annotation if _is_model(annotation) else None


def _tags(model: type[BaseModel], loc: tuple[Any, ...], discriminator: str) -> list[str]:
    """The tags a discriminated union at `loc` accepts, from its members' `Literal` discriminator fields."""
    _, _, annotation = _walk(model, loc)
    annotation = _bare(annotation) if annotation is not None else None
    tags: list[str] = []
    for member in get_args(annotation) if get_origin(annotation) in (Union, UnionType) else ():
        info = _bare(member).model_fields.get(discriminator) if _is_model(_bare(member)) else None
        if info is not None and get_origin(info.annotation) is Literal:
            tags.extend(str(tag) for tag in get_args(info.annotation))
    return tags


def _suggest(word: str, choices: Iterable[str]) -> str:
    choices = list(choices)
    match = closest(word, choices)
    return f"did you mean {shown(match)}?" if match else f"valid keys: {listing(choices)}"


def _got(value: Any, echo_input: bool) -> str:
    """ "a list", "text: 'abc'", "a number: 5": what was there, with a short value when it may be echoed."""
    kind = kind_of(value)
    if not echo_input or value is None or not isinstance(value, (str, int, float)):
        return kind
    if isinstance(value, bool):
        return f"{kind}: {'true' if value else 'false'}"
    return f"{kind}: {shown(value)}"


def _wrong_type(expected: list[str], value: Any, echo_input: bool) -> str:
    wanted = " or ".join(dict.fromkeys(expected))
    message = f"must be {wanted} (got {_got(value, echo_input)})"
    if expected == ["text"] and isinstance(value, (int, float)) and not isinstance(value, bool):
        message += "; put it in quotes"
    return message


def _message(err: Any, model: type[BaseModel], loc: tuple[Any, ...], path: str, echo_input: bool) -> SpecIssue:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        hint = f" ({_suggest(str(loc[-1]), parent.model_fields)})" if parent else ""
        return SpecIssue(path, f"unknown key {shown(loc[-1])}{hint}")
    if kind == "missing":
        return SpecIssue(path, f"required key {shown(loc[-1])} is missing; add it")
    if kind in ("value_error", "assertion_error"):
        return SpecIssue(path, str(ctx["error"]) if "error" in ctx else err["msg"])
    if kind == "string_pattern_mismatch":
        got = shown(err["input"]) if echo_input else "value"
        return SpecIssue(path, f"{got} must match {ctx.get('pattern')}")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        discriminator = str(ctx.get("discriminator", "kind")).strip("'\"")
        where = join_path(path, discriminator)
        tags = _tags(model, loc, discriminator)
        raw = err["input"]
        if kind == "union_tag_not_found" or not isinstance(raw, Mapping):
            return SpecIssue(where, f"required key {shown(discriminator)} is missing; one of: {listing(tags)}")
        # "gate kind" for an item of `gates`: the field the union is in names what the tag chooses.
        owner = next((part for part in reversed(loc) if isinstance(part, str)), "")
        what = f"{owner.removesuffix('s')} {discriminator}".strip()
        return SpecIssue(where, unknown_name(what, raw.get(discriminator), tags))
    if kind in _EXPECTED:
        return SpecIssue(path, _wrong_type([_EXPECTED[kind]], err["input"], echo_input))
    message = _INSTANCE_OF.sub("", err["msg"])
    got = f" (got {shown(err['input'])})" if echo_input else ""
    return SpecIssue(path, f"{message}{got}")


def issues_from_validation(
    exc: ValidationError, model: type[BaseModel], prefix: str = "", *, echo_input: bool = True
) -> list[SpecIssue]:
    """pydantic errors as spec issues, in words, with no class names. `echo_input=False` where a value may
    be a secret (handler configs).

    A value that fits no member of a union (`str | list[str]`) gives one issue naming every type it may
    have ("must be a list or text (got a mapping)"), not one per member; when a member took the value
    and found a problem inside it (or in its constraints), that problem is the issue.
    """
    issues: list[SpecIssue] = []
    unions: dict[str, list[tuple[Any, tuple[Any, ...], str]]] = {}  # union path -> its members' errors
    for err in exc.errors():
        loc = tuple(err["loc"])
        parts, union_at, _ = _walk(model, loc)
        path = join_path(prefix, _format_loc(parts))
        if union_at is None:
            issues.append(_message(err, model, loc, path, echo_input))
        else:
            unions.setdefault(join_path(prefix, _format_loc(parts[:union_at])), []).append((err, loc, path))
    for union_path, errors in unions.items():
        inner = [(err, loc, path) for err, loc, path in errors if path != union_path or err["type"] not in _EXPECTED]
        if inner:
            issues.extend(_message(err, model, loc, path, echo_input) for err, loc, path in inner)
        else:
            expected = [_EXPECTED[err["type"]] for err, _, _ in errors]
            issues.append(SpecIssue(union_path, _wrong_type(expected, errors[0][0]["input"], echo_input)))
    return issues
