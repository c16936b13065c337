"""The DuckDB store: opening, locking, versioning and the table layout.

One table per input kind, the event tables, ``loads`` (one row per file loaded) and
``rejects`` (one row per rejected record and field). The declaration tables are derived
from the JSON Schemas, so a column added to a schema is a column in the store.

A load is all or nothing, even when its process is killed in the middle of its commit.
DuckDB alone does not promise that: a process killed while DuckDB writes the commit to
its write-ahead log can leave, after the log is replayed, part of the transaction (measured
with DuckDB 1.5: killed 1 to 3 ms into the commit of 300,000 events, the store came back
with all 7.5M EPC rows and no event, or with every event and no ``loads`` row). So a load
is framed by ``load_journal`` (see :func:`load_transaction`): a row saying a load has
begun is committed before its data, and removed in a transaction of its own after the
data's commit. A write-open that finds the row removes every row the unfinished load
wrote (:func:`undo_unfinished`), and the row stays, marked ``undone``, as the note of it.
"""

from __future__ import annotations

import os
import re
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import duckdb
import pyarrow as pa

from traceability.errors import (
    DatabaseInUse,
    InputError,
    StoreError,
    StoreVersionError,
    resource_error,
)
from traceability.kinds import TABULAR_KINDS, kind_spec

#: Version of the table layout. Bump it and add a step to ``MIGRATIONS`` on any change.
STORE_VERSION = 4

#: Steps that bring a store from version N to N + 1 (``{N: function}``).
MIGRATIONS: dict[int, Callable[[duckdb.DuckDBPyConnection], None]] = {}

PROVENANCE_COLUMNS = """
    load_id INTEGER NOT NULL,
    source_file VARCHAR NOT NULL,
    source_line INTEGER,
    record_hash VARCHAR NOT NULL,
    extra JSON"""

#: Since store version 3 the name of an EPC's list is an ENUM, one byte per EPC row instead
#: of a string, which a load of millions of EPC rows writes a quarter faster.
EPC_LIST_TYPE = """
CREATE TYPE IF NOT EXISTS epc_list_name AS ENUM ('epcList', 'childEPCs', 'inputEPCList',
    'outputEPCList');
"""

