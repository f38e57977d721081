"""Breaking the S3 state lock a dead Terraform left (loadstack.terraform.state_lock), on moto's in-process S3.

A lock is broken only when loadstack's holder record names that very lock and a process of this host (same boot
and PID namespace) that no longer runs: none with that PID, or one with that PID that started at another time,
or every process of that boot (a reboot). Every other case keeps the lock, and nothing damaged in the bucket ever
turns into an error of its own.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from loadstack.profiles import Profile
from loadstack.terraform.compat import Terraform111
from loadstack.terraform.runner import TerraformRunner, TerraformStepFailed
from loadstack.terraform.state_lock import (
    HOLDER_PREFIX,
    HolderRecord,
    HolderWatch,
    StateLock,
    boot_id,
    holder_record_key,
    lock_object_key,
    lock_owner,
    pid_namespace,
    process_start_ticks,
)

STATE = "env:/shop-network/loadstack/network.tfstate"
LOCK_ID = "2f7a3c4e-1b9d-4c1e-9a55-0d1f2e3a4b5c"


class ListLog:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, msg: str, *args) -> None:
        self.lines.append(msg % args if args else msg)

    warning = info


class Unlocker:
    """The force-unlock callable the runner hands over: records each lock ID, says whether it worked."""

    def __init__(self, works: bool = True) -> None:
        self.works = works
        self.calls: list[str] = []

    def __call__(self, lock_id: str) -> bool:
        self.calls.append(lock_id)
        return self.works


@pytest.fixture
def profile(tmp_path, mocked_aws) -> Profile:
    profile = Profile(name="aws", region="us-east-1", state_bucket="state", home=tmp_path, terraform_bin="terraform",
                      plugin_mirror=tmp_path)
    profile.client("s3").create_bucket(Bucket="state")
    return profile


@pytest.fixture
def dead_process() -> tuple[int, int]:
    """(PID, start ticks) of a process of this host that ran, and is gone (reaped) now."""
    proc = subprocess.Popen(["sleep", "30"])
    ticks = process_start_ticks(proc.pid)
    proc.kill()
    proc.wait()
    assert ticks is not None and process_start_ticks(proc.pid) is None
    return proc.pid, ticks


def put(profile: Profile, key: str, body: bytes | dict) -> None:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    profile.client("s3").put_object(Bucket=profile.state_bucket, Key=key, Body=data)


def exists(profile: Profile, key: str) -> bool:
    return profile.client("s3").list_objects_v2(Bucket=profile.state_bucket, Prefix=key).get("KeyCount", 0) > 0


def terraform_lock(lock_id: str = LOCK_ID, *, who: str | None = None, created: datetime | None = None) -> dict:
    """A lock object as Terraform 1.11 writes it (`Created`: RFC 3339 with nanoseconds)."""
    created = created or datetime.now(UTC)
    return {"ID": lock_id, "Operation": "OperationTypeApply", "Info": "", "Who": who or lock_owner(),
            "Version": "1.11.4", "Created": created.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z",
            "Path": f"state/{STATE}"}


def record_of(pid: int, ticks: int, **changes) -> dict:
    """A holder record of lock LOCK_ID, made on this host by process `pid` started at `ticks`."""
    record = HolderRecord(lock_id=LOCK_ID, state_object=STATE, host=socket.gethostname(), boot_id=boot_id(),
                          pid_namespace=pid_namespace(), pid=pid, pid_start_ticks=ticks,
                          recorded_at=datetime.now(UTC).isoformat(), working_dir="/work/shop/network")
    return {**asdict(record), **changes}


def held(profile: Profile, record: dict | bytes | None, lock: dict | bytes | None = None) -> StateLock:
    """The state's lock object (`lock`, Terraform's by default) and holder record (`record`; None: none)."""
    put(profile, lock_object_key(STATE), terraform_lock() if lock is None else lock)
    if record is not None:
        put(profile, holder_record_key(STATE), record)
    return StateLock(profile, STATE)


def me() -> tuple[int, int]:
    ticks = process_start_ticks(os.getpid())
    assert ticks is not None
    return os.getpid(), ticks


def assert_kept(profile: Profile, lock: StateLock, unlock: Unlocker, log: ListLog, *, record: bool = True) -> None:
    assert lock.release_if_holder_gone(unlock, log) is None
    assert unlock.calls == []
    assert exists(profile, lock_object_key(STATE))
    assert exists(profile, holder_record_key(STATE)) is record


def assert_broken(profile: Profile, lock: StateLock, unlock: Unlocker, log: ListLog) -> None:
    done = lock.release_if_holder_gone(unlock, log)
    assert done == f"the state lock it held ({LOCK_ID}) was released"
    assert unlock.calls == [LOCK_ID]
    assert not exists(profile, holder_record_key(STATE))
    [said] = log.lines
    assert f"lock {LOCK_ID}" in said and "which no longer runs: force-unlocking it" in said


# --- where things are ---------------------------------------------------------------------------
def test_the_lock_is_terraforms_object_and_the_record_lives_apart_from_all_state():
    assert lock_object_key(STATE) == f"{STATE}.tflock"
    assert holder_record_key(STATE) == f"{HOLDER_PREFIX}{STATE}.json"
    assert not holder_record_key(STATE).startswith("env:/")  # never inside a workspace's state prefix


def test_process_start_ticks_names_live_processes_only(dead_process):
    pid, ticks = me()
    assert process_start_ticks(pid) == ticks  # stable: it names this process for good
    assert process_start_ticks(dead_process[0]) is None
    zombie = subprocess.Popen(["true"])
    deadline = time.monotonic() + 10
    while "Z" not in Path(f"/proc/{zombie.pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert process_start_ticks(zombie.pid) is None  # exited, not yet reaped: gone all the same
    zombie.wait()


# --- the decision to break a lock -----------------------------------------------------------------
def test_the_same_lock_held_by_a_dead_process_of_this_host_is_broken(profile, dead_process):
    lock, unlock, log = held(profile, record_of(*dead_process)), Unlocker(), ListLog()
    assert_broken(profile, lock, unlock, log)
    assert f"terraform pid {dead_process[0]} on {socket.gethostname()}" in log.lines[0]
    # Terraform's force-unlock removes the lock object itself: the fake did not, so it is still there.
    assert exists(profile, lock_object_key(STATE))


def test_a_live_holder_keeps_its_lock(profile):
    unlock, log = Unlocker(), ListLog()
    assert_kept(profile, held(profile, record_of(*me())), unlock, log)
    assert log.lines == []


def test_a_record_of_another_lock_keeps_this_one(profile, dead_process):
    # The dead process's lock was released, and someone else (a person's terraform) holds a new one since.
    lock = held(profile, record_of(*dead_process), terraform_lock("9c0ffee0-another-lock"))
    assert_kept(profile, lock, Unlocker(), ListLog())


def test_a_lock_without_a_record_is_kept(profile):
    assert_kept(profile, held(profile, None), Unlocker(), ListLog(), record=False)


def test_a_holder_on_another_host_keeps_its_lock(profile, dead_process):
    lock = held(profile, record_of(*dead_process, host="worker-2.example"))
    assert_kept(profile, lock, Unlocker(), ListLog())


def test_a_holder_in_another_pid_namespace_of_this_host_keeps_its_lock(profile, dead_process):
    # Another container on this host: a PID there says nothing about the processes here.
    lock = held(profile, record_of(*dead_process, pid_namespace="pid:[1]"))
    assert_kept(profile, lock, Unlocker(), ListLog())


def test_a_record_that_cannot_say_its_boot_or_namespace_keeps_the_lock(profile, dead_process):
    for missing in ("boot_id", "pid_namespace"):
        lock = held(profile, record_of(*dead_process, **{missing: ""}))
        assert_kept(profile, lock, Unlocker(), ListLog())


def test_a_holder_from_before_a_reboot_is_gone_even_if_its_pid_runs_now(profile):
    # This very process (alive) under the old boot id: after a reboot, every process of then is gone.
    lock, unlock, log = held(profile, record_of(*me(), boot_id="00000000-old-boot")), Unlocker(), ListLog()
    assert_broken(profile, lock, unlock, log)


def test_a_pid_reused_by_another_process_does_not_keep_the_lock(profile):
    # The recorded PID runs (it is this test's), but started at another time: not the Terraform that held it.
    pid, ticks = me()
    lock, unlock, log = held(profile, record_of(pid, ticks + 1)), Unlocker(), ListLog()
    assert_broken(profile, lock, unlock, log)


def test_a_failed_force_unlock_is_reported_and_the_record_kept(profile, dead_process):
    lock, unlock, log = held(profile, record_of(*dead_process)), Unlocker(works=False), ListLog()
    assert lock.release_if_holder_gone(unlock, log) is None
    assert unlock.calls == [LOCK_ID]
    assert exists(profile, holder_record_key(STATE))  # the next try finds it again
    assert "force-unlocking it" in log.lines[0]
    assert "the force-unlock of" in log.lines[1] and "the lock stays" in log.lines[1]
    assert f"`terraform force-unlock {LOCK_ID}` in /work/shop/network" in log.lines[1]


def test_a_record_whose_lock_is_gone_is_dropped(profile, dead_process):
    # Terraform released its lock (or a person force-unlocked it): the record is stale, nothing to break.
    put(profile, holder_record_key(STATE), record_of(*dead_process))
    unlock, log = Unlocker(), ListLog()
    assert StateLock(profile, STATE).release_if_holder_gone(unlock, log) is None
    assert unlock.calls == [] and not exists(profile, holder_record_key(STATE))


@pytest.mark.parametrize("record", [
    b"{not json", b"\xff\xfe", b"[1, 2]", b'{"lock_id": "x"}', "wrong types",
], ids=["truncated", "not-utf8", "a-list", "fields-missing", "wrong-types"])
def test_a_damaged_record_keeps_the_lock_and_says_so(profile, dead_process, record):
    if record == "wrong types":  # every field there, but the PID is no number: never read as "gone"
        record = json.dumps({**record_of(*dead_process), "pid": str(dead_process[0])}).encode()
    lock, unlock, log = held(profile, record), Unlocker(), ListLog()
    assert_kept(profile, lock, unlock, log)
    [said] = log.lines
    assert f"the lock's holder record s3://state/{holder_record_key(STATE)} is damaged" in said
    assert "no state lock is broken automatically" in said


@pytest.mark.parametrize("body", [b"", b'{"ID": ', b"[]", b'{"Who": "x"}', b'{"ID": 7}'],
                         ids=["empty", "truncated", "a-list", "no-id", "id-not-a-string"])
def test_a_damaged_lock_object_is_kept_and_said_so(profile, dead_process, body):
    lock, unlock, log = held(profile, record_of(*dead_process), body), Unlocker(), ListLog()
    assert_kept(profile, lock, unlock, log)
    [said] = log.lines
    assert f"the lock object s3://state/{lock_object_key(STATE)} is damaged" in said


def test_s3_errors_are_logged_and_keep_the_lock(profile, dead_process):
    lock, unlock, log = held(profile, record_of(*dead_process)), Unlocker(), ListLog()
    profile.client("s3").delete_object(Bucket="state", Key=lock_object_key(STATE))
    profile.client("s3").delete_object(Bucket="state", Key=holder_record_key(STATE))
    profile.client("s3").delete_bucket(Bucket="state")
    assert lock.release_if_holder_gone(unlock, log) is None
    assert unlock.calls == [] and "could not check or release the state lock" in log.lines[0]


# --- recording the holder -----------------------------------------------------------------------
def watch_of(profile: Profile, tmp_path: Path, pid: int) -> tuple[HolderWatch, ListLog]:
    log = ListLog()
    watch = HolderWatch(StateLock(profile, STATE), tmp_path, log)
    watch.started(pid)
    return watch, log


def test_the_watch_records_its_process_at_the_first_message_sent_under_the_lock(profile, tmp_path):
    pid, ticks = me()
    watch, log = watch_of(profile, tmp_path, pid)
    put(profile, lock_object_key(STATE), terraform_lock())  # Terraform takes the lock after it started
    # Before Terraform has the lock (or lines that say nothing about it): nothing is recorded.
    for line in ('{"@level":"info","type":"version","terraform":"1.11.4"}',
                 '{"@level":"info","@message":"Acquiring state lock. This may take a few moments...",'
                 '"type":"state_lock_acquire"}',
                 '{"type":"diagnostic"}', "not json", "{broken", '["apply_start"]', ""):
        watch(line)
        assert watch.record is None and not exists(profile, holder_record_key(STATE)), line
    watch('{"@level":"info","@message":"terraform_data.slow: Creating...","type":"apply_start"}')
    assert watch.record is not None and watch.record.lock_id == LOCK_ID
    stored = json.loads(profile.client("s3").get_object(Bucket="state", Key=holder_record_key(STATE))["Body"].read())
    assert stored == asdict(watch.record)
    assert (stored["pid"], stored["pid_start_ticks"], stored["host"]) == (pid, ticks, socket.gethostname())
    assert stored["working_dir"] == str(tmp_path) and stored["state_object"] == STATE
    assert log.lines == []


def test_the_watch_looks_once(profile, tmp_path):
    watch, _ = watch_of(profile, tmp_path, os.getpid())
    watch('{"type":"planned_change"}')  # no lock yet (say, -lock=false): nothing to record, and no second look
    assert watch.record is None
    put(profile, lock_object_key(STATE), terraform_lock())
    watch('{"type":"apply_start"}')
    assert watch.record is None and not exists(profile, holder_record_key(STATE))


@pytest.mark.parametrize("lock", [
    terraform_lock(who="alice@laptop"),  # a person's terraform, or another host's
    terraform_lock(created=datetime.now(UTC) - timedelta(minutes=5)),  # there before this process started
], ids=["another-holder", "older-than-the-process"])
def test_the_watch_records_no_lock_that_is_not_its_processs(profile, tmp_path, lock):
    watch, _ = watch_of(profile, tmp_path, os.getpid())
    put(profile, lock_object_key(STATE), lock)
    watch('{"type":"apply_start"}')
    assert watch.record is None and not exists(profile, holder_record_key(STATE))


def test_the_watch_records_nothing_for_a_process_already_gone(profile, tmp_path, dead_process):
    watch, _ = watch_of(profile, tmp_path, dead_process[0])
    put(profile, lock_object_key(STATE), terraform_lock())
    watch('{"type":"apply_start"}')
    assert watch.record is None


def test_a_failure_to_record_is_logged_and_never_stops_the_command(profile, tmp_path):
    watch, log = watch_of(profile, tmp_path, os.getpid())
    put(profile, lock_object_key(STATE), b"{damaged")
    watch('{"type":"apply_start"}')  # must not raise: it runs inside Terraform's output loop
    assert watch.record is None
    assert "could not record the holder" in log.lines[0] and "is damaged" in log.lines[0]


def test_the_record_is_forgotten_only_while_it_names_that_lock(profile, tmp_path):
    watch, _ = watch_of(profile, tmp_path, os.getpid())
    put(profile, lock_object_key(STATE), terraform_lock())
    watch('{"type":"apply_start"}')
    assert watch.record is not None
    lock = StateLock(profile, STATE)
    put(profile, holder_record_key(STATE), {**asdict(watch.record), "lock_id": "a-later-lock"})
    lock.forget_quietly(watch.record, ListLog())
    assert exists(profile, holder_record_key(STATE))  # a later command's record stays
    put(profile, holder_record_key(STATE), asdict(watch.record))
    lock.forget_quietly(watch.record, ListLog())
    assert not exists(profile, holder_record_key(STATE))


# --- in the runner: Terraform's error always comes through -------------------------------------------
class KilledApply:
    """Stands in for Terraform111._run: `apply` starts a real process, reports progress under a lock it "took",
    then dies by SIGKILL; `force-unlock` removes the lock object, as Terraform's does."""

    def __init__(self, profile: Profile, lock_body: bytes | None = None) -> None:
        self.profile = profile
        self.lock_body = lock_body  # what the lock object is once the process died (None: unchanged)
        self.argv: list[list[str]] = []

    def __call__(self, tf: Terraform111, argv: list[str]) -> tuple[int, str, str]:
        self.argv.append(argv)
        if argv[1] == "force-unlock":
            self.profile.client("s3").delete_object(Bucket="state", Key=lock_object_key(STATE))
            return 0, "", ""
        proc = subprocess.Popen(["sleep", "30"])
        assert tf.on_start is not None and tf.on_stdout_line is not None
        tf.on_start(proc.pid)
        put(self.profile, lock_object_key(STATE), terraform_lock())
        tf.on_stdout_line('{"type":"apply_start","@message":"terraform_data.slow: Creating..."}')
        proc.kill()
        proc.wait()
        if self.lock_body is not None:
            put(self.profile, lock_object_key(STATE), self.lock_body)
        return -9, "", "Error: unexpected signal"


