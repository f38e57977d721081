"""Load generated data into a migrated database: base tables once, then each events shard.

Speed: `LOAD DATA LOCAL INFILE` of TSV chunk files, and for events a producer process
(`python -m loadstack.data.producer`) generating the next chunks while this process
loads the current one, so the two cores work at once (generation alone is the slower half).

Resumable per unit of work ("base", "events_00", ...) through `seed_markers`:
- a unit marked done with the same params hash is skipped;
- any other unit (never started, interrupted, or seeded with other params) is emptied first and
  loaded again from scratch, so final counts are exact: nothing lost, nothing duplicated.
Each chunk commits together with the marker's row count, and a named lock per unit keeps two
seeders (say, a retried task and its zombie predecessor) from loading the same shard at once.

`LOAD DATA LOCAL` turns bad rows into warnings and skips duplicates silently; every chunk is
therefore checked: rows loaded must equal rows written, with no warnings.
"""

from __future__ import annotations

import logging
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import mysql.connector

from loadstack.data.base_tables import BASE_TABLE_ROWS, BASE_TABLES, TABLE_COLUMNS, iter_order_item_rows
from loadstack.data.events import EVENT_COLUMNS, EventGenerator
from loadstack.data.mariadb import ConnectionParams, lock_name
from loadstack.data.params import SeedParams, events_table
from loadstack.data.plan import plan_for
from loadstack.data.producer import EventChunkProducer, ProducerError

log = logging.getLogger(__name__)

BASE_UNIT = "base"
MARKERS_TABLE = "seed_markers"
DEFAULT_CHUNK_ROWS = 100_000
MIN_CHUNK_ROWS = 5_000


class SeedError(RuntimeError):
    """Seeding failed or would produce inexact data; the message says which table and why."""


@dataclass(frozen=True)
class SeedProgress:
    """One progress report; `str()` gives the log line."""

    table: str
    rows_loaded: int
    rows_total: int
    elapsed_seconds: float
    done: bool = False
    skipped: bool = False

    @property
    def rows_per_second(self) -> float:
        return self.rows_loaded / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        rate = self.rows_per_second
        return (self.rows_total - self.rows_loaded) / rate if rate > 0 else None

    def __str__(self) -> str:
        if self.skipped:
            return f"{self.table}: already seeded with these params ({self.rows_loaded:,} rows), skipped"
        if self.done:
            return (
                f"{self.table}: done, {self.rows_loaded:,} rows in {self.elapsed_seconds:.1f} s "
                f"({self.rows_per_second:,.0f} rows/s)"
            )
        percent = 100 * self.rows_loaded / self.rows_total if self.rows_total else 100.0
        eta = self.eta_seconds
        return (
            f"{self.table}: {self.rows_loaded:,}/{self.rows_total:,} rows ({percent:.0f}%), "
            f"{self.rows_per_second:,.0f} rows/s, ETA {'?' if eta is None else f'{eta:.1f} s'}"
        )


ProgressCallback = Callable[[SeedProgress], None]


def _log_progress(progress: SeedProgress) -> None:
    log.info("%s", progress)


# --- markers -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SeedMarker:
    shard: str
    params_hash: str
    row_count: int
    done: bool


def read_markers(conn) -> dict[str, SeedMarker]:
    cursor = conn.cursor()
    try:
        cursor.execute(f"SELECT shard, params_hash, row_count, done FROM {MARKERS_TABLE}")
    except Exception as exc:
        raise SeedError(
            f"cannot read {MARKERS_TABLE} in database {conn.database!r} ({exc}): run the migrations first"
        ) from exc
    markers = {row[0]: SeedMarker(row[0], row[1], int(row[2]), bool(row[3])) for row in cursor.fetchall()}
    conn.commit()  # end the read snapshot: later reads in this session must see other seeders' commits
    return markers


def _start_marker(cursor, unit: str, params_hash: str) -> None:
    cursor.execute(
        f"INSERT INTO {MARKERS_TABLE} (shard, params_hash, row_count, done) VALUES (%s, %s, 0, FALSE) "
        "ON DUPLICATE KEY UPDATE params_hash = VALUES(params_hash), row_count = 0, done = FALSE",
        (unit, params_hash),
    )


