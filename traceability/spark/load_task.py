"""What a Spark task does in ``load --engine spark``: one input file through the DuckDB loader.

The task receives files as rows (``idx``, ``source``: the path as the load names it,
``content``: its bytes, read by Spark from any Hadoop path). For each it writes the bytes
to a local temporary file of the same base name, loads it with
:func:`traceability.load.load` into a new temporary store, and emits every row of that
store as a row ``(idx, table, JSON text)``: the columns and partition column of
``tracecheck export`` (:func:`table_query`), so the merge on Spark works on exactly what an
export holds. Values travel as JSON types that keep them exact (:func:`as_text`), and
Spark parses them back (``from_json``) into the table's types, with no Python between. The
temporary path is replaced by ``source`` in every column that names the file, so rows and
messages name the file the user gave, as the DuckDB loader's do.

A row ``(idx, OUTCOME, json)`` says what happened to the file: loaded (its SHA-256, kind,
format, the rows of each table, and its first rejects and notes, as a load result keeps
them), or the problem that kept it out
(:class:`~traceability.load.results.FileProblem`).

This module runs in Spark's Python workers, and does not import pyspark. (The rows pass
through ``mapPartitions`` rather than ``mapInArrow``: pyspark allows that one only where
pandas is installed, which tracecheck does not need.)
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from traceability.errors import InputError, LoadIncomplete
from traceability.export import store_tables, table_query
from traceability.load import MAX_NOTES_PER_FILE, MAX_REJECTIONS, LoadResult, load
from traceability.sql import identifier
from traceability.store import connect
from traceability.store.layout import create_all

#: The pseudo-table of a file's outcome row.
OUTCOME = ""

#: Columns that may name the loaded file: the temporary path is replaced in them.
_NAMING = ("source_file", "path", "message")

#: The rows a task emits: (file index, table, the row as JSON text).
ROW_SCHEMA = "idx INT, tbl STRING, data STRING"


def _plain(table: pa.Table) -> pa.Table:
    """Dictionary (ENUM) columns as text, as they are written to Parquet."""
    columns = [
        c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in table.columns
    ]
    return pa.table(columns, names=table.column_names)


def store_arrow(con: duckdb.DuckDBPyConnection, table: str) -> pa.Table:
    """One table of a store as ``tracecheck export`` writes it (with its partition column)."""
    query, _partitioned = table_query(con, table)
    return _plain(con.execute(query).to_arrow_table())


@cache
def table_schemas() -> dict[str, pa.Schema]:
    """Every table's Arrow schema as :func:`store_arrow` gives it, from an empty store."""
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET TimeZone = 'UTC'")
        create_all(con)
        return {t: store_arrow(con, t).schema for t in store_tables(con)}
    finally:
        con.close()


def partitioned_tables() -> frozenset[str]:
    """The tables an export splits by period."""
    con = duckdb.connect(":memory:")
    try:
        create_all(con)
        return frozenset(t for t in store_tables(con) if table_query(con, t)[1])
    finally:
        con.close()


def as_text(kind: pa.DataType) -> str | None:
    """How a column of this type travels in a row's JSON: ``micros`` (a timestamp as
    microseconds since the epoch), ``text`` (a decimal or date as its exact text), or None
    (as it is: text, integers, lists of text)."""
    if pa.types.is_timestamp(kind):
        return "micros"
    if pa.types.is_decimal(kind) or pa.types.is_date(kind):
        return "text"
    return None


