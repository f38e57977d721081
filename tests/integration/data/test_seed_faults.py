"""Injected faults while seeding, against the real components (issue "hardening", point 2).

`test_seed.py` kills the seeding *worker* mid-shard; here the *database server* dies (SIGKILL to
mariadbd) while a shard's chunk is being loaded: the seeding call must fail at once with an error
that names the lost server, the server must come back from its datadir (InnoDB crash recovery) the
way the restore step restarts a stopped server, and the shard's rerun must load exactly the planned
rows: nothing from the interrupted chunk left over, nothing duplicated, nothing missing.
"""

from __future__ import annotations

import os
import secrets
import signal
import threading
import time

import pytest

from loadstack.data.mariadb import MariaDBServer
from loadstack.data.migrate import migrate
from loadstack.data.params import SeedParams, events_table
from loadstack.data.seed import SeedError, expected_counts, read_markers, seed_shard
from loadstack.supervisor import free_port, pid_alive

pytestmark = pytest.mark.integration

DATABASE = "seedfault"
CHUNK_ROWS = 10_000
# Four shards of about 100 k events: ten 10 k-row chunks each, every LOAD DATA takes a noticeable
# fraction of a second here, so a statement is caught in flight.
PARAMS = SeedParams(seed=11, accounts=8, profiles=4_000, events=400_000, orders=10, shards=4)


def _shard_stats(conn, table: str) -> tuple[int, int, int | None, int | None]:
    cursor = conn.cursor()
    cursor.execute(f"SELECT COUNT(*), COUNT(DISTINCT id), MIN(id), MAX(id) FROM `{table}`")
    row = cursor.fetchone()
    conn.commit()
    return int(row[0]), int(row[1]), row[2], row[3]


class _KillDuringLoad(threading.Thread):
    """Watches the server from a connection of its own; SIGKILLs mariadbd while a LOAD DATA into
    `table` has inserted rows in its open transaction, after at least `after_rows` rows of the shard
    were committed. Records what it saw."""

    def __init__(self, server: MariaDBServer, pid: int, table: str, after_rows: int) -> None:
        super().__init__(daemon=True, name="kill-mariadbd")
        self.server, self.pid, self.table, self.after_rows = server, pid, table, after_rows
        self.committed_at_kill: int | None = None
        self.rows_in_flight: int | None = None  # rows the uncommitted chunk had inserted when killed
        self.min_in_flight = CHUNK_ROWS // 5
        self.killed_at: float | None = None
        self.error: BaseException | None = None
        self.stop_watching = threading.Event()

    def run(self) -> None:
        try:
            conn = self.server.connect(DATABASE, autocommit=True)
            cursor = conn.cursor()
            cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED")
            while not self.stop_watching.is_set():
                cursor.execute("SELECT row_count, done FROM seed_markers WHERE shard = %s", (self.table,))
                marker = cursor.fetchone()
                if not marker or marker[1] or marker[0] < self.after_rows:
                    time.sleep(0.005)
                    continue
                # Rows the seeder's open transaction has inserted (read uncommitted) beyond the
                # committed count: its LOAD DATA is half-way through a chunk.
                cursor.execute(f"SELECT COUNT(*) FROM `{self.table}`")
                in_flight = int(cursor.fetchone()[0]) - int(marker[0])
                if in_flight >= self.min_in_flight:
                    os.kill(self.pid, signal.SIGKILL)
                    self.killed_at = time.monotonic()
                    self.committed_at_kill, self.rows_in_flight = int(marker[0]), int(in_flight)
                    return
        except BaseException as exc:  # reported by the test
            self.error = exc


