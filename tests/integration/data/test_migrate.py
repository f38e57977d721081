from __future__ import annotations

import shutil

import pytest

from loadstack.data.migrate import SCHEMA_DIR, MigrationError, discover_migrations, migrate, schema_hash

pytestmark = pytest.mark.integration


def _tables(conn) -> set[str]:
    cursor = conn.cursor()
    cursor.execute("SHOW TABLES")
    return {row[0] for row in cursor.fetchall()}


def test_migrations_apply_in_order_and_rerun_is_a_no_op(new_database):
    params = new_database(migrated=False)
    with params.connect() as conn:
        first = migrate(conn)
        assert [m.filename for m in first.applied] == [m.filename for m in discover_migrations()]
        assert first.schema_hash == schema_hash()
        tables = _tables(conn)
        assert {"accounts", "profiles", "products", "orders", "order_items", "seed_markers", "schema_migrations"} <= tables
        assert {f"events_{n:02d}" for n in range(16)} <= tables

        second = migrate(conn)
        assert second.applied == [] and len(second.skipped) == len(first.applied)
        cursor = conn.cursor()
        cursor.execute("SELECT version, name, checksum FROM schema_migrations ORDER BY version")
        assert cursor.fetchall() == [(m.version, m.filename, m.checksum) for m in discover_migrations()]


def test_a_changed_migration_is_refused_by_name(new_database, tmp_path):
    schema = tmp_path / "schema"
    shutil.copytree(SCHEMA_DIR, schema)
    params = new_database(migrated=False)
    with params.connect() as conn:
        migrate(conn, schema_dir=schema)
        products = schema / "0003_products.sql"
        original = products.read_text()
        products.write_text(original + "\n-- an innocent-looking edit\n")
        with pytest.raises(MigrationError, match=r"0003_products\.sql was changed after it was applied"):
            migrate(conn, schema_dir=schema)

        products.write_text(original)
        (schema / "0007_wishlists.sql").write_text(
            "CREATE TABLE IF NOT EXISTS wishlists (profile_id BIGINT UNSIGNED NOT NULL, product_id BIGINT UNSIGNED NOT NULL,\n"
            "  PRIMARY KEY (profile_id, product_id));\n"
        )
        result = migrate(conn, schema_dir=schema)
        assert [m.filename for m in result.applied] == ["0007_wishlists.sql"]

        (schema / "0008_broken.sql").write_text("CREATE TABLE IF NOT EXISTS broken (id INT PRIMARY KEY,);\n")
        with pytest.raises(MigrationError, match=r"0008_broken\.sql failed at statement 1 of 1"):
            migrate(conn, schema_dir=schema)
        (schema / "0008_broken.sql").unlink()
        (schema / "0007_wishlists.sql").unlink()
        with pytest.raises(MigrationError, match=r"0007_wishlists\.sql applied, but .* has no version 0007"):
            migrate(conn, schema_dir=schema)
