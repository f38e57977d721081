"""Parse-time checks shared by kinds that name a logical snapshot from include/snapshots/."""

from __future__ import annotations

import difflib
from typing import Iterable

from loadstack.kinds.base import CheckContext
from loadstack.snapshots.catalog import SnapshotDefinitionError, load_definitions


def check_snapshot_names(
    ctx: CheckContext, names: Iterable[tuple[str, str]], *, engine: str, kinds: tuple[str, ...]
) -> Iterable[tuple[str, str]]:
    """Each (field path, name) must be a defined snapshot of `engine` and one of `kinds`."""
    try:
        definitions = load_definitions(ctx.snapshots_dir)
    except SnapshotDefinitionError as exc:
        yield "snapshot", str(exc)
        return
    usable = sorted(n for n, d in definitions.items() if d.engine == engine and d.kind in kinds)
    for path, name in names:
        definition = definitions.get(name)
        if definition is None:
            close = difflib.get_close_matches(name, usable, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            yield path, f"unknown snapshot '{name}' ({hint}known {engine} snapshots: {', '.join(usable) or 'none'}; define it in {ctx.snapshots_dir.name}/*.yaml)"
        elif definition.engine != engine or definition.kind not in kinds:
            yield path, f"snapshot '{name}' is a {definition.engine} {definition.kind} snapshot; this step needs {engine} ({' or '.join(kinds)})"
