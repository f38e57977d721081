from __future__ import annotations

import itertools

import pytest

from loadstack.graph import CycleError, StepGraph

# network → {mail_dumpster, app_cluster, events_db}; {events_db, cache} → seed → app_cluster
EDGES = [
    ("network", "mail_dumpster"),
    ("network", "events_db"),
    ("network", "cache"),
    ("events_db", "seed"),
    ("seed", "app_cluster"),
    ("cache", "app_cluster"),
    ("network", "app_cluster"),
]
NODES = ["app_cluster", "cache", "events_db", "mail_dumpster", "network", "seed"]


def test_golden_topological_order():
    assert StepGraph(NODES, EDGES).topological_order() == [
        "network", "cache", "events_db", "mail_dumpster", "seed", "app_cluster",
    ]


def test_order_does_not_depend_on_input_order():
    forward = StepGraph(NODES, EDGES).topological_order()
    backward = StepGraph(list(reversed(NODES)), list(reversed(EDGES))).topological_order()
    assert forward == backward


def test_levels_group_parallel_steps():
    assert StepGraph(NODES, EDGES).levels() == [
        ["network"],
        ["cache", "events_db", "mail_dumpster"],
        ["seed"],
        ["app_cluster"],
    ]


def test_critical_path_follows_longest_chain():
    durations = {"network": 10, "mail_dumpster": 90, "events_db": 30, "cache": 5, "seed": 20, "app_cluster": 40}
    path = StepGraph(NODES, EDGES).critical_path(durations)
    assert path.steps == ("network", "mail_dumpster")
    assert path.duration == 100
    durations["mail_dumpster"] = 10
    path = StepGraph(NODES, EDGES).critical_path(durations)
    assert path.steps == ("network", "events_db", "seed", "app_cluster")
    assert path.duration == 100


def test_critical_path_needs_every_duration():
    with pytest.raises(KeyError, match="cache"):
        StepGraph(NODES, EDGES).critical_path({n: 1 for n in NODES if n != "cache"})


def test_cycle_is_named_with_its_path():
    graph = StepGraph(["a", "b", "c", "d"], [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")])
    assert graph.find_cycle() == ["a", "b", "c", "a"]
    with pytest.raises(CycleError, match=r"^cycle: a -> b -> c -> a$"):
        graph.topological_order()


def test_unknown_edge_end_is_rejected():
    with pytest.raises(KeyError, match="unknown step 'x'"):
        StepGraph(["a"], [("x", "a")])


def test_empty_graph():
    graph = StepGraph([], [])
    assert graph.topological_order() == [] and graph.levels() == []
    assert graph.critical_path({}).steps == ()


def long_chain(length: int) -> tuple[list[str], list[tuple[str, str]]]:
    nodes = [f"s{i:04d}" for i in range(length)]
    return nodes, list(itertools.pairwise(nodes))


def test_a_long_chain_is_walked_without_recursion():
    nodes, edges = long_chain(5000)
    graph = StepGraph(nodes, edges)
    assert graph.find_cycle() is None
    assert graph.topological_order() == nodes
    assert len(graph.levels()) == 5000
    assert len(graph.ancestors("s4999")) == 4999
    assert graph.critical_path({n: 1 for n in nodes}).duration == 5000


def test_a_cycle_closing_a_long_chain_is_found():
    nodes, edges = long_chain(3000)
    graph = StepGraph(nodes, [*edges, ("s2999", "s0000")])
    assert graph.find_cycle() == [*nodes, "s0000"]
    with pytest.raises(CycleError):
        graph.topological_order()


def test_the_first_cycle_in_name_order_is_the_one_named():
    graph = StepGraph(["a", "b", "c", "x", "y"], [("a", "b"), ("b", "a"), ("x", "y"), ("y", "x"), ("c", "c")])
    assert graph.find_cycle() == ["a", "b", "a"]
    assert StepGraph(["a", "b", "c"], [("a", "b"), ("b", "c"), ("c", "b")]).find_cycle() == ["b", "c", "b"]
