"""The DuckDB store: opening, locking, versioning and the table layout.

One table per input kind, the event tables, ``loads`` (one row per file loaded) and
``rejects`` (one row per rejected record and field). The declaration tables are derived
from the JSON Schemas, so a column added to a schema is a column in the store.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from traceability.errors import DatabaseInUse, StoreError, StoreVersionError

#: Version of the table layout. Bump it and add a step to ``MIGRATIONS`` on any change.
STORE_VERSION = 3

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


def declaration_ddl(kind: str) -> str:
    """CREATE TABLE for one tabular kind, from its schema."""
    from traceability.load.kinds import kind_spec  # the load package imports this module

    spec = kind_spec(kind)
    cols = ",\n    ".join(f'"{c.name}" {c.sql_type}' for c in spec.columns)
    return f'CREATE TABLE IF NOT EXISTS "{kind}" (\n    {cols},{PROVENANCE_COLUMNS}\n);'


def create_all(con: duckdb.DuckDBPyConnection) -> None:
    """Create every table of the current layout (idempotent)."""
    from traceability.load.kinds import TABULAR_KINDS

    con.execute(BOOK_DDL)
    for kind in TABULAR_KINDS:
        con.execute(declaration_ddl(kind))
    con.execute(EVENT_DDL)
    con.execute(NOTES_DDL)


_LOCK_RE = re.compile(r"(PID \d+)")


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
        config["memory_limit"] = memory_limit
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
        raise StoreError(f"{path}: cannot open database: {text.splitlines()[0]}") from None
    except duckdb.Error as exc:
        raise StoreError(f"{path}: not a DuckDB database ({str(exc).splitlines()[0]})") from None
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")  # the library never prints
    try:
        _check_version(con, path, read_only=read_only)
    except BaseException:
        con.close()
        raise
    return con


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


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One transaction: committed when the block ends, rolled back on any exception."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def table_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Row count of every table of the store, for summaries and tests."""
    from traceability.load.kinds import TABULAR_KINDS

    names = [*TABULAR_KINDS, "events", "epc_rows", "event_quantities"]
    names += ["event_biz_transactions", "event_parties", "loads", "rejects"]
    counts = {}
    for name in names:
        row = con.execute(f'SELECT count(*) FROM "{name}"').fetchone()
        counts[name] = int(row[0]) if row else 0
    return counts
