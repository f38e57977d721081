"""Parse-time checks shared by kinds that name a logical snapshot from include/snapshots/."""

from __future__ import annotations

from typing import Iterable

from loadstack.issues import unknown_name
from loadstack.kinds.base import CheckContext
from loadstack.snapshots.catalog import SnapshotDefinitionError, load_definitions


def check_snapshot_names(
    ctx: CheckContext, names: Iterable[tuple[str, str]], *, engine: str, kinds: tuple[str, ...]
) -> Iterable[tuple[str, str]]:
    """Each (field path, name) must be a defined snapshot of `engine` and one of `kinds`."""
    try:
        definitions = load_definitions(ctx.snapshots_dir)
    except SnapshotDefinitionError as exc:
        for line in str(exc).splitlines():  # one issue per problem, each its own line
            yield "snapshot", line
        return
    usable = sorted(n for n, d in definitions.items() if d.engine == engine and d.kind in kinds)
    for path, name in names:
        definition = definitions.get(name)
        if definition is None:
            yield path, unknown_name("snapshot", name, usable, known_label=f"known {engine} snapshots",
                                     fix=f"define it in {ctx.snapshots_dir.name}/*.yaml")
        elif definition.engine != engine or definition.kind not in kinds:
            yield path, f"snapshot '{name}' is a {definition.engine} {definition.kind} snapshot; this step needs {engine} ({' or '.join(kinds)})"