EVENT_DDL = (
    EPC_LIST_TYPE
    + """
CREATE TABLE IF NOT EXISTS events (
    event_row BIGINT NOT NULL,           -- this stored version of the event; child rows point here
    event_key VARCHAR NOT NULL,          -- eventID, or the EPCIS 2.0 event hash where absent
    event_id VARCHAR,
    event_hash VARCHAR,
    event_type VARCHAR NOT NULL,
    action VARCHAR,
    biz_step VARCHAR,                    -- bare CBV name: shipping, receiving, ...
    disposition VARCHAR,
    event_time TIMESTAMPTZ NOT NULL,
    tz_offset VARCHAR NOT NULL,
    local_date DATE NOT NULL,            -- event_time shifted by eventTimeZoneOffset
    record_time TIMESTAMPTZ,
    read_point VARCHAR,
    biz_location VARCHAR,
    parent_raw VARCHAR,
    parent_key VARCHAR,
    lot VARCHAR,                         -- ILMD lot number
    expiry DATE,                         -- ILMD item expiration date
    error_declared_at TIMESTAMPTZ,
    error_reason VARCHAR,
    corrective_event_ids VARCHAR[],
    content_hash VARCHAR NOT NULL,       -- md5 of the event's JSON text, minified
    load_id INTEGER NOT NULL,
    source_file VARCHAR NOT NULL,
    source_line INTEGER
);
-- A serial in one of the common SGTIN spellings is stored as the id of its spelling's
-- prefix (urn:epc:id:sgtin:8901234.000001. or https://brand.example/01/08901234000014/21/)
-- and its serial; anything else as its raw text and canonical key. The view event_epcs
-- gives every EPC with raw text, canonical key, kind, gtin, serial and SSCC.
CREATE SEQUENCE IF NOT EXISTS epc_prefix_ids START 1;
CREATE TABLE IF NOT EXISTS epc_prefixes (
    prefix_id INTEGER PRIMARY KEY,
    prefix VARCHAR NOT NULL UNIQUE,      -- the raw text before the serial
    gtin VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS epc_rows (
    event_row BIGINT NOT NULL,
    list epc_list_name NOT NULL,         -- epcList, childEPCs, inputEPCList, outputEPCList
    prefix_id INTEGER,                   -- common SGTIN spellings: prefix and serial
    serial VARCHAR,
    epc_raw VARCHAR,                     -- anything else: as received
    epc_key VARCHAR                      -- and its canonical GS1 Digital Link URI
);
CREATE TABLE IF NOT EXISTS event_quantities (
    event_row BIGINT NOT NULL,
    list VARCHAR NOT NULL,               -- quantityList, childQuantityList, ...
    epc_class_raw VARCHAR NOT NULL,
    epc_class_key VARCHAR NOT NULL,
    gtin VARCHAR,
    lot VARCHAR,
    quantity DECIMAL(38,12),
    uom VARCHAR
);
CREATE TABLE IF NOT EXISTS event_biz_transactions (
    event_row BIGINT NOT NULL,
    type VARCHAR,
    value VARCHAR NOT NULL,
    ref VARCHAR NOT NULL                 -- value, or the part after gln: in a CBV bt URN
);
CREATE TABLE IF NOT EXISTS event_parties (
    event_row BIGINT NOT NULL,
    role VARCHAR NOT NULL,               -- source or destination
    type VARCHAR,                        -- owning_party, possessing_party, location
    value_raw VARCHAR NOT NULL,
    value_key VARCHAR NOT NULL,          -- canonical GS1 Digital Link URI where a GS1 key
    gln VARCHAR                          -- the party's or location's GLN, where it has one
);
CREATE OR REPLACE VIEW event_epcs AS
    WITH e AS (
        SELECT r.event_row, r.list::VARCHAR AS list,
               coalesce(r.epc_raw, p.prefix || r.serial) AS epc_raw,
               coalesce(r.epc_key, 'https://id.gs1.org/01/' || p.gtin || '/21/' || r.serial)
                   AS epc_key,
               p.gtin AS prefix_gtin, r.serial AS prefix_serial
        FROM epc_rows r LEFT JOIN epc_prefixes p USING (prefix_id)
    )
    SELECT event_row, list, epc_raw, epc_key,
           CASE WHEN prefix_gtin IS NOT NULL THEN 'sgtin'
                WHEN epc_key LIKE 'https://id.gs1.org/01/%/21/%' THEN 'sgtin'
                WHEN epc_key LIKE 'https://id.gs1.org/00/%' THEN 'sscc'
                WHEN epc_key LIKE 'https://id.gs1.org/414/%' THEN 'sgln'
                WHEN epc_key LIKE 'https://id.gs1.org/01/%/10/%' THEN 'lgtin'
                ELSE 'other' END AS epc_kind,
           coalesce(prefix_gtin, CASE WHEN epc_key LIKE 'https://id.gs1.org/01/%'
                                      THEN substr(epc_key, 23, 14) END) AS gtin,
           coalesce(prefix_serial, CASE WHEN epc_key LIKE 'https://id.gs1.org/01/%/21/%'
                                        THEN url_decode(substr(epc_key, 41)) END) AS serial,
           CASE WHEN epc_key LIKE 'https://id.gs1.org/00/%' THEN substr(epc_key, 23, 18) END
               AS sscc
    FROM e;
CREATE OR REPLACE VIEW aggregations AS
    SELECT e.event_row, e.event_key, e.action, e.event_time, e.parent_key, c.epc_key AS child_key
    FROM events e JOIN event_epcs c USING (event_row)
    WHERE e.event_type = 'AggregationEvent' AND c.list = 'childEPCs';
"""
)

BOOK_DDL = """
CREATE SEQUENCE IF NOT EXISTS load_ids START 1;
CREATE TABLE IF NOT EXISTS loads (
    load_id INTEGER PRIMARY KEY,
    path VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    format VARCHAR NOT NULL,
    records INTEGER NOT NULL,            -- records read from the file
    accepted INTEGER NOT NULL,           -- new records stored
    duplicates INTEGER NOT NULL,         -- records already stored (same content), counted once
    conflicts INTEGER NOT NULL,          -- same key as a stored record, other content: kept
    rejected INTEGER NOT NULL,
    extra_columns VARCHAR[],
    tool_version VARCHAR NOT NULL,
    loaded_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS rejects (
    load_id INTEGER NOT NULL,
    source_file VARCHAR NOT NULL,
    line INTEGER,
    field VARCHAR,
    code VARCHAR NOT NULL,
    message VARCHAR NOT NULL,
    raw VARCHAR
);
CREATE TABLE IF NOT EXISTS tracecheck_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
"""


