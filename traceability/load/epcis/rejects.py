"""What rejects an event or a member of one: the codes with their messages, and the rows
the write stage stores in ``rejects`` for them."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from traceability.load.epcis.chunk import Chunk
from traceability.load.epcis.terms import EVENT_TYPES

MESSAGES = {
    "bad-json": "not valid JSON",
    "not-an-object": "not a JSON object",
    "bad-event-type": "type: not one of " + ", ".join(EVENT_TYPES),
    "bad-event-time": "eventTime: missing, or not a date-time with an offset "
    "(2026-03-31T23:30:00-05:00)",
    "bad-time-zone-offset": "eventTimeZoneOffset: missing, or not written +HH:MM / -HH:MM",
    "bad-action": "action: missing, or not one of ADD, OBSERVE, DELETE",
    "bad-epc": "an EPC is not a valid GS1 identifier (check digit, length or form)",
    "bad-error-declaration": "errorDeclaration.declarationTime: not a date-time",
    "bad-quantity": "a quantity is not a non-negative number",
    "unknown-unit": "a uom is not a known UN/ECE Recommendation 20 unit",
    "bad-epc-class": "an epcClass is not a valid GS1 class identifier",
    "bad-shape": "a field does not have the shape EPCIS gives it",
    "invisible-character": "an identifier holds a character that does not show (a control "
    "character, a zero-width space or joiner, or a bidirectional mark)",
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


def store_rejects(chunk: Chunk, detail: dict[int, str]) -> Chunk:
    """Store the chunk's rejected events in ``rejects`` in one statement, and count them.

    Set-based, so that a file of rejected events costs no Python object per event
    (``detail``: the messages of the problems found in Python, by record).
    """
    chunk.put(
        "tc_detail",
        pa.table({"rec": pa.array(list(detail), pa.int64()), "m": pa.array(list(detail.values()))}),
    )
    chunk.put("tc_messages", _MESSAGE_TABLE)
    row = chunk.sql(
        """
        INSERT INTO rejects
        SELECT ?, ?, e.rec, NULL, e.problem,
               CASE WHEN e.problem = 'bad-epc' AND coalesce(e.problem_detail, '') <> ''
                    THEN e.problem_detail
                         || ' is not a valid GS1 identifier (check digit, length or form)'
                    ELSE coalesce(nullif(d.m, ''), t.m, e.problem) END,
               nullif(left(coalesce(e.line, ''), 2000), '')
        FROM tc_ev e LEFT JOIN tc_detail d USING (rec) LEFT JOIN tc_messages t
            ON t.code = e.problem
        WHERE e.problem IS NOT NULL
        ORDER BY e.rec
        """,
        [chunk.load.load_id, chunk.load.source],
    ).fetchone()
    chunk.drop("tc_detail", "tc_messages")
    chunk.rejected = int(row[0]) if row else 0
    return chunk


_MESSAGE_TABLE = pa.table({"code": list(MESSAGES), "m": list(MESSAGES.values())})


def member_rejects(chunk: Chunk) -> list[tuple[Any, ...]]:
    """Reject rows for the list members rejected on their own (invalid EPCs, quantity
    elements with an invalid class) of the events that load, each with its event's text
    so that a finding about the event's other subjects can name it."""
    members = chunk.sql(
        "SELECT m.rec, m.list || '[' || m.pos || ']' AS field, m.raw FROM tc_bad_members m "
        "JOIN tc_ev e USING (rec) WHERE e.problem IS NULL ORDER BY m.rec, m.list, m.pos",
    ).fetchall()
    rows = [
        (
            rec,
            field,
            "bad-epc",
            f"{field}: {shown(raw)} is not a valid GS1 identifier (check "
            "digit, length or form); the event loads without it",
        )
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
    load_id, source = chunk.load.load_id, chunk.load.source
    return [
        (load_id, source, rec, field, code, message, (texts.get(rec) or "")[:2000] or None)
        for rec, field, code, message in rows
    ]
