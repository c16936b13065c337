"""Vectorised checks and normalisation of tabular records, derived from the kind's schema.

Each column's logical type (a ``$defs`` name of ``common.schema.json``) gives a SQL check
that returns a reason code or NULL, and a SQL expression that normalises the text into the
stored value. All checks run over the whole file at once in DuckDB; only the rejected rows
come back to Python to have their messages worded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from traceability.kinds import Column, Dialect, KindSpec
from traceability.load import decimals
from traceability.load.columns import lit, map_header, q, read_sql, rewritten, written_sql
from traceability.load.identifiers import (
    INVISIBLE_SQL,
    check_digit,
    invisible_chars,
    normalise_uom,
)
from traceability.load.limits import shown
from traceability.load.read import LINE, Chunk, RawTable, RecordNote, column

DECIMAL_RE = r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"


def _uom_case(column: Column, v: str) -> str:
    enum = column.enum or ()
    whens = " ".join(f"WHEN {lit(s)} THEN {lit(normalise_uom(s) or s)}" for s in enum)
    return f"CASE {v} {whens} END"


def _in_enum(column: Column, v: str) -> str:
    return f"{v} IN ({', '.join(lit(s) for s in column.enum or ())})"


#: Text columns that are prose, not identifiers: they may hold any character.
FREE_TEXT = frozenset({"name"})


def check_sql(column: Column, v: str) -> str:
    """SQL giving the reason code for a present (non-NULL, trimmed) value, or NULL if valid."""
    t = column.logical
    if t == "gtin":
        return f"CASE WHEN tc_gtin_problem({v}) = 'bad-check-digit' THEN 'bad-check-digit' WHEN tc_gtin_problem({v}) IS NOT NULL THEN 'bad-gtin' END"  # noqa: E501
    if t == "gln":
        return f"CASE WHEN tc_gln_problem({v}) = 'bad-check-digit' THEN 'bad-check-digit' WHEN tc_gln_problem({v}) IS NOT NULL THEN 'bad-gln' END"  # noqa: E501
    if t == "party":
        return f"CASE WHEN regexp_full_match({v}, '[0-9]{{13}}') AND tc_gln_problem({v}) IS NOT NULL THEN 'bad-check-digit' END"  # noqa: E501
    if t == "decimal":
        # Exactness is decimals.exact_quantity's rule, in SQL (decimals.SQL_MACROS).
        return (
            f"CASE WHEN regexp_full_match({v}, '-{DECIMAL_RE[1:]}') THEN 'negative-quantity' "
            f"WHEN NOT regexp_full_match({v}, '{DECIMAL_RE}') THEN 'bad-decimal' "
            f"ELSE coalesce(tc_decimal_problem({v}), CASE WHEN TRY_CAST(tc_decimal_plain({v}) "
            f"AS DECIMAL(38,12)) IS NULL THEN '{decimals.RANGE_CODE}' END) END"
        )
    if t == "date":
        return (
            f"CASE WHEN NOT regexp_full_match({v}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') "
            f"THEN 'bad-date' WHEN TRY_CAST({v} AS DATE) IS NULL THEN 'impossible-date' END"
        )
    if t == "period":
        return (
            f"CASE WHEN NOT regexp_full_match({v}, '[0-9]{{4}}(-[Qq][1-4])?') THEN 'bad-period' END"  # noqa: E501
        )
    if t == "year":
        return f"CASE WHEN NOT regexp_full_match({v}, '[0-9]{{4}}') OR {v}::INTEGER NOT BETWEEN 1900 AND 2999 THEN 'bad-year' END"  # noqa: E501
    if t == "country":
        return f"CASE WHEN NOT regexp_full_match({v}, '[A-Za-z]{{2}}') THEN 'bad-country' END"
    if t in ("uom", "trade_uom", "enum"):
        return f"CASE WHEN NOT {_in_enum(column, v)} THEN 'not-allowed' END"
    if t == "mass_uom":
        return f"CASE WHEN NOT {_in_enum(column, v)} THEN 'not-a-mass-unit' END"
    if t == "pattern":
        return f"CASE WHEN NOT regexp_full_match({v}, {lit(column.pattern or '')}) THEN {lit(column.code)} END"  # noqa: E501
    if t == "text":
        if column.name in FREE_TEXT:
            return "NULL"
        # An identifier that looks like another must not match or miss it silently.
        return f"CASE WHEN regexp_matches({v}, {lit(INVISIBLE_SQL)}) THEN 'invisible-character' END"
    raise ValueError(f"schema uses unknown logical type {t!r} for {column.name}")


def normalise_sql(column: Column, v: str) -> str:
    """SQL turning a valid trimmed text value into its stored form."""
    t = column.logical
    if column.normalise:
        return rewritten(v, column.normalise)
    if t == "gtin":
        return f"tc_gtin14({v})"
    if t == "decimal":
        return f"CAST(tc_decimal_plain({v}) AS DECIMAL(38,12))"
    if t == "date":
        return f"CAST({v} AS DATE)"
    if t == "year":
        return f"CAST({v} AS INTEGER)"
    if t in ("country", "period"):
        return f"upper({v})"
    if t in ("uom", "mass_uom", "trade_uom"):
        return _uom_case(column, v)
    return v


def _inexact(value: str | None) -> str:
    """Why a number cannot be stored exactly.

    >>> _inexact("1.5e-13")
    'has 14 decimal places; at most 12 can be stored without rounding'
    """
    try:
        outcome = decimals.exact_quantity(value or "")
    except ValueError:
        outcome = None
    if isinstance(outcome, decimals.Inexact):
        return outcome.reason
    return (
        f"has more than {decimals.SCALE} decimal places or {decimals.INTEGER_DIGITS} digits "
        "before the point"
    )


def message(column: str, code: str, value: str | None, logical: str = "") -> str:
    """The sentence a person reads for one rejected field.

    >>> message("quantity", "bad-decimal", "twelve")
    "quantity: 'twelve' is not a decimal number"
    >>> message("gtin", "bad-check-digit", "08901234000013", "gtin")
    "gtin: '08901234000013' has a wrong check digit (with this payload it would end in 4)"
    """
    v = shown(value, 80) if isinstance(value, str) else repr(value)
    if code == "bad-check-digit" and value:
        digits = value.strip()
        return (
            f"{column}: {v} has a wrong check digit "
            f"(with this payload it would end in {check_digit(digits[:-1])})"
        )
    if code in (decimals.RANGE_CODE, decimals.PRECISION_CODE):
        return f"{column}: {v} {_inexact(value)}"
    if code == "invisible-character" and isinstance(value, str):
        return (
            f"{column}: {v} holds characters that do not show "
            f"({', '.join(invisible_chars(value))}); it would match or miss an identifier "
            "that looks the same"
        )
    text = {
        "missing-value": "a value is required",
        "missing-one-of": "one of these is required",
        "bad-gtin": f"{v} is not a GTIN (8, 12, 13 or 14 digits)",
        "bad-gln": f"{v} is not a GLN (13 digits)",
        "bad-decimal": f"{v} is not a decimal number",
        "negative-quantity": f"{v} is negative; quantities cannot be negative",
        "bad-date": f"{v} is not a date written YYYY-MM-DD",
        "impossible-date": f"{v} is not a real calendar date",
        "bad-period": f"{v} is not a period (2026-Q1, or 2026 for a year)",
        "bad-year": f"{v} is not a year",
        "bad-country": f"{v} is not an ISO 3166-1 alpha-2 country code",
        "not-a-mass-unit": f"{v} is not a mass unit (KGM, GRM, MGM or kg, g, mg)",
    }.get(code)
    if text is None:
        text = f"{v} is not allowed"
    return f"{column}: {text}"


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
    target = q(spec.table)
    key_match = " AND ".join(f"t.{q(k)} IS NOT DISTINCT FROM n.{q(k)}" for k in spec.key)
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


_REJECTS = pa.schema(
    [
        ("load_id", pa.int32()),
        ("source_file", pa.string()),
        ("line", pa.int32()),
        ("field", pa.string()),
        ("code", pa.string()),
        ("message", pa.string()),
        ("raw", pa.string()),
    ]
)
_NOTES = pa.schema(
    [
        ("load_id", pa.int32()),
        ("source_file", pa.string()),
        ("record", pa.int32()),
        ("location", pa.string()),
        ("level", pa.string()),
        ("code", pa.string()),
        ("message", pa.string()),
    ]
)


def _insert(con: duckdb.DuckDBPyConnection, table: str, schema: pa.Schema, rows: list[Any]) -> None:
    """Insert rows (tuples in the order of ``schema``) at once, through Arrow."""
    if not rows:
        return
    columns = list(zip(*rows, strict=True))
    data = pa.Table.from_arrays(
        [pa.array(values, f.type) for values, f in zip(columns, schema, strict=True)],
        schema=schema,
    )
    tc_insert = data  # read by name (a replacement scan: see _load_chunk)
    con.execute(f"INSERT INTO {table} SELECT * FROM tc_insert")
    del tc_insert


def write_notes(
    con: duckdb.DuckDBPyConnection,
    load_id: int,
    source: str,
    unit: str,
    notes: Sequence[RecordNote],
) -> None:
    """Store notes about a file's records (or the whole file) in ``load_notes``."""
    rows = [
        (
            load_id,
            source,
            n.line,
            f"{unit} {n.line}" if n.line is not None else None,
            "note",
            n.code,
            n.message,
        )
        for n in notes
    ]
    _insert(con, "load_notes", _NOTES, rows)


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
    at = {h: q(column(i)) for i, h in enumerate(table.header)}
    cols = [
        f"{read_sql(c, mapping.get(c.name, []), at, dialect)} AS {q(c.name)}" for c in spec.columns
    ]
    # The value each checked column had in the file, for the message of a rejection.
    written = [
        f"{written_sql(mapping.get(c.name, []), at)} AS {q(_WRITTEN + c.name)}"
        for c in spec.columns
    ]
    extra_json = (
        "json_object(" + ", ".join(f"{lit(e)}, {at[e]}" for e in extras) + ")"
        if extras
        else "NULL::JSON"
    )
    raw_json = (
        "json_object("
        + ", ".join(f"{lit(h)}, {q(column(i))}" for i, h in enumerate(table.header))
        + ")"
    )
    text = (
        f"SELECT {LINE}, {', '.join(cols)}, "
        f"{', '.join(written)}, {extra_json} AS extra, {raw_json} AS raw FROM tc_raw"
    )
    checks = []
    for c in spec.columns:
        v = q(c.name)
        missing = "'missing-value'" if c.required else "NULL"
        checks.append(
            f"{{'field': {lit(c.name)}, 'code': CASE WHEN {v} IS NULL THEN {missing} "
            f"ELSE ({check_sql(c, v)}) END}}"
        )
    for group in spec.one_of_required:
        absent = " AND ".join(f"{q(g)} IS NULL" for g in group)
        checks.append(
            f"{{'field': {lit(' or '.join(group))}, "
            f"'code': CASE WHEN {absent} THEN 'missing-one-of' END}}"
        )
    for col, values, then in spec.required_when:
        cond = f"{q(col)} IN ({', '.join(lit(x) for x in values)})"
        for t in then:
            checks.append(
                f"{{'field': {lit(t)}, 'code': CASE WHEN {cond} AND {q(t)} IS NULL "
                f"THEN 'missing-value' END}}"
            )
    for col, then in spec.depends:
        for t in then:
            checks.append(
                f"{{'field': {lit(t)}, 'code': CASE WHEN {q(col)} IS NOT NULL AND {q(t)} IS NULL "
                f"THEN 'missing-value' END}}"
            )
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
        + " ".join(f"WHEN {lit(c.name)} THEN {q(_WRITTEN + c.name)}" for c in spec.columns)
        + " END"
    )
    bad = con.execute(
        f"SELECT {LINE}, e.field, e.code, {value_of} AS value, raw FROM "
        f"(SELECT *, unnest(errors) AS e FROM tc_chk WHERE len(errors) > 0) "
        f"ORDER BY {LINE}, e.field"
    ).fetchall()
    rejected_lines = {r[0] for r in bad}
    rows: list[tuple[Any, ...]] = []
    logicals = {c.name: c.logical for c in spec.columns}
    for line, field_name, code, value, raw in bad:
        logical = logicals.get(field_name, "")
        rows.append(
            (
                load_id,
                source,
                line,
                field_name,
                code,
                message(field_name, code, value, logical),
                raw,
            )
        )
    del bad
    for sr in chunk.rejects:
        rows.append((load_id, source, sr.line, sr.field, sr.code, sr.message, sr.raw))
    _insert(con, "rejects", _REJECTS, rows)
    del rows

    normal = ", ".join(f"{normalise_sql(c, q(c.name))} AS {q(c.name)}" for c in spec.columns)
    hash_expr = (
        "md5(to_json(struct_pack("
        + ", ".join(f"{q(c.name)} := {q(c.name)}" for c in spec.columns)
        + "))::VARCHAR)"
    )
    valid = (
        f"(SELECT *, {hash_expr} AS record_hash FROM "
        f"(SELECT {normal}, {LINE}, extra FROM tc_chk WHERE len(errors) = 0))"
    )
    target = q(spec.table)
    names = ", ".join(q(c.name) for c in spec.columns)
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
