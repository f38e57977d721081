"""The snapshot catalog: which physical snapshot stands for a logical name, and what it was built from.

Definitions (what a logical snapshot *should* be) live in include/snapshots/*.yaml. Catalog
entries (what was actually built, for one profile) live in that profile's snapshot bucket, one
object per logical name under `catalog/`, so two builds never contend for one document. An entry is
current when its schema hash and seed-parameter hash match the definition's.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

if TYPE_CHECKING:
    from loadstack.profiles import Profile

SNAPSHOT_NAME_PATTERN = r"^[a-z][a-z0-9-]{1,62}$"


class SnapshotDefinition(BaseModel):
    """One logical snapshot. `seed` holds generator parameters for `seeded` and `rdb` kinds."""

    model_config = ConfigDict(extra="forbid")

    engine: Literal["mariadb", "redis"]
    kind: Literal["migrated", "seeded", "rdb"]
    description: str = ""
    seed: dict[str, Any] = Field(default_factory=dict)

    def params_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.seed, sort_keys=True).encode()).hexdigest()[:16]


class SnapshotFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    snapshots: dict[str, SnapshotDefinition]


class CatalogEntry(BaseModel):
    """A built snapshot. `location` is an S3 key (local profile) or an RDS / ElastiCache snapshot id."""

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
    import re

    directory = Path(key[0])
    found: dict[str, SnapshotDefinition] = {}
    origin: dict[str, Path] = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            parsed = SnapshotFile.model_validate(yaml.safe_load(path.read_text()) or {})
        except (ValidationError, yaml.YAMLError) as exc:
            raise SnapshotDefinitionError(f"{path}: {exc}") from None
        for name, definition in parsed.snapshots.items():
            if not re.match(SNAPSHOT_NAME_PATTERN, name):
                raise SnapshotDefinitionError(f"{path}: snapshots.{name}: name must match {SNAPSHOT_NAME_PATTERN}")
            if name in found:
                raise SnapshotDefinitionError(f"{path}: snapshots.{name}: already defined in {origin[name]}")
            found[name] = definition
            origin[name] = path
    return tuple(found.items())


class Catalog:
    """Catalog entries of one profile, in its snapshot bucket."""

    PREFIX = "catalog/"

    def __init__(self, profile: "Profile") -> None:
        self.profile = profile

    def _key(self, name: str) -> str:
        return f"{self.PREFIX}{name}.json"

    def get(self, name: str) -> CatalogEntry | None:
        from botocore.exceptions import ClientError

        try:
            body = self.profile.client("s3").get_object(Bucket=self.profile.snapshot_bucket, Key=self._key(name))["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return CatalogEntry.model_validate_json(body.read())

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
