"""The table layout of the store: its version, the DDL of every table, the steps that
migrate an older store, and the check that a store's tables are the ones tracecheck made.

The declaration tables are derived from the JSON Schemas of the input kinds, so a column
added to a schema is a column in the store.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

import duckdb

from traceability.errors import StoreError
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


def add_new_kinds(con: duckdb.DuckDBPyConnection, *, read_only: bool) -> None:
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


def table_columns(table: str) -> list[str]:
    """The columns of a table of the current layout, in their order (an opened store has
    exactly these: :func:`check_layout` refuses one that does not)."""
    return [name for name, _ in _layout()[table]]


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
