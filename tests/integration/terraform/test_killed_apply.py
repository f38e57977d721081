"""Terraform killed (SIGKILL) in the middle of an apply, on the moto server: the step fails saying so, the S3
state lock it held does not outlive it, nor do its provider plugin and local-exec children, and the retry applies
and converges (its second plan is empty).

The fixture module `slow_apply` sleeps in a local-exec while creating its first resource, so the kill lands
while Terraform holds the lock and has made nothing yet. Terraform removes its lock object on SIGTERM, not on
SIGKILL: left alone, the lock would make every retry wait `-lock-timeout`, then fail. A lock whose holder is
alive, or unknown to loadstack, must still never be broken.

Terraform runs in a process group of its own (the provider, ~500 MB, and local-exec's shell are in it): the runner
ends that group when Terraform dies by a signal, and when the runner itself is interrupted, Terraform gets SIGTERM
first and releases its lock by itself. Airflow's SIGTERM to a task's process group does not reach that group: the
task's on_kill does it (`TerraformRunner.stop()`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest

from loadstack.terraform.runner import TerraformRunner, TerraformStepFailed
from loadstack.terraform.state import state_object_key
from loadstack.terraform.state_lock import holder_record_key, lock_object_key, lock_owner, process_start_ticks

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
MODULE = ROOT / "tests" / "fixtures" / "tf_modules" / "slow_apply"
KEY = "loadstack/slow.tfstate"
# What the runner logs once Terraform has started on the slow resource (it holds the state lock then).
SLOW_RESOURCE_STARTED = "start    terraform_data.slow: creating"
# The retry's -lock-timeout: a lock left behind makes it fail in seconds, not after the default two minutes.
RETRY_LOCK_TIMEOUT = "5s"


class ListLog:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, msg: str, *args) -> None:
        self.lines.append(msg % args if args else msg)

    warning = info


def runner(profile, workspace: str, copy: str, *, lock_timeout: str = "120s") -> tuple[TerraformRunner, ListLog]:
    log = ListLog()
    hook = TerraformRunner(profile=profile, working_dir=profile.work_dir / "killed" / f"{workspace}-{copy}",
                           logger=log, lock_timeout=lock_timeout)  # type: ignore[arg-type]
    return hook, log


def prepare(hook: TerraformRunner, workspace: str, sleep_seconds: int = 3) -> list[str]:
    var_files = hook.prepare(MODULE, "minimal", {"name": f"/it/killed/{workspace}", "value": "v1",
                                                 "sleep_seconds": sleep_seconds})
    hook.init(KEY, workspace)
    return var_files


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.1)
    return found


def terraform_in(working_dir: Path) -> list[psutil.Process]:
    """This process's Terraform child running in `working_dir`."""
    found = []
    for child in psutil.Process().children():
        try:
            if child.name() == "terraform" and Path(child.cwd()) == working_dir:
                found.append(child)
        except psutil.NoSuchProcess:
            pass
    return found


def group_left(pgid: int) -> list[psutil.Process]:
    """The processes of process group `pgid` that still run (an exited one waiting for its reaper does not)."""
    found = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except (ProcessLookupError, psutil.NoSuchProcess):
            pass
    return found


def terraform_group(terraform: psutil.Process) -> tuple[int, list[psutil.Process]]:
    """The process group Terraform leads (its own session) and, in it, its children: the provider plugin, the
    local-exec shell and its sleep."""
    assert os.getpgid(terraform.pid) == terraform.pid and os.getsid(terraform.pid) == terraform.pid
    assert os.getsid(terraform.pid) != os.getsid(0)  # not the session of the process that runs the runner

    def started() -> list[psutil.Process] | None:
        children = terraform.children(recursive=True)
        names = [child.name() for child in children]
        return children if "sleep" in names and any(n.startswith("terraform-provider-aws") for n in names) else None

    children = wait_for(started, 20, "terraform's provider plugin and local-exec sleep")
    assert all(os.getpgid(child.pid) == terraform.pid for child in children), children
    return terraform.pid, children


