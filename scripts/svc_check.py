"""Readiness checks for scripts/services.sh (run with the venv's python).

    svc_check.py wait-http URL --pid PID [--timeout S]      any HTTP answer (moto)
    svc_check.py wait-zk HOST:PORT --pid PID [--timeout S]  ZooKeeper answers `ruok` with `imok`
    svc_check.py wait-airflow URL [--timeout S]              /api/v2/monitor/health: all healthy
    svc_check.py ensure-bucket ENDPOINT BUCKET REGION        a versioned bucket on moto (state, snapshots)
    svc_check.py airflow-health URL                          print component health, one line each

A wait gives up early (exit 2) when the process it waits for has died, so a crash is reported at
once instead of after the timeout. Exit 1 means timed out.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from loadstack.supervisor import pid_alive

AIRFLOW_COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")


def _alive(pid: int | None) -> bool:
    return not pid or pid_alive(pid)


def _http_get(url: str, timeout: float = 3.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _wait(check, pids: list[int], timeout: float, what: str) -> int:
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        for pid in pids:
            if not _alive(pid):
                print(f"{what}: process {pid} exited during start-up", file=sys.stderr)
                return 2
        try:
            ok, last = check()
            if ok:
                return 0
        except (OSError, ValueError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.5)
    print(f"{what}: not ready after {timeout:.0f} s ({last})", file=sys.stderr)
    return 1


def wait_http(url: str, pids: list[int], timeout: float) -> int:
    def check():
        status, _ = _http_get(url)
        return status < 500, f"HTTP {status}"

    return _wait(check, pids, timeout, url)


def zk_command(hostport: str, command: bytes = b"ruok", timeout: float = 2.0) -> bytes:
    host, _, port = hostport.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(command)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks)


def wait_zk(hostport: str, pids: list[int], timeout: float) -> int:
    def check():
        answer = zk_command(hostport)
        return answer == b"imok", f"ruok answered {answer!r}"

    return _wait(check, pids, timeout, f"zookeeper {hostport}")


def airflow_health(base: str) -> dict[str, str]:
    status, body = _http_get(base.rstrip("/") + "/api/v2/monitor/health")
    if status != 200:
        raise ValueError(f"HTTP {status}")
    data = json.loads(body)
    return {name: (data.get(name) or {}).get("status") or "unknown" for name in AIRFLOW_COMPONENTS}


def wait_airflow(base: str, pids: list[int], timeout: float) -> int:
    def check():
        health = airflow_health(base)
        return all(v == "healthy" for v in health.values()), ", ".join(f"{k}={v}" for k, v in health.items())

    return _wait(check, pids, timeout, f"airflow {base}")


def ensure_bucket(endpoint: str, bucket: str, region: str) -> int:
    # boto3 takes most of a second to import; the frequent wait-* calls do not need it.
    import boto3
    from botocore.exceptions import ClientError

    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    try:
        s3.head_bucket(Bucket=bucket)
        created = False
    except ClientError:
        kwargs = {"Bucket": bucket}
        if region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**kwargs)
        created = True
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    state = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    print(f"bucket s3://{bucket}: {'created' if created else 'present'}, versioning {state}")
    return 0 if state == "Enabled" else 1


def stop_data_servers(data_dir: str) -> int:
    """Stop the servers stack steps started under var/data (MariaDB, Redis, apps under test; their files
    stay) and any load generator a killed ramp left under var/work/ramps."""
    # Their modules pull in mysql.connector and redis-py; the frequent wait-* calls do not need them.
    from loadstack.cache.redis_server import RedisServer
    from loadstack.data.mariadb import MariaDBServer

    root = Path(data_dir)
    stopped = 0
    # Build servers (var/data/build/*/db) are transient; stop any a killed task left behind too.
    for base in [*sorted((root / "mariadb").glob("*/")), *sorted((root / "build").glob("*/db/"))]:
        if MariaDBServer(base_dir=base).stop():
            print(f"data: stopped mariadbd in {base}")
            stopped += 1
    for base in sorted((root / "redis").glob("*/")):
        if RedisServer(base).stop():
            print(f"data: stopped redis-server in {base}")
            stopped += 1
    # Apps under test (app processes, HAProxy, Prometheus); their next deploy starts them again.
    from loadstack.appservice.local import stop_deployment

    for base in sorted((root / "app").glob("*/")):
        if count := stop_deployment(base):
            print(f"data: stopped {count} app, HAProxy and Prometheus processes in {base}")
    # Load generators a killed ramp task left behind (a ramp stops its own when it ends).
    from loadstack.locust.cluster import LocustCluster

    for run_dir in sorted((root.parent / "work" / "ramps").glob("*/")):
        if names := LocustCluster(run_dir=run_dir, target_url="http://127.0.0.1").stop():
            print(f"data: stopped {', '.join(names)} in {run_dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("wait-http", "wait-zk", "wait-airflow"):
        p = sub.add_parser(name)
        p.add_argument("target")
        p.add_argument("--pid", type=int, action="append", default=[])
        p.add_argument("--timeout", type=float, default=60)
    p = sub.add_parser("ensure-bucket")
    p.add_argument("endpoint")
    p.add_argument("bucket")
    p.add_argument("region")
    p = sub.add_parser("airflow-health")
    p.add_argument("target")
    p = sub.add_parser("zk")
    p.add_argument("target")
    p.add_argument("command", nargs="?", default="ruok")
    p = sub.add_parser("stop-data-servers")
    p.add_argument("data_dir")
    args = parser.parse_args(argv)

    if args.cmd == "stop-data-servers":
        return stop_data_servers(args.data_dir)
    if args.cmd == "wait-http":
        return wait_http(args.target, args.pid, args.timeout)
    if args.cmd == "wait-zk":
        return wait_zk(args.target, args.pid, args.timeout)
    if args.cmd == "wait-airflow":
        return wait_airflow(args.target, args.pid, args.timeout)
    if args.cmd == "ensure-bucket":
        return ensure_bucket(args.endpoint, args.bucket, args.region)
    if args.cmd == "zk":
        try:
            print(zk_command(args.target, args.command.encode()).decode(errors="replace").strip())
            return 0
        except OSError as exc:
            print(f"unreachable ({exc})")
            return 1
    try:
        for name, state in airflow_health(args.target).items():
            print(f"{name}={state}")
        return 0
    except (OSError, ValueError) as exc:
        print(f"unreachable ({exc})")
        return 1


if __name__ == "__main__":
    sys.exit(main())