def _json_query(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """The table's rows as JSON text, each value in the form :func:`as_text` says."""
    query, _partitioned = table_query(con, table)
    fields = []
    for column in table_schemas()[table]:
        name = identifier(column.name)
        travel = as_text(column.type)
        if travel == "micros":
            value = f"epoch_us({name})"
        elif travel == "text" or pa.types.is_dictionary(column.type):
            value = f"CAST({name} AS VARCHAR)"
        else:
            value = name
        fields.append(f"{name} := {value}")
    return f"SELECT to_json(struct_pack({', '.join(fields)}))::VARCHAR FROM ({query}) t"


def _rename(con: duckdb.DuckDBPyConnection, temporary: str, source: str) -> None:
    """Put ``source`` in place of the temporary path wherever the store names the file."""
    rows = con.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'main' AND data_type = 'VARCHAR' AND list_contains(?, column_name)",
        [list(_NAMING)],
    ).fetchall()
    for table, column in rows:
        c = identifier(str(column))
        con.execute(
            f"UPDATE {identifier(str(table))} SET {c} = replace({c}, ?, ?) WHERE contains({c}, ?)",
            [temporary, source, temporary],
        )


def _problem_json(result: LoadResult, temporary: str, source: str) -> dict[str, object]:
    problem = result.unreadable[0]
    return {
        "problem": {
            "path": source,
            "code": problem.code,
            "message": problem.message.replace(temporary, source),
            "hint": problem.hint.replace(temporary, source) if problem.hint else None,
        }
    }


def load_one(
    idx: int, source: str, content: bytes, kind: str | None, memory_limit: str | None
) -> Iterator[tuple[int, str, str]]:
    """Load one file into a temporary store; its outcome row, then every row it stored."""
    folder = Path(tempfile.mkdtemp(prefix="tracecheck-task-"))
    try:
        name = source.rstrip("/").rsplit("/", 1)[-1] or "input"
        (folder / "in").mkdir()
        file = folder / "in" / name
        file.write_bytes(content)
        temporary = str(file)
        # DuckDB's own default of threads (the machine's cores): a task that Spark gives
        # one core (spark.task.cpus) may use more while it loads
        con = connect(folder / "file.duckdb", memory_limit=memory_limit)
        try:
            outcome: dict[str, object]
            try:
                (done,) = load(con, [file], kind=kind).files
                outcome = {
                    "sha256": done.sha256,
                    "kind": done.kind,
                    "format": done.format,
                    "rejected": done.rejected,
                }
            except LoadIncomplete as exc:
                assert isinstance(exc.result, LoadResult)
                outcome = _problem_json(exc.result, temporary, source)
            except InputError as exc:
                message = exc.message.replace(temporary, source)
                outcome = {"problem": {"path": source, "code": "unreadable", "message": message}}
            if "problem" in outcome:
                yield idx, OUTCOME, json.dumps(outcome)
                return
            _rename(con, temporary, source)
            counts = {}
            for table in table_schemas():
                row = con.execute(f"SELECT count(*) FROM {identifier(table)}").fetchone()
                counts[table] = int(row[0]) if row else 0
            outcome["rows"] = counts
            outcome["rejects"] = con.execute(
                "SELECT source_file, line, field, code, message FROM rejects "
                "ORDER BY line, field LIMIT ?",
                [MAX_REJECTIONS],
            ).fetchall()
            outcome["notes"] = con.execute(
                "SELECT source_file, record, location, level, code, message FROM load_notes "
                "ORDER BY record NULLS FIRST LIMIT ?",
                [MAX_NOTES_PER_FILE],
            ).fetchall()
            yield idx, OUTCOME, json.dumps(outcome)
            for table, count in counts.items():
                if count:  # the merge reads a table only where a file has rows
                    result = con.execute(_json_query(con, table))
                    while batch := result.fetchmany(10_000):
                        for (text,) in batch:
                            yield idx, table, text
        finally:
            con.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def load_files(
    rows: Iterable[Any], kind: str | None, memory_limit: str | None
) -> Iterator[tuple[int, str, str]]:
    """The tasks' function (``mapPartitions``): rows (idx, source, content) in, the
    files' rows (idx, table, JSON) out."""
    for row in rows:
        yield from load_one(
            int(row["idx"]), str(row["source"]), bytes(row["content"]), kind, memory_limit
        )
