"""Opening the store: creation, versions, files that are not ours."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from conftest import VALID, write_csv

from traceability.cli import cli
from traceability.errors import StoreError, StoreVersionError
from traceability.load import load
from traceability.store import STORE_VERSION, connect, session_cursor


def _set_version(db: Path, version: int) -> None:
    con = duckdb.connect(str(db))
    con.execute("UPDATE tracecheck_meta SET value = ? WHERE key = 'store_version'", [str(version)])
    con.close()


def test_a_new_store_records_its_version(db: Path) -> None:
    connect(db).close()
    con = duckdb.connect(str(db), read_only=True)
    row = con.execute("SELECT value FROM tracecheck_meta WHERE key = 'store_version'").fetchone()
    con.close()
    assert row == (str(STORE_VERSION),)


def test_a_store_from_a_newer_version_is_refused_with_what_to_do(db: Path) -> None:
    connect(db).close()
    _set_version(db, STORE_VERSION + 1)
    with pytest.raises(StoreVersionError, match="newer tracecheck"):
        connect(db)


def test_an_older_store_without_a_migration_says_what_to_do(db: Path) -> None:
    connect(db).close()
    _set_version(db, 0)  # no step leads from version 0
    with pytest.raises(StoreVersionError, match="reload the source files"):
        connect(db)


def test_an_older_store_is_migrated_when_a_step_exists(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect(db).close()
    _set_version(db, STORE_VERSION - 1)
    from traceability import store

    def step(con: duckdb.DuckDBPyConnection) -> None:
        con.execute("CREATE TABLE migrated_marker (x INTEGER)")

    monkeypatch.setitem(store.MIGRATIONS, STORE_VERSION - 1, step)
    connect(db).close()
    con = duckdb.connect(str(db), read_only=True)
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    version = con.execute("SELECT value FROM tracecheck_meta").fetchone()
    con.close()
    assert "migrated_marker" in tables and version == (str(STORE_VERSION),)


def test_a_duckdb_file_that_is_not_ours_is_left_alone(tmp_path: Path) -> None:
    other = tmp_path / "other.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE t (x INTEGER)")
    con.close()
    with pytest.raises(StoreError, match="not made by tracecheck"):
        connect(other)


def test_a_file_that_is_not_a_database_is_one_clear_line(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.duckdb"
    bogus.write_text("hello")
    path = write_csv(tmp_path / "products.csv", [VALID["products"]])
    out = CliRunner().invoke(cli, ["load", "--db", str(bogus), str(path)])
    assert out.exit_code == 2
    assert out.output.startswith("error: ") and "Traceback" not in out.output


def test_the_database_can_come_from_the_environment(tmp_path: Path, db: Path) -> None:
    path = write_csv(tmp_path / "products.csv", [VALID["products"]])
    out = CliRunner().invoke(cli, ["load", str(path)], env={"TRACECHECK_DB": str(db)})
    assert out.exit_code == 0, out.output
    assert db.exists()
    assert load(db, [path]).files[0].status == "already-loaded"


def test_a_version_2_store_gets_its_epc_list_names_as_an_enum(db: Path) -> None:
    connect(db).close()
    con = duckdb.connect(str(db))
    con.execute("ALTER TABLE epc_rows ALTER list TYPE VARCHAR")
    con.execute("INSERT INTO epc_rows VALUES (1, 'childEPCs', NULL, NULL, 'x', 'y')")
    con.close()
    _set_version(db, 2)
    connect(db).close()
    con = duckdb.connect(str(db), read_only=True)
    try:
        kind = con.execute(
            "SELECT data_type FROM duckdb_columns() "
            "WHERE table_name = 'epc_rows' AND column_name = 'list'"
        ).fetchone()
        assert kind is not None and kind[0].startswith("ENUM")
        assert con.execute("SELECT list, epc_raw FROM event_epcs").fetchall() == [
            ("childEPCs", "x")
        ]
        version = con.execute("SELECT value FROM tracecheck_meta").fetchone()
        assert version == (str(STORE_VERSION),)
    finally:
        con.close()


def test_a_session_cursor_has_the_connections_time_zone_and_search_path(tmp_path: Path) -> None:
    con = connect(tmp_path / "store.duckdb")
    try:
        con.execute("SET TimeZone = 'Asia/Kolkata'")
        con.execute("CREATE SCHEMA elsewhere")
        con.execute("CREATE TABLE elsewhere.only_here AS SELECT 1 AS x")
        con.execute("SET search_path = 'elsewhere,main'")
        cursor = session_cursor(con)
        assert cursor.execute("SELECT current_setting('TimeZone')").fetchone() == ("Asia/Kolkata",)
        assert cursor.execute("SELECT x FROM only_here").fetchone() == (1,)
        plain = con.cursor()  # what a bare cursor would have seen
        assert plain.execute("SELECT current_setting('TimeZone')").fetchone() != ("Asia/Kolkata",)
        cursor.close()
        plain.close()
    finally:
        con.close()


def test_every_store_connection_hands_freed_memory_back_from_a_background_thread(
    db: Path,
) -> None:
    """Without it, two rules at a time peak well above the memory limit (bench/reconcile.py)."""
    connect(db).close()
    for read_only in (False, True):
        con = connect(db, read_only=read_only)
        setting = "SELECT current_setting('allocator_background_threads')"
        assert con.execute(setting).fetchone() == (True,)
        con.close()
