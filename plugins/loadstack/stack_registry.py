"""The stack registry: which stacks are up, who stood them up, when they expire, and how their teardown went.

One small JSON object per stack in the profile's state bucket, under `loadstack/registry/<stack>.json`,
next to the Terraform state it describes. Every worker and the CLI reach that bucket through the
profile, and it outlives Airflow's metadata database.

Every change is a read-modify-write guarded by the object's ETag: a create is a PUT with
`If-None-Match: *`, an update a PUT with `If-Match: <etag>`, a removal a DELETE with `If-Match`.
A writer that lost the race gets 412 (or 409 while another conditional write is in flight), reads
the entry again and re-applies its change, so two writers never silently lose an update. Each
write bumps `revision`, so no two versions of an entry have the same bytes (and ETag).

No Airflow here: the stack DAG, the teardown DAG, the reaper and `loadstack ls` all call this.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any, Literal

from botocore.exceptions import ClientError

from loadstack.artifacts import is_missing_object, is_write_conflict
from loadstack.profiles import Profile

log = logging.getLogger(__name__)

REGISTRY_PREFIX = "loadstack/registry/"
Status = Literal["up", "tearing_down", "teardown_failed"]
STATUSES: tuple[Status, ...] = ("up", "tearing_down", "teardown_failed")
# The reaper retries a failed teardown on its next runs until this many attempts have failed; then the
# stack stays listed as teardown_failed until someone fixes it and runs the teardown DAG.
MAX_REAP_ATTEMPTS = 3
Clock = Callable[[], datetime]


class RegistryConflict(RuntimeError):
    """An entry kept changing under this writer for every attempt; nothing was written."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class StackEntry:
    """One stack that is up (or being torn down, or failed to be)."""

    stack: str
    profile: str
    variant: str
    run_id: str
    owner: str
    created_at: datetime
    expires_at: datetime
    teardown_dag: str
    status: Status = "up"
    # Why it is being torn down, or why its teardown failed.
    reason: str = ""
    # The teardown DAG run that last took this stack down (or tried to).
    teardown_run: str = ""
    teardown_attempts: int = 0
    updated_at: datetime | None = None
    revision: int = 0

    def is_expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    def is_reapable(self, now: datetime) -> bool:
        """Past its expiry and not being torn down; a failed teardown is retried a few times."""
        if not self.is_expired(now):
            return False
        return self.status == "up" or (self.status == "teardown_failed" and self.teardown_attempts < MAX_REAP_ATTEMPTS)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("created_at", "expires_at", "updated_at"):
            data[name] = data[name].isoformat() if data[name] else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "StackEntry":
        # Fields a newer loadstack added are ignored, so an older worker or CLI still reads the entry.
        known = {f.name for f in dataclasses.fields(cls)}
        fields = {name: value for name, value in data.items() if name in known}
        for name in ("created_at", "expires_at", "updated_at"):
            fields[name] = datetime.fromisoformat(fields[name]) if fields.get(name) else None
        if fields.get("status") not in STATUSES:
            raise ValueError(f"registry entry {fields.get('stack')!r}: unknown status {fields.get('status')!r}")
        return cls(**fields)


def entry_key(stack: str) -> str:
    return f"{REGISTRY_PREFIX}{stack}.json"


