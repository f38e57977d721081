"""The step dependency graph: deterministic order, parallel levels, critical path. No Airflow here."""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Iterable, Mapping


class CycleError(ValueError):
    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        super().__init__("cycle: " + " -> ".join(cycle))


@dataclass(frozen=True)
class CriticalPath:
    duration: float
    steps: tuple[str, ...]


class StepGraph:
    """A DAG of step names; edges point from upstream to downstream."""

    def __init__(self, nodes: Iterable[str], edges: Iterable[tuple[str, str]]) -> None:
        self._nodes = sorted(set(nodes))
        self._up: dict[str, set[str]] = {n: set() for n in self._nodes}
        self._down: dict[str, set[str]] = {n: set() for n in self._nodes}
        for upstream, downstream in edges:
            for end in (upstream, downstream):
                if end not in self._up:
                    raise KeyError(f"edge {upstream} -> {downstream} names unknown step '{end}'")
            self._up[downstream].add(upstream)
            self._down[upstream].add(downstream)

    @property
    def nodes(self) -> list[str]:
        return list(self._nodes)

    @property
    def edges(self) -> list[tuple[str, str]]:
        return sorted((u, d) for d, ups in self._up.items() for u in ups)

    def upstream(self, node: str) -> list[str]:
        return sorted(self._up[node])

    def downstream(self, node: str) -> list[str]:
        return sorted(self._down[node])

    def ancestors(self, node: str) -> list[str]:
        """Every node `node` depends on, directly or not (sorted)."""
        seen: set[str] = set()
        todo = list(self._up[node])
        while todo:
            up = todo.pop()
            if up not in seen:
                seen.add(up)
                todo.extend(self._up[up])
        return sorted(seen)

    def find_cycle(self) -> list[str] | None:
        """The first cycle met in name order, closed (`[a, b, a]`), or None.

        A depth-first walk with its own stack, not Python's: a chain of thousands of steps is no
        RecursionError.
        """
        state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
        for root in self._nodes:
            if root in state:
                continue
            state[root] = 1
            path = [root]
            # One iterator per node on the path: the successors it has yet to look at, in name order.
            pending = [iter(sorted(self._down[root]))]
            while pending:
                nxt = next(pending[-1], None)
                if nxt is None:
                    state[path.pop()] = 2
                    pending.pop()
                elif state.get(nxt) == 1:
                    return path[path.index(nxt) :] + [nxt]
                elif nxt not in state:
                    state[nxt] = 1
                    path.append(nxt)
                    pending.append(iter(sorted(self._down[nxt])))
        return None

    def topological_order(self) -> list[str]:
        """Kahn's algorithm, always taking the alphabetically first ready step: one answer per graph."""
        if cycle := self.find_cycle():
            raise CycleError(cycle)
        remaining = {n: len(self._up[n]) for n in self._nodes}
        ready = [n for n, count in remaining.items() if count == 0]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            node = heapq.heappop(ready)
            order.append(node)
            for nxt in self._down[node]:
                remaining[nxt] -= 1
                if remaining[nxt] == 0:
                    heapq.heappush(ready, nxt)
        return order

    def levels(self) -> list[list[str]]:
        """Steps grouped by longest distance from a root: each level can run in parallel."""
        depth: dict[str, int] = {}
        for node in self.topological_order():
            depth[node] = max((depth[u] + 1 for u in self._up[node]), default=0)
        grouped: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
        for node in self._nodes:
            grouped[depth[node]].append(node)
        return grouped

    def critical_path(self, durations: Mapping[str, float]) -> CriticalPath:
        """The longest chain by total duration: the floor on wall time with unlimited parallelism."""
        missing = [n for n in self._nodes if n not in durations]
        if missing:
            raise KeyError(f"no duration for step(s): {', '.join(missing)}")
        finish: dict[str, float] = {}
        via: dict[str, str | None] = {}
        for node in self.topological_order():
            best = max(self._up[node], key=lambda u: (finish[u], u), default=None)
            finish[node] = (finish[best] if best else 0.0) + float(durations[node])
            via[node] = best
        if not finish:
            return CriticalPath(0.0, ())
        end = max(finish, key=lambda n: (finish[n], n))
        chain = [end]
        while (prev := via[chain[-1]]) is not None:
            chain.append(prev)
        return CriticalPath(finish[end], tuple(reversed(chain)))
