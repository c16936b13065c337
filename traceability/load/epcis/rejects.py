"""What rejects an event or a member of one: the outcomes the write stage stores in
``rejects`` for them, their messages from the table of codes."""

from __future__ import annotations

import json
from string import Formatter
from typing import Any

import pyarrow as pa

from traceability.load.epcis.chunk import Chunk
from traceability.load.epcis.terms import EVENT_TYPES
from traceability.load.outcomes import CODES, Outcome, message, write_outcomes
from traceability.sql import literal

#: The message of each code an event can be rejected with in SQL, where the check that
#: found the problem gave no message of its own: the code's template (or the variant
#: that names no value). A code not listed is stored with its code as its message.
EVENT_MESSAGES = {
    "bad-json": message("bad-json"),
    "not-an-object": message("not-an-object"),
    "bad-event-type": message("bad-event-type", types=", ".join(EVENT_TYPES)),
    "bad-event-time": message("bad-event-time"),
    "bad-time-zone-offset": message("bad-time-zone-offset"),
    "bad-action": message("bad-action"),
    "bad-epc": message("bad-epc"),
    "bad-error-declaration": message("bad-error-declaration"),
    "bad-quantity": message("bad-quantity"),
    "unknown-unit": message("unknown-unit", "rejected"),
    "bad-epc-class": message("bad-epc-class"),
    "bad-shape": message("bad-shape"),
    "invisible-character": message("invisible-character", "event"),
}


class Rejected(ValueError):
    """The event is rejected: ``str()`` is the reject code, ``message`` says why."""

    def __init__(self, code: str, message: str | None = None) -> None:
        super().__init__(code)
        self.message = message


def shown(value: Any) -> str:
    """A value as a message quotes it: its text (JSON if not a string), cut at 200."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return repr(text[:200])


def message_sql(code: str, variant: str, **columns: str) -> str:
    """SQL for the message of a code's variant, each of its fields the SQL expression
    given for it in ``columns`` (a field with a format spec is not supported).

    >>> message_sql("bad-epc", "named", value="e.detail")
    "e.detail || ' is not a valid GS1 identifier (check digit, length or form)'"
    """
    parts: list[str] = []
    for text, name, spec, conversion in Formatter().parse(CODES[code].variants[variant]):
        if text:
            parts.append(literal(text))
        if name is not None:
            if spec or conversion:
                raise ValueError(f"{code}/{variant}: {{{name}}} is formatted, not text")
            parts.append(columns[name])
    return " || ".join(parts)


def store_rejects(chunk: Chunk, detail: dict[int, str]) -> Chunk:
    """Store the chunk's rejected events in ``rejects`` through the writer, and count them.

    Set-based, so that a file of rejected events costs no Python object per event
    (``detail``: the messages of the problems found in Python, by record): the rejects
    are one Arrow table, at most one row per event of the chunk.
    """
    chunk.put(
        "tc_detail",
        pa.table({"rec": pa.array(list(detail), pa.int64()), "m": pa.array(list(detail.values()))}),
    )
    chunk.put("tc_messages", _MESSAGE_TABLE)
    named = message_sql("bad-epc", "named", value="e.problem_detail")
    rejects = chunk.keep(
        "tc_rejects",
        f"""
        SELECT 'reject' AS kind, e.problem AS code, CAST(e.rec AS INTEGER) AS line,
               CASE WHEN e.problem = 'bad-epc' AND coalesce(e.problem_detail, '') <> ''
                    THEN {named}
                    ELSE coalesce(nullif(d.m, ''), t.m, e.problem) END AS message,
               NULL::VARCHAR AS field,
               nullif(left(coalesce(e.line, ''), 2000), '') AS raw
        FROM tc_ev e LEFT JOIN tc_detail d USING (rec) LEFT JOIN tc_messages t
            ON t.code = e.problem
        WHERE e.problem IS NOT NULL
        ORDER BY e.rec
        """,
    )
    chunk.drop("tc_detail", "tc_messages", "tc_rejects")
    chunk.rejected = write_outcomes(chunk.con, chunk.load.load_id, chunk.load.source, rejects)
    return chunk


_MESSAGE_TABLE = pa.table({"code": list(EVENT_MESSAGES), "m": list(EVENT_MESSAGES.values())})


def member_rejects(chunk: Chunk) -> list[Outcome]:
    """The rejects of the list members rejected on their own (invalid EPCs, quantity
    elements with an invalid class) of the events that load, each with its event's text
    so that a finding about the event's other subjects can name it."""
    members = chunk.sql(
        "SELECT m.rec, m.list || '[' || m.pos || ']' AS field, m.raw FROM tc_bad_members m "
        "JOIN tc_ev e USING (rec) WHERE e.problem IS NULL ORDER BY m.rec, m.list, m.pos",
    ).fetchall()
    rows = [
        (rec, field, "bad-epc", message("bad-epc", "member", field=field, value=shown(raw)))
        for rec, field, raw in members
    ]
    elements = chunk.found.member_rejects
    if elements:
        rejected = {
            r[0] for r in chunk.sql("SELECT rec FROM tc_ev WHERE problem IS NOT NULL").fetchall()
        }
        rows += [element for element in elements if element[0] not in rejected]
    if not rows:
        return []
    wanted = sorted({r[0] for r in rows})
    chunk.put("tc_wanted", pa.table({"rec": pa.array(wanted, pa.int64())}))
    texts = dict(
        chunk.sql("SELECT rec, line FROM tc_lines SEMI JOIN tc_wanted USING (rec)").fetchall()
    )
    chunk.drop("tc_wanted")
    return [
        Outcome("reject", code, rec, text, field, (texts.get(rec) or "")[:2000] or None)
        for rec, field, code, text in rows
    ]
