"""An ordered, idempotent runner for the SQL migrations in `schema/`.

Files are named `NNNN_name.sql` and applied in version order. Each applied file is recorded in
`schema_migrations` with the SHA-256 of its bytes; a rerun skips those, and refuses to go on if an
applied file has changed since (edit history by adding a migration, never by rewriting one).

MySQL commits DDL implicitly, so a file that fails half-way stays half-applied: the files use
`CREATE TABLE IF NOT EXISTS` so that simply rerunning after a fix completes them.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from loadstack.data.mariadb import lock_name

log = logging.getLogger(__name__)

SCHEMA_DIR = Path(__file__).with_name("schema")
MIGRATIONS_TABLE = "schema_migrations"
_FILENAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    """The migrations on disk and the ones recorded in the database disagree, or one failed."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path
    checksum: str

    @property
    def filename(self) -> str:
        return self.path.name

    def statements(self) -> list[str]:
        return split_statements(self.path.read_text(encoding="utf-8"))


@dataclass
class MigrationResult:
    applied: list[Migration] = field(default_factory=list)
    skipped: list[Migration] = field(default_factory=list)
    schema_hash: str = ""
    seconds: float = 0.0


def discover_migrations(schema_dir: Path = SCHEMA_DIR) -> list[Migration]:
    """The migration files in version order; misnamed `.sql` files and duplicate versions are errors."""
    migrations: dict[int, Migration] = {}
    for path in sorted(Path(schema_dir).glob("*.sql")):
        match = _FILENAME.fullmatch(path.name)
        if not match:
            raise MigrationError(f"{path}: migration files must be named NNNN_lowercase_name.sql")
        version = int(match["version"])
        if version in migrations:
            raise MigrationError(f"{path.name} and {migrations[version].filename} share version {version}")
        checksum = hashlib.sha256(path.read_bytes()).hexdigest()
        migrations[version] = Migration(version=version, name=match["name"], path=path, checksum=checksum)
    return [migrations[v] for v in sorted(migrations)]


def schema_hash(schema_dir: Path = SCHEMA_DIR) -> str:
    """One hash over every migration (names and contents): the schema a snapshot was taken with."""
    digest = hashlib.sha256()
    for migration in discover_migrations(schema_dir):
        digest.update(f"{migration.filename}\0{migration.checksum}\n".encode())
    return digest.hexdigest()


def split_statements(sql: str) -> list[str]:
    """Split a script at top-level semicolons, skipping `--`, `#` and `/* */` comments and quotes."""
    statements: list[str] = []
    current: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch == "-" and sql.startswith("--", i) and (i + 2 == n or sql[i + 2] in " \t\r\n"):
            i = _skip_to_line_end(sql, i)
            continue
        if ch == "#":
            i = _skip_to_line_end(sql, i)
            continue
        if ch == "/" and sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            if end < 0:
                raise MigrationError("unterminated /* comment")
            i = end + 2
            current.append(" ")
            continue
        if ch in ("'", '"', "`"):
            end = i + 1
            while True:
                if end >= n:
                    raise MigrationError(f"unterminated {ch} quote")
                if sql[end] == "\\" and ch != "`":
                    end += 2
                    continue
                if sql[end] == ch:
                    if end + 1 < n and sql[end + 1] == ch:  # doubled quote inside the literal
                        end += 2
                        continue
                    break
                end += 1
            current.append(sql[i : end + 1])
            i = end + 1
            continue
        if ch == ";":
            statement = "".join(current).strip()
            if statement:
                statements.append(statement)
            current = []
            i += 1
            continue
        current.append(ch)
        i += 1
    tail = "".join(current).strip()
    if tail:
        statements.append(tail)
    return statements


def _skip_to_line_end(sql: str, i: int) -> int:
    end = sql.find("\n", i)
    return len(sql) if end < 0 else end


def _ensure_migrations_table(cursor) -> None:
    cursor.execute(
        f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} ("
        " version INT UNSIGNED NOT NULL PRIMARY KEY,"
        " name VARCHAR(200) NOT NULL,"
        " checksum CHAR(64) NOT NULL,"
        " applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
    )


def applied_migrations(conn) -> dict[int, tuple[str, str]]:
    """version -> (filename, checksum) as recorded in the connection's database."""
    cursor = conn.cursor()
    _ensure_migrations_table(cursor)
    cursor.execute(f"SELECT version, name, checksum FROM {MIGRATIONS_TABLE} ORDER BY version")
    return {int(version): (name, checksum) for version, name, checksum in cursor.fetchall()}


def _check_history(applied: dict[int, tuple[str, str]], on_disk: list[Migration], schema_dir: Path) -> None:
    by_version = {m.version: m for m in on_disk}
    for version, (filename, checksum) in applied.items():
        migration = by_version.get(version)
        if migration is None:
            raise MigrationError(
                f"the database has migration {filename} applied, but {schema_dir} has no version "
                f"{version:04d}: it was migrated by newer code, or a migration file was deleted"
            )
        if migration.filename != filename:
            raise MigrationError(
                f"migration version {version:04d} was applied as {filename} but is now {migration.filename}: "
                "applied migrations must not be renamed"
            )
        if migration.checksum != checksum:
            raise MigrationError(
                f"migration {migration.filename} was changed after it was applied (checksum "
                f"{checksum[:12]} in the database, {migration.checksum[:12]} on disk): restore the file "
                "and put the change in a new migration"
            )


def migrate(conn, *, schema_dir: Path = SCHEMA_DIR, lock_timeout: float = 60) -> MigrationResult:
    """Apply every pending migration to the connection's database, in order; returns what it did."""
    started = time.monotonic()
    database = conn.database
    if not database:
        raise MigrationError("the connection has no database selected: connect with database=...")
    on_disk = discover_migrations(schema_dir)
    cursor = conn.cursor()
    # Two tasks migrating the same database at once would both see a migration as pending.
    lock = lock_name("loadstack.migrate", database)
    cursor.execute("SELECT GET_LOCK(%s, %s)", (lock, lock_timeout))
    if cursor.fetchone()[0] != 1:
        raise MigrationError(f"another migration of database {database!r} holds the lock for over {lock_timeout:.0f} s")
    try:
        applied = applied_migrations(conn)
        _check_history(applied, on_disk, Path(schema_dir))
        result = MigrationResult(schema_hash=schema_hash(schema_dir))
        for migration in on_disk:
            if migration.version in applied:
                result.skipped.append(migration)
                continue
            _apply(cursor, migration)
            conn.commit()
            result.applied.append(migration)
            log.info("applied migration %s to %s", migration.filename, database)
    finally:
        cursor.execute("SELECT RELEASE_LOCK(%s)", (lock,))
        cursor.fetchall()
    result.seconds = time.monotonic() - started
    return result


def _apply(cursor, migration: Migration) -> None:
    statements = migration.statements()
    if not statements:
        raise MigrationError(f"migration {migration.filename} has no SQL statements")
    for number, statement in enumerate(statements, start=1):
        try:
            cursor.execute(statement)
            if cursor.with_rows:
                cursor.fetchall()
        except Exception as exc:
            raise MigrationError(
                f"migration {migration.filename} failed at statement {number} of {len(statements)}: {exc}"
            ) from exc
    cursor.execute(
        f"INSERT INTO {MIGRATIONS_TABLE} (version, name, checksum) VALUES (%s, %s, %s)",
        (migration.version, migration.filename, migration.checksum),
    )
