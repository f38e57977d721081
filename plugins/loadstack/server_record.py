"""Server records: which worker owns a stack step's local server, and what its reuse needs, in the state bucket.

On the local profile a restore or deploy starts long-lived processes (MariaDB, redis-server, the app
with its HAProxy and Prometheus). Their PID files and datadirs stay on the disk of the worker that
started them, its *owner*; everything else a later task needs (owner, advertised host, ports, the
snapshot it was restored from, the app's config) is one JSON object per server in the profile's
state bucket, under `loadstack/servers/<stack>/<step>/<engine>.json`, so every worker sees it.

The record is written before the server starts (a half-started server is still found and stopped) and
deleted after it is stopped. A worker that is not the owner can neither signal the PIDs nor remove
the datadir, so it must refuse: `ServerRecords.claim` raises `ForeignServerError` naming the owner and
the fix, and a destroy that refuses keeps both the record and the step's secret.

The owner is the host name plus the owner's LOADSTACK_HOME (`owner_of`): two Celery workers on one
machine with different homes are different owners.
"""

from __future__ import annotations

import json
import logging
import socket
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from loadstack.artifacts import is_write_conflict, read_object
from loadstack.profiles import Profile

log = logging.getLogger(__name__)

SERVERS_PREFIX = "loadstack/servers/"


def record_key(stack: str, step: str, engine: str) -> str:
    return f"{SERVERS_PREFIX}{stack}/{step}/{engine}.json"


@dataclass(frozen=True)
class Owner:
    """Who can signal a local server's PIDs and remove its directory."""

    host: str
    home: str

    def __str__(self) -> str:
        return f"LOADSTACK_HOME={self.home} on host {self.host}"


def owner_of(profile: Profile) -> Owner:
    """This worker as a server owner: its host name and its LOADSTACK_HOME (the profile's home)."""
    return Owner(host=socket.gethostname(), home=str(profile.home.resolve()))


@dataclass(frozen=True)
class ServerRecord:
    """One step's server: its owner, where it answers, its directory on the owner, and the engine's own state
    (ports, the snapshot it was restored from, the app's config: what reuse and teardown need)."""

    stack: str
    step: str
    engine: str
    owner: Owner
    host: str
    base_dir: str
    state: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ServerRecord:
        return cls(**{**data, "owner": Owner(**data["owner"])})


class ForeignServerError(RuntimeError):
    """A step's server belongs to another worker (another host or LOADSTACK_HOME): this one must not touch it."""


class ServerRecords:
    """The server record of one (stack, step, engine) in a profile's state bucket."""

    def __init__(self, profile: Profile, stack: str, step: str, engine: str) -> None:
        self.profile = profile
        self.stack = stack
        self.step = step
        self.engine = engine

    @property
    def key(self) -> str:
        return record_key(self.stack, self.step, self.engine)

    @property
    def location(self) -> str:
        return f"s3://{self.profile.state_bucket}/{self.key}"

    @cached_property
    def _s3(self):
        return self.profile.client("s3")

    def load(self) -> ServerRecord | None:
        body = read_object(self._s3, self.profile.state_bucket, self.key)
        return None if body is None else ServerRecord.from_json(json.loads(body))

    def create(self, base_dir: Path, state: dict[str, Any], *, host: str, action: str = "restore") -> ServerRecord:
        """Record a server this worker is about to start (by `action`). Only where there is no record: a record
        another worker wrote in between makes this a `ForeignServerError` (two servers for one step, never)."""
        record = self._record(base_dir, state, host)
        try:
            self._put(record, IfNoneMatch="*")
        except ClientError as exc:
            if not is_write_conflict(exc):
                raise
            current = self.load()
            raise self._foreign(current.owner if current else None, action) from None
        return record

    def update(self, base_dir: Path, state: dict[str, Any], *, host: str) -> ServerRecord:
        """Rewrite the state of a server this worker owns (what it learnt once the server ran)."""
        record = self._record(base_dir, state, host)
        self._put(record)
        return record

    def delete(self) -> None:
        self._s3.delete_object(Bucket=self.profile.state_bucket, Key=self.key)

    def claim(self, action: str) -> ServerRecord | None:
        """The record, if this worker owns the server; None if there is none.

        Raises `ForeignServerError` if another worker owns it: `action` ("restore", "deploy", "destroy")
        names what was refused. A record of this worker whose directory is gone is stale (the server
        cannot be running, e.g. the home was wiped): it is deleted and None returned.
        """
        record = self.load()
        if record is None:
            return None
        if record.owner != owner_of(self.profile):
            raise self._foreign(record.owner, action)
        if not Path(record.base_dir).exists():
            log.warning("%s/%s: the %s server record names %s, which is gone: a stale record, removed (%s)",
                        self.stack, self.step, self.engine, record.base_dir, self.location)
            self.delete()
            return None
        return record

    def _record(self, base_dir: Path, state: dict[str, Any], host: str) -> ServerRecord:
        return ServerRecord(stack=self.stack, step=self.step, engine=self.engine, owner=owner_of(self.profile),
                            host=host, base_dir=str(base_dir.resolve()), state=state)

    def _put(self, record: ServerRecord, **condition: str) -> None:
        self._s3.put_object(Bucket=self.profile.state_bucket, Key=self.key, ContentType="application/json",
                            Body=json.dumps(record.to_json(), indent=2).encode(), **condition)

    def _foreign(self, owner: Owner | None, action: str) -> ForeignServerError:
        me = owner_of(self.profile)
        whose = f"is owned by {owner}" if owner else "was just recorded by another worker"
        kept = {
            "destroy": " The step's secret and its server record are kept.",
            "restore": " No second server was started and the step's secret is unchanged.",
            "deploy": " No second deployment was started.",
        }.get(action, "")
        return ForeignServerError(
            f"{self.stack}/{self.step}: the {self.engine} server {whose}, not by this worker ({me}), which cannot "
            f"signal its processes; refusing to {action} it here.{kept} Fix: run the {action} on the owner's worker "
            f"(the stack's local-server tasks are routed to one queue: check that this task went to it), or run "
            f"`make down` there; if that home is lost for good, stop the server by hand and delete {self.location}"
        )