def _add_to_marker(cursor, unit: str, rows: int) -> None:
    cursor.execute(f"UPDATE {MARKERS_TABLE} SET row_count = row_count + %s WHERE shard = %s", (rows, unit))


def _finish_marker(cursor, unit: str, rows: int) -> None:
    cursor.execute(f"UPDATE {MARKERS_TABLE} SET row_count = %s, done = TRUE WHERE shard = %s", (rows, unit))


class _UnitLock:
    """A MariaDB named lock on one unit of work, held for the connection's seeding of it."""

    def __init__(self, conn, unit: str, timeout: float) -> None:
        self.conn, self.timeout = conn, timeout
        self.name = lock_name("loadstack.seed", conn.database, unit)
        self.unit = unit

    def __enter__(self) -> "_UnitLock":
        cursor = self.conn.cursor()
        cursor.execute("SELECT GET_LOCK(%s, %s)", (self.name, self.timeout))
        if cursor.fetchone()[0] != 1:
            raise SeedError(
                f"{self.unit} is being seeded by another connection (lock {self.name} held for over "
                f"{self.timeout:.0f} s)"
            )
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            cursor = self.conn.cursor()
            cursor.execute("SELECT RELEASE_LOCK(%s)", (self.name,))
            cursor.fetchall()
        except Exception:  # the connection is broken; the server drops its locks with it
            pass


# --- loading -----------------------------------------------------------------------------------
def _load_file(conn, table: str, columns: Iterable[str], path: Path, expected_rows: int) -> None:
    cursor = conn.cursor()
    cursor.execute(
        f"LOAD DATA LOCAL INFILE %s INTO TABLE `{table}` CHARACTER SET utf8mb4 "
        "FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' "
        f"({', '.join(columns)})",
        (str(path),),
    )
    loaded = cursor.rowcount
    warnings = conn.warning_count
    if loaded != expected_rows or warnings:
        details = ""
        if warnings:
            cursor.execute("SHOW WARNINGS LIMIT 5")
            details = "; ".join(f"{level} {code}: {message}" for level, code, message in cursor.fetchall())
        conn.rollback()
        raise SeedError(
            f"loading {table} from {path.name}: {loaded} of {expected_rows} rows loaded, {warnings} warnings"
            + (f" ({details})" if details else "")
        )


def _write_chunks(rows: Iterator[str], directory: Path, stem: str, chunk_rows: int) -> Iterator[tuple[Path, int]]:
    """Write rows into chunk files one at a time (the caller loads and deletes each)."""
    number = 0
    while True:
        lines = []
        for line in rows:
            lines.append(line)
            if len(lines) >= chunk_rows:
                break
        if not lines:
            return
        path = directory / f"{stem}-{number:05d}.tsv"
        path.write_text("".join(lines), encoding="utf-8")
        yield path, len(lines)
        number += 1


def _count_rows(conn, table: str, id_limit: int | None = None) -> int:
    cursor = conn.cursor()
    if id_limit is None:
        cursor.execute(f"SELECT COUNT(*) FROM `{table}`")
    else:
        cursor.execute(f"SELECT COUNT(*) FROM `{table}` WHERE id <= %s", (id_limit,))
    count = int(cursor.fetchone()[0])
    conn.commit()
    return count


# mysql.connector's errors for a connection that broke or never came up (server killed, gone away).
_CONNECTION_ERRNOS = frozenset({2002, 2003, 2006, 2013, 2055})


def _server_error(conn_params: ConnectionParams, unit: str, loaded: int, total: int, exc: Exception) -> SeedError:
    """A database error during a unit's seeding, as a SeedError naming the unit, the server and the
    rows committed so far (the driver's own message names neither table nor server)."""
    lost = isinstance(exc, mysql.connector.errors.InterfaceError) or getattr(exc, "errno", None) in _CONNECTION_ERRNOS
    what = "lost the connection to" if lost else "got an error from"
    return SeedError(
        f"seeding {unit} {what} the MariaDB server at {conn_params.host}:{conn_params.port} after "
        f"{loaded:,} of {total:,} rows were committed ({exc}); a rerun seeds {unit} again from empty"
    )