def test_mariadbd_killed_mid_shard_is_recovered_and_the_rerun_loads_exact_counts(tmp_path):
    password = secrets.token_urlsafe(16)
    port = free_port()
    base_dir = tmp_path / "db"
    server = MariaDBServer(base_dir=base_dir, port=port, root_password=password)
    try:
        server.initialize()
        server.start()
        server.wait_ready(60)
        server.set_root_password()
        server.create_database(DATABASE)
        conn_params = server.connection_params(DATABASE)
        with conn_params.connect() as conn:
            migrate(conn)
        expected = expected_counts(PARAMS)
        done_table, table = events_table(0), events_table(1)
        assert expected[table] >= 8 * CHUNK_ROWS  # enough chunks to be interrupted in the middle

        # A finished shard before the crash: it must survive recovery and be skipped afterwards.
        assert seed_shard(conn_params, PARAMS, 0, progress=lambda p: None, chunk_rows=CHUNK_ROWS) == expected[done_table]

        # --- the kill: mariadbd dies while a chunk of shard 1 is being loaded ------------------
        pid = server.pid
        assert pid is not None
        killer = _KillDuringLoad(server, pid, table, after_rows=2 * CHUNK_ROWS)
        workdir = tmp_path / "work"
        workdir.mkdir()
        outcome: dict[str, object] = {}

        def seed() -> None:
            try:
                outcome["rows"] = seed_shard(conn_params, PARAMS, 1, progress=lambda p: None,
                                             chunk_rows=CHUNK_ROWS, workdir=workdir)
            except BaseException as exc:
                outcome["error"] = exc
            outcome["ended_at"] = time.monotonic()

        killer.start()
        seeder = threading.Thread(target=seed, daemon=True, name="seeder")
        seeder.start()
        seeder.join(60)
        killer.stop_watching.set()
        killer.join(5)
        assert not seeder.is_alive(), "seed_shard still runs 60 s after mariadbd was killed (hung)"
        assert killer.error is None, f"the watcher failed: {killer.error!r}"
        assert killer.killed_at is not None, f"mariadbd was never killed mid-load; the seed ended with {outcome}"
        assert "rows" not in outcome, "seed_shard reported success although its server was killed"

        # A clear, prompt failure: it names the shard, the server and the lost connection.
        error = outcome["error"]
        failed_after = outcome["ended_at"] - killer.killed_at
        assert failed_after < 15, f"seed_shard took {failed_after:.1f} s to notice the dead server"
        assert isinstance(error, SeedError), f"not a SeedError: {type(error).__name__}: {error}"
        message = str(error)
        assert table in message and f"127.0.0.1:{port}" in message, message
        assert "lost" in message.lower(), message
        assert f"{killer.committed_at_kill:,}" in message or str(killer.committed_at_kill) in message, message

        # The server is gone (not a zombie holding the port), and the producer cleaned up after itself.
        deadline = time.monotonic() + 10
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not pid_alive(pid)
        assert not server.is_running()
        while any(workdir.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(workdir.iterdir()), list(workdir.iterdir())

        # --- the restart: as the restore step does for a stopped server of a reused step ------
        restarted = MariaDBServer(base_dir=base_dir, port=port, root_password=password)
        assert not restarted.is_running()
        started = time.monotonic()
        new_pid = restarted.start()
        restarted.wait_ready(120)
        recovery_seconds = time.monotonic() - started
        assert new_pid != pid and restarted.pid == new_pid
        error_log = restarted.error_log_path.read_text(errors="replace")
        assert "crash recovery" in error_log.lower(), error_log[-3000:]

        # What crash recovery left: the committed chunks (as the marker counts them), none of the
        # chunk in flight -- its transaction was never committed and was rolled back.
        with conn_params.connect() as conn:
            markers = read_markers(conn)
            count, distinct, _, _ = _shard_stats(conn, table)
            assert markers[table].params_hash == PARAMS.params_hash() and not markers[table].done
            assert markers[table].row_count >= killer.committed_at_kill
            assert count == distinct == markers[table].row_count, (count, markers[table])
            assert count % CHUNK_ROWS == 0 and 0 < count < expected[table]
            assert markers[done_table].done and _shard_stats(conn, done_table)[0] == expected[done_table]

        # --- the rerun: the shard is redone from empty, exactly; the finished one is skipped ---
        skipped = []
        assert seed_shard(conn_params, PARAMS, 0, progress=skipped.append, chunk_rows=CHUNK_ROWS) == expected[done_table]
        assert [p.skipped for p in skipped] == [True]
        lines = []
        assert seed_shard(conn_params, PARAMS, 1, progress=lines.append, chunk_rows=CHUNK_ROWS) == expected[table]
        assert lines[-1].done and not any(p.skipped for p in lines)
        n = PARAMS.shards
        with conn_params.connect() as conn:
            for shard, name in ((0, done_table), (1, table)):
                total = expected[name]
                assert _shard_stats(conn, name) == (total, total, shard + 1, shard + 1 + (total - 1) * n)
            markers = read_markers(conn)
            assert {name: (m.done, m.row_count) for name, m in markers.items()} == {
                done_table: (True, expected[done_table]),
                table: (True, expected[table]),
            }
            # The id sequence has no gap: every planned id of the shard is there once.
            cursor = conn.cursor()
            cursor.execute(f"SELECT COUNT(*) FROM `{table}` WHERE MOD(id - 2, %s) <> 0", (n,))
            assert cursor.fetchone() == (0,)
        print(
            f"\nkilled after {killer.committed_at_kill:,} committed rows of {expected[table]:,}, "
            f"{killer.rows_in_flight:,} more inserted by the open chunk; "
            f"seed failed {failed_after:.2f} s later; restart + crash recovery {recovery_seconds:.2f} s; InnoDB log: "
            + ("; ".join(line.split("] ", 1)[-1] for line in error_log.splitlines()
                         if "to undo" in line or "Rolled back" in line or "Rolling back" in line) or "no rollback logged")
        )
    finally:
        MariaDBServer(base_dir=base_dir).stop()
