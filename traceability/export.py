"""Export a store as a folder of Parquet tables, for an engine other than DuckDB.

``export(db, to)`` writes one folder per table of the store, each holding Parquet files,
and a manifest (``tracecheck-export.json``: layout version, tool version, tables, their row
counts and partition column). The tables that carry a date are split by period (calendar
quarter), Hive style (``events/tc_period=2026-Q1/…``), so that a cluster reads one quarter's
events, EPC rows and declarations together:

- ``events`` by the quarter of ``local_date``, and the tables of event details
  (``epc_rows``, ``event_biz_transactions``, ``event_parties``, ``event_quantities``,
  ``event_payloads``) by the quarter of their event;
- ``consignments`` by ``declared_date``, ``batches`` by ``manufacture_date``, ``filings``
  by their own ``period``, ``estimates`` by ``year``;
- the rest (products, authorisations, loads, …) whole.

The partition column is ``tc_period``; a reader drops it (it is not a column of the store).
The manifest lists each split table's periods (``periods``) and the latest date in the
store (``latest_date``, as ``reconcile`` computes its default ``as_of``), so that a reader
that reads only some periods still knows both. JSON columns are written as text. The
folder is written beside the target and renamed into place at the end, so an interrupted
export leaves no half-written layout.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import duckdb

from traceability.engine.report import LATEST_DATE_SQL
from traceability.errors import InputError
from traceability.sql import identifier, literal, period_of
from traceability.store import STORE_VERSION, connect
from traceability.version import __version__

MANIFEST = "tracecheck-export.json"
#: Version of the exported layout (the store's own version is recorded beside it).
EXPORT_VERSION = 1
PARTITION_COLUMN = "tc_period"

_EVENT_DETAILS = (
    "epc_rows",
    "event_biz_transactions",
    "event_parties",
    "event_quantities",
    "event_payloads",
)


#: table -> SQL expression of its period (over the table aliased ``t``).
_PERIOD_OF: dict[str, str] = {
    "events": period_of("t.local_date"),
    "consignments": period_of("t.declared_date"),
    "batches": period_of("t.manufacture_date"),
    "filings": "t.period",
    "estimates": "CAST(t.year AS VARCHAR)",
}


@dataclass(frozen=True)
class ExportedTable:
    """One table of an export: its name, rows, whether it is split by period, and its
    periods (the partitions written, in order; none for a table not split)."""

    name: str
    rows: int
    partitioned: bool
    periods: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class ExportResult:
    """What ``export`` wrote."""

    folder: Path
    tables: tuple[ExportedTable, ...]


def store_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'main' AND table_type = 'BASE TABLE' ORDER BY table_name"
    ).fetchall()
    return [str(r[0]) for r in rows]


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """The table's columns for SELECT, JSON columns cast to text."""
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()
    out = []
    for name, data_type in rows:
        column = f"t.{identifier(str(name))}"
        if str(data_type) == "JSON":
            column = f"CAST({column} AS VARCHAR) AS {identifier(str(name))}"
        out.append(column)
    return ", ".join(out)


def table_query(con: duckdb.DuckDBPyConnection, table: str) -> tuple[str, bool]:
    """The SELECT that exports ``table`` and whether it carries the partition column."""
    columns = _columns(con, table)
    if table in _PERIOD_OF:
        period = f"coalesce({_PERIOD_OF[table]}, 'undated')"
        return f"SELECT {columns}, {period} AS {PARTITION_COLUMN} FROM {identifier(table)} t", True
    if table in _EVENT_DETAILS:
        period = f"coalesce({period_of('e.local_date')}, 'undated')"
        return (
            f"SELECT {columns}, {period} AS {PARTITION_COLUMN} FROM {identifier(table)} t "
            "LEFT JOIN events e ON e.event_row = t.event_row",
            True,
        )
    return f"SELECT {columns} FROM {identifier(table)} t", False