def killed_runner(profile: Profile, tmp_path: Path, fake: KilledApply, monkeypatch) -> tuple[TerraformRunner, ListLog]:
    monkeypatch.setattr(Terraform111, "_run", lambda tf, argv: fake(tf, argv))
    (profile.plugin_mirror / "registry.terraform.io" / "hashicorp").mkdir(parents=True)
    log = ListLog()
    runner = TerraformRunner(profile=profile, working_dir=tmp_path, logger=log)  # type: ignore[arg-type]
    runner._terraform_dir = tmp_path  # as prepare() and init() leave them
    runner._state_lock = StateLock(profile, STATE)
    return runner, log


def test_the_runner_releases_the_lock_its_killed_terraform_held(profile, tmp_path, monkeypatch):
    fake = KilledApply(profile)
    runner, log = killed_runner(profile, tmp_path, fake, monkeypatch)
    with pytest.raises(TerraformStepFailed) as failed:
        runner.apply()
    assert str(failed.value).startswith("terraform apply was killed by SIGKILL: Error: unexpected signal")
    assert str(failed.value).endswith(f"; the state lock it held ({LOCK_ID}) was released")
    assert fake.argv[-1][1:] == ["force-unlock", "-force", LOCK_ID]
    assert not exists(profile, lock_object_key(STATE)) and not exists(profile, holder_record_key(STATE))


def test_a_damaged_lock_never_hides_the_terraform_error(profile, tmp_path, monkeypatch):
    fake = KilledApply(profile, lock_body=b"\x00garbage")
    runner, log = killed_runner(profile, tmp_path, fake, monkeypatch)
    with pytest.raises(TerraformStepFailed) as failed:
        runner.apply()
    assert str(failed.value) == "terraform apply was killed by SIGKILL: Error: unexpected signal"
    assert [argv[1] for argv in fake.argv] == ["apply"]  # nothing was force-unlocked
    assert any("is damaged" in line and "no state lock is broken automatically" in line for line in log.lines)
    assert exists(profile, holder_record_key(STATE))
