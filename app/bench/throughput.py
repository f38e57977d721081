"""Requests per second one shopapp process serves here, per endpoint: a measurement, not a test.

Stands up what the app needs on 127.0.0.1 with loadstack's own helpers (a moto server for the
secrets, a private MariaDB seeded with loadstack's shop data, a redis-server restored from a shop
cache RDB), starts one `python -m shopapp`, drives each endpoint with a closed-loop Locust run
(FastHttpUser, one process) for a bounded time, prints Locust's summary lines, and stops everything
by PID. Also compares the two MySQL drivers on the app's read query (aiomysql against
mysql-connector in threads), which is how database.py's choice was made.

    PYTHONPATH=plugins:app .venv/bin/python app/bench/throughput.py [--seconds 15] [--users 32]

This script (not the shopapp package) imports loadstack: it is a developer's tool of the repository.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3

from loadstack.cache import build_rdb, commerce_cache_records, restore_rdb
from loadstack.data.mariadb import MariaDBServer
from loadstack.data.migrate import migrate
from loadstack.data.params import SeedParams
from loadstack.data.plan import plan_for
from loadstack.data.seed import seed_all
from loadstack.supervisor import NotReady, SupervisedProcess, free_port

HERE = Path(__file__).resolve().parent
PARAMS = SeedParams(seed=5, accounts=40, products_per_account=20, profiles=20_000, events=400_000, orders=2_000)


def wait_http(url: str, timeout: float = 30) -> None:
    def probe():
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status != 200:
                    raise NotReady(str(response.status))
        except OSError as exc:
            raise NotReady(str(exc)) from None

    deadline = time.monotonic() + timeout
    while True:
        try:
            probe()
            return
        except NotReady:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


async def driver_rates(db, seconds: float, concurrency: int = 16) -> dict[str, float]:
    """Queries per second of the app's timeline query through each driver, `concurrency` tasks at once."""
    import aiomysql
    import mysql.connector.pooling

    sql = (
        "SELECT id, account_id, event_type, occurred_at, payload FROM events_{:02d} WHERE profile_id = %s "
        "ORDER BY occurred_at DESC, id DESC LIMIT 20"
    )
    rates = {}

    async def run(one) -> float:
        count, stop = 0, time.monotonic() + seconds

        async def worker(seed):
            nonlocal count
            profile = seed
            while time.monotonic() < stop:
                profile = (profile * 7919 + 1) % PARAMS.profiles + 1
                await one(profile)
                count += 1

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        return count / seconds

    pool = await aiomysql.create_pool(
        minsize=concurrency,
        maxsize=concurrency,
        host=db.host,
        port=db.port,
        user=db.user,
        password=db.password,
        db=db.database,
        autocommit=True,
    )

    async def with_aiomysql(profile):
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(sql.format(profile % 16), (profile,))
            await cur.fetchall()

    rates["aiomysql"] = await run(with_aiomysql)
    pool.close()
    await pool.wait_closed()

    cpool = mysql.connector.pooling.MySQLConnectionPool(
        pool_size=concurrency,
        host=db.host,
        port=db.port,
        user=db.user,
        password=db.password,
        database=db.database,
        autocommit=True,
    )

    def blocking(profile):
        conn = cpool.get_connection()
        try:
            cur = conn.cursor()
            cur.execute(sql.format(profile % 16), (profile,))
            cur.fetchall()
            cur.close()
        finally:
            conn.close()

    async def with_connector(profile):
        await asyncio.to_thread(blocking, profile)

    rates["mysql-connector (C ext) in threads"] = await run(with_connector)
    return rates


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def locust_summary(url: str, scenario: str, seconds: int, users: int, work: Path, app_pid: int) -> str:
    """One closed-loop Locust run; the rate, latency, and requests per CPU second of the app process
    (the machine is shared: the app may get less than a core, so the rate alone undersells it)."""
    prefix = work / scenario
    user0, system0 = cpu_seconds(app_pid)
    subprocess.run(
        [
            str(Path(sys.executable).parent / "locust"),
            "-f",
            str(HERE / "locustfile.py"),
            "--headless",
            "--host",
            url,
            "-u",
            str(users),
            "-r",
            str(users),
            "-t",
            f"{seconds}s",
            "--only-summary",
            "--csv",
            str(prefix),
            "--loglevel",
            "ERROR",
        ],
        env={**os.environ, "SHOPAPP_SCENARIO": scenario},
        check=False,
        capture_output=True,
        timeout=seconds + 60,
    )
    user1, system1 = cpu_seconds(app_pid)
    lines = (prefix.with_name(prefix.name + "_stats.csv")).read_text().splitlines()
    header = lines[0].split(",")
    row = dict(zip(header, lines[-1].split(","), strict=False))  # the Aggregated row
    cpu = (user1 - user0) + (system1 - system0)
    per_cpu = int(row["Request Count"]) / cpu if cpu else float("nan")
    return (
        f"{scenario:12s} {float(row['Requests/s']):6.0f} req/s  failures {row['Failure Count']:>3s}  "
        f"p50 {row['50%']} ms  p95 {row['95%']} ms  p99 {row['99%']} ms  app CPU {cpu:5.1f} s "
        f"({(system1 - system0) / cpu:.0%} system): {per_cpu:5.0f} requests per app CPU second"
    )