#: Added in store version 2: notes and warnings of a load (documents skipped, schema
#: deviations, duplicates sorted), and the whole event for events with fields that the
#: event columns do not hold (sensor data, certification info, persistent disposition,
#: ILMD beyond lot and expiry, user extensions), so that no field received is lost.
NOTES_DDL = """
CREATE TABLE IF NOT EXISTS load_notes (
    load_id INTEGER NOT NULL,
    source_file VARCHAR NOT NULL,
    record INTEGER,                      -- the event it is about; NULL for the whole file
    location VARCHAR,                    -- event number, XML line, field
    level VARCHAR NOT NULL,              -- note or warning
    code VARCHAR NOT NULL,
    message VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS event_payloads (
    event_row BIGINT NOT NULL,
    payload VARCHAR NOT NULL             -- the event as EPCIS 2.0 JSON text, as received
);
"""


def _add_notes_and_payloads(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(NOTES_DDL)


MIGRATIONS[1] = _add_notes_and_payloads


def _epc_list_as_enum(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(EPC_LIST_TYPE)
    con.execute("ALTER TABLE epc_rows ALTER list TYPE epc_list_name")


MIGRATIONS[2] = _epc_list_as_enum


#: Added in store version 4: the journal of loads. A row is ``running`` from before a load
#: writes anything until after its commit; a row ``undone`` notes a load that was
#: interrupted (its process killed, the machine stopped) and whose rows were removed.
JOURNAL_DDL = """
CREATE TABLE IF NOT EXISTS load_journal (
    started_at TIMESTAMPTZ NOT NULL,
    state VARCHAR NOT NULL,              -- running or undone
    paths VARCHAR NOT NULL,              -- the files of the load, one a line
    load_mark INTEGER NOT NULL,          -- the load wrote load_id above this,
    event_mark BIGINT NOT NULL,          -- event_row above this,
    prefix_mark INTEGER NOT NULL,        -- and prefix_id above this
    undone_at TIMESTAMPTZ
);
"""


def _add_load_journal(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(JOURNAL_DDL)


MIGRATIONS[3] = _add_load_journal


def declaration_ddl(kind: str, *, temporary: bool = False) -> str:
    """CREATE TABLE for one tabular kind, from its schema."""
    spec = kind_spec(kind)
    cols = ",\n    ".join(f'"{c.name}" {c.sql_type}' for c in spec.columns)
    create = "CREATE TEMP TABLE" if temporary else "CREATE TABLE"
    return f'{create} IF NOT EXISTS "{spec.table}" (\n    {cols},{PROVENANCE_COLUMNS}\n);'


def _add_new_kinds(con: duckdb.DuckDBPyConnection, *, read_only: bool) -> None:
    """Give a store made before a kind was added that kind's (empty) table.

    Opened for writing, the table is created in the store; read-only, as a temporary
    table, so that what reads it finds no records rather than no table.
    """
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if "tracecheck_meta" not in tables:
        return
    for kind in TABULAR_KINDS:
        if kind_spec(kind).table not in tables:
            con.execute(declaration_ddl(kind, temporary=read_only))


def create_all(con: duckdb.DuckDBPyConnection) -> None:
    """Create every table of the current layout (idempotent)."""
    con.execute(BOOK_DDL)
    for kind in TABULAR_KINDS:
        con.execute(declaration_ddl(kind))
    con.execute(EVENT_DDL)
    con.execute(NOTES_DDL)
    con.execute(JOURNAL_DDL)


_LOCK_RE = re.compile(r"(PID \d+)")
_SIZE_RE = re.compile(r"\d+(\.\d+)?\s*([KMGT]i?B|B)", re.IGNORECASE)


def connect(
    path: str | Path,
    *,
    read_only: bool = False,
    memory_limit: str | None = None,
    threads: int | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open a store, creating or migrating it as needed, and return the connection.

    Raises:
        DatabaseInUse: another process holds the file open for writing.
        StoreVersionError: the file was made by a newer tracecheck, or needs a migration
            that a read-only open cannot do.
        StoreError: the file is not a DuckDB database, or not one of ours.
    """
    path = Path(path)
    config: dict[str, str | bool | int | float | list[str]] = {}
    if memory_limit:
        if not _SIZE_RE.fullmatch(memory_limit.strip()):
            raise InputError(
                f"memory limit {memory_limit!r} is not a size",
                hint="a number and a unit, e.g. 512MB or 4GB",
            )
        config["memory_limit"] = memory_limit.strip()
    if threads:
        config["threads"] = threads
    if read_only and not path.exists():
        raise StoreError(f"{path}: no such database", hint="load files into it first")
    try:
        con = duckdb.connect(str(path), read_only=read_only, config=config)
    except duckdb.IOException as exc:
        text = str(exc)
        if "lock" in text.lower():
            holder = _LOCK_RE.search(text)
            who = f" ({holder.group(1)})" if holder else ""
            raise DatabaseInUse(
                f"{path}: database is in use by another process{who}",
                hint="wait for it to finish, then run the command again",
            ) from None
        raise StoreError(f"{path}: cannot open database: {_first_line(exc)}") from None
    except (duckdb.OutOfMemoryException, MemoryError):
        raise StoreError(
            f"{path}: not enough memory to open the database",
            hint="free memory or raise the process's memory limit",
        ) from None
    except duckdb.Error as exc:
        raise StoreError(f"{path}: cannot open database: {_first_line(exc)}") from None
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")  # the library never prints
        _check_version(con, path, read_only=read_only)
        _add_new_kinds(con, read_only=read_only)
        check_layout(con, path)
        if read_only:
            if _unfinished(con):
                con.close()
                _repair(path, config)
                con = duckdb.connect(str(path), read_only=True, config=config)
                con.execute("SET TimeZone = 'UTC'")
                con.execute("SET enable_progress_bar = false")
        else:
            undo_unfinished(con)
    except BaseException:
        con.close()
        raise
    return con


def _first_line(exc: BaseException) -> str:
    lines = str(exc).splitlines()
    return lines[0] if lines else type(exc).__name__


def _repair(path: Path, config: dict[str, str | bool | int | float | list[str]]) -> None:
    """Open a store for writing only to undo an unfinished load found by a reader."""
    try:
        con = duckdb.connect(str(path), config=config)
    except duckdb.Error:
        raise StoreError(
            f"{path}: holds a load that was interrupted, which is undone when the database "
            "is next opened for writing",
            hint="run the command again when no other process has the database open",
        ) from None
    try:
        undo_unfinished(con)
    finally:
        con.close()


@cache
def _layout() -> dict[str, list[tuple[str, str]]]:
    """Columns (name, type) of every table of the current layout, from a new store."""
    con = duckdb.connect(":memory:")
    try:
        create_all(con)
        return _columns(con)
    finally:
        con.close()


def _columns(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str]]]:
    rows = con.execute(
        "SELECT table_name, column_name, data_type FROM duckdb_columns() "
        "WHERE database_name IN (current_database(), 'temp') AND schema_name = 'main' "
        "ORDER BY table_name, column_index"
    ).fetchall()
    out: dict[str, list[tuple[str, str]]] = {}
    for table, column, data_type in rows:
        out.setdefault(table, []).append((column, data_type))
    return out


def check_layout(con: duckdb.DuckDBPyConnection, path: str | Path) -> None:
    """Refuse a store whose tables are not the ones tracecheck made.

    Raises:
        StoreError: a table of the layout is missing, or has other columns or types
            (the file was altered by hand or by another program).
    """
    have = _columns(con)
    if not have.get("tracecheck_meta"):  # a new store opened read-only: nothing to check
        return
    for table, columns in _layout().items():
        found = have.get(table)
        if found is None:
            raise StoreError(
                f"{path}: the store has no table {table}; it was altered outside tracecheck",
                hint="load the source files into a new database",
            )
        if found != columns:
            wrong = next(
                (f"column {c!r}" for c in dict(columns) if dict(found).get(c) != dict(columns)[c]),
                "columns it should not have",
            )
            raise StoreError(
                f"{path}: table {table} is not as tracecheck made it ({wrong}); "
                "it was altered outside tracecheck",
                hint="load the source files into a new database",
            )


def _check_version(con: duckdb.DuckDBPyConnection, path: Path, *, read_only: bool) -> None:
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if "tracecheck_meta" not in tables:
        if tables:
            raise StoreError(
                f"{path}: this DuckDB file was not made by tracecheck",
                hint="give --db a new file name",
            )
        if read_only:
            return
        con.execute("BEGIN")
        create_all(con)
        con.execute("INSERT INTO tracecheck_meta VALUES ('store_version', ?)", [str(STORE_VERSION)])
        con.execute("COMMIT")
        return
    row = con.execute("SELECT value FROM tracecheck_meta WHERE key = 'store_version'").fetchone()
    version = int(row[0]) if row else 0
    if version > STORE_VERSION:
        raise StoreVersionError(
            f"{path}: made by a newer tracecheck (store version {version}, "
            f"this one reads up to {STORE_VERSION})",
            hint="upgrade tracecheck",
        )
    if version < STORE_VERSION:
        if read_only:
            raise StoreVersionError(
                f"{path}: store version {version} needs upgrading to {STORE_VERSION}",
                hint="run 'tracecheck load --db FILE' with no paths to upgrade it",
            )
        missing = [v for v in range(version, STORE_VERSION) if v not in MIGRATIONS]
        if missing:
            raise StoreVersionError(
                f"{path}: no upgrade from store version {version}",
                hint="reload the source files into a new database",
            )
        con.execute("BEGIN")
        for v in range(version, STORE_VERSION):
            MIGRATIONS[v](con)
        con.execute(
            "UPDATE tracecheck_meta SET value = ? WHERE key = 'store_version'", [str(STORE_VERSION)]
        )
        con.execute("COMMIT")


#: Testing aid: ``TRACECHECK_FAULT_AT=<step>`` kills the process (SIGKILL) when a load
#: reaches that step, ``<step>+<ms>`` that many milliseconds after it (to land inside what
#: follows, such as the commit). Steps: ``journal`` (the load's journal row committed,
#: nothing written yet), ``file`` (before each file), ``records`` (a file's records
#: written, before its ``loads`` row), ``loads-row`` (after it), ``commit`` (just before
#: COMMIT), ``committed`` (after COMMIT, before the journal row is removed), ``finished``
#: (after), ``undo`` (an unfinished load's rows removed, before its journal row is marked).
FAULT_ENV = "TRACECHECK_FAULT_AT"


def fault_point(step: str) -> None:
    """Kill this process here if ``TRACECHECK_FAULT_AT`` names ``step`` (see FAULT_ENV)."""
    wanted = os.environ.get(FAULT_ENV)
    if not wanted:
        return
    name, _, delay = wanted.partition("+")
    if name != step:
        return
    if delay:
        timer = threading.Timer(float(delay) / 1000, os.kill, (os.getpid(), signal.SIGKILL))
        timer.daemon = True
        timer.start()
        return
    os.kill(os.getpid(), signal.SIGKILL)


def database_path(con: duckdb.DuckDBPyConnection) -> str:
    """The file of a connection's database (``:memory:`` for one in memory)."""
    try:
        row = con.execute(
            "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
        ).fetchone()
    except duckdb.Error:
        return "the database"
    return str(row[0]) if row and row[0] else ":memory:"


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _unfinished(con: duckdb.DuckDBPyConnection) -> bool:
    if not _scalar(con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'load_journal'"):
        return False  # a new, empty file opened read-only
    return _scalar(con, "SELECT count(*) FROM load_journal WHERE state = 'running'") > 0


def _keyed_tables(con: duckdb.DuckDBPyConnection, column: str) -> list[str]:
    rows = con.execute(
        "SELECT DISTINCT table_name FROM duckdb_columns() WHERE database_name = "
        "current_database() AND schema_name = 'main' AND column_name = ? ORDER BY 1",
        [column],
    ).fetchall()
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    return [r[0] for r in rows if r[0] in tables]  # tables, not views


def undo_unfinished(con: duckdb.DuckDBPyConnection) -> int:
    """Remove every row written by a load that did not finish; the number of such loads.

    A load writes only new rows (load ids, event rows and EPC prefix ids above the marks
    its journal row took as it began), so removing the rows above the marks gives the
    store exactly as it was before it. The data goes in one transaction and the journal
    row is marked ``undone`` in the next, so an undo that is itself interrupted is done
    again in full by the next open.
    """
    marks = con.execute(
        "SELECT min(load_mark), min(event_mark), min(prefix_mark), count(*) FROM load_journal "
        "WHERE state = 'running'"
    ).fetchone()
    if not marks or not marks[3]:
        return 0
    load_mark, event_mark, prefix_mark, unfinished = (int(m) for m in marks)
    con.execute("BEGIN TRANSACTION")
    try:
        for table in _keyed_tables(con, "load_id"):
            con.execute(f'DELETE FROM "{table}" WHERE load_id > ?', [load_mark])
        for table in _keyed_tables(con, "event_row"):
            con.execute(f'DELETE FROM "{table}" WHERE event_row > ?', [event_mark])
        con.execute("DELETE FROM epc_prefixes WHERE prefix_id > ?", [prefix_mark])
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
    fault_point("undo")
    con.execute(
        "UPDATE load_journal SET state = 'undone', undone_at = ? WHERE state = 'running'",
        [datetime.now(UTC)],
    )
    return unfinished


@contextmanager
def load_transaction(con: duckdb.DuckDBPyConnection, paths: list[str]) -> Iterator[None]:
    """The transaction of a load, framed by its journal row so that it is all or nothing.

    Before the transaction, a ``running`` row is committed in ``load_journal`` with the
    highest load id, event row and EPC prefix id stored; after the COMMIT, the row is
    deleted. A load killed anywhere between the two, the COMMIT included, is undone by
    the next open for writing (:func:`undo_unfinished`). On an exception the transaction
    is rolled back and the row deleted.
    """
    undo_unfinished(con)
    con.execute(
        "INSERT INTO load_journal SELECT ?, 'running', ?, "
        "(SELECT coalesce(max(load_id), 0) FROM loads), "
        "(SELECT coalesce(max(event_row), -1) FROM events), "
        "(SELECT coalesce(max(prefix_id), 0) FROM epc_prefixes), NULL",
        [datetime.now(UTC), "\n".join(paths)],
    )
    fault_point("journal")
    try:
        with transaction(con):
            yield
            fault_point("commit")
    except BaseException as exc:
        try:
            con.execute("DELETE FROM load_journal WHERE state = 'running'")
        except duckdb.Error:
            pass  # nothing was committed; the next open for writing closes the row
        if isinstance(exc, (duckdb.Error, OSError, MemoryError)):
            short = resource_error(exc, database_path(con))
            if short is not None:
                raise short from None
        raise
    fault_point("committed")
    con.execute("DELETE FROM load_journal WHERE state = 'running'")
    fault_point("finished")


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One transaction: committed when the block ends, rolled back on any exception."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:
            pass  # a failed write can end the transaction itself; the first error counts
        raise
    con.execute("COMMIT")


def append_rows(
    con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[Sequence[object]]
) -> None:
    """Append rows, each in the column order of ``table``, in one statement.

    ``executemany`` runs one INSERT per row: a million rejects took 13 minutes that way,
    and this a second.
    """
    if not rows:
        return
    names = [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = 'main' AND table_name = ? ORDER BY column_index",
            [table],
        ).fetchall()
    ]
    batch = pa.table({name: [row[i] for row in rows] for i, name in enumerate(names)})  # noqa: F841
    con.execute(f'INSERT INTO "{table}" SELECT * FROM batch')


def table_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Row count of every table of the store, for summaries and tests."""
    names = [*(kind_spec(k).table for k in TABULAR_KINDS), "events", "epc_rows"]
    names += ["event_quantities"]
    names += ["event_biz_transactions", "event_parties", "loads", "rejects"]
    counts = {}
    for name in names:
        row = con.execute(f'SELECT count(*) FROM "{name}"').fetchone()
        counts[name] = int(row[0]) if row else 0
    return counts
