"""One run at a time per stack, across DAGs and run types: a lock object in the profile's state bucket.

Airflow's `max_active_runs=1` keeps two scheduled or manual runs of a stack DAG apart, but a backfill counts
its runs separately (its own max_active_runs), and the stack's teardown DAG (run by hand or by the reaper) is
another DAG. All of them take this lock first and give it back last, so no two of them ever apply, restore or
destroy the same stack at once.

The lock is `loadstack/locks/<stack>.json`, naming the holder (DAG id and run id). Taking it is a PUT with
`If-None-Match: *`; giving it back a DELETE with `If-Match` of the holder's own version. A run that ended
without giving it back (its worker died) leaves a stale lock: the waiter asks Airflow whether the holder's run
is still queued or running, and breaks the lock only when it is not (`break_stale`, again with `If-Match`, so
it never deletes a lock taken since). The same run taking it again (a retry, a cleared or backfilled rerun of
a failed run) gets it back.

No Airflow here: the stack DAG's and the teardown DAG's lock tasks call this.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import cached_property

from botocore.exceptions import ClientError

from loadstack.artifacts import is_missing_object, is_write_conflict
from loadstack.aws_endpoint import explained
from loadstack.profiles import Profile

LOCK_PREFIX = "loadstack/locks/"


def lock_key(stack: str) -> str:
    return f"{LOCK_PREFIX}{stack}.json"


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class LockHolder:
    stack: str
    dag_id: str
    run_id: str
    acquired_at: str

    def describe(self) -> str:
        return f"run {self.run_id} of {self.dag_id} (since {self.acquired_at})"


class StackLock:
    def __init__(self, profile: Profile, stack: str, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self.profile = profile
        self.stack = stack
        self.clock = clock

    @cached_property
    def _s3(self):
        return self.profile.client("s3")

    @property
    def key(self) -> str:
        return lock_key(self.stack)

    def holder(self) -> tuple[LockHolder | None, str | None]:
        """The current holder and the lock object's ETag; (None, None) when nobody holds it."""
        with explained(self.profile, f"reading the lock of stack {self.stack}"):
            try:
                answer = self._s3.get_object(Bucket=self.profile.state_bucket, Key=self.key)
            except ClientError as exc:
                if is_missing_object(exc):
                    return None, None
                raise
            return LockHolder(**json.loads(answer["Body"].read())), answer["ETag"]

    def acquire(self, *, dag_id: str, run_id: str) -> LockHolder | None:
        """Take the lock for this run; None when it is this run's now, else the other holder."""
        mine = LockHolder(stack=self.stack, dag_id=dag_id, run_id=run_id, acquired_at=self.clock().isoformat())
        try:
            with explained(self.profile, f"taking the lock of stack {self.stack}"):
                self._s3.put_object(Bucket=self.profile.state_bucket, Key=self.key, IfNoneMatch="*",
                                    Body=json.dumps(asdict(mine), sort_keys=True).encode(),
                                    ContentType="application/json")
            return None
        except ClientError as exc:
            if not is_write_conflict(exc):
                raise
        current, _etag = self.holder()
        if current is None:
            # Given back between our PUT and our GET: the next attempt takes it.
            return LockHolder(stack=self.stack, dag_id="?", run_id="?", acquired_at="just released")
        if (current.dag_id, current.run_id) == (dag_id, run_id):
            return None
        return current

    def release(self, *, dag_id: str, run_id: str) -> bool:
        """Give the lock back if this run holds it; whether it did."""
        current, etag = self.holder()
        if current is None or (current.dag_id, current.run_id) != (dag_id, run_id):
            return False
        return self._delete(etag)

    def break_stale(self, stale: LockHolder) -> bool:
        """Delete the lock if `stale` still holds it (its run is over); whether it did."""
        current, etag = self.holder()
        if current != stale:
            return False
        return self._delete(etag)

    def _delete(self, etag: str | None) -> bool:
        try:
            with explained(self.profile, f"giving back the lock of stack {self.stack}"):
                self._s3.delete_object(Bucket=self.profile.state_bucket, Key=self.key, IfMatch=etag)
        except ClientError as exc:
            if is_write_conflict(exc) or is_missing_object(exc):
                return False
            raise
        return True
