"""Benchmarks of the data tier, measured side by side in one run on the same dataset.

1. Seeding from scratch: `seed_all(..., parallel=2)` into an empty migrated MariaDB, generation
   included (LOAD DATA LOCAL of TSV chunks, a producer process per shard). Target >= 60 k rows/s.
2. Baseline: plain `cursor.executemany` of the same generator's event rows, 1000-row batches, into a
   second fresh migrated server; bounded to the first `executemany_rows` rows (spread over all shards).
3. Physical snapshot of the seeded server (`create_snapshot`) and restore to ready into a new server
   (`restore_snapshot`); exact row counts per table checked. Target restore < 2 s.
4. Logical: `mariadb-dump` of the seeded database, imported with the `mariadb` client into a fresh
   empty server; exact row counts checked.
5. Redis: `build_rdb(commerce_cache_records(...))` of `redis_keys` keys, `restore_rdb` into a new
   server, time to PONG, DBSIZE checked.

Every server binds 127.0.0.1 on a free port under a temporary directory, is stopped by PID (its own
stop()/remove()) whatever happens, and the directory is deleted. Passwords go through option files
(mode 0600), never command lines.

    python -m bench.data --events 1000000 --redis-keys 1000000
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

DEFAULT_WORKDIR = Path("/tmp/benchdata")
DATABASE = "commerce"
BATCH_ROWS = 1000
EXECUTEMANY_ROWS = 300_000
TARGET_PHYSICAL_RESTORE_S = 2.0
TARGET_SEED_ROWS_PER_S = 60_000


def log(message: str) -> None:
    print(f"[bench-data] {message}", file=sys.stderr, flush=True)


def seed_params(events: int):
    from loadstack.data.params import SeedParams

    accounts = 40
    return SeedParams(
        events=events,
        shards=16,
        accounts=accounts,
        profiles=max(accounts, events // 25),
        orders=events // 50,
    )


# --- helpers -----------------------------------------------------------------------------------
def _free_port() -> int:
    from loadstack.supervisor import free_port

    return free_port()


def _new_mariadb(base_dir: Path, password: str, servers: list):
    """An initialised, started server with a root password; registered for cleanup before starting."""
    from loadstack.data.mariadb import MariaDBServer

    server = MariaDBServer(base_dir=base_dir, port=_free_port(), root_password=password)
    servers.append(server)
    server.initialize()
    server.start()
    server.wait_ready(60)
    server.set_root_password()
    return server


def _migrated(server) -> None:
    from loadstack.data.migrate import migrate

    server.create_database(DATABASE)
    with closing(server.connect(DATABASE)) as conn:
        migrate(conn)


def count_tables(server, database: str = DATABASE) -> dict[str, int]:
    """Exact COUNT(*) of every base table in the database."""
    from loadstack.data.seed import count_rows

    with closing(server.connect(database)) as conn:
        cursor = conn.cursor()
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_type = 'BASE TABLE' "
            "ORDER BY table_name",
            (database,),
        )
        return count_rows(conn, [row[0] for row in cursor.fetchall()])


def _client_option_file(directory: Path, server) -> Path:
    """[client] login for mariadb / mariadb-dump, readable by us only (no password on a command line)."""
    params = server.connection_params()
    quoted = params.password.replace("\\", "\\\\").replace('"', '\\"')
    path = directory / f"client-{server.port}.cnf"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(
            f'[client]\nuser=root\npassword="{quoted}"\nhost=127.0.0.1\nport={server.port}\nprotocol=tcp\n'
        )
    return path


def _run_client(command: list[str], what: str, **kwargs: Any) -> None:
    result = subprocess.run(command, check=False, stderr=subprocess.PIPE, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed (exit code {result.returncode}): {result.stderr.decode(errors='replace')[-2000:]}")


_UNESCAPES = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a"}
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)


def _unescape(field: str):
    """One TSV field as LOAD DATA (ESCAPED BY '\\\\') reads it."""
    if "\\" not in field:
        return field
    if field == "\\N":
        return None
    return _ESCAPED.sub(lambda m: _UNESCAPES.get(m.group(1), m.group(1)), field)


def _event_tuples(params, limit: int) -> dict[str, list[tuple]]:
    """The first rows of every events shard (in proportion to its size, `limit` in all), as tuples."""
    from loadstack.data.events import EventGenerator
    from loadstack.data.params import events_table
    from loadstack.data.plan import allocate, plan_for

    quotas = allocate(min(limit, params.events), list(plan_for(params).shard_event_counts))
    rows: dict[str, list[tuple]] = {}
    for shard, quota in enumerate(quotas):
        if quota <= 0:
            continue
        lines = next(EventGenerator(params, shard).iter_chunks(quota), [])
        parsed = []
        for line in lines:
            id_, account_id, profile_id, event_type, occurred_at, payload = line[:-1].split("\t")
            parsed.append((int(id_), int(account_id), int(profile_id), _unescape(event_type), occurred_at, _unescape(payload)))
        rows[events_table(shard)] = parsed
    return rows


# --- the parts ---------------------------------------------------------------------------------
def _bench_executemany(params, root: Path, password: str, servers: list, limit: int) -> dict:
    from loadstack.data.events import EVENT_COLUMNS

    server = _new_mariadb(root / "em", password, servers)
    _migrated(server)
    started = time.perf_counter()
    rows = _event_tuples(params, limit)
    generate_s = time.perf_counter() - started
    total = sum(len(r) for r in rows.values())
    columns = ", ".join(EVENT_COLUMNS)
    placeholders = ", ".join(["%s"] * len(EVENT_COLUMNS))
    with closing(server.connect(DATABASE, autocommit=False)) as conn:
        cursor = conn.cursor()
        started = time.perf_counter()
        for table, table_rows_ in rows.items():
            statement = f"INSERT INTO `{table}` ({columns}) VALUES ({placeholders})"
            for i in range(0, len(table_rows_), BATCH_ROWS):
                cursor.executemany(statement, table_rows_[i : i + BATCH_ROWS])
                conn.commit()
        insert_s = time.perf_counter() - started
    counted = count_tables(server)
    loaded = sum(counted.get(table, 0) for table in rows)
    if loaded != total:
        raise RuntimeError(f"executemany baseline: inserted {total} rows but the tables hold {loaded}")
    server.remove()
    return {
        "rows": total,
        "bounded": total < params.events,
        "batch_rows": BATCH_ROWS,
        "generate_parse_s": round(generate_s, 2),
        "insert_s": round(insert_s, 2),
        "insert_rows_per_s": round(total / insert_s),
        "serial_rows_per_s": round(total / (generate_s + insert_s)),
    }


def _bench_seed(params, server, workdir: Path) -> dict:
    from loadstack.data.plan import plan_for
    from loadstack.data.seed import expected_counts, seed_all

    done: list[str] = []

    def progress(p) -> None:
        if p.done:
            done.append(str(p))

    plan_for.cache_clear()  # the plan is part of the work: do not let an earlier part pay for it
    started = time.perf_counter()
    counts = seed_all(server.connection_params(DATABASE), params, workdir=workdir, parallel=2, progress=progress)
    seconds = time.perf_counter() - started
    expected = expected_counts(params)
    if counts != expected:
        raise RuntimeError(f"seed_all loaded {counts}, expected {expected}")
    total = sum(counts.values())
    events = sum(v for k, v in counts.items() if k.startswith("events_"))
    return {
        "seconds": round(seconds, 2),
        "total_rows": total,
        "event_rows": events,
        "base_rows": total - events,
        "tables": len(counts),
        "rows_per_s": round(total / seconds),
        "parallel": 2,
        "rows": counts,
    }


class _RestoreTimings(logging.Handler):
    """Catches restore_snapshot's own split (unpack / start to ready) from its log record."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.unpack_s: float | None = None
        self.start_s: float | None = None

    def emit(self, record: logging.LogRecord) -> None:
        msg, args = record.msg, record.args
        if isinstance(msg, str) and msg.startswith("restored ") and isinstance(args, tuple) and len(args) == 4:
            self.unpack_s, self.start_s = float(args[2]), float(args[3])


