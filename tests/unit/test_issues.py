"""Messages about what a user wrote: one line each, short, in words (no pydantic or class names)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from loadstack.issues import (
    SpecIssue,
    closest,
    format_issue,
    issue_line,
    issues_from_validation,
    kind_of,
    listing,
    not_a_name,
    shown,
    unknown_name,
)
from loadstack.kinds import STEP_KINDS


def test_issue_line_escapes_line_breaks_and_control_characters():
    assert issue_line("a\nb\r\nc\td") == "a\\nb\\r\\nc\\td"
    assert issue_line("bell\x07 esc\x1b del\x7f c1\x85 sep\u2028") == "bell\\x07 esc\\x1b del\\x7f c1\\x85 sep\\u2028"
    assert issue_line("plain: ünïcode, ${steps.a.outputs.b}") == "plain: ünïcode, ${steps.a.outputs.b}"


@given(st.text())
def test_issue_line_is_always_one_line(text):
    assert len(issue_line(text).splitlines()) <= 1
    assert not re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029]", issue_line(text))


def test_format_issue_cannot_be_forged_by_a_path_or_message():
    line = format_issue("s.yaml", SpecIssue("steps.a\ns.yaml: steps.b", "bad\nworse"))
    assert line == "s.yaml: steps.a\\ns.yaml: steps.b: bad\\nworse"
    assert format_issue("s.yaml", SpecIssue("", "no path")) == "s.yaml: no path"


def test_shown_is_a_short_repr():
    assert shown("network") == "'network'"
    assert shown(3) == "3"
    assert shown("x" * 500) == "'" + "x" * 76 + "..."
    assert len(shown("x" * 500)) == 80
    assert shown("a\nb") == "'a\\nb'"
    assert len(shown(list(range(10_000)))) <= 80
    nested: list[Any] = []
    nested.append(nested)  # a recursive alias in YAML builds one
    assert len(shown(nested)) <= 80


@pytest.mark.parametrize(
    ("value", "words"),
    [([1], "a list"), ({"a": 1}, "a mapping"), (1, "a number"), (1.5, "a number"), ("x", "text"),
     (True, "true/false"), (None, "nothing")],
)
def test_kind_of_says_what_a_value_is_in_plain_words(value, words):
    assert kind_of(value) == words


def test_listing_is_sorted_and_bounded():
    assert listing([]) == "none"
    assert listing(["b", "a"]) == "a, b"
    names = [f"step_{i:04d}" for i in range(2000)]
    assert listing(reversed(names)) == ", ".join(names[:12]) + ", and 1988 more"
    assert len(listing(["x" * 1000] * 3 + ["y" * 1000])) < 100


def test_unknown_name_suggests_and_lists():
    assert unknown_name("step", "netwrk", ["network", "app"]) == (
        "unknown step 'netwrk' (did you mean 'network'? known: app, network)"
    )
    assert unknown_name("step", "zzz", []) == "unknown step 'zzz' (known: none)"


def test_something_that_is_no_name_is_said_so():
    assert unknown_name("step kind", ["a", "b"], ["app"]) == "must be a step kind name (got a list); known: app"
    assert not_a_name("handler", {"x": 1}, ["ssm"]) == "must be a handler name (got a mapping); known: ssm"


def test_closest_over_thousands_of_names_is_quick_and_still_finds_one_typo():
    names = [f"service_{i:04d}" for i in range(5000)]
    assert closest("servcie_1234", names) == "service_1234"
    assert closest("service_1234x", names) == "service_1234"
    assert closest("completely_else", names) is None
    assert closest("x" * 10_000, names) is None


# --- pydantic's errors in words -------------------------------------------------------------------


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")

    size: int = 1


class HttpThing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["http"]
    url: str


class SqlThing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["sql"]
    query: str


class Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "n"
    count: int = 0
    ratio: float = 0
    enabled: bool = False
    tags: list[str] = Field(default_factory=list)
    inner: Inner = Field(default_factory=Inner)
    inners: dict[str, Inner] = Field(default_factory=dict)
    value: str | dict[str, Any] = ""
    ids: list[str] | str = ""
    things: list[Annotated[HttpThing | SqlThing, Field(discriminator="kind")]] = Field(default_factory=list)
    required: str


def messages(data: dict, *, echo_input: bool = True) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        Outer.model_validate(data)
    return {i.path: i.message for i in issues_from_validation(caught.value, Outer, "x", echo_input=echo_input)}


def test_wrong_types_are_said_in_words():
    found = messages({
        "name": 5, "count": "many", "ratio": "half", "enabled": "maybe", "tags": {"a": 1}, "inner": [1],
        "inners": {"a": "big"},
    })
    assert found == {
        "x.name": "must be text (got a number: 5); put it in quotes",
        "x.count": "must be a whole number (got text: 'many')",
        "x.ratio": "must be a number (got text: 'half')",
        "x.enabled": "must be true or false (got text: 'maybe')",
        "x.tags": "must be a list (got a mapping)",
        "x.inner": "must be a mapping of keys to values (got a list)",
        "x.inners.a": "must be a mapping of keys to values (got text: 'big')",
        "x.required": "required key 'required' is missing; add it",
    }


def test_values_are_not_echoed_where_they_may_be_secret():
    found = messages({"required": "r", "count": "hunter2"}, echo_input=False)
    assert found == {"x.count": "must be a whole number (got text)"}


def test_unknown_keys_suggest_the_field_even_inside_a_union():
    found = messages({"required": "r", "inner": {"sise": 2}, "things": [{"kind": "http", "url": "u", "ulr": 1}]})
    assert found == {
        "x.inner.sise": "unknown key 'sise' (did you mean 'size'?)",
        "x.things[0].ulr": "unknown key 'ulr' (did you mean 'url'?)",
    }


def test_a_union_gives_one_message_naming_every_type_it_takes():
    found = messages({"required": "r", "value": [1], "ids": {"a": 1}})
    assert found == {
        "x.value": "must be text or a mapping of keys to values (got a list)",
        "x.ids": "must be a list or text (got a mapping)",
    }
    # a member that took the value reports what is wrong inside it
    found = messages({"required": "r", "ids": ["a", 2]})
    assert found == {"x.ids[1]": "must be text (got a number: 2); put it in quotes"}


def test_a_tag_that_is_no_name_or_unknown_or_missing():
    things = [{"kind": ["http"]}, {"kind": "tcp"}, {"url": "u"}, {"kind": {"a": 1}}]
    found = messages({"required": "r", "things": things})
    assert found == {
        "x.things[0].kind": "must be a thing kind name (got a list); known: http, sql",
        "x.things[1].kind": "unknown thing kind 'tcp' (known: http, sql)",
        "x.things[2].kind": "required key 'kind' is missing; one of: http, sql",
        "x.things[3].kind": "must be a thing kind name (got a mapping); known: http, sql",
    }


CLASS_NAME = re.compile(r"\b[A-Z][a-z0-9]+(?:[A-Z][A-Za-z0-9]*)+\b|\binstance of\b|\bInput should be a valid\b")


@pytest.mark.parametrize("kind", sorted(STEP_KINDS))
@pytest.mark.parametrize("junk", [[1, 2], {"a": 1}, "text", 7, True, None])
def test_no_message_about_a_step_of_any_kind_names_a_class(kind, junk):
    """Every field of every kind given a value of the wrong shape: the messages are words, not class names."""
    model = STEP_KINDS[kind].model
    data = {"kind": kind, **{name: junk for name in model.model_fields if name != "kind"}}
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    for issue in issues_from_validation(caught.value, model, "steps.s"):
        assert not CLASS_NAME.search(issue.message), issue
        assert not CLASS_NAME.search(issue.path), issue
        assert "\n" not in issue.message
