"""Vectorised checks and normalisation of tabular records, derived from the kind's schema.

Each column's logical type gives a SQL check and a SQL normalisation
(:mod:`~traceability.load.tabular_checks`). The checks run over a chunk of records at once
in DuckDB; only the rejected rows come back to Python to have their messages worded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from traceability.kinds import Dialect, KindSpec
from traceability.load import decimals
from traceability.load.columns import map_header, read_sql, written_sql
from traceability.load.outcomes import Outcome, write_outcomes
from traceability.load.read import LINE, Chunk, RawTable, column
from traceability.load.tabular_checks import message, normalise_sql, record_checks
from traceability.sql import identifier, literal


@dataclass(frozen=True)
class TabularOutcome:
    """What one tabular file gave."""

    records: int
    accepted: int
    duplicates: int
    conflicts: int
    rejected: int
    extra_columns: tuple[str, ...]


def load_tabular(
    con: duckdb.DuckDBPyConnection,
    spec: KindSpec,
    path: Path,
    table: RawTable,
    *,
    load_id: int,
    source: str,
) -> TabularOutcome:
    """Check, normalise and store one file's records; rejected ones go to ``rejects``.

    The records are checked and stored a chunk at a time (:data:`read.CHUNK_ROWS`), and
    their rejections and notes written to the store with them: what the loader holds in
    Python is one chunk, whatever the length of the file or the number of its bad records
    (what DuckDB keeps of the load's uncommitted rows is bounded by its memory limit).
    """
    try:
        mapping, extras, dialect = map_header(path, spec, table.header)
        create_decimal_macros(con)
        write_notes(con, load_id, source, table.unit, table.notes)
        total = TabularOutcome(0, 0, 0, 0, 0, tuple(extras))
        for chunk in table.chunks():
            if not len(chunk):
                continue
            out = _load_chunk(con, spec, table, chunk, (mapping, dialect), extras, load_id, source)
            write_notes(con, load_id, source, table.unit, chunk.notes)
            total = TabularOutcome(
                total.records + out.records,
                total.accepted + out.accepted,
                total.duplicates + out.duplicates,
                0,
                total.rejected + out.rejected,
                total.extra_columns,
            )
    finally:
        table.close()
    target = identifier(spec.table)
    key_match = " AND ".join(
        f"t.{identifier(k)} IS NOT DISTINCT FROM n.{identifier(k)}" for k in spec.key
    )
    conflict_row = con.execute(
        f"SELECT count(*) FROM {target} n WHERE n.load_id = ? AND EXISTS ("
        f"SELECT 1 FROM {target} t WHERE {key_match} AND t.record_hash <> n.record_hash "
        f"AND (t.load_id < n.load_id OR t.source_line < n.source_line))",
        [load_id],
    ).fetchone()
    return TabularOutcome(
        records=total.records,
        accepted=total.accepted,
        duplicates=total.duplicates,
        conflicts=int(conflict_row[0]) if conflict_row else 0,
        rejected=total.rejected,
        extra_columns=total.extra_columns,
    )


def create_decimal_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Create the decimal macros of :func:`check_sql` on a connection, once per connection."""
    try:  # a probe costs less than creating them again
        con.execute("SELECT tc_decimal_plain('1')")
        return
    except duckdb.CatalogException:
        pass
    decimals.create_macros(con)


def write_notes(
    con: duckdb.DuckDBPyConnection,
    load_id: int,
    source: str,
    unit: str,
    notes: Sequence[Outcome],
) -> None:
    """Store notes about a file's records (or the whole file) in ``load_notes``."""
    located = [n._replace(field=f"{unit} {n.line}" if n.line is not None else None) for n in notes]
    write_outcomes(con, load_id, source, located)


def _load_chunk(
    con: duckdb.DuckDBPyConnection,
    spec: KindSpec,
    table: RawTable,
    chunk: Chunk,
    plan: tuple[dict[str, list[str]], Dialect | None],
    extras: list[str],
    load_id: int,
    source: str,
) -> TabularOutcome:
    mapping, dialect = plan
    # The chunk and the checked chunk are Arrow tables that the SQL reads by the name of a
    # local variable (DuckDB's replacement scan), never registered: a view registered and
    # dropped inside the load's transaction would keep its table in memory until the end.
    tc_raw = chunk.arrow(len(table.header))  # noqa: F841 (read by the SQL below)
    # The file's columns are read by position (read.column), so no name from a file is
    # ever an SQL identifier; names reach the SQL only as quoted string literals.
    at = {h: identifier(column(i)) for i, h in enumerate(table.header)}
    cols = [
        f"{read_sql(c, mapping.get(c.name, []), at, dialect)} AS {identifier(c.name)}"
        for c in spec.columns
    ]
    # The value each checked column had in the file, for the message of a rejection.
    written = [
        f"{written_sql(mapping.get(c.name, []), at)} AS {identifier(_WRITTEN + c.name)}"
        for c in spec.columns
    ]
    extra_json = (
        "json_object(" + ", ".join(f"{literal(e)}, {at[e]}" for e in extras) + ")"
        if extras
        else "NULL::JSON"
    )
    raw_json = (
        "json_object("
        + ", ".join(f"{literal(h)}, {identifier(column(i))}" for i, h in enumerate(table.header))
        + ")"
    )
    text = (
        f"SELECT {LINE}, {', '.join(cols)}, "
        f"{', '.join(written)}, {extra_json} AS extra, {raw_json} AS raw FROM tc_raw"
    )
    checks = record_checks(spec)
    checked = con.execute(
        "SELECT *, "
        f"list_filter([{', '.join(checks)}], x -> x.code IS NOT NULL) AS errors FROM ({text})"
    ).to_arrow_table()
    return _store_chunk(con, spec, chunk, checked, load_id, source)


def _store_chunk(
    con: duckdb.DuckDBPyConnection,
    spec: KindSpec,
    chunk: Chunk,
    tc_chk: pa.Table,
    load_id: int,
    source: str,
) -> TabularOutcome:
    """Store a checked chunk (``tc_chk``): its rejections, then its valid records."""
    value_of = (
        "CASE e.field "
        + " ".join(
            f"WHEN {literal(c.name)} THEN {identifier(_WRITTEN + c.name)}" for c in spec.columns
        )
        + " END"
    )
    bad = con.execute(
        f"SELECT {LINE}, e.field, e.code, {value_of} AS value, raw FROM "
        f"(SELECT *, unnest(errors) AS e FROM tc_chk WHERE len(errors) > 0) "
        f"ORDER BY {LINE}, e.field"
    ).fetchall()
    rejected_lines = {r[0] for r in bad}
    logicals = {c.name: c.logical for c in spec.columns}
    rows = [
        Outcome(
            "reject",
            code,
            line,
            message(field_name, code, value, logicals.get(field_name, "")),
            field_name,
            raw,
        )
        for line, field_name, code, value, raw in bad
    ]
    del bad
    write_outcomes(con, load_id, source, rows + chunk.rejects)
    del rows

    normal = ", ".join(
        f"{normalise_sql(c, identifier(c.name))} AS {identifier(c.name)}" for c in spec.columns
    )
    hash_expr = (
        "md5(to_json(struct_pack("
        + ", ".join(f"{identifier(c.name)} := {identifier(c.name)}" for c in spec.columns)
        + "))::VARCHAR)"
    )
    valid = (
        f"(SELECT *, {hash_expr} AS record_hash FROM "
        f"(SELECT {normal}, {LINE}, extra FROM tc_chk WHERE len(errors) = 0))"
    )
    target = identifier(spec.table)
    names = ", ".join(identifier(c.name) for c in spec.columns)
    inserted = con.execute(
        f"INSERT INTO {target} ({names}, load_id, source_file, source_line, record_hash, extra) "
        f"SELECT {names}, ?, ?, {LINE}, record_hash, extra FROM {valid} o "
        f"WHERE NOT EXISTS (SELECT 1 FROM {target} t WHERE t.record_hash = o.record_hash) "
        f"QUALIFY row_number() OVER (PARTITION BY record_hash ORDER BY {LINE}) = 1",
        [load_id, source],
    ).fetchone()
    accepted = int(inserted[0]) if inserted else 0
    ok_row = con.execute("SELECT count(*) FROM tc_chk WHERE len(errors) = 0").fetchone()
    ok = int(ok_row[0]) if ok_row else 0
    return TabularOutcome(
        records=len(chunk),
        accepted=accepted,
        duplicates=ok - accepted,
        conflicts=0,
        rejected=len(rejected_lines) + len(chunk.rejects),
        extra_columns=(),
    )


#: The prefix of the columns holding each checked value as the file wrote it.
_WRITTEN = "tc written "