def kill_tree(processes: list[psutil.Process]) -> None:
    """SIGKILL these processes (by PID), then wait for them; gone ones are skipped."""
    for process in processes:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(processes, timeout=10)


def lock_exists(profile, workspace: str) -> bool:
    found = profile.client("s3").list_objects_v2(Bucket=profile.state_bucket,
                                                 Prefix=lock_object_key(state_object_key(workspace, KEY)))
    return found.get("KeyCount", 0) > 0


def retry_converges(profile, workspace: str) -> tuple[list[str], float]:
    """The retry: a fresh working copy (as a new task try gets) applies, then plans again with no changes.
    Returns its log and how long it took."""
    started = time.monotonic()
    hook, log = runner(profile, workspace, "retry", lock_timeout=RETRY_LOCK_TIMEOUT)
    var_files = prepare(hook, workspace)
    plan = hook.plan(var_files)
    assert plan.has_changes and plan.summary["add"] == 2, plan  # the killed try made nothing
    hook.apply()
    assert hook.plan(var_files).has_changes is False
    assert profile.client("ssm").get_parameter(Name=f"/it/killed/{workspace}")["Parameter"]["Value"] == "v1"
    assert not lock_exists(profile, workspace)
    hook.cleanup(keep_working_dir=False)
    return log.lines, time.monotonic() - started


def test_a_killed_apply_fails_saying_so_releases_its_lock_and_the_retry_converges(local_profile):
    workspace = "it-killed-terraform"
    hook, log = runner(local_profile, workspace, "try1")
    var_files = prepare(hook, workspace, sleep_seconds=60)
    assert hook.plan(var_files).has_changes
    failures: list[BaseException] = []

    def apply() -> None:
        try:
            hook.apply()
        except BaseException as exc:  # noqa: BLE001 - asserted below
            failures.append(exc)

    thread = threading.Thread(target=apply)
    began = time.monotonic()
    thread.start()
    [terraform] = wait_for(lambda: SLOW_RESOURCE_STARTED in log.lines and terraform_in(hook.terraform_dir), 60,
                           "terraform apply to start on the slow resource")
    group, children = terraform_group(terraform)
    try:
        os.kill(terraform.pid, signal.SIGKILL)
        thread.join(60)
        assert not thread.is_alive(), "the runner did not return after its terraform was killed"
        # By the time the step fails, nothing of that Terraform runs any more: the runner ended its group.
        assert group_left(group) == [], group_left(group)  # the provider plugin, local-exec's shell and sleep
    finally:
        kill_tree(children)  # a safety net only: the assertions above say whether the runner did it
    assert time.monotonic() - began < 30

    [failure] = failures
    assert isinstance(failure, TerraformStepFailed)
    assert "terraform apply was killed by SIGKILL" in str(failure)
    assert "state lock it held" in str(failure) and "was released" in str(failure)
    assert any("force-unlocking" in line for line in log.lines), log.lines
    assert not lock_exists(local_profile, workspace)
    assert local_profile.client("s3").list_objects_v2(
        Bucket=local_profile.state_bucket, Prefix=holder_record_key(state_object_key(workspace, KEY)))["KeyCount"] == 0

    retry_log, took = retry_converges(local_profile, workspace)
    assert took < 60, retry_log


