"""Terraform's S3 state lock (`<state object>.tflock`, `use_lockfile`), and breaking one whose holder is dead.

Terraform deletes its lock object when it ends, on SIGTERM too. A Terraform killed with SIGKILL (the OOM killer,
a task's process tree killed) leaves it behind, and every later command on that state waits `-lock-timeout`,
then fails: a retry of the step could never converge. The lock object names no process (`Who` is user@host), so
the runner notes its holder itself: once a command reports progress (Terraform holds the lock by then), the
runner reads the lock and records its ID with the Terraform process that took it (host, boot, PID namespace, PID
and the PID's start time) in `loadstack/terraform-locks/<state object>.json`, in the state bucket.

A lock is broken (`terraform force-unlock -force <ID>`, by the runner) only when that record names the very
same lock ID and a process of this host that no longer runs: same host name, boot and PID namespace, and no
live process with that PID and start time, or a rebooted host. Anything else is left alone and waited for as
usual: a lock with no record (a person's `terraform`, or one killed before it reported progress), a holder
on another host, one still running (an orphaned Terraform whose task died). Terraform's own error then names
the lock; `terraform force-unlock <ID>` in the step's kept working copy releases it by hand.
"""

from __future__ import annotations

import json
import os
import pwd
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from loadstack.artifacts import is_missing_object, read_object
from loadstack.profiles import Profile

HOLDER_PREFIX = "loadstack/terraform-locks/"
# `-json` UI messages Terraform writes only while it holds the state lock: the plan's or apply's own output. Others
# come before locking (`version`, `state_lock_acquire`), after it, or at any time (`diagnostic`, `log`).
LOCKED_MESSAGES = frozenset({
    "planned_change", "resource_drift", "change_summary", "refresh_start", "refresh_complete", "apply_start",
    "apply_progress", "apply_complete", "apply_errored", "provision_start", "provision_progress",
    "provision_complete", "provision_errored",
})
# Slack between two reads of this host's clock, by Python and by Terraform (the lock's `Created`).
CLOCK_SLACK_S = 0.5


class LockDataError(ValueError):
    """The lock object, or loadstack's holder record, is not what Terraform or loadstack writes: it is never a
    reason to break a lock, and never hides the error of the command at hand."""


def lock_object_key(state_object: str) -> str:
    """Where the S3 backend keeps the lock of a state object (`use_lockfile = true`)."""
    return f"{state_object}.tflock"


def holder_record_key(state_object: str) -> str:
    return f"{HOLDER_PREFIX}{state_object}.json"


@dataclass(frozen=True)
class LockInfo:
    """The lock object as Terraform writes it."""

    id: str
    operation: str
    who: str
    created: str

    @classmethod
    def from_json(cls, body: bytes) -> LockInfo:
        try:
            data = json.loads(body)
        except ValueError as exc:  # UnicodeDecodeError too
            raise LockDataError(f"not JSON ({exc})") from None
        if not isinstance(data, dict) or not isinstance(data.get("ID"), str) or not data["ID"]:
            raise LockDataError("not a Terraform lock (a JSON object with its ID)")
        return cls(id=data["ID"], operation=str(data.get("Operation", "")),
                   who=str(data.get("Who", "")), created=str(data.get("Created", "")))

    def created_at(self) -> float | None:
        try:
            return datetime.fromisoformat(self.created).timestamp()
        except ValueError:
            return None

    def describe(self) -> str:
        return f"lock {self.id} ({self.operation} by {self.who}, since {self.created})"


@dataclass(frozen=True)
class HolderRecord:
    """Which Terraform process took lock `lock_id`: enough to tell, on its host, that it is gone."""

    lock_id: str
    state_object: str
    host: str
    boot_id: str
    pid_namespace: str
    pid: int
    pid_start_ticks: int
    recorded_at: str
    working_dir: str

    @classmethod
    def from_json(cls, body: bytes) -> HolderRecord:
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise LockDataError(f"not JSON ({exc})") from None
        fields = cls.__dataclass_fields__
        if not isinstance(data, dict) or set(data) != set(fields):
            raise LockDataError(f"not a holder record (a JSON object of {', '.join(sorted(fields))})")
        wrong = [name for name, value in data.items()
                 if type(value) is not (int if name in ("pid", "pid_start_ticks") else str)]
        if wrong:
            raise LockDataError(f"not a holder record: wrong type of {', '.join(sorted(wrong))}")
        return cls(**data)

    def describe(self) -> str:
        return f"terraform pid {self.pid} on {self.host} (working copy {self.working_dir})"


