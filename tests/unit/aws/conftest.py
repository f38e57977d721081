"""Fixtures for the data-tier AWS tests: moto in memory, or a moto server on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

REGION = "us-east-1"
ENGINE = "aurora-mysql"


@pytest.fixture
def aws_env(monkeypatch):
    """Static moto credentials for boto3's default chain (hooks with aws_conn_id=None use it)."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def mocked_aws(aws_env):
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture
def rds(mocked_aws):
    import boto3

    return boto3.client("rds", region_name=REGION)


@pytest.fixture
def elasticache(mocked_aws):
    import boto3

    return boto3.client("elasticache", region_name=REGION)


def make_source_snapshot(rds, snapshot_id: str = "shop-snap", source_cluster: str = "shop-src") -> str:
    """A source Aurora cluster and a manual cluster snapshot of it (what the snapshot DAG makes)."""
    rds.create_db_cluster(
        DBClusterIdentifier=source_cluster,
        Engine=ENGINE,
        MasterUsername="admin",
        MasterUserPassword="not-a-real-password",
    )
    rds.create_db_cluster_snapshot(DBClusterIdentifier=source_cluster, DBClusterSnapshotIdentifier=snapshot_id)
    return snapshot_id


@pytest.fixture
def source_snapshot():
    """`source_snapshot(rds, snapshot_id, source_cluster)` -> snapshot id (see make_source_snapshot)."""
    return make_source_snapshot


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_server_url(tmp_path_factory):
    """A moto server on a free 127.0.0.1 port, stopped by its PID at the end of the session."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("moto-data-tier") / "moto.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"moto server did not start:\n{log_path.read_text()[-2000:]}")
                time.sleep(0.1)
        yield url
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