def _bench_physical(source, reference: dict, root: Path, password: str, servers: list) -> dict:
    from loadstack.data.mariadb import MariaDBServer
    from loadstack.data.snapshot import create_snapshot, restore_snapshot

    archive = root / "snap" / "commerce.tar.zst"
    info = create_snapshot(source, archive)
    base_dir = root / "phys"
    port = _free_port()
    # Registered before the restore: restore_snapshot leaves a server that fails to get ready running.
    servers.append(MariaDBServer(base_dir=base_dir, port=port, root_password=password))
    catcher = _RestoreTimings()
    snapshot_log = logging.getLogger("loadstack.data.snapshot")
    previous_level = snapshot_log.level
    snapshot_log.addHandler(catcher)
    snapshot_log.setLevel(logging.INFO)
    try:
        started = time.perf_counter()
        server = restore_snapshot(archive, base_dir, port, root_password=password)
        restore_s = time.perf_counter() - started
    finally:
        snapshot_log.removeHandler(catcher)
        snapshot_log.setLevel(previous_level)
    servers.append(server)
    counts = count_tables(server)
    if counts != reference:
        raise RuntimeError(f"physical restore: row counts differ: {counts} != {reference}")
    server.remove()
    result = {
        "snapshot_size_mb": round(info.size_bytes / 1e6, 1),
        "make_s": round(info.total_seconds, 2),
        "make_backup_s": round(info.backup_seconds, 2),
        "make_prepare_s": round(info.prepare_seconds, 2),
        "make_pack_s": round(info.pack_seconds, 2),
        "restore_to_ready_s": round(restore_s, 2),
        "counts_equal": True,
    }
    if catcher.unpack_s is not None:
        result["restore_unpack_s"] = round(catcher.unpack_s, 2)
        result["restore_start_to_ready_s"] = round(catcher.start_s, 2)
    archive.unlink(missing_ok=True)
    return result


