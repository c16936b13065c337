"""Evidence that points at one record, and the record itself in the report.

A rule names each record a finding rests on by its ``source``: ``name:line``, where the name
is the path as the file was loaded (followed by ``@`` and the first 12 hex digits of its
SHA-256 where the same path was loaded more than once) and the line is the line, or the
record number in a document, the record came from (the base view ``load_names`` writes the
names). After the rules ran, :func:`add_records` resolves every source to the one input it
names (``input``: the index of that file in the report's ``inputs``) and adds the record's
text, so that a report sent on can be checked by hand without the database.

What the record's text is: the record as the store holds it, as one line of JSON.

- a declaration (consignment line, batch, filing, authorisation, estimate, product): an
  object of the stored columns in the order of the kind's schema, then the file's columns
  that the schema does not know (kept by the load as ``extra``); the provenance columns
  (load, file, line, hash) are left out, being the source itself;
- an event: the event as received (EPCIS 2.0 JSON text) where the load kept it
  (``event_payloads``: events with fields the event columns do not hold); else the stored
  event row's columns, then its EPCs (``epcList``, ``childEPCs``, ``inputEPCList``,
  ``outputEPCList``: each EPC as written in the file, sorted), its quantities
  (``quantityList``, ...: ``epc_class``, ``quantity``, ``uom``), its business transactions
  (``bizTransactionList``: ``type``, ``value``) and its parties (``sourceList``,
  ``destinationList``: ``type``, ``value`` as written).

Values are as stored: text as text, exact decimals as strings without trailing zeros (as the
report's quantities), dates as ISO dates, times as ISO times in UTC (``Z``); a column without
a value is left out.

Bounds: a finding carries the records of its first :data:`MAX_PER_FINDING` evidence items
(in evidence order) that resolve to an input, and counts the others in
``records_left_out``; a record's text is cut after :data:`MAX_CHARS` characters, and
``record_cut`` says how many more there were. An event lists at most :data:`MAX_CHARS` EPCs
of one list (more could not be shown), the rest counted in ``record_cut`` as the characters
they would take.

Both engines fill the records the same way: each gives a :data:`Query` that runs one SELECT
(written in DuckDB's dialect, over the store's tables and a small table ``tc_keys`` of the
wanted keys) and returns its rows; everything else happens here.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from traceability.kinds import EVENT_KIND, TABULAR_KINDS, kind_spec
from traceability.load.epcis.terms import EPC_LISTS, QUANTITY_LISTS
from traceability.model import Evidence, Finding, InputFile, Report
from traceability.sql import identifier

#: How many evidence items of one finding carry their record.
MAX_PER_FINDING = 20
#: How many characters of a record's text the report carries.
MAX_CHARS = 4000
#: How many wanted keys go into one query.
BATCH = 20_000

#: Runs ``sql`` (DuckDB dialect) with the table ``tc_keys`` holding ``rows`` as BIGINT
#: columns named ``columns``; returns the result's rows.
Query = Callable[[str, Sequence[str], Sequence[tuple[int, ...]]], Sequence[Sequence[Any]]]

#: The kinds of declarations (each stored in its kind's table).
DECLARATION_KINDS = TABULAR_KINDS

#: The event row's columns in a record, in order; True for a timestamp (written as text).
EVENT_COLUMNS: tuple[tuple[str, bool], ...] = (
    ("event_key", False),
    ("event_id", False),
    ("event_hash", False),
    ("event_type", False),
    ("action", False),
    ("biz_step", False),
    ("disposition", False),
    ("event_time", True),
    ("tz_offset", False),
    ("local_date", False),
    ("record_time", True),
    ("read_point", False),
    ("biz_location", False),
    ("parent_raw", False),
    ("parent_key", False),
    ("lot", False),
    ("expiry", False),
    ("error_declared_at", True),
    ("error_reason", False),
    ("corrective_event_ids", False),
)
PARTY_LISTS = {"source": "sourceList", "destination": "destinationList"}


@dataclass(frozen=True)
class Limits:
    """How much of the records a report carries (see the module's docstring)."""

    per_finding: int = MAX_PER_FINDING
    max_chars: int = MAX_CHARS

    def to_dict(self) -> dict[str, int]:
        """The report's ``parameters.records``."""
        return {"per_finding": self.per_finding, "max_chars": self.max_chars}


# --- sources -------------------------------------------------------------------------------


def input_names(inputs: Sequence[InputFile]) -> dict[str, int]:
    """Each input's name in sources and its index in ``inputs``, as ``load_names`` writes it.

    The name is the path as loaded, followed by ``@`` and 12 hex digits of the SHA-256 where
    the same path was loaded more than once. A name that still fits two inputs is left out.

    >>> a, b = (InputFile("q/c.csv", h * 64, "consignments", 1, 0) for h in "ab")
    >>> input_names([a, InputFile("x.csv", "c" * 64, "batches", 1, 0)])
    {'q/c.csv': 0, 'x.csv': 1}
    >>> input_names([a, b])
    {'q/c.csv@aaaaaaaaaaaa': 0, 'q/c.csv@bbbbbbbbbbbb': 1}
    """
    paths = Counter(i.path for i in inputs)
    found: dict[str, list[int]] = {}
    for index, i in enumerate(inputs):
        name = f"{i.path}@{i.sha256[:12]}" if paths[i.path] > 1 else i.path
        found.setdefault(name, []).append(index)
    return {name: at[0] for name, at in found.items() if len(at) == 1}


def split_source(source: str | None) -> tuple[str, int] | None:
    """A source's name and line; None when it has no line.

    >>> split_source("late-march/consignments.csv:14")
    ('late-march/consignments.csv', 14)
    >>> split_source("C:\\\\q1\\\\c.csv@0123456789ab:3"), split_source("c.csv")
    (('C:\\\\q1\\\\c.csv@0123456789ab', 3), None)
    """
    if not source:
        return None
    name, sep, line = source.rpartition(":")
    if not sep or not name or not line.isascii() or not line.isdigit():
        return None
    return name, int(line)


# --- the records' text ---------------------------------------------------------------------


def _decimal(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _timestamp(text: str) -> str:
    """A timestamp as either engine writes it (UTC), as ISO text in UTC with ``Z``.

    >>> _timestamp("2026-01-10 08:00:00+00"), _timestamp("2026-01-10 08:00:00.25")
    ('2026-01-10T08:00:00Z', '2026-01-10T08:00:00.250000Z')
    """
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def plain(value: Any) -> Any:
    """A stored value as JSON: decimals as exact text, dates ISO, lists item by item."""
    if isinstance(value, Decimal):
        return _decimal(value)
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return _decimal(Decimal(repr(value)))
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def record_text(record: Mapping[str, Any]) -> str:
    """One record as one line of JSON."""
    return json.dumps(record, ensure_ascii=False)


def _extra(text: Any) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        value = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return {}
    return dict(value) if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Text:
    """A record's full text, and how many characters of it were never fetched."""

    text: str
    unfetched: int = 0


def _batches(keys: Sequence[tuple[int, ...]]) -> Iterable[Sequence[tuple[int, ...]]]:
    for start in range(0, len(keys), BATCH):
        yield keys[start : start + BATCH]


def declaration_texts(
    query: Query, kind: str, keys: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], Text]:
    """The text of each stored declaration of ``kind`` at (load_id, source_line)."""
    spec = kind_spec(kind)
    columns = [c.name for c in spec.columns]
    selected = ", ".join(f"t.{identifier(c)}" for c in columns)
    sql = (
        f"SELECT t.load_id, t.source_line, {selected}, CAST(t.extra AS VARCHAR) AS extra "
        f"FROM {identifier(spec.table)} t "
        "JOIN tc_keys k ON k.load_id = t.load_id AND k.source_line = t.source_line"
    )
    out: dict[tuple[int, int], Text] = {}
    for batch in _batches(sorted(set(keys))):
        for row in query(sql, ("load_id", "source_line"), batch):
            key = (int(row[0]), int(row[1]))
            values = dict(zip(columns, row[2:-1], strict=True))
            record = {k: plain(v) for k, v in values.items() if v is not None}
            for name, value in _extra(row[-1]).items():
                if value is not None:
                    record.setdefault(str(name), plain(value))
            text = record_text(record)
            if key not in out or text < out[key].text:  # one record a line; any tie, stable
                out[key] = Text(text)
    return out


def _event_sql() -> str:
    columns = ", ".join(
        f"CAST(e.{name} AS VARCHAR) AS {name}" if stamp else f"e.{name}"
        for name, stamp in EVENT_COLUMNS
    )
    return (
        f"SELECT e.load_id, e.source_line, e.event_row, {columns}, p.payload "
        "FROM events e "
        "JOIN tc_keys k ON k.load_id = e.load_id AND k.source_line = e.source_line "
        "LEFT JOIN event_payloads p ON p.event_row = e.event_row"
    )


def _epc_sql(cap: int) -> str:
    return f"""
        WITH items AS (
            SELECT r.event_row, CAST(r.list AS VARCHAR) AS list,
                   coalesce(r.epc_raw, x.prefix || r.serial) AS epc
            FROM epc_rows r
            JOIN tc_keys k ON k.event_row = r.event_row
            LEFT JOIN epc_prefixes x ON x.prefix_id = r.prefix_id
        ), ranked AS (
            SELECT i.event_row, i.list, i.epc,
                   row_number() OVER (PARTITION BY i.event_row, i.list ORDER BY i.epc)
                       AS position,
                   count(*) OVER (PARTITION BY i.event_row, i.list) AS items,
                   sum(length(i.epc)) OVER (PARTITION BY i.event_row, i.list) AS chars
            FROM items i
        )
        SELECT event_row, list, epc, position, items, chars FROM ranked
        WHERE position <= {int(cap)}
    """


QUANTITIES_SQL = (
    "SELECT q.event_row, q.list, q.epc_class_raw, q.quantity, q.uom "
    "FROM event_quantities q JOIN tc_keys k ON k.event_row = q.event_row"
)
TRANSACTIONS_SQL = (
    "SELECT b.event_row, b.type, b.value "
    "FROM event_biz_transactions b JOIN tc_keys k ON k.event_row = b.event_row"
)
PARTIES_SQL = (
    "SELECT p.event_row, p.role, p.type, p.value_raw "
    "FROM event_parties p JOIN tc_keys k ON k.event_row = p.event_row"
)


def _sort_key(values: Sequence[Any]) -> tuple[tuple[bool, str], ...]:
    return tuple((v is not None, "" if v is None else str(v)) for v in values)


def _by_event(query: Query, sql: str, rows: Sequence[int]) -> dict[int, list[Sequence[Any]]]:
    found: dict[int, list[Sequence[Any]]] = {}
    keys = [(r,) for r in rows]
    for batch in _batches(keys):
        for row in query(sql, ("event_row",), batch):
            found.setdefault(int(row[0]), []).append(tuple(row[1:]))
    for items in found.values():
        items.sort(key=_sort_key)
    return found


def event_texts(
    query: Query, keys: Sequence[tuple[int, int]], max_chars: int
) -> dict[tuple[int, int], Text]:
    """The text of each stored event at (load_id, source_line)."""
    heads: dict[tuple[int, int], tuple[int, dict[str, Any]]] = {}
    out: dict[tuple[int, int], Text] = {}
    names = [name for name, _ in EVENT_COLUMNS]
    stamps = {name for name, stamp in EVENT_COLUMNS if stamp}
    sql = _event_sql()
    for batch in _batches(sorted(set(keys))):
        for row in query(sql, ("load_id", "source_line"), batch):
            key, event_row, payload = (int(row[0]), int(row[1])), int(row[2]), row[-1]
            if key in heads or key in out:
                continue  # one event a record: the first found
            if payload is not None:
                out[key] = Text(str(payload))
                continue
            values = dict(zip(names, row[3:-1], strict=True))
            record = {
                k: (_timestamp(str(v)) if k in stamps else plain(v))
                for k, v in values.items()
                if v is not None
            }
            heads[key] = (event_row, record)
    rows = sorted({event_row for event_row, _ in heads.values()})
    epcs = _by_event(query, _epc_sql(max_chars), rows)
    quantities = _by_event(query, QUANTITIES_SQL, rows)
    transactions = _by_event(query, TRANSACTIONS_SQL, rows)
    parties = _by_event(query, PARTIES_SQL, rows)
    for key, (event_row, record) in heads.items():
        unfetched = 0
        lists: dict[str, list[Any]] = {}
        shown: dict[str, int] = {}
        for name, epc, position, items, chars in sorted(
            epcs.get(event_row, ()), key=lambda r: (str(r[0]), int(r[2]))
        ):
            lists.setdefault(str(name), []).append(epc)
            shown[str(name)] = shown.get(str(name), 0) + len(str(epc))
            left = int(items) - int(position)
            if left > 0 and int(position) == max_chars:
                # each EPC not fetched would take its text, two quotes and ", "
                unfetched += int(chars) - shown[str(name)] + 4 * left
        for name in (*EPC_LISTS, *sorted(set(lists) - set(EPC_LISTS))):
            if name in lists:
                record[name] = lists[name]
        amounts: dict[str, list[dict[str, Any]]] = {}
        for name, epc_class, quantity, uom in quantities.get(event_row, ()):
            item = {"epc_class": epc_class, "quantity": plain(quantity), "uom": uom}
            amounts.setdefault(str(name), []).append({k: v for k, v in item.items() if v})
        for name in (*QUANTITY_LISTS, *sorted(set(amounts) - set(QUANTITY_LISTS))):
            if name in amounts:
                record[name] = amounts[name]
        if event_row in transactions:
            record["bizTransactionList"] = [
                {k: v for k, v in (("type", t), ("value", value)) if v is not None}
                for t, value in transactions[event_row]
            ]
        for role, name in PARTY_LISTS.items():
            listed = [
                {k: v for k, v in (("type", t), ("value", value)) if v is not None}
                for r, t, value in parties.get(event_row, ())
                if r == role
            ]
            if listed:
                record[name] = listed
        out[key] = Text(record_text(record), unfetched)
    return out


def fetch_texts(
    query: Query, wanted: Mapping[str, Iterable[tuple[int, int]]], max_chars: int
) -> dict[tuple[str, int, int], Text]:
    """The records wanted, per kind of input: (kind, load_id, line) → text."""
    out: dict[tuple[str, int, int], Text] = {}
    for kind, keys in sorted(wanted.items()):
        keys = sorted(set(keys))
        if not keys:
            continue
        if kind == EVENT_KIND:
            found = event_texts(query, keys, max_chars)
        elif kind in DECLARATION_KINDS:
            found = declaration_texts(query, kind, keys)
        else:
            continue
        out.update({(kind, load, line): text for (load, line), text in found.items()})
    return out


def duckdb_query(con: Any) -> Query:
    """The :data:`Query` of a DuckDB connection to a store."""
    import pyarrow as pa

    def run(
        sql: str, columns: Sequence[str], rows: Sequence[tuple[int, ...]]
    ) -> Sequence[Sequence[Any]]:
        keys = pa.table(
            {c: pa.array([r[i] for r in rows], pa.int64()) for i, c in enumerate(columns)}
        )
        con.register("tc_keys", keys)
        try:
            result: Sequence[Sequence[Any]] = con.execute(sql).fetchall()
            return result
        finally:
            con.unregister("tc_keys")

    return run


# --- the report ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Item:
    """One evidence item: the input its source names, its line, and whether the report
    carries its record (``take``) or leaves it out for the bound (``left_out``)."""

    evidence: Evidence
    index: int | None
    line: int
    take: bool
    left_out: bool


def _plan(
    f: Finding, inputs: Sequence[InputFile], names: Mapping[str, int], most: int
) -> list[_Item]:
    """The evidence of ``f`` resolved: the first ``most`` items with a stored input carry
    their records, in evidence order."""
    out, taken = [], 0
    for e in f.evidence:
        parts = split_source(e.source)
        index = names.get(parts[0]) if parts else None
        line = parts[1] if parts and index is not None else 0
        stored = index is not None and inputs[index].load_id is not None
        take = stored and taken < most
        taken += take
        out.append(_Item(e, index, line, take, stored and not take))
    return out


def add_records(report: Report, query: Query | None, limits: Limits | None = None) -> Report:
    """The report with each evidence source resolved to its input, and the records' text.

    ``query`` reads the store the report was made from (see :data:`Query`); None resolves
    the sources only (``parameters.records`` then says the records are not available).
    """
    limits = limits or Limits()
    names = input_names(report.inputs)
    most = limits.per_finding if query is not None else 0
    plans = [_plan(f, report.inputs, names, most) for f in report.findings]
    wanted: dict[str, set[tuple[int, int]]] = {}
    for plan in plans:
        for item in plan:
            if item.take and item.index is not None:
                source = report.inputs[item.index]
                key = (source.load_id or 0, item.line)
                wanted.setdefault(source.kind, set()).add(key)
    texts = fetch_texts(query, wanted, limits.max_chars) if query is not None else {}
    findings = []
    for f, plan in zip(report.findings, plans, strict=True):
        evidence = []
        for item in plan:
            record, cut = None, 0
            if item.take and item.index is not None:
                source = report.inputs[item.index]
                found = texts.get((source.kind, source.load_id or 0, item.line))
                if found is not None:
                    record = found.text[: limits.max_chars]
                    cut = len(found.text) - len(record) + found.unfetched
            evidence.append(
                dataclasses.replace(item.evidence, input=item.index, record=record, record_cut=cut)
            )
        left_out = sum(1 for item in plan if item.left_out) if query is not None else 0
        findings.append(dataclasses.replace(f, evidence=tuple(evidence), records_left_out=left_out))
    about: dict[str, Any] = limits.to_dict()
    if query is None:
        about["per_finding"] = 0
        about["unavailable"] = "the engine gave no access to the records"
    parameters = {**report.parameters, "records": about}
    return dataclasses.replace(report, findings=tuple(findings), parameters=parameters)
