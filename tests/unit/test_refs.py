from __future__ import annotations

import pytest

from loadstack.refs import Ref, RefSyntaxError, parse_ref, resolve, walk_refs

VALUES = {
    Ref("step", "subnet_ids", "network"): ["subnet-1", "subnet-2"],
    Ref("step", "vpc_id", "network"): "vpc-1",
    Ref("own", "url"): "http://app",
    Ref("stack", "name"): "shop",
}


def lookup(ref: Ref):
    return VALUES[ref]


def test_whole_value_reference_keeps_type():
    assert resolve("${steps.network.outputs.subnet_ids}", lookup) == ["subnet-1", "subnet-2"]


def test_embedded_references_interpolate_and_escape():
    text = "vpc=${steps.network.outputs.vpc_id} stack=${ stack.name } literal=$${x}"
    assert resolve(text, lookup) == "vpc=vpc-1 stack=shop literal=${x}"
    assert resolve("ids=${steps.network.outputs.subnet_ids}", lookup) == 'ids=["subnet-1", "subnet-2"]'


def test_nested_containers_are_resolved_without_mutation():
    source = {"a": ["${outputs.url}", 3], "b": {"c": "${stack.name}"}}
    assert resolve(source, lookup) == {"a": ["http://app", 3], "b": {"c": "shop"}}
    assert source["a"][0] == "${outputs.url}"


def test_walk_reports_paths_and_syntax_errors():
    found = list(walk_refs({"x": ["${steps.a.outputs.b}", "${nope}"], "y": "$${escaped}"}))
    assert found[0] == ("x[0]", Ref("step", "b", "a"))
    assert found[1][0] == "x[1]" and isinstance(found[1][1], RefSyntaxError)
    assert len(found) == 2


@pytest.mark.parametrize("text", ["steps.a.outputz.b", "steps..outputs.b", "stack.region", ""])
def test_bad_references(text):
    with pytest.raises(RefSyntaxError):
        parse_ref(text)