def _dump(source, root: Path) -> tuple[Path, float]:
    dump = root / "dump" / "commerce.sql"
    dump.parent.mkdir(parents=True, exist_ok=True)
    option_file = _client_option_file(dump.parent, source)
    started = time.perf_counter()
    _run_client(
        ["mariadb-dump", f"--defaults-file={option_file}", "--single-transaction", "--quick",
         "--databases", DATABASE, f"--result-file={dump}"],
        "mariadb-dump",
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    return dump, time.perf_counter() - started


def _bench_logical(dump: Path, dump_s: float, reference: dict, root: Path, password: str, servers: list) -> dict:
    started = time.perf_counter()
    server = _new_mariadb(root / "logi", password, servers)
    create_s = time.perf_counter() - started
    option_file = _client_option_file(dump.parent, server)
    started = time.perf_counter()
    with dump.open("rb") as stdin:
        _run_client(["mariadb", f"--defaults-file={option_file}", "--batch"], "mariadb import",
                    stdin=stdin, stdout=subprocess.DEVNULL)
    import_s = time.perf_counter() - started
    counts = count_tables(server)
    if counts != reference:
        raise RuntimeError(f"logical restore: row counts differ: {counts} != {reference}")
    server.remove()
    result = {
        "dump_s": round(dump_s, 2),
        "dump_size_mb": round(dump.stat().st_size / 1e6, 1),
        "empty_server_s": round(create_s, 2),
        "import_s": round(import_s, 2),
        "restore_to_ready_s": round(create_s + import_s, 2),
        "counts_equal": True,
    }
    dump.unlink(missing_ok=True)
    return result


def _bench_redis(params, keys: int, root: Path, started_servers: list) -> dict:
    from loadstack.cache.rdb import build_rdb, commerce_cache_records
    from loadstack.cache.redis_server import RedisServer, restore_rdb
    from loadstack.data.plan import plan_for

    plan = plan_for(params)
    carts = keys // 5
    sessions = keys - carts
    records = commerce_cache_records(42, sessions, carts, plan=plan)
    rdb = root / "rdb" / "commerce.rdb"
    rdb.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    build = build_rdb(records, rdb, work_dir=rdb.parent)
    build_s = time.perf_counter() - started
    if build.keys != keys:
        raise RuntimeError(f"RDB build: {build.keys} keys, expected {keys}")
    base_dir, port, password = root / "redis", _free_port(), secrets.token_urlsafe(16)
    started_servers.append(RedisServer(base_dir, port, password))
    started = time.perf_counter()
    server = restore_rdb(rdb, base_dir, port, password)
    restore_s = time.perf_counter() - started
    dbsize = server.dbsize()
    server.remove()
    if dbsize != keys:
        raise RuntimeError(f"Redis restore: DBSIZE {dbsize}, expected {keys}")
    result = {
        "keys": keys,
        "sessions": sessions,
        "carts": carts,
        "rdb_size_mb": round(build.size_bytes / 1e6, 1),
        "build_s": round(build_s, 2),
        "build_load_s": build.load_seconds,
        "build_save_s": build.save_seconds,
        "restore_to_pong_s": round(restore_s, 2),
        "dbsize": dbsize,
        "dbsize_ok": True,
    }
    rdb.unlink(missing_ok=True)
    return result


# --- the benchmark -----------------------------------------------------------------------------
def bench_data(
    events: int = 1_000_000,
    redis_keys: int = 1_000_000,
    *,
    executemany_rows: int = EXECUTEMANY_ROWS,
    workdir: Path = DEFAULT_WORKDIR,
) -> dict:
    """All five measurements on one dataset of `events` events; every server is stopped at the end."""
    params = seed_params(events)
    workdir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="run-", dir=workdir))
    password = secrets.token_urlsafe(18)
    mariadb_servers: list = []
    redis_servers: list = []
    run_started = time.perf_counter()
    result: dict[str, Any] = {
        "events": events,
        "redis_keys": redis_keys,
        "params": params.as_dict(),
        "measured_at": datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    try:
        log(f"executemany baseline: first {min(executemany_rows, events):,} event rows, {BATCH_ROWS}-row batches")
        result["executemany"] = _bench_executemany(params, root, password, mariadb_servers, executemany_rows)
        log(json.dumps(result["executemany"]))

        log(f"seeding {events:,} events into an empty migrated server (seed_all, parallel=2)")
        started = time.perf_counter()
        source = _new_mariadb(root / "seed", password, mariadb_servers)
        _migrated(source)
        server_setup_s = time.perf_counter() - started
        seed = _bench_seed(params, source, root)
        seed["server_setup_s"] = round(server_setup_s, 2)
        reference = count_tables(source)
        seed["all_tables"] = len(reference)
        result["seed"] = seed
        log(json.dumps({k: v for k, v in seed.items() if k != "rows"}))

        log("physical snapshot of the seeded server, then restore into a new server")
        result["physical"] = _bench_physical(source, reference, root, password, mariadb_servers)
        log(json.dumps(result["physical"]))

        log("mariadb-dump of the seeded database")
        dump, dump_s = _dump(source, root)
        source.stop()  # one server at a time from here on
        log("logical restore: import the dump into a fresh empty server")
        result["logical"] = _bench_logical(dump, dump_s, reference, root, password, mariadb_servers)
        log(json.dumps(result["logical"]))

        log(f"Redis: RDB of {redis_keys:,} keys, restore to PONG")
        result["redis"] = _bench_redis(params, redis_keys, root, redis_servers)
        log(json.dumps(result["redis"]))

        physical = result["physical"]["restore_to_ready_s"]
        result["ratios"] = {
            "physical_restore_s": physical,
            "logical_import_s": result["logical"]["import_s"],
            "logical_restore_to_ready_s": result["logical"]["restore_to_ready_s"],
            "seed_from_scratch_s": seed["seconds"],
            "logical_import_over_physical": round(result["logical"]["import_s"] / physical, 1),
            "logical_to_ready_over_physical": round(result["logical"]["restore_to_ready_s"] / physical, 1),
            "seed_over_physical": round(seed["seconds"] / physical, 1),
            "seed_over_executemany_insert": round(seed["rows_per_s"] / result["executemany"]["insert_rows_per_s"], 2),
            "seed_over_executemany_serial": round(seed["rows_per_s"] / result["executemany"]["serial_rows_per_s"], 2),
        }
        result["targets"] = {
            "physical_restore_under_2s": physical < TARGET_PHYSICAL_RESTORE_S,
            "seed_at_least_60k_rows_per_s": seed["rows_per_s"] >= TARGET_SEED_ROWS_PER_S,
        }
    finally:
        for server in reversed(redis_servers):
            try:
                server.remove()
            except (OSError, RuntimeError) as exc:  # keep stopping the others
                log(f"could not stop {server!r}: {exc}")
        for server in reversed(mariadb_servers):
            try:
                server.remove()
            except (OSError, RuntimeError) as exc:
                log(f"could not stop {server!r}: {exc}")
        shutil.rmtree(root, ignore_errors=True)
        result["run_seconds"] = round(time.perf_counter() - run_started, 1)
    return result


# --- output ------------------------------------------------------------------------------------
def _n(value: float) -> str:
    return f"{value:,.0f}".replace(",", " ")


def table_rows(result: dict) -> list[str]:
    """Markdown rows `| measure | result | target |` (no header: they join bench.__main__'s table)."""
    rows: list[str] = []
    seed, em = result.get("seed"), result.get("executemany")
    phys, logi, redis, ratios = result.get("physical"), result.get("logical"), result.get("redis"), result.get("ratios")
    if seed:
        rows.append(
            f"| seeding from scratch: {_n(result['events'])} events, {_n(seed['total_rows'])} rows in {seed['tables']} "
            f"tables, `seed_all` parallel=2, generation included | **{_n(seed['rows_per_s'])} rows/s** "
            f"({seed['seconds']} s) | ≥ 60 000 rows/s |"
        )
    if em:
        bound = f"first {_n(em['rows'])} event rows" if em["bounded"] else f"all {_n(em['rows'])} event rows"
        rows.append(
            f"| baseline: plain `executemany`, {em['batch_rows']}-row batches, {bound} | {_n(em['insert_rows_per_s'])} "
            f"rows/s inserting ({_n(em['serial_rows_per_s'])} rows/s with generation, one process) | |"
        )
    if ratios and seed and em:
        rows.append(
            f"| seeding / executemany (rows/s) | **{ratios['seed_over_executemany_insert']}×** "
            f"({ratios['seed_over_executemany_serial']}× counting generation) | |"
        )
    if phys:
        rows.append(
            f"| physical snapshot (mariadb-backup + prepare + tar.zst), {phys['snapshot_size_mb']} MB | "
            f"{phys['make_s']} s (backup {phys['make_backup_s']}, prepare {phys['make_prepare_s']}, "
            f"pack {phys['make_pack_s']}) | |"
        )
        split = ""
        if "restore_unpack_s" in phys:
            split = f" (unpack {phys['restore_unpack_s']} s, start {phys['restore_start_to_ready_s']} s)"
        rows.append(
            f"| physical restore to ready, new server, row counts equal | **{phys['restore_to_ready_s']} s**{split} "
            f"| < 2 s |"
        )
    if logi:
        rows.append(f"| logical dump (`mariadb-dump`), {logi['dump_size_mb']} MB | {logi['dump_s']} s | |")
        rows.append(
            f"| logical restore: `mariadb` import into a fresh empty server, row counts equal | "
            f"**{logi['import_s']} s** (+ {logi['empty_server_s']} s to create the empty server) | |"
        )
    if ratios:
        rows.append(
            f"| physical restore : logical import : seeding from scratch | {ratios['physical_restore_s']} s : "
            f"{ratios['logical_import_s']} s : {ratios['seed_from_scratch_s']} s = **1 : "
            f"{ratios['logical_import_over_physical']} : {ratios['seed_over_physical']}** | |"
        )
    if redis:
        rows.append(
            f"| Redis RDB build, {_n(redis['keys'])} keys ({redis['rdb_size_mb']} MB), generation + `redis-cli --pipe` "
            f"+ SAVE | {redis['build_s']} s | |"
        )
        rows.append(
            f"| Redis restore of that RDB to PONG, DBSIZE = {_n(redis['dbsize'])} | **{redis['restore_to_pong_s']} s** | |"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--redis-keys", type=int, default=1_000_000)
    parser.add_argument("--executemany-rows", type=int, default=EXECUTEMANY_ROWS,
                        help="bound of the executemany baseline (default %(default)s)")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="scratch root (default %(default)s)")
    args = parser.parse_args(argv)
    result = bench_data(args.events, args.redis_keys, executemany_rows=args.executemany_rows, workdir=args.workdir)
    print(json.dumps(result, indent=2, sort_keys=True))
    print("\n".join(["| measure | result | target |", "|---|---|---|", *table_rows(result)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
