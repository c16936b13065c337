"""Events beyond their columns: kept payloads, and the sorting of repeated events.

- **Payloads.** An event whose fields go beyond what the event columns and child tables
  hold (sensor data, certification info, persistent disposition, ILMD beyond lot and
  expiry, read point extensions, user extensions, an ``@context`` other than the standard
  one) is kept whole, as JSON text, in ``event_payloads``; nothing received is dropped.
  The loader decides it with :func:`extra_fields_sql` as it parses each event.
- **Versions.** After a chunk of events is stored (found by load and record number, so
  this does not depend on how the chunk was staged), an event whose key (``eventID`` or
  event hash) was stored before with other content is sorted into one of three, with a
  note in ``load_notes``: ``correction`` (one of the two carries an ``errorDeclaration``:
  whichever arrived first, reconciliation voids the event), ``same-event-other-form`` (no
  field differs: the same event in another serialisation, such as its XML and JSON
  renditions), or ``conflict`` (a warning naming the fields that differ; the first
  version stored is the one reconciliation uses). Only conflicts are counted as such.
  Exact duplicates never get here: the event pipeline stores them once and counts them
  as duplicates.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import duckdb

from traceability.load.epcis.check_record import write_notes
from traceability.load.epcis.items import Note

#: Top-level fields the event columns and child tables hold completely.
COVERED = (
    *("type", "eventID", "eventTime", "eventTimeZoneOffset", "recordTime", "action"),
    *("bizStep", "disposition", "parentID", "epcList", "childEPCs", "inputEPCList"),
    *("outputEPCList", "quantityList", "childQuantityList", "inputQuantityList"),
    *("outputQuantityList", "readPoint", "bizLocation", "bizTransactionList", "sourceList"),
    *("destinationList", "errorDeclaration", "ilmd"),
)
_ILMD_COVERED = ("cbvmda:lotNumber", "cbvmda:itemExpirationDate", "lotNumber", "itemExpirationDate")

#: The EPCIS 2.0 standard JSON-LD context. An ``@context`` naming it alone adds nothing to
#: what the event columns hold, so it does not make an event's payload worth keeping.
STANDARD_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"


def extra_fields_sql(keys: str, parsed: str) -> str:
    """SQL: whether an event holds fields the columns do not (its payload is kept).

    ``keys`` is the list of its top-level field names; ``parsed`` is the event as parsed
    by the loader, with ``@context``, ``ilmd``, ``readPoint`` and ``bizLocation`` as JSON
    (which the parse gives minified, so the context compares as text).
    """
    covered = ", ".join(f"'{name}'" for name in (*COVERED, "@context"))
    ilmd = ", ".join(f"'{name}'" for name in _ILMD_COVERED)
    standard = f"""'"{STANDARD_CONTEXT}"', '["{STANDARD_CONTEXT}"]'"""
    context = f'{parsed}."@context"'
    # list_filter with IN costs a half of list_has_all over a constant list.
    return f"""coalesce(
        len(list_filter({keys}, k -> k NOT IN ({covered}))) > 0
        OR ({context} IS NOT NULL AND {context}::VARCHAR NOT IN ({standard}))
        OR len(list_filter(json_keys({parsed}.ilmd), k -> k NOT IN ({ilmd}))) > 0
        OR len(list_filter(json_keys({parsed}.readPoint), k -> k <> 'id')) > 0
        OR len(list_filter(json_keys({parsed}.bizLocation), k -> k <> 'id')) > 0, false)"""


_PAIRS = """
WITH chunk AS (
    SELECT n.event_row, n.source_line, n.event_key, n.content_hash
    FROM events n
    WHERE n.load_id = $load AND n.source_line BETWEEN $first AND $last
      AND n.event_row BETWEEN $load * 10000000000 + $first AND $load * 10000000000 + $last
)
SELECT n.event_row, n.source_line, min(x.event_row) AS old_row
FROM chunk n JOIN events x
  ON x.event_key = n.event_key AND x.content_hash <> n.content_hash
 AND x.event_row < n.event_row