def test_an_interrupted_runner_stops_its_terraform_which_releases_its_lock(local_profile):
    """An exception passing through the runner while Terraform runs (a KeyboardInterrupt, SystemExit, a task
    timeout): Terraform gets SIGTERM, ends, and releases its lock itself; then nothing of its group is left."""
    workspace = "it-killed-interrupted"
    hook, log = runner(local_profile, workspace, "try1")
    var_files = prepare(hook, workspace, sleep_seconds=60)
    assert hook.plan(var_files).has_changes
    seen: list[psutil.Process] = []
    children: list[psutil.Process] = []

    def interrupt(msg: str, *args) -> None:
        log.lines.append(msg % args if args else msg)
        if SLOW_RESOURCE_STARTED in log.lines[-1]:
            [terraform] = terraform_in(hook.terraform_dir)
            seen.append(terraform)
            children.extend(terraform_group(terraform)[1])
            raise KeyboardInterrupt  # as Ctrl-C, or a task's timeout, would land in the runner's thread

    log.info = interrupt  # type: ignore[method-assign]
    failures: list[BaseException] = []

    def apply() -> None:
        try:
            hook.apply()
        except BaseException as exc:  # noqa: BLE001 - asserted below
            failures.append(exc)

    thread = threading.Thread(target=apply)
    thread.start()
    thread.join(90)
    try:
        assert not thread.is_alive(), "the interrupted runner did not return"
        [failure] = failures
        assert isinstance(failure, KeyboardInterrupt)  # passed through, unchanged
        [terraform] = seen
        assert group_left(terraform.pid) == [], group_left(terraform.pid)
        assert not terraform.is_running()  # reaped by the runner
    finally:
        kill_tree([terraform for terraform in seen if terraform.is_running()])  # safety net
        kill_tree(children)
    assert not lock_exists(local_profile, workspace), "terraform did not release its lock on SIGTERM"
    assert not any("force-unlocking" in line for line in log.lines), log.lines
    hook.cleanup(keep_working_dir=False)


WORKER = """
import json, signal, sys
from pathlib import Path
from loadstack.profiles import load_profile
from loadstack.terraform.runner import TerraformRunner, TerraformStepFailed

env, working_dir, module, key, workspace, on_kill = json.loads(sys.argv[1])
class Log:
    def info(self, msg, *args):
        print(msg % args if args else msg, flush=True)
    warning = info
hook = TerraformRunner(profile=load_profile(env), working_dir=Path(working_dir), logger=Log())
if on_kill:  # what Airflow's task runner does on SIGTERM: the operator's on_kill, which stops the runner
    signal.signal(signal.SIGTERM, lambda signum, frame: print("on_kill: stopped", hook.stop(), flush=True))
var_files = hook.prepare(Path(module), "minimal", {"name": "/it/killed/" + workspace, "value": "v1",
                                                  "sleep_seconds": 60})
hook.init(key, workspace)
hook.plan(var_files)
try:
    hook.apply()
except TerraformStepFailed as exc:
    print("step failed:", exc, flush=True)
"""


def start_worker(local_env, local_profile, workspace: str, output: Path, *, on_kill: bool) -> subprocess.Popen:
    """A task's process running the runner (in a process group of its own, as Airflow starts a task)."""
    args = json.dumps([local_env, str(local_profile.work_dir / "killed" / f"{workspace}-try1"), str(MODULE), KEY,
                       workspace, on_kill])
    with output.open("w") as sink:
        return subprocess.Popen([sys.executable, "-c", WORKER, args], stdout=sink, stderr=subprocess.STDOUT,
                                cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT / "plugins")},
                                start_new_session=True)


def test_a_task_killed_by_airflow_stops_its_terraform_through_on_kill(local_env, local_profile, tmp_path):
    """Airflow kills a task with SIGTERM to its process group (SIGKILL 5 s later): Terraform, in a session of its
    own, does not get it; the task's on_kill stops the runner, and Terraform ends, releasing its lock, in time."""
    workspace = "it-killed-on-kill"
    output = tmp_path / "worker.log"
    worker = start_worker(local_env, local_profile, workspace, output, on_kill=True)
    tree: list[psutil.Process] = []  # terraform and its children, found before the kill
    try:
        wait_for(lambda: SLOW_RESOURCE_STARTED in output.read_text() or worker.poll() is not None, 90,
                 "the worker's terraform apply to start on the slow resource")
        assert worker.poll() is None, output.read_text()
        [terraform] = [child for child in psutil.Process(worker.pid).children() if child.name() == "terraform"]
        group, children = terraform_group(terraform)
        tree = [terraform, *children]
        sent = time.monotonic()
        os.killpg(worker.pid, signal.SIGTERM)  # as Airflow's supervisor does
        worker.wait(30)
        took = time.monotonic() - sent
        assert group_left(group) == [], group_left(group)
    finally:
        kill_tree([*tree, psutil.Process(worker.pid)] if worker.poll() is None else tree)  # a safety net only
        worker.wait(10)
    said = output.read_text()
    assert took < 5, said  # before Airflow's SIGKILL of the task, which would leave Terraform running
    assert "on_kill: stopped True" in said and "step failed: terraform apply failed" in said, said
    assert not lock_exists(local_profile, workspace), said  # Terraform released it on SIGTERM
    assert "force-unlocking" not in said
    retry_log, took = retry_converges(local_profile, workspace)
    assert not any("force-unlocking" in line for line in retry_log), retry_log
    assert took < 60, retry_log