class StackRegistry:
    """The registry in one profile's state bucket."""

    def __init__(self, profile: Profile, *, clock: Clock = _utcnow, attempts: int = 5) -> None:
        self.profile = profile
        self.clock = clock
        self.attempts = attempts

    @property
    def bucket(self) -> str:
        return self.profile.state_bucket

    @cached_property
    def _s3(self):
        return self.profile.client("s3")

    # --- reading -----------------------------------------------------------------------------
    def _read(self, stack: str) -> tuple[StackEntry | None, str | None]:
        try:
            answer = self._s3.get_object(Bucket=self.bucket, Key=entry_key(stack))
        except ClientError as exc:
            if is_missing_object(exc):
                return None, None
            raise
        return StackEntry.from_json(json.loads(answer["Body"].read())), answer["ETag"]

    def get(self, stack: str) -> StackEntry | None:
        return self._read(stack)[0]

    def list(self) -> list[StackEntry]:
        """Every entry, by stack name."""
        entries = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=REGISTRY_PREFIX):
            for item in page.get("Contents", []):
                name = item["Key"][len(REGISTRY_PREFIX):]
                if name.endswith(".json") and "/" not in name:
                    if (entry := self.get(name[: -len(".json")])) is not None:
                        entries.append(entry)
        return sorted(entries, key=lambda e: e.stack)

    def expired(self, now: datetime | None = None) -> list[StackEntry]:
        """The entries the reaper should tear down now, soonest expired first."""
        now = now or self.clock()
        return sorted((e for e in self.list() if e.is_reapable(now)), key=lambda e: e.expires_at)

    # --- writing -----------------------------------------------------------------------------
    def _change(self, stack: str, change: Callable[[StackEntry | None], StackEntry | None]) -> StackEntry | None:
        """Apply `change` to the current entry (None: absent) until a conditional write lands.

        `change` returns the new entry, or None to delete it; returning the entry it was given
        unchanged writes nothing.
        """
        s3 = self._s3
        for _ in range(self.attempts):
            current, etag = self._read(stack)
            wanted = change(current)
            if wanted is current:
                return current
            try:
                if wanted is None:
                    s3.delete_object(Bucket=self.bucket, Key=entry_key(stack), IfMatch=etag)
                    return None
                wanted = replace(wanted, updated_at=self.clock(), revision=(current.revision if current else 0) + 1)
                body = json.dumps(wanted.to_json(), sort_keys=True).encode()
                condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
                s3.put_object(Bucket=self.bucket, Key=entry_key(stack), Body=body,
                              ContentType="application/json", **condition)
                return wanted
            except ClientError as exc:
                if not is_write_conflict(exc) and not (etag and is_missing_object(exc)):
                    raise
                log.info("registry entry %s changed while being written; reading it again", stack)
        raise RegistryConflict(
            f"registry entry s3://{self.bucket}/{entry_key(stack)} changed under every one of "
            f"{self.attempts} attempts; nothing written"
        )

    def register(
        self, *, stack: str, variant: str, run_id: str, owner: str, ttl: timedelta, teardown_dag: str
    ) -> StackEntry:
        """A run stood the stack up: it is up from now until now + ttl (a later stand-up starts anew)."""
        created = self.clock()
        entry = StackEntry(
            stack=stack, profile=self.profile.name, variant=variant, run_id=run_id, owner=owner,
            created_at=created, expires_at=created + ttl, teardown_dag=teardown_dag,
        )
        written = self._change(stack, lambda _current: entry)
        assert written is not None
        return written

    def mark_tearing_down(self, stack: str, *, reason: str, teardown_run: str) -> StackEntry | None:
        """A teardown started; None when the stack is not listed (never registered, or already removed).

        Marking again for the same teardown run changes nothing: the reaper marks a stack before it
        triggers the teardown run, whose first task marks it again; a retried task does too.
        """

        def change(current: StackEntry | None) -> StackEntry | None:
            if current is None or (current.status == "tearing_down" and current.teardown_run == teardown_run):
                return current
            return replace(current, status="tearing_down", reason=reason, teardown_run=teardown_run,
                           teardown_attempts=current.teardown_attempts + 1)

        return self._change(stack, change)

    def mark_teardown_failed(self, stack: str, *, reason: str) -> StackEntry | None:
        """The teardown failed: the stack stays listed with the reason. None when it is not listed."""

        def change(current: StackEntry | None) -> StackEntry | None:
            if current is None:
                return None
            return replace(current, status="teardown_failed", reason=reason)

        return self._change(stack, change)

    def remove(self, stack: str, *, teardown_run: str | None = None) -> bool:
        """The teardown succeeded: forget the stack. Returns whether an entry was removed.

        With `teardown_run`, an entry a run re-registered (status up) since that teardown started is
        kept: when in doubt the stack stays listed, since reaping a stack that is gone costs an empty
        teardown and forgetting one that is up costs money.
        """
        removed = False

        def change(current: StackEntry | None) -> StackEntry | None:
            nonlocal removed
            if current is None:
                return None
            if teardown_run is not None and current.status == "up":
                log.warning("%s was registered again by run %s while teardown %s ran: it stays listed",
                            stack, current.run_id, teardown_run)
                return current
            removed = True
            return None

        self._change(stack, change)
        return removed


def describe_expiry(entry: StackEntry, now: datetime) -> str:
    """`expires in 3h12m` / `expired 5m ago`."""
    delta = entry.expires_at - now
    if delta.total_seconds() > 0:
        return f"expires in {format_duration(delta)}"
    return f"expired {format_duration(-delta)} ago"


def format_duration(delta: timedelta) -> str:
    """1d2h05m, 3h12m, 5m07s, 40s: seconds only while they matter."""
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h{minutes:02d}m"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"