# --- this host's processes -------------------------------------------------------------------------
def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def boot_id() -> str:
    return _read("/proc/sys/kernel/random/boot_id") or ""


def pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def process_start_ticks(pid: int) -> int | None:
    """When a live process started (clock ticks since boot, /proc/<pid>/stat): with its PID, it names one
    process for good. None when there is no such process, or it has exited (a zombie)."""
    stat = _read(f"/proc/{pid}/stat")
    if stat is None:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # after "pid (comm)": state is field 3, starttime field 22
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def lock_owner() -> str:
    """What Terraform writes as `Who`: user@host."""
    return f"{pwd.getpwuid(os.getuid()).pw_name}@{socket.gethostname()}"


def holder_is_gone(record: HolderRecord) -> bool:
    """True only when this host can tell for sure that the recorded process no longer runs."""
    if record.host != socket.gethostname() or not record.boot_id or not record.pid_namespace:
        return False  # another host (or one that cannot say): its processes are not visible from here
    if record.boot_id != boot_id():
        return True  # this host rebooted since: every process of then is gone
    if record.pid_namespace != pid_namespace():
        return False  # another container on this host
    return process_start_ticks(record.pid) != record.pid_start_ticks


# --- the lock and its holder record in the state bucket ----------------------------------------------
class StateLock:
    """The lock of one state object, in the profile's state bucket."""

    def __init__(self, profile: Profile, state_object: str) -> None:
        self.profile = profile
        self.state_object = state_object

    @cached_property
    def _s3(self) -> Any:
        return self.profile.client("s3")

    @property
    def lock_key(self) -> str:
        return lock_object_key(self.state_object)

    @property
    def record_key(self) -> str:
        return holder_record_key(self.state_object)

    def url(self) -> str:
        return f"s3://{self.profile.state_bucket}/{self.lock_key}"

    def record_url(self) -> str:
        return f"s3://{self.profile.state_bucket}/{self.record_key}"

    def current(self) -> LockInfo | None:
        """The lock object; LockDataError when it is damaged."""
        body = read_object(self._s3, self.profile.state_bucket, self.lock_key)
        if body is None:
            return None
        try:
            return LockInfo.from_json(body)
        except LockDataError as exc:
            raise LockDataError(f"the lock object {self.url()} is damaged: {exc}") from None

    def holder_record(self) -> HolderRecord | None:
        """The holder record; LockDataError when it is damaged (not one of ours: never a reason to break a lock)."""
        body = read_object(self._s3, self.profile.state_bucket, self.record_key)
        if body is None:
            return None
        try:
            return HolderRecord.from_json(body)
        except LockDataError as exc:
            raise LockDataError(f"the lock's holder record {self.record_url()} is damaged: {exc}") from None

    def record_holder(self, *, pid: int, started_at: float, seen_at: float, working_dir: Path) -> HolderRecord | None:
        """Note that Terraform process `pid` (started at `started_at`, epoch seconds) holds the lock now.

        Called once the process reported progress at `seen_at`. The lock must be this host's and user's, and made
        while that process ran; else (none, another holder's) nothing is recorded and None returned."""
        lock, ticks = self.current(), process_start_ticks(pid)
        if lock is None or ticks is None or lock.who != lock_owner():
            return None
        created = lock.created_at()
        if created is None or not started_at - CLOCK_SLACK_S <= created <= seen_at + CLOCK_SLACK_S:
            return None
        record = HolderRecord(
            lock_id=lock.id, state_object=self.state_object, host=socket.gethostname(), boot_id=boot_id(),
            pid_namespace=pid_namespace(), pid=pid, pid_start_ticks=ticks,
            recorded_at=datetime.now(UTC).isoformat(), working_dir=str(working_dir),
        )
        self._s3.put_object(Bucket=self.profile.state_bucket, Key=self.record_key, ContentType="application/json",
                            Body=json.dumps(asdict(record), sort_keys=True).encode())
        return record

    def forget(self, record: HolderRecord) -> None:
        """Drop the holder record, unless a later command recorded another lock since (or it is damaged: the next
        record replaces it)."""
        try:
            current = self.holder_record()
        except LockDataError:
            return
        if current is not None and current.lock_id == record.lock_id:
            try:
                self._s3.delete_object(Bucket=self.profile.state_bucket, Key=self.record_key)
            except ClientError as exc:
                if not is_missing_object(exc):
                    raise

    def dead_holders_lock(self) -> tuple[LockInfo, HolderRecord] | None:
        """The lock, if its recorded holder is a Terraform process of this host that is gone; else None.

        A record left by a command whose lock is gone (Terraform released it) is dropped on the way."""
        record = self.holder_record()
        if record is None:
            return None
        lock = self.current()
        if lock is None:
            self.forget(record)
            return None
        if lock.id != record.lock_id or not holder_is_gone(record):
            return None
        return lock, record

    def release_if_holder_gone(self, force_unlock: Callable[[str], bool], log: Any) -> str | None:
        """Release the lock (`force_unlock(lock ID)`, True when done) if its recorded holder is gone; what was
        done, or None. Bookkeeping: an S3 error, or a damaged lock or record, is logged, and Terraform's lock wait
        takes over (its error names the lock)."""
        try:
            found = self.dead_holders_lock()
            if found is None:
                return None
            lock, record = found
            log.warning("%s on %s was left by %s, which no longer runs: force-unlocking it", lock.describe(),
                        self.url(), record.describe())
            if not force_unlock(lock.id):
                log.warning("the force-unlock of %s failed: the lock stays, and Terraform waits for it; "
                            "`terraform force-unlock %s` in %s releases it by hand", self.url(), lock.id,
                            record.working_dir)
                return None
            self.forget(record)
        except LockDataError as exc:
            log.warning("%s: no state lock is broken automatically; Terraform waits for the lock as usual", exc)
            return None
        except (ClientError, BotoCoreError) as exc:
            log.warning("could not check or release the state lock %s: %s", self.url(), exc)
            return None
        return f"the state lock it held ({lock.id}) was released"

    def forget_quietly(self, record: HolderRecord, log: Any) -> None:
        try:
            self.forget(record)
        except (ClientError, BotoCoreError) as exc:
            log.warning("could not drop the holder record of %s: %s", self.url(), exc)


