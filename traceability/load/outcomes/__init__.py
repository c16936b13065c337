"""Rejections and notes as data: one record type, one table of codes, one writer.

Every check the loader makes has a code. A code's entry (:class:`Code`) says whether it
**rejects** its record or lets it load with a **note**, what it means and why it has that
kind, and the message written with it (a template filled with the record's values). One
principle decides the kind: a record is rejected only when its business meaning cannot
be established (no readable time, an identifier that is not a valid GS1 key, a required
value missing); every other deviation loads, noted.

What a load finds is an :class:`Outcome` (a reject or a note of one record, or of the
whole file); :func:`write_outcomes` stores a batch of them in the store's ``rejects`` and
``load_notes`` tables, by column name. ``docs/input-formats.md`` lists the codes in a
table generated from :data:`CODES` (:func:`codes_markdown`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from traceability.load.outcomes.code import APPLIES_TO, Code, Kind
from traceability.load.outcomes.event_codes import EVENT_CODES
from traceability.load.outcomes.table_codes import TABLE_CODES
from traceability.store.layout import table_columns

__all__ = [
    "APPLIES_TO",
    "CODES",
    "CODES_IN_ORDER",
    "Code",
    "Kind",
    "Outcome",
    "codes_markdown",
    "message",
    "note",
    "reject",
    "write_outcomes",
]

#: Every code, in the order of the table of checks: events first, then tables.
CODES_IN_ORDER: tuple[Code, ...] = EVENT_CODES + TABLE_CODES

#: The codes by name.
CODES: dict[str, Code] = {c.code: c for c in CODES_IN_ORDER}


class Outcome(NamedTuple):
    """A reject or a note about one record of a file (``line`` None: the whole file).

    ``line`` is the line, row or event number (``rejects.line``, ``load_notes.record``);
    ``field`` the field a reject is about (``rejects.field``) or where a note points
    (``load_notes.location``: ``line 4``, ``event 3 epcList[0]``); ``raw`` the record as
    written (rejects only); ``level`` ``note`` or ``warning`` (notes only). A tuple, so
    that a million of them cost what a million tuples do.
    """

    kind: Kind
    code: str
    line: int | None
    message: str
    field: str | None = None
    raw: str | None = None
    level: str = "note"


def message(code: str, variant: str | None = None, **values: object) -> str:
    """The message of a code, from its template in :data:`CODES`.

    >>> message("bad-field-count", count=3, width=4)
    '3 fields where the header has 4'
    >>> message("bad-json", "not_an_object")
    'not a JSON object'

    Raises:
        KeyError: an unknown code or variant, or a value the template needs and lacks.
    """
    return CODES[code].message(variant, **values)


def reject(
    code: str,
    line: int | None,
    variant: str | None = None,
    *,
    field: str | None = None,
    raw: str | None = None,
    **values: object,
) -> Outcome:
    """The rejection of a record, its message made from the code's template."""
    entry = CODES[code]
    if entry.kind != "reject":
        raise ValueError(f"{code} is a code of a note, not of a rejection")
    return Outcome("reject", code, line, entry.message(variant, **values), field, raw)


def note(
    code: str,
    line: int | None,
    variant: str | None = None,
    *,
    level: str = "note",
    **values: object,
) -> Outcome:
    """A note about a record (or, with no line, the file), its message from the template."""
    entry = CODES[code]
    if entry.kind != "note":
        raise ValueError(f"{code} is a code of a rejection, not of a note")
    return Outcome("note", code, line, entry.message(variant, **values), level=level)


_FIELDS = pa.schema(
    [
        ("kind", pa.string()),
        ("code", pa.string()),
        ("line", pa.int32()),
        ("message", pa.string()),
        ("field", pa.string()),
        ("raw", pa.string()),
        ("level", pa.string()),
    ]
)

#: The store's columns each table takes, and the outcome field each is read from.
_COLUMNS = {
    "rejects": {
        "line": "line",
        "field": "field",
        "code": "code",
        "message": "message",
        "raw": "raw",
    },
    "load_notes": {
        "record": "line",
        "location": "field",
        "level": "level",
        "code": "code",
        "message": "message",
    },
}


def outcome_table(outcomes: Sequence[Outcome]) -> pa.Table:
    """Outcomes as an Arrow table with a column per field of :class:`Outcome`."""
    columns = list(zip(*outcomes, strict=True)) if outcomes else [()] * len(_FIELDS)
    return pa.Table.from_arrays(
        [pa.array(values, f.type) for values, f in zip(columns, _FIELDS, strict=True)],
        schema=_FIELDS,
    )


def _with_defaults(batch: pa.Table) -> pa.Table:
    """An Arrow batch with every field of :class:`Outcome`, absent optional ones filled."""
    rows = batch.num_rows
    for f in _FIELDS:
        if f.name not in batch.column_names:
            if f.name in ("kind", "code", "message"):
                raise ValueError(f"a batch of outcomes needs the column {f.name!r}")
            fill = "note" if f.name == "level" else None
            batch = batch.append_column(f, pa.array([fill] * rows, f.type))
    return batch


def write_outcomes(
    con: duckdb.DuckDBPyConnection,
    load_id: int,
    source: str,
    outcomes: Sequence[Outcome] | pa.Table,
) -> int:
    """Store a batch of rejects and notes of one file; the number of rejects stored.

    ``outcomes`` are :class:`Outcome` records, or an Arrow table with their fields as
    columns (``kind``, ``code``, ``message`` required; ``line``, ``field``, ``raw`` and
    ``level`` optional). Rejects go to ``rejects`` and notes to ``load_notes``, each in
    the order given, in one statement per table; every column is named, never placed.
    """
    batch = outcomes if isinstance(outcomes, pa.Table) else outcome_table(outcomes)
    if not batch.num_rows:
        return 0
    batch = _with_defaults(batch)
    unknown = set(pc.unique(batch["kind"]).to_pylist()) - {"reject", "note"}
    if unknown:
        raise ValueError(f"an outcome is a reject or a note, not {sorted(unknown)}")
    stored = 0
    for kind, table in (("reject", "rejects"), ("note", "load_notes")):
        part = batch.filter(pc.equal(batch["kind"], kind))
        if not part.num_rows:
            continue
        rows = part.num_rows
        columns = {
            "load_id": pa.array([load_id] * rows, pa.int32()),
            "source_file": pa.array([source] * rows, pa.string()),
            **{column: part[field] for column, field in _COLUMNS[table].items()},
        }
        # Each of the store's columns, in its order, taken by its name. The relation is
        # inserted, never registered as a view: a view of the batch would keep it in
        # memory until the load's transaction ends.
        names = table_columns(table)
        con.from_arrow(pa.table({name: columns[name] for name in names})).insert_into(table)
        stored += rows if kind == "reject" else 0
    return stored


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def codes_markdown() -> str:
    """The table of every code, rejects first, for docs/input-formats.md."""
    lines = [
        "| check code | what happens | applies to | what it means | why |",
        "| --- | --- | --- | --- | --- |",
    ]
    for c in sorted(CODES_IN_ORDER, key=lambda c: c.kind != "reject"):
        outcome = "**rejected**" if c.kind == "reject" else "loaded, with a note"
        lines.append(
            f"| `{c.code}` | {outcome} | {c.applies_to} | {_cell(c.meaning)} | {_cell(c.why)} |"
        )
    return "\n".join(lines) + "\n"