@contextlib.contextmanager
def bench_stack(work: Path, app_env: dict[str, str] | None = None) -> Iterator[tuple[str, Any, int]]:
    """Moto, a seeded MariaDB, a restored Redis and one app process; yields (app URL, db params, app PID)."""
    processes: list[SupervisedProcess] = []
    mariadb = redis = None
    try:
        moto_port = free_port()
        moto = SupervisedProcess(
            name="moto",
            pid_path=work / "moto.pid",
            executable=sys.executable,
            marker_arg=str(moto_port),
            output_path=work / "moto.log",
        )
        processes.append(moto)
        moto.start([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)])
        mariadb = MariaDBServer(base_dir=work / "db", port=free_port(), root_password=secrets.token_urlsafe(12))
        mariadb.initialize()
        mariadb.start()
        mariadb.wait_ready(60)
        mariadb.set_root_password()
        mariadb.create_database("shop")
        db = mariadb.connection_params("shop")
        with db.connect() as conn:
            migrate(conn)
        started = time.monotonic()
        seed_all(db, PARAMS)
        print(f"seeded {PARAMS.events} events, {PARAMS.profiles} profiles in {time.monotonic() - started:.1f} s")
        records = commerce_cache_records(7, 20_000, 10_000, plan=plan_for(PARAMS))
        build_rdb(records, work / "cache.rdb")
        redis = restore_rdb(work / "cache.rdb", work / "redis", free_port(), secrets.token_urlsafe(12))

        endpoint = f"http://127.0.0.1:{moto_port}"
        wait_http(f"{endpoint}/moto-api/")
        aws = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
        sm = boto3.client(
            "secretsmanager",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        sm.create_secret(
            Name="bench/db",
            SecretString=json.dumps({"host": db.host, "port": db.port, "username": db.user, "password": db.password}),
        )
        sm.create_secret(
            Name="bench/cache",
            SecretString=json.dumps({"host": "127.0.0.1", "port": redis.port, "password": redis.password}),
        )

        port = free_port()
        app = SupervisedProcess(
            name="shopapp bench",
            pid_path=work / "app.pid",
            executable=sys.executable,
            marker_arg="shopapp-bench",
            output_path=work / "app.log",
        )
        processes.append(app)
        app.start(
            [sys.executable, "-m", "shopapp", "--port", str(port), "--name", "shopapp-bench"],
            env={
                "PATH": os.environ["PATH"],
                "PYTHONPATH": str(HERE.parent),
                **aws,
                "SHOPAPP_DB_SECRET_ID": "bench/db",
                "SHOPAPP_DB_NAME": "shop",
                "SHOPAPP_CACHE_SECRET_ID": "bench/cache",
                **(app_env or {}),
            },
        )
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/health", 60)
        yield url, db, app.pid()
    finally:
        for process in reversed(processes):
            process.stop()
        if redis is not None:
            redis.remove()
        if mariadb is not None:
            mariadb.remove()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--users", type=int, default=32)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="shopapp-bench-"))
    try:
        with bench_stack(work) as (url, db, app_pid):
            for name, rate in asyncio.run(driver_rates(db, seconds=5)).items():
                print(f"driver {name:36s} {rate:8.0f} timeline queries/s (16 concurrent, one process)")
            for scenario in ("read_events", "read_cart", "write_event"):
                print(locust_summary(url, scenario, args.seconds, args.users, work, app_pid), flush=True)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
