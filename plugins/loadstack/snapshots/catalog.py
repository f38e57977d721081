"""The snapshot catalog: which physical snapshot stands for a logical name, and what it was built from.

Definitions (what a logical snapshot *should* be) live in include/snapshots/*.yaml. Catalog
entries (what was actually built, for one profile) live in that profile's snapshot bucket, one
object per logical name under `catalog/`, so two builds never contend for one document. An entry is
current when its schema hash and seed-parameter hash match the definition's (a cache sourced from a
seeded snapshot hashes that snapshot's seed too, so reseeding the database outdates the cache).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from loadstack.artifacts import read_object
from loadstack.issues import format_issue, issue_line, issues_from_validation, listing, shown
from loadstack.profiles import Profile
from loadstack.safe_yaml import YamlProblems, read_yaml_file
from loadstack.snapshots.names import SNAPSHOT_NAME_PATTERN

# The parameters of loadstack.cache.rdb.commerce_cache_records that a redis definition's seed sets.
REDIS_SEED_KEYS = ("seed", "sessions", "carts", "profiles", "accounts", "skus", "max_cart_items")
REDIS_REQUIRED_SEED_KEYS = ("seed", "sessions", "carts")
# With a source, these follow from the source's dataset plan.
SOURCED_REDIS_SEED_KEYS = ("profiles", "accounts", "skus")


class SnapshotDefinition(BaseModel):
    """One logical snapshot. `seed` holds generator parameters for `seeded` and `rdb` kinds.

    `source` (redis only) names the `seeded` mariadb snapshot whose accounts, profiles and
    products the cache reflects; `load_definitions` copies that snapshot's seed into
    `source_seed` (never set by hand), so that the definition carries it through `model_dump()`
    to operators and a change of the source's seed makes this snapshot out of date.
    """

    model_config = ConfigDict(extra="forbid")

    engine: Literal["mariadb", "redis"]
    kind: Literal["migrated", "seeded", "rdb"]
    description: str = ""
    seed: dict[str, Any] = Field(default_factory=dict)
    source: str | None = None
    source_seed: dict[str, Any] = Field(default_factory=dict)

    def params_hash(self) -> str:
        """Of `seed` alone; with a source, of `seed` and `source_seed` (what the data follows from)."""
        hashed: dict[str, Any] = self.seed
        if self.source is not None or self.source_seed:
            hashed = {"seed": self.seed, "source_seed": self.source_seed}
        return hashlib.sha256(json.dumps(hashed, sort_keys=True).encode()).hexdigest()[:16]


class SnapshotFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    snapshots: dict[str, SnapshotDefinition]


class CatalogEntry(BaseModel):
    """A built snapshot. `location`: an S3 key in the snapshot bucket (packed backup or RDB), or an RDS cluster snapshot id."""

    model_config = ConfigDict(extra="forbid")

    name: str
    engine: Literal["mariadb", "redis"]
    kind: Literal["migrated", "seeded", "rdb"]
    profile: str
    location: str
    schema_hash: str = ""
    params_hash: str = ""
    seed: dict[str, Any] = Field(default_factory=dict)
    row_counts: dict[str, int] = Field(default_factory=dict)
    size_bytes: int = 0
    built_at: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def is_current(self, definition: SnapshotDefinition, schema_hash: str) -> bool:
        return (
            self.engine == definition.engine
            and self.kind == definition.kind
            and self.params_hash == definition.params_hash()
            and (definition.engine != "mariadb" or self.schema_hash == schema_hash)
        )


class SnapshotDefinitionError(ValueError):
    pass


def load_definitions(directory: Path) -> dict[str, SnapshotDefinition]:
    """Every logical snapshot defined in `directory/*.yaml`; one error names file and field.

    Cached on the files' names, sizes and mtimes: every restore and seed step of every stack asks at
    parse time, and the dag-processor parses often.
    """
    paths = sorted(Path(directory).glob("*.yaml"))
    key = (str(directory), tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in paths))
    return dict(_load_definitions(key))


@lru_cache(maxsize=32)
def _load_definitions(key: tuple) -> tuple[tuple[str, SnapshotDefinition], ...]:
    directory = Path(key[0])
    found: dict[str, SnapshotDefinition] = {}
    origin: dict[str, Path] = {}
    for path in sorted(directory.glob("*.yaml")):
        parsed = _parse_file(path)
        for name, definition in parsed.snapshots.items():
            if not re.fullmatch(SNAPSHOT_NAME_PATTERN, name):
                raise SnapshotDefinitionError(
                    issue_line(f"{path}: snapshots.{name}: name {shown(name)} must match {SNAPSHOT_NAME_PATTERN}")
                )
            if name in found:
                raise SnapshotDefinitionError(f"{path}: snapshots.{name}: already defined in {origin[name]}")
            if "source_seed" in definition.model_fields_set:
                raise SnapshotDefinitionError(
                    f"{path}: snapshots.{name}.source_seed: is filled in from the source snapshot's seed; "
                    "remove it (name the seeded snapshot in `source` instead)"
                )
            found[name] = definition
            origin[name] = path
    for name, definition in list(found.items()):
        if definition.source is not None:
            found[name] = _with_source(name, definition, found, origin[name])
    for name, definition in found.items():
        if definition.engine == "redis":
            _check_redis_seed(name, definition, origin[name])
    return tuple(found.items())


def _check_redis_seed(name: str, definition: SnapshotDefinition, path: Path) -> None:
    field = f"{path}: snapshots.{name}.seed"
    problems = [f"{field}.{key}: unknown seed key (known: {', '.join(REDIS_SEED_KEYS)}); remove it"
                for key in sorted(set(definition.seed) - set(REDIS_SEED_KEYS))]
    problems += [f"{field}.{key}: required seed key is missing; add it"
                 for key in REDIS_REQUIRED_SEED_KEYS if key not in definition.seed]
    if definition.source is not None:
        problems += [f"{field}.{key}: comes from the source {definition.source} (its profiles, accounts and "
                     "products); remove it" for key in SOURCED_REDIS_SEED_KEYS if key in definition.seed]
    if problems:
        raise SnapshotDefinitionError("\n".join(problems))


def _parse_file(path: Path) -> SnapshotFile:
    """One file, or an error with a line per problem: file, field path, what to fix."""
    try:
        # PyYAML's own parser: a few small files, read once per change; its syntax messages as before.
        return SnapshotFile.model_validate(read_yaml_file(path, libyaml=False) or {})
    except YamlProblems as problems:
        raise SnapshotDefinitionError("\n".join(f"{path}: {message}" for message in problems.issues)) from None
    except ValidationError as exc:
        issues = issues_from_validation(exc, SnapshotFile)
        raise SnapshotDefinitionError("\n".join(format_issue(str(path), i) for i in issues)) from None


def _with_source(name: str, definition: SnapshotDefinition, found: dict[str, SnapshotDefinition], path: Path) -> SnapshotDefinition:
    """The definition with its source's seed in `source_seed`, or an error naming file, field and fix."""
    field = f"{path}: snapshots.{name}.source"
    source = found.get(definition.source)
    seeded = sorted(n for n, d in found.items() if d.engine == "mariadb" and d.kind == "seeded")
    if definition.engine != "redis":
        raise SnapshotDefinitionError(
            f"{field}: only redis snapshots take a source (the seeded mariadb snapshot they reflect); "
            f"remove it from this {definition.engine} {definition.kind} snapshot"
        )
    if source is None:
        raise SnapshotDefinitionError(
            f"{field}: unknown snapshot {shown(definition.source)} (seeded mariadb snapshots: {listing(seeded)}); "
            "name one of them or remove source"
        )
    if source.engine != "mariadb" or source.kind != "seeded":
        raise SnapshotDefinitionError(
            f"{field}: snapshot '{definition.source}' is a {source.engine} {source.kind} snapshot; a source must be "
            f"a mariadb seeded snapshot (seeded mariadb snapshots: {listing(seeded)})"
        )
    return definition.model_copy(update={"source_seed": dict(source.seed)})


class Catalog:
    """Catalog entries of one profile, in its snapshot bucket."""

    PREFIX = "catalog/"

    def __init__(self, profile: Profile) -> None:
        self.profile = profile

    def _key(self, name: str) -> str:
        return f"{self.PREFIX}{name}.json"

    def get(self, name: str) -> CatalogEntry | None:
        body = read_object(self.profile.client("s3"), self.profile.snapshot_bucket, self._key(name))
        return None if body is None else CatalogEntry.model_validate_json(body)

    def put(self, entry: CatalogEntry) -> None:
        self.profile.client("s3").put_object(
            Bucket=self.profile.snapshot_bucket,
            Key=self._key(entry.name),
            Body=entry.model_dump_json(indent=2).encode(),
            ContentType="application/json",
        )

    def entries(self) -> list[CatalogEntry]:
        s3 = self.profile.client("s3")
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=self.profile.snapshot_bucket, Prefix=self.PREFIX)
        names = [obj["Key"][len(self.PREFIX) : -len(".json")] for page in pages for obj in page.get("Contents", [])]
        return [entry for name in sorted(names) if (entry := self.get(name))]