def export(
    db: str | Path,
    to: str | Path,
    *,
    overwrite: bool = False,
    memory_limit: str | None = None,
    threads: int | None = None,
) -> ExportResult:
    """Write the store ``db`` as Parquet tables under the folder ``to``.

    Args:
        db: a tracecheck store (opened read-only).
        to: the folder to create. It must not exist (or be empty) unless ``overwrite``.
        overwrite: replace an existing export at ``to`` (only one with a manifest).
        memory_limit, threads: DuckDB settings for the export (default: DuckDB's).

    Raises:
        InputError: ``to`` exists and is not empty (and not an export to overwrite).
    """
    target = Path(to)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        if not overwrite:
            raise InputError(
                f"{target} exists and is not empty",
                hint="name a new folder, or pass --overwrite to replace an earlier export",
            )
        if not (target / MANIFEST).is_file():
            raise InputError(
                f"{target} is not a tracecheck export, so it is not overwritten",
                hint="name a new folder",
            )
    target.parent.mkdir(parents=True, exist_ok=True)
    con = connect(db, read_only=True, memory_limit=memory_limit, threads=threads)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        written = []
        for table in store_tables(con):
            query, partitioned = table_query(con, table)
            folder = staging / table
            if partitioned:
                con.execute(
                    f"COPY ({query}) TO {literal(str(folder))} "
                    f"(FORMAT parquet, PARTITION_BY ({PARTITION_COLUMN}), "
                    "FILENAME_PATTERN 'part-{i}')"
                )
            else:
                folder.mkdir()
                con.execute(
                    f"COPY ({query}) TO {literal(str(folder / 'part-0.parquet'))} (FORMAT parquet)"
                )
            if not any(folder.rglob("*.parquet")):
                # an empty table split by period writes no file: write one without rows, so
                # that a reader still finds the table and its columns
                folder.mkdir(exist_ok=True)
                con.execute(
                    f"COPY ({query} LIMIT 0) TO {literal(str(folder / 'part-0.parquet'))} "
                    "(FORMAT parquet)"
                )
            row = con.execute(f"SELECT count(*) FROM {identifier(table)}").fetchone()
            periods = _periods(folder) if partitioned else ()
            written.append(ExportedTable(table, int(row[0]) if row else 0, partitioned, periods))
        latest = con.execute(LATEST_DATE_SQL).fetchone()

        day = latest[0].isoformat() if latest and latest[0] else None
        about = {t.name: _about(t) for t in written}
        (staging / MANIFEST).write_text(manifest_text(about, day), "utf-8")
        if target.exists():
            shutil.rmtree(target) if any(target.iterdir()) else target.rmdir()
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        con.close()
    return ExportResult(target, tuple(written))


def manifest_text(tables: Mapping[str, Mapping[str, Any]], latest_date: str | None) -> str:
    """The manifest of a store written as Parquet tables (an export, or a load on Spark):
    the layout, the versions, the latest date and, per table, its rows and periods."""
    manifest = {
        "format": "tracecheck-export",
        "version": EXPORT_VERSION,
        "store_version": STORE_VERSION,
        "tool_version": __version__,
        "partition_column": PARTITION_COLUMN,
        "latest_date": latest_date,
        "tables": dict(tables),
    }
    return json.dumps(manifest, indent=2) + "\n"


def _periods(folder: Path) -> tuple[str, ...]:
    """The periods a table split by period was written in (its ``tc_period=`` folders)."""
    mark = f"{PARTITION_COLUMN}="
    return tuple(
        sorted(unquote(p.name[len(mark) :]) for p in folder.iterdir() if p.name.startswith(mark))
    )


def _about(table: ExportedTable) -> dict[str, Any]:
    about: dict[str, Any] = {"rows": table.rows, "partitioned": table.partitioned}
    if table.partitioned:
        about["periods"] = list(table.periods)
    return about


def parse_manifest(text: str, where: str) -> dict[str, Any]:
    """An export's manifest from its text (``where`` names it in errors).

    Raises:
        InputError: not a manifest, or one of a layout version this tracecheck does not read.
    """
    try:
        manifest = json.loads(text)
    except ValueError as exc:
        raise InputError(f"{where}: the export manifest is not JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != "tracecheck-export":
        raise InputError(f"{where} is not a tracecheck export manifest")
    if manifest.get("version") != EXPORT_VERSION:
        raise InputError(
            f"{where}: export layout version {manifest.get('version')!r}, "
            f"this tracecheck reads version {EXPORT_VERSION}",
            hint="export the store again with this version of tracecheck",
        )
    if not isinstance(manifest.get("tables"), dict):
        raise InputError(f"{where}: the export manifest lists no tables")
    return manifest
