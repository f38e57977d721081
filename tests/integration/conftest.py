"""Real services for integration tests: a moto server on 127.0.0.1, started and stopped by PID."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from loadstack.profiles import Profile, load_profile

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    """A moto server process on a free loopback port; yields its endpoint URL."""
    if not shutil.which("terraform") and not os.environ.get("LOADSTACK_TERRAFORM_BIN"):
        pytest.fail("terraform is not on PATH: integration tests need Terraform 1.11 (see README)")
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("w")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{endpoint}/moto-api/", timeout=30)
        yield endpoint
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture(scope="session")
def local_env(moto_server, tmp_path_factory) -> dict[str, str]:
    """LOADSTACK_* variables of a local profile bound to the test moto server, with its state bucket."""
    env = {
        "LOADSTACK_PROFILE": "local",
        "LOADSTACK_AWS_ENDPOINT_URL": moto_server,
        "LOADSTACK_STATE_BUCKET": "loadstack-test-state",
        "LOADSTACK_HOME": str(tmp_path_factory.mktemp("loadstack-home")),
    }
    profile = load_profile(env)
    s3 = profile.client("s3")
    s3.create_bucket(Bucket=profile.state_bucket)
    s3.put_bucket_versioning(Bucket=profile.state_bucket, VersioningConfiguration={"Status": "Enabled"})
    return env


@pytest.fixture
def local_profile(local_env) -> Profile:
    return load_profile(local_env)


@pytest.fixture
def loadstack_env(local_env, monkeypatch):
    """Put the local profile into os.environ, for operators that call load_profile() themselves."""
    for key, value in local_env.items():
        monkeypatch.setenv(key, value)
    return local_env
