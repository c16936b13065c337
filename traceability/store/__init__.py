"""The DuckDB store: opening, locking, versioning, and loads that are all or nothing.

One table per input kind, the event tables, ``loads`` (one row per file loaded) and
``rejects`` (one row per rejected record and field); :mod:`traceability.store.layout`
holds their DDL and the version of the layout.

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
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from traceability.errors import (
    DatabaseInUse,
    InputError,
    StoreError,
    StoreVersionError,
    first_line,
    resource_error,
)
from traceability.kinds import TABULAR_KINDS, kind_spec
from traceability.sql import literal
from traceability.store.layout import (
    MIGRATIONS,
    STORE_VERSION,
    add_new_kinds,
    check_layout,
    create_all,
)

__all__ = [
    "FAULT_ENV",
    "MIGRATIONS",
    "STORE_VERSION",
    "connect",
    "create_all",
    "database_path",
    "fault_point",
    "load_transaction",
    "session_cursor",
    "table_counts",
    "transaction",
    "undo_unfinished",
]

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
        raise StoreError(f"{path}: cannot open database: {first_line(exc)}") from None
    except (duckdb.OutOfMemoryException, MemoryError):
        raise StoreError(
            f"{path}: not enough memory to open the database",
            hint="free memory or raise the process's memory limit",
        ) from None
    except duckdb.Error as exc:
        raise StoreError(f"{path}: cannot open database: {first_line(exc)}") from None
    try:
        _session(con)
        _check_version(con, path, read_only=read_only)
        add_new_kinds(con, read_only=read_only)
        check_layout(con, path)
        if read_only:
            if _unfinished(con):
                con.close()
                _repair(path, config)
                con = duckdb.connect(str(path), read_only=True, config=config)
                _session(con)
        else:
            undo_unfinished(con)
    except BaseException:
        con.close()
        raise
    return con


def _session(con: duckdb.DuckDBPyConnection) -> None:
    """The settings every connection to a store runs with."""
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")  # the library never prints
    # Memory DuckDB frees goes back to the system from a background thread, not at some
    # later allocation: two rules at a time over a 1M-event store under a 3 GB limit
    # peaked above 4 GiB in 4 of 13 runs without it, in 1 of 8 with it, in the same time.
    # Set here, not in the connect config, where DuckDB accepts it without starting the
    # thread.
    con.execute("SET allocator_background_threads = true")


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


def session_cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A new cursor of ``con`` with its time zone and search path.

    A cursor is a connection of its own to the same database: it can run a query while
    another cursor runs one, from another thread. Settings such as the time zone belong
    to a connection, so they are copied; TEMP macros are not (the caller creates those it
    needs).
    """
    settings = con.execute(
        "SELECT current_setting('TimeZone'), current_setting('search_path')"
    ).fetchone()
    cursor = con.cursor()
    cursor.execute("SET enable_progress_bar = false")
    if settings:
        zone, path = (str(v) for v in settings)  # settings DuckDB took: no NUL in them
        cursor.execute(f"SET TimeZone = {literal(zone)}")
        cursor.execute(f"SET search_path = {literal(path)}")
    return cursor


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
