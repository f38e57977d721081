"""Which catalogued snapshot a restore may use: the profile's build of it, if it matches its definition today."""

from __future__ import annotations

from pathlib import Path

from loadstack.data.migrate import schema_hash
from loadstack.profiles import Profile
from loadstack.snapshots.catalog import Catalog, CatalogEntry, load_definitions


class SnapshotNotReady(RuntimeError):
    """The snapshot is unknown, not built for this profile, or built from another schema or seed."""


def current_entry(profile: Profile, snapshot: str, snapshots_dir: Path) -> CatalogEntry:
    """The catalogued build of `snapshot` for this profile, if it matches its definition today."""
    definitions = load_definitions(snapshots_dir)
    if snapshot not in definitions:
        raise SnapshotNotReady(f"snapshot '{snapshot}' is not defined in {snapshots_dir} (known: {', '.join(sorted(definitions))})")
    entry = Catalog(profile).get(snapshot)
    if entry is None or not entry.is_current(definitions[snapshot], schema_hash()):
        state = "is not built" if entry is None else "is out of date (schema or seed parameters changed)"
        raise SnapshotNotReady(
            f"snapshot '{snapshot}' {state} for the {profile.name} profile: trigger the loadstack_snapshots DAG "
            "(make demo does so before the stack)"
        )
    return entry


def sort_by_currency(profile: Profile, snapshots: dict[str, str], snapshots_dir: Path
                     ) -> tuple[dict[str, CatalogEntry], dict[str, dict[str, str]]]:
    """Of `snapshots` ({step: snapshot}): the current ones' catalog entries, and the others ({step: {snapshot,
    reason}}), by step."""
    current: dict[str, CatalogEntry] = {}
    stale: dict[str, dict[str, str]] = {}
    for step, snapshot in sorted(snapshots.items()):
        try:
            current[step] = current_entry(profile, snapshot, snapshots_dir)
        except SnapshotNotReady as exc:
            stale[step] = {"snapshot": snapshot, "reason": str(exc)}
    return current, stale