def _connect(conn_params: ConnectionParams):
    if not conn_params.database:
        raise SeedError("the connection parameters name no database; seeding needs the migrated database")
    return conn_params.connect(autocommit=False)


# --- base tables -------------------------------------------------------------------------------
def seed_base(
    conn_params: ConnectionParams,
    params: SeedParams,
    *,
    progress: ProgressCallback | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    workdir: Path | None = None,
    lock_timeout: float = 60,
) -> dict[str, int]:
    """Accounts, profiles, products, orders and order items; returns rows per table."""
    report = progress or _log_progress
    params_hash = params.params_hash()
    committed = [0]  # rows committed so far, for the error message
    try:
        return _seed_base(conn_params, params, params_hash, report, chunk_rows, workdir, lock_timeout, committed)
    except mysql.connector.Error as exc:
        total = sum(n for t, n in expected_counts(params).items() if t in BASE_TABLES)
        raise _server_error(conn_params, BASE_UNIT, committed[0], total, exc) from exc


def _seed_base(conn_params, params, params_hash, report, chunk_rows, workdir, lock_timeout, committed) -> dict[str, int]:
    with closing(_connect(conn_params)) as conn, _UnitLock(conn, BASE_UNIT, lock_timeout):
        marker = read_markers(conn).get(BASE_UNIT)
        if marker and marker.done and marker.params_hash == params_hash:
            counts = {table: _count_rows(conn, table) for table in BASE_TABLES}
            report(SeedProgress(BASE_UNIT, marker.row_count, marker.row_count, 0.0, done=True, skipped=True))
            return counts
        cursor = conn.cursor()
        _start_marker(cursor, BASE_UNIT, params_hash)
        conn.commit()
        for table in BASE_TABLES:
            cursor.execute(f"TRUNCATE TABLE `{table}`")
        counts: dict[str, int] = {}
        total = 0
        with tempfile.TemporaryDirectory(prefix="loadstack-seed-base-", dir=workdir) as tmp:
            for table in BASE_TABLES:
                started = time.monotonic()
                loaded = 0
                rows = BASE_TABLE_ROWS[table](params)
                for path, count in _write_chunks(rows, Path(tmp), table, chunk_rows):
                    _load_file(conn, table, TABLE_COLUMNS[table], path, count)
                    _add_to_marker(cursor, BASE_UNIT, count)
                    conn.commit()
                    committed[0] += count
                    path.unlink()
                    loaded += count
                counts[table] = loaded
                total += loaded
                report(SeedProgress(table, loaded, loaded, time.monotonic() - started, done=True))
        for table, loaded in counts.items():
            counted = _count_rows(conn, table)
            if counted != loaded:
                raise SeedError(f"{table} holds {counted} rows after loading {loaded}")
        _finish_marker(cursor, BASE_UNIT, total)
        conn.commit()
        return counts


