from __future__ import annotations

import re
import shutil

import pytest

from loadstack.data.base_tables import TABLE_COLUMNS
from loadstack.data.events import EVENT_COLUMNS
from loadstack.data.migrate import SCHEMA_DIR, MigrationError, discover_migrations, schema_hash, split_statements
from loadstack.data.params import MAX_SHARDS


def test_migrations_are_ordered_and_named():
    migrations = discover_migrations()
    assert [m.version for m in migrations] == sorted(m.version for m in migrations)
    assert migrations[0].filename == "0001_accounts.sql"
    assert all(len(m.checksum) == 64 for m in migrations)


def _create_tables() -> dict[str, str]:
    tables = {}
    for migration in discover_migrations():
        for statement in migration.statements():
            match = re.match(r"CREATE TABLE IF NOT EXISTS (\w+) \((.*)\)[^)]*$", statement, re.S)
            assert match, f"{migration.filename}: unexpected statement {statement[:60]!r}"
            tables[match[1]] = match[2]
    return tables


def test_sixteen_identical_event_shards():
    tables = _create_tables()
    shards = [name for name in tables if name.startswith("events_")]
    assert shards == [f"events_{n:02d}" for n in range(MAX_SHARDS)]
    assert len({tables[name] for name in shards}) == 1  # same body, only the name differs


def test_generators_and_schema_agree_on_columns():
    tables = _create_tables()
    for table, columns in {**TABLE_COLUMNS, "events_00": EVENT_COLUMNS}.items():
        declared = [line.split()[0] for line in tables[table].strip().splitlines() if not line.strip().startswith(("PRIMARY", "KEY", "UNIQUE"))]
        assert set(columns) == set(declared), table
    assert "seed_markers" in tables


def test_split_statements_respects_quotes_and_comments():
    sql = """
    -- a comment; with a semicolon
    CREATE TABLE a (x VARCHAR(3) DEFAULT ';');  # another; comment
    /* block; comment */ INSERT INTO a VALUES ('it''s; fine'), ("a\\";b");
    SELECT `odd;name` FROM a
    """
    assert split_statements(sql) == [
        "CREATE TABLE a (x VARCHAR(3) DEFAULT ';')",
        "INSERT INTO a VALUES ('it''s; fine'), (\"a\\\";b\")",
        "SELECT `odd;name` FROM a",
    ]
    with pytest.raises(MigrationError, match="unterminated"):
        split_statements("SELECT 'oops")


def test_schema_hash_follows_content(tmp_path):
    copy = tmp_path / "schema"
    shutil.copytree(SCHEMA_DIR, copy)
    assert schema_hash(copy) == schema_hash()
    (copy / "0007_extra.sql").write_text("CREATE TABLE IF NOT EXISTS extra (id INT PRIMARY KEY);\n")
    assert schema_hash(copy) != schema_hash()


def test_bad_migration_names_and_duplicate_versions(tmp_path):
    (tmp_path / "1_bad.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="1_bad.sql: migration files must be named"):
        discover_migrations(tmp_path)
    (tmp_path / "1_bad.sql").unlink()
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0001_b.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="share version 1"):
        discover_migrations(tmp_path)
