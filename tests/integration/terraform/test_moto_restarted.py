"""The moto server restarted in the middle of a run (all its state lost), then stopped: every Terraform step and
boto3 call of the run fails within seconds, with an error that names the endpoint and says what to do (moto
lost everything: bring it up, rerun the stack from scratch), never a hang on retries, never a cryptic
"bucket does not exist".

The test runs a moto server of its own (the session's one stays untouched), stopped by its PID.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from loadstack.aws_endpoint import EndpointLost
from loadstack.profiles import load_profile
from loadstack.stack_lock import StackLock
from loadstack.supervisor import free_port
from loadstack.terraform.runner import TerraformRunner, TerraformStepFailed

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "tf_modules"
STACK = "it_restart"
RUN_ID = "manual__it_restart"
# Each failure must come in seconds: Terraform's S3 calls alone retry for about 20 s against a dead endpoint.
BOUND_S = 15


class Moto:
    """A moto server on one loopback port, which the test stops and starts again (empty, as a restart leaves it)."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_dir = log_dir
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with (self.log_dir / "moto.log").open("a") as log:
            self.proc = subprocess.Popen(
                [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1).read()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"moto did not start on {self.url}: {(self.log_dir / 'moto.log').read_text()[-2000:]}")
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def moto(tmp_path):
    server = Moto(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class ListLog:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, msg: str, *args) -> None:
        self.lines.append(msg % args if args else msg)

    warning = info


def step(profile, name: str, module: str, variables: dict) -> tuple[TerraformRunner, ListLog, list[str]]:
    log = ListLog()
    hook = TerraformRunner(profile=profile, working_dir=profile.work_dir / name, logger=log)  # type: ignore[arg-type]
    var_files = hook.prepare(FIXTURES / module, "minimal", variables)
    return hook, log, var_files


def timed(call):
    """(the exception `call` raised, seconds it took); fails the test if it raised nothing."""
    started = time.monotonic()
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - returned to assert on
        return exc, time.monotonic() - started
    pytest.fail(f"{call} did not fail")


def says_restarted(message: str, url: str) -> None:
    assert url in message, message
    assert "restarted" in message and "rerun the stack from scratch" in message and "make up" in message, message


def test_moto_restarted_mid_run_then_stopped_fails_fast_and_says_what_to_do(moto, tmp_path):
    profile = load_profile({"LOADSTACK_PROFILE": "local", "LOADSTACK_AWS_ENDPOINT_URL": moto.url,
                            "LOADSTACK_STATE_BUCKET": "it-restart-state", "LOADSTACK_HOME": str(tmp_path / "home")})
    profile.client("s3").create_bucket(Bucket=profile.state_bucket)
    lock = StackLock(profile, STACK)
    assert lock.acquire(dag_id=STACK, run_id=RUN_ID) is None  # the run's first task

    # The run's first step stands up; its second is applying when moto restarts (and comes back empty).
    first, _, var_files = step(profile, "base", "param", {"name": "/it/restart/base", "value": "v1"})
    first.init("loadstack/base.tfstate", "it-restart-base")
    assert first.plan(var_files).has_changes
    first.apply()
    second, log, var_files = step(profile, "slow", "slow_apply", {"name": "/it/restart/slow", "value": "v1",
                                                                  "sleep_seconds": 10})
    second.init("loadstack/slow.tfstate", "it-restart-slow")
    assert second.plan(var_files).has_changes
    failures: list[tuple[BaseException, float]] = []
    thread = threading.Thread(target=lambda: failures.append(timed(second.apply)))
    thread.start()
    deadline = time.monotonic() + 60
    while "start    terraform_data.slow: creating" not in log.lines:
        assert time.monotonic() < deadline and thread.is_alive(), log.lines
        time.sleep(0.1)
    moto.stop()
    moto.start()
    restarted_at = time.monotonic()
    thread.join(120)
    assert not thread.is_alive(), "the apply hung after moto restarted"
    [(failure, _)] = failures
    assert isinstance(failure, TerraformStepFailed), failure
    # It fails once its sleep is over and Terraform writes its state: the state bucket is gone.
    assert time.monotonic() - restarted_at < 10 + BOUND_S
    assert str(failure).startswith("terraform apply failed: the state bucket 'it-restart-state' is missing")
    says_restarted(str(failure), moto.url)

    # Its retry, a later step, or the run's stack-unlock task: each fails at once, saying the same.
    retry, _, _ = step(profile, "slow-retry", "slow_apply", {"name": "/it/restart/slow", "value": "v1"})
    failure, took = timed(lambda: retry.init("loadstack/slow.tfstate", "it-restart-slow"))
    assert isinstance(failure, TerraformStepFailed) and took < BOUND_S, (failure, took)
    says_restarted(str(failure), moto.url)
    failure, took = timed(lambda: lock.release(dag_id=STACK, run_id=RUN_ID))
    assert isinstance(failure, EndpointLost) and took < BOUND_S, (failure, took)
    assert str(failure).startswith(f"reading the lock of stack {STACK}: the state bucket")
    says_restarted(str(failure), moto.url)

    # moto stopped for good: the same calls fail as fast, saying moto does not answer.
    moto.stop()
    for call in (lambda: retry.init("loadstack/slow.tfstate", "it-restart-slow"),
                 lambda: lock.acquire(dag_id=STACK, run_id=RUN_ID)):
        failure, took = timed(call)
        assert isinstance(failure, TerraformStepFailed | EndpointLost) and took < BOUND_S, (failure, took)
        assert f"the AWS endpoint {moto.url} (the local profile's moto server) does not answer" in str(failure)
        assert "rerun the stack from scratch" in str(failure)