class HolderWatch:
    """Follows one locking Terraform command (`on_start`, then each stdout line): at its first message sent under
    the lock, records its process as the lock's holder. Bookkeeping only: a failure here is logged, and the
    command goes on (its lock is then never broken automatically)."""

    def __init__(self, lock: StateLock, working_dir: Path, log: Any) -> None:
        self.lock = lock
        self.working_dir = working_dir
        self.log = log
        self.pid: int | None = None
        self.started_at = 0.0
        self.record: HolderRecord | None = None
        self._looked = False

    def started(self, pid: int) -> None:
        self.pid, self.started_at = pid, time.time()

    def __call__(self, line: str) -> None:
        if self._looked or self.pid is None or not line.startswith("{"):
            return
        try:
            kind = json.loads(line).get("type")
        except (ValueError, AttributeError):
            return
        if kind not in LOCKED_MESSAGES:
            return
        self._looked = True
        try:
            self.record = self.lock.record_holder(pid=self.pid, started_at=self.started_at, seen_at=time.time(),
                                                  working_dir=self.working_dir)
        except Exception as exc:  # noqa: BLE001 - bookkeeping must never stop the command it watches
            self.log.warning("could not record the holder of %s (%s): if this Terraform dies, its lock stays",
                             self.lock.url(), exc)