# --- events shards -----------------------------------------------------------------------------
def default_chunk_rows(total_rows: int) -> int:
    """About 8 chunks per shard, so generation and loading overlap, within 5 k..100 k rows."""
    return max(MIN_CHUNK_ROWS, min(DEFAULT_CHUNK_ROWS, total_rows // 8))


def seed_shard(
    conn_params: ConnectionParams,
    params: SeedParams,
    shard: int,
    *,
    progress: ProgressCallback | None = None,
    chunk_rows: int | None = None,
    workdir: Path | None = None,
    lock_timeout: float = 60,
) -> int:
    """Seed one events shard (generation in a child process beside the load); returns its row count."""
    report = progress or _log_progress
    generator = EventGenerator(params, shard)  # validates the shard number, computes the plan
    table = events_table(shard)
    expected = generator.total_rows
    params_hash = params.params_hash()
    committed = [0]  # rows committed so far, for the error message
    try:
        return _seed_shard(conn_params, params, shard, table, expected, params_hash, report, chunk_rows, workdir,
                           lock_timeout, committed)
    except mysql.connector.Error as exc:
        raise _server_error(conn_params, table, committed[0], expected, exc) from exc


def _seed_shard(conn_params, params, shard, table, expected, params_hash, report, chunk_rows, workdir, lock_timeout,
                committed) -> int:
    with closing(_connect(conn_params)) as conn, _UnitLock(conn, table, lock_timeout):
        marker = read_markers(conn).get(table)
        if marker and marker.done and marker.params_hash == params_hash:
            report(SeedProgress(table, marker.row_count, marker.row_count, 0.0, done=True, skipped=True))
            return marker.row_count
        if marker and not marker.done:
            log.info("%s was interrupted after %d rows; seeding it again from empty", table, marker.row_count)
        cursor = conn.cursor()
        _start_marker(cursor, table, params_hash)
        conn.commit()
        cursor.execute(f"TRUNCATE TABLE `{table}`")
        started = time.monotonic()
        loaded = 0
        producer = EventChunkProducer(
            params, shard, chunk_rows=chunk_rows or default_chunk_rows(expected), workdir=workdir
        )
        try:
            for path, rows in producer:
                _load_file(conn, table, EVENT_COLUMNS, path, rows)
                _add_to_marker(cursor, table, rows)
                conn.commit()
                committed[0] += rows
                producer.consumed(path)
                loaded += rows
                report(SeedProgress(table, loaded, expected, time.monotonic() - started))
        except ProducerError as exc:
            raise SeedError(str(exc)) from exc
        finally:
            producer.close()
        counted = _count_rows(conn, table)
        if not (loaded == expected == producer.total == counted):
            raise SeedError(
                f"{table}: expected {expected} rows, the generator wrote {producer.total}, {loaded} were "
                f"loaded and the table holds {counted}"
            )
        _finish_marker(cursor, table, loaded)
        conn.commit()
        report(SeedProgress(table, loaded, expected, time.monotonic() - started, done=True))
        return loaded


def seed_all(
    conn_params: ConnectionParams,
    params: SeedParams,
    *,
    progress: ProgressCallback | None = None,
    workdir: Path | None = None,
    parallel: int = 2,
) -> dict[str, int]:
    """Base tables, then every events shard, `parallel` shards at a time; returns rows per table.

    Two shards at a time beat one on a 2-core machine (about 135 k against 100 k rows/s for 1 M
    events): one shard's start-up and final count overlap the other's loading. `progress` may then
    be called from two threads at once.
    """
    counts = seed_base(conn_params, params, progress=progress, workdir=workdir)
    tables = params.shard_tables

    def one(shard: int) -> int:
        return seed_shard(conn_params, params, shard, progress=progress, workdir=workdir)

    if parallel <= 1:
        loaded = [one(shard) for shard in range(params.shards)]
    else:
        with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="seed-shard") as pool:
            loaded = list(pool.map(one, range(params.shards)))
    counts.update(zip(tables, loaded))
    return counts


def expected_counts(params: SeedParams) -> dict[str, int]:
    """Rows per table that a complete seed with `params` leaves (computed, nothing loaded)."""
    plan = plan_for(params)
    counts = {
        "accounts": len(plan.accounts),
        "profiles": params.profiles,
        "products": len(plan.products),
        "orders": params.orders,
        "order_items": sum(1 for _ in iter_order_item_rows(params)),
    }
    counts.update(zip(params.shard_tables, plan.shard_event_counts))
    return counts


def count_rows(conn, tables: Iterable[str], *, id_limits: dict[str, int] | None = None) -> dict[str, int]:
    """Exact COUNT(*) per table, over one connection; `id_limits` counts only rows with id <= the limit."""
    limits = id_limits or {}
    return {table: _count_rows(conn, table, limits.get(table)) for table in tables}


def seeded_event_id_limits(params: SeedParams) -> dict[str, int]:
    """The highest id the dataset puts in each events shard (shard s of n numbers its rows s+1, s+1+n, ...).

    The application under test writes events above these (its ids start past the highest in the
    database), so counting up to them checks the seeded rows exactly on a stack that has been loaded.
    """
    counts = plan_for(params).shard_event_counts
    n = params.shards
    return {table: shard + 1 + (count - 1) * n for shard, (table, count) in enumerate(zip(params.shard_tables, counts)) if count}


def count_mismatches(expected: dict[str, int], found: dict[str, int]) -> str:
    """"" when every table holds its expected rows, else "table found != expected, ..." for the others."""
    return ", ".join(f"{t} {found.get(t)} != {n}" for t, n in expected.items() if found.get(t) != n)
