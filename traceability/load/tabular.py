"""Vectorised checks and normalisation of tabular records, derived from the kind's schema.

Each column's logical type (a ``$defs`` name of ``common.schema.json``) gives a SQL check
that returns a reason code or NULL, and a SQL expression that normalises the text into the
stored value. All checks run over the whole file at once in DuckDB; only the rejected rows
come back to Python to have their messages worded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import duckdb

from traceability.errors import UnreadableFile
from traceability.load.identifiers import check_digit, normalise_uom
from traceability.load.kinds import Column, KindSpec
from traceability.load.limits import shown
from traceability.load.read import LINE, RawTable, column

DECIMAL_RE = r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"
MAX_SCALE = 12
MAX_INTEGER_DIGITS = 26


def q(name: str) -> str:
    """Quote an identifier for SQL (column names come from files: never trust them)."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: str) -> str:
    """Quote a string literal for SQL."""
    return "'" + value.replace("'", "''") + "'"


def _uom_case(column: Column, v: str) -> str:
    enum = column.enum or ()
    whens = " ".join(f"WHEN {lit(s)} THEN {lit(normalise_uom(s) or s)}" for s in enum)
    return f"CASE {v} {whens} END"


def _in_enum(column: Column, v: str) -> str:
    return f"{v} IN ({', '.join(lit(s) for s in column.enum or ())})"


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
        plain = f"regexp_full_match({v}, '[0-9]*\\.?[0-9]*')"
        scale = f"length(regexp_extract(rtrim({v}, '0'), '\\.([0-9]*)$', 1))"
        ints = f"length(ltrim(regexp_extract({v}, '^([0-9]*)', 1), '0'))"
        return (
            f"CASE WHEN regexp_full_match({v}, '-{DECIMAL_RE[1:]}') THEN 'negative-quantity' "
            f"WHEN NOT regexp_full_match({v}, '{DECIMAL_RE}') THEN 'bad-decimal' "
            f"WHEN {plain} AND ({scale} > {MAX_SCALE} OR {ints} > {MAX_INTEGER_DIGITS}) "
            f"THEN 'decimal-out-of-range' "
            f"WHEN TRY_CAST({v} AS DECIMAL(38,12)) IS NULL THEN 'decimal-out-of-range' END"
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
    if t == "text":
        return "NULL"
    raise ValueError(f"schema uses unknown logical type {t!r} for {column.name}")


def normalise_sql(column: Column, v: str) -> str:
    """SQL turning a valid trimmed text value into its stored form."""
    t = column.logical
    if t == "gtin":
        return f"tc_gtin14({v})"
    if t == "decimal":
        return f"CAST({v} AS DECIMAL(38,12))"
    if t == "date":
        return f"CAST({v} AS DATE)"
    if t == "year":
        return f"CAST({v} AS INTEGER)"
    if t in ("country", "period"):
        return f"upper({v})"
    if t in ("uom", "mass_uom", "trade_uom"):
        return _uom_case(column, v)
    return v


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
    text = {
        "missing-value": "a value is required",
        "missing-one-of": "one of these is required",
        "bad-gtin": f"{v} is not a GTIN (8, 12, 13 or 14 digits)",
        "bad-gln": f"{v} is not a GLN (13 digits)",
        "bad-decimal": f"{v} is not a decimal number",
        "negative-quantity": f"{v} is negative; quantities cannot be negative",
        "decimal-out-of-range": (
            f"{v} has more than {MAX_SCALE} decimal places or "
            f"{MAX_INTEGER_DIGITS} digits before the point"
        ),
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


def map_header(path: Path, spec: KindSpec, header: list[str]) -> tuple[dict[str, str], list[str]]:
    """Map file columns to schema columns (case-insensitively); return (mapping, extras)."""
    mapping: dict[str, str] = {}
    extras: list[str] = []
    seen: set[str] = set()
    names = {n.lower(): n for n in spec.names}
    for h in header:
        key = h.strip().lower()
        if "\x00" in h:
            raise UnreadableFile(f"{path}: the column name {shown(h)} holds a NUL character")
        if key in seen and key:
            raise UnreadableFile(f"{path}: column {shown(h)} appears twice in the header")
        seen.add(key)
        if key in names:
            mapping[names[key]] = h
        elif h.strip():
            extras.append(h)
    missing = [c.name for c in spec.columns if c.required and c.name not in mapping]
    missing += [
        " or ".join(group) for group in spec.one_of_required if not set(group) & set(mapping)
    ]
    if missing:
        raise UnreadableFile(
            f"{path}: not a {spec.kind} file: missing column(s) {', '.join(missing)}",
            hint="see the input contract for the column names",
        )
    return mapping, extras


def load_tabular(
    con: duckdb.DuckDBPyConnection,
    spec: KindSpec,
    path: Path,
    table: RawTable,
    *,
    load_id: int,
    source: str,
) -> TabularOutcome:
    """Check, normalise and store one file's records; rejected ones go to ``rejects``."""
    mapping, extras = map_header(path, spec, table.header)
    frame = table.frame()
    con.register("tc_raw", frame)
    try:
        return _load_registered(con, spec, table, mapping, extras, load_id, source)
    finally:
        con.unregister("tc_raw")


def _load_registered(
    con: duckdb.DuckDBPyConnection,
    spec: KindSpec,
    table: RawTable,
    mapping: dict[str, str],
    extras: list[str],
    load_id: int,
    source: str,
) -> TabularOutcome:
    # The file's columns are read by position (read.column), so no name from a file is
    # ever an SQL identifier; names reach the SQL only as quoted string literals.
    at = {h: q(column(i)) for i, h in enumerate(table.header)}
    cols = []
    for c in spec.columns:
        if c.name in mapping:
            expr = f"NULLIF(trim({at[mapping[c.name]]}), '')"
            if c.default is not None:
                expr = f"coalesce({expr}, {lit(c.default)})"
        else:
            expr = lit(c.default) if c.default is not None else "NULL::VARCHAR"
        cols.append(f"{expr} AS {q(c.name)}")
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
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE tc_txt AS SELECT {LINE}, {', '.join(cols)}, "
        f"{extra_json} AS extra, {raw_json} AS raw FROM tc_raw"
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
    con.execute(
        "CREATE OR REPLACE TEMP TABLE tc_chk AS SELECT *, "
        f"list_filter([{', '.join(checks)}], x -> x.code IS NOT NULL) AS errors FROM tc_txt"
    )
    bad = con.execute(
        "SELECT " + LINE + ", e.field, e.code, raw FROM "
        "(SELECT " + LINE + ", unnest(errors) AS e, raw FROM tc_chk WHERE len(errors) > 0) "
        "ORDER BY " + LINE + ", e.field"
    ).fetchall()
    rejected_lines = {r[0] for r in bad}
    rows = []
    for line, field_name, code, raw in bad:
        record = json.loads(raw)
        value = record.get(mapping.get(field_name, field_name)) if field_name in mapping else None
        logical = spec.column(field_name).logical if field_name in spec.names else ""
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
    for sr in table.rejects:
        rows.append((load_id, source, sr.line, None, sr.code, sr.message, sr.raw))
    if rows:
        con.executemany("INSERT INTO rejects VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    normal = ", ".join(f"{normalise_sql(c, q(c.name))} AS {q(c.name)}" for c in spec.columns)
    hash_expr = (
        "md5(to_json(struct_pack("
        + ", ".join(f"{q(c.name)} := {q(c.name)}" for c in spec.columns)
        + "))::VARCHAR)"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE tc_ok AS SELECT *, {hash_expr} AS record_hash FROM "
        f"(SELECT {normal}, {LINE}, extra FROM tc_chk WHERE len(errors) = 0)"
    )
    target = q(spec.kind)
    names = ", ".join(q(c.name) for c in spec.columns)
    inserted = con.execute(
        f"INSERT INTO {target} ({names}, load_id, source_file, source_line, record_hash, extra) "
        f"SELECT {names}, ?, ?, {LINE}, record_hash, extra FROM tc_ok o "
        f"WHERE NOT EXISTS (SELECT 1 FROM {target} t WHERE t.record_hash = o.record_hash) "
        f"QUALIFY row_number() OVER (PARTITION BY record_hash ORDER BY {LINE}) = 1",
        [load_id, source],
    ).fetchone()
    accepted = int(inserted[0]) if inserted else 0
    key_match = " AND ".join(f"t.{q(k)} IS NOT DISTINCT FROM n.{q(k)}" for k in spec.key)
    conflict_row = con.execute(
        f"SELECT count(*) FROM {target} n WHERE n.load_id = ? AND EXISTS ("
        f"SELECT 1 FROM {target} t WHERE {key_match} AND t.record_hash <> n.record_hash "
        f"AND (t.load_id < n.load_id OR t.source_line < n.source_line))",
        [load_id],
    ).fetchone()
    ok_row = con.execute("SELECT count(*) FROM tc_ok").fetchone()
    ok = int(ok_row[0]) if ok_row else 0
    con.execute("DROP TABLE tc_txt; DROP TABLE tc_chk; DROP TABLE tc_ok")
    return TabularOutcome(
        records=len(table.rows) + len(table.rejects),
        accepted=accepted,
        duplicates=ok - accepted,
        conflicts=int(conflict_row[0]) if conflict_row else 0,
        rejected=len(rejected_lines) + len(table.rejects),
        extra_columns=tuple(extras),
    )