def test_a_retry_breaks_the_lock_a_killed_worker_left_and_converges(local_env, local_profile, tmp_path):
    """The task's whole process tree dies (the worker with its Terraform): nothing of it is left to release the
    lock, so the retry's runner finds it, sees its recorded holder is gone from this host, and breaks it."""
    workspace = "it-killed-worker"
    output = tmp_path / "worker.log"
    worker = start_worker(local_env, local_profile, workspace, output, on_kill=False)
    tree: list[psutil.Process] = []
    try:
        wait_for(lambda: SLOW_RESOURCE_STARTED in output.read_text() or worker.poll() is not None, 90,
                 "the worker's terraform apply to start on the slow resource")
        assert worker.poll() is None, output.read_text()
        tree = [psutil.Process(worker.pid), *psutil.Process(worker.pid).children(recursive=True)]
        [terraform_pid] = [process.pid for process in tree if process.name() == "terraform"]
    finally:
        kill_tree(tree or [psutil.Process(worker.pid)])
        worker.wait(10)

    assert lock_exists(local_profile, workspace), "the killed worker's lock is expected to be left behind"
    retry_log, took = retry_converges(local_profile, workspace)
    [broken] = [line for line in retry_log if "force-unlocking" in line]
    assert f"left by terraform pid {terraform_pid} on {os.uname().nodename}" in broken and "no longer runs" in broken
    assert took < 60, retry_log


def test_a_lock_whose_holder_still_runs_or_is_unknown_is_never_broken(local_profile):
    """Only a lock whose recorded holder is gone is broken: a live holder's, or one loadstack did not record (a
    person's terraform), makes the command wait and fail on the lock as before."""
    workspace = "it-killed-alive"
    hook, _ = runner(local_profile, workspace, "a", lock_timeout="1s")
    var_files = prepare(hook, workspace)
    s3, bucket = local_profile.client("s3"), local_profile.state_bucket
    state_object = state_object_key(workspace, KEY)
    lock = {"ID": "4b1a6e0c-held-by-a-live-terraform", "Operation": "OperationTypeApply", "Who": lock_owner(),
            "Version": "1.11.4", "Created": datetime.now(UTC).isoformat(), "Path": f"{bucket}/{state_object}"}
    me = psutil.Process()
    alive = {"lock_id": lock["ID"], "state_object": state_object, "host": os.uname().nodename,
             "boot_id": Path("/proc/sys/kernel/random/boot_id").read_text().strip(),
             "pid_namespace": os.readlink("/proc/self/ns/pid"), "pid": me.pid,
             "pid_start_ticks": process_start_ticks(me.pid), "recorded_at": lock["Created"], "working_dir": "/x"}
    s3.put_object(Bucket=bucket, Key=lock_object_key(state_object), Body=json.dumps(lock).encode())
    try:
        for record in (alive, None, {**alive, "host": "another-host", "pid": 999_999_999}):
            s3.delete_object(Bucket=bucket, Key=holder_record_key(state_object))
            if record is not None:
                s3.put_object(Bucket=bucket, Key=holder_record_key(state_object), Body=json.dumps(record).encode())
            with pytest.raises(TerraformStepFailed, match="state lock"):
                hook.plan(var_files)
            assert lock_exists(local_profile, workspace), record
    finally:
        s3.delete_object(Bucket=bucket, Key=lock_object_key(state_object))
        s3.delete_object(Bucket=bucket, Key=holder_record_key(state_object))
    hook.cleanup(keep_working_dir=False)