WHERE x.event_key IN (SELECT c.event_key FROM chunk c)
GROUP BY ALL
"""

_SCALARS = {
    "type": "event_type",
    "action": "action",
    "bizStep": "biz_step",
    "disposition": "disposition",
    "eventTime": "event_time",
    "eventTimeZoneOffset": "tz_offset",
    "recordTime": "record_time",
    "readPoint": "read_point",
    "bizLocation": "biz_location",
    "parentID": "parent_key",
    "ilmd.lotNumber": "lot",
    "ilmd.itemExpirationDate": "expiry",
}
#: Child rows making up a field: (event_row, field name, member...).
_CHILDREN = (
    "SELECT event_row, list, epc_key FROM event_epcs",
    "SELECT event_row, list, epc_class_key, quantity::VARCHAR, uom FROM event_quantities",
    "SELECT event_row, 'bizTransactionList', type, ref FROM event_biz_transactions",
    "SELECT event_row, role || 'List', type, value_key FROM event_parties",
)


def after_chunk(
    con: duckdb.DuckDBPyConnection,
    load_id: int,
    source: str,
    first: int,
    count: int,
) -> int:
    """Sort versions for one stored chunk of ``count`` records numbered from ``first``;
    return its conflicts. The loader calls it only for a chunk with a key that may have
    been stored twice."""
    if not count:
        return 0
    bounds = {"load": load_id, "first": first, "last": first + count - 1}
    pairs = con.execute(_PAIRS, bounds).fetchall()
    if not pairs:
        return 0
    return sort_versions(con, load_id, source, pairs)


#: The codes of the notes :func:`sort_versions` writes.
VERSION_CODES = ("correction", "same-event-other-form", "conflict")


def sort_versions(
    con: duckdb.DuckDBPyConnection,
    load_id: int,
    source: str,
    pairs: list[tuple[Any, ...]],
) -> int:
    """Note each stored event of ``pairs`` (``(event_row, record, older event_row)``)
    against its older version, as a note of ``load_id`` and ``source``; the conflicts."""
    rows = sorted({r for new, _, old in pairs for r in (new, old)})
    views = _projections(con, rows)
    origin = {
        r: (f, line, declared)
        for r, f, line, declared in con.execute(
            "SELECT event_row, source_file, source_line, error_declared_at IS NOT NULL "
            "FROM events WHERE list_contains($rows, event_row)",
            {"rows": rows},
        ).fetchall()
    }
    notes: list[Note] = []
    conflicts = 0
    for new, record, old in pairs:
        old_file, old_line, old_declared = origin[old]
        new_declared = origin[new][2]
        first = f"{old_file}:{old_line}"
        if new_declared or old_declared:
            which = "declares in error" if new_declared else "was declared in error by"
            notes.append(
                Note(
                    "note",
                    "correction",
                    f"this event {which} the event stored from {first}; "
                    "reconciliation leaves it out",
                    record,
                    f"event {record}",
                )
            )
            continue
        differing = [
            k
            for k in sorted(views[new].keys() | views[old].keys())
            if views[new].get(k) != views[old].get(k)
        ]
        if not differing:
            notes.append(
                Note(
                    "note",
                    "same-event-other-form",
                    f"the same event as the one stored from {first}, written differently",
                    record,
                    f"event {record}",
                )
            )
            continue
        conflicts += 1
        notes.append(
            Note(
                "warning",
                "conflict",
                f"same event ID as the event stored from {first}, "
                f"other content in: {', '.join(differing)}; the first stored is used",
                record,
                f"event {record}",
            )
        )
    write_notes(con, load_id, source, notes)
    return conflicts


def _projections(con: duckdb.DuckDBPyConnection, rows: list[int]) -> dict[int, dict[str, Any]]:
    """Each event's content, field by field, in comparable form."""
    params = {"rows": rows}
    columns = ", ".join(f"{c}::VARCHAR" for c in _SCALARS.values())
    out: dict[int, dict[str, Any]] = {}
    for row, *values in con.execute(
        f"SELECT event_row, {columns} FROM events WHERE list_contains($rows, event_row)", params
    ).fetchall():
        out[row] = {k: v for k, v in zip(_SCALARS, values, strict=True) if v is not None}
    for sql in _CHILDREN:
        members: dict[tuple[int, str], list[tuple[Any, ...]]] = {}
        for row, name, *member in con.execute(
            f"SELECT * FROM ({sql}) WHERE list_contains($rows, event_row)", params
        ).fetchall():
            members.setdefault((row, name), []).append(tuple(member))
        for (row, name), values in members.items():
            out[row][name] = sorted(values, key=repr)
    for row, payload in con.execute(
        "SELECT event_row, payload FROM event_payloads WHERE list_contains($rows, event_row)",
        params,
    ).fetchall():
        try:
            event = json.loads(payload, parse_float=Decimal)
        except ValueError:
            continue
        if isinstance(event, Mapping):
            for name, value in event.items():
                if name not in COVERED and not name.startswith("@"):
                    out[row][name] = _canonical(value)
            ilmd = event.get("ilmd")
            if isinstance(ilmd, Mapping):
                for name, value in ilmd.items():
                    if name not in _ILMD_COVERED:
                        out[row][f"ilmd.{name}"] = _canonical(value)
    return out


def _canonical(value: Any) -> str:
    """JSON text with sorted keys and numbers without trailing zeros, for comparison."""
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        number = Decimal(value)
        text = format(number, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{_canonical(v)}" for k, v in sorted(value.items())) + "}"
    if isinstance(value, list):
        return "[" + ",".join(sorted(_canonical(v) for v in value)) + "]"
    return json.dumps(value)
