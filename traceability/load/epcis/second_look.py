"""The check and normalise stages in Python, for the few events that need them.

Events without an ``eventID`` are hashed; events with quantity lists have their JSON
numbers read again from the text as exact decimals (DuckDB reads JSON numbers as binary
floats; a quantity the store cannot hold exactly rejects its event); events that may give
a key twice are looked at for that; an event whose shape is in doubt is checked against
the schema; and an event whose identifiers hold an invisible character has the field
named. JSON Lines events that the document checks could reject get those checks.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pyarrow as pa
from jsonschema.exceptions import best_match

from traceability.kinds import validator
from traceability.load.epcis.check_lines import check_lines
from traceability.load.epcis.check_record import write_notes
from traceability.load.epcis.chunk import Chunk, Found, rows_table
from traceability.load.epcis.eventhash import event_hash
from traceability.load.epcis.normalise import quantity_rows
from traceability.load.epcis.read_documents import load_json, repeated_key_issues
from traceability.load.epcis.rejects import Rejected, shown
from traceability.load.epcis.terms import EPC_LISTS
from traceability.load.identifiers import invisible_chars
from traceability.load.outcomes import message


def _identifiers(event: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(field, value) of each identifier of an event (see ``_IDENTIFIERS``)."""
    yield "eventID", event.get("eventID")
    yield "parentID", event.get("parentID")
    for name in ("readPoint", "bizLocation"):
        value = event.get(name)
        if isinstance(value, Mapping):
            yield f"{name}.id", value.get("id")
    ilmd = event.get("ilmd")
    if isinstance(ilmd, Mapping):
        for name in ("cbvmda:lotNumber", "lotNumber", "gs1ushc:lotNumber"):
            yield f"ilmd.{name}", ilmd.get(name)
    for name, member in (
        ("bizTransactionList", "bizTransaction"),
        ("sourceList", "source"),
        ("destinationList", "destination"),
    ):
        values = event.get(name)
        for i, value in enumerate(values if isinstance(values, list) else []):
            if isinstance(value, Mapping):
                yield f"{name}[{i}].{member}", value.get(member)
    declaration = event.get("errorDeclaration")
    if isinstance(declaration, Mapping):
        ids = declaration.get("correctiveEventIDs")
        for i, value in enumerate(ids if isinstance(ids, list) else []):
            yield f"errorDeclaration.correctiveEventIDs[{i}]", value
    for name in EPC_LISTS:
        values = event.get(name)
        for i, value in enumerate(values if isinstance(values, list) else []):
            yield f"{name}[{i}]", value


def _invisible_message(event: Any) -> str:
    """Why an event is rejected for an invisible character: the field and the character."""
    if isinstance(event, Mapping):
        for where, value in _identifiers(event):
            hidden = invisible_chars(value) if isinstance(value, str) else []
            if hidden:
                return message(
                    "invisible-character",
                    "identifier",
                    where=where,
                    value=shown(value),
                    chars=", ".join(hidden),
                )
    return message("invisible-character", "event")


def look(chunk: Chunk) -> Chunk:
    """Hash events without an eventID, read exact quantities, find the keys given twice
    and name the identifier that holds an invisible character; then, for JSON Lines, make
    the document checks; then mark the events rejected on ``tc_ev``."""
    rows = chunk.sql(
        "SELECT rec, line, problem, event_id IS NULL, has_quantities FROM tc_ev "
        "WHERE problem IN ('check-shape', 'invisible-character') "
        "OR (problem IS NULL AND (event_id IS NULL OR has_quantities OR keys_twice)) "
        "ORDER BY rec",
    ).fetchall()
    hashes: list[tuple[int, str]] = []
    for rec, line, problem, needs_hash, has_quantities in rows:
        digest = _look_at(chunk, rec, line, problem, needs_hash, has_quantities)
        if digest is not None:
            hashes.append((rec, digest))
    if hashes:
        frame = rows_table(hashes, {"rec": pa.int64(), "h": pa.string()})
        chunk.amend(frame, "coalesce(f.h, e.event_hash) AS event_hash")
    if chunk.load.lines:
        _recheck_lines(chunk)
    _mark_problems(chunk)
    return chunk


def _look_at(
    chunk: Chunk, rec: int, line: str, problem: str | None, needs_hash: bool, has_quantities: bool
) -> str | None:
    """Look at one event, adding what is found to ``chunk.found``; its hash, if it needs one."""
    found = chunk.found
    doc: Any = None
    try:
        doc = load_json(line)
    except ValueError:
        pass
    except RecursionError:
        if problem is None and not needs_hash and not has_quantities:
            return None  # here only for keys given twice: DuckDB reads it at any depth
        raise  # the load is refused, saying that the JSON is nested too deeply
    if problem == "invisible-character":
        found.problems.append((rec, problem, _invisible_message(doc)))
        return None
    if problem is None and isinstance(doc, Mapping):  # every event read here
        twice, same = repeated_key_issues(doc)
        if twice:
            found.problems.append((rec, twice[0].code, twice[0].message))
            return None
        found.notes += [(rec, w.field or "", w.code, w.message) for w in same]
    if problem == "check-shape" and isinstance(doc, Mapping):
        error = best_match(validator("epcis-event").iter_errors(doc))
        if error is not None:
            where = ".".join(str(p) for p in error.absolute_path) or "event"
            found.problems.append((rec, "bad-shape", f"{where}: {error.message}"))
            return None
        found.problems.append((rec, "", None))  # the text named the field; the shape is fine
        problem = None
    if problem is not None or not isinstance(doc, Mapping):
        return None
    if has_quantities and not _quantities(found, rec, doc):
        return None
    if not needs_hash:
        return None
    try:
        return event_hash(doc, doc.get("@context", chunk.load.context))
    except Exception as exc:  # noqa: BLE001 - a malformed event must not stop the load
        found.problems.append((rec, "bad-event", f"cannot compute the event hash: {exc}"))
        return None


def _quantities(found: Found, rec: int, doc: Mapping[str, Any]) -> bool:
    """Add the quantity rows, notes and rejected elements of one event; False if the
    event is rejected."""
    try:
        elements = quantity_rows(doc)
    except Rejected as exc:
        found.problems.append((rec, str(exc), exc.message))
        return False
    for name, raw, key, gtin, lot, quantity, uom in elements.rows:
        text = None if quantity is None else format(quantity, "f")
        found.quantities.append((rec, name, raw, key, gtin, lot, text, uom))
    found.notes += [(rec, *n) for n in elements.notes]
    found.member_rejects += [(rec, *r) for r in elements.rejects]
    return True


def _recheck_lines(chunk: Chunk) -> None:
    """JSON Lines: the checks a document's events get (see ``jsonl_check_condition``)."""
    problems = chunk.found.problems
    found, notes = check_lines(
        chunk.sql("SELECT rec, line FROM tc_ev WHERE recheck ORDER BY rec").fetchall()
    )
    taken = {rec for rec, code, _ in problems if code}
    problems += [p for p in found if p[0] not in taken]
    write_notes(chunk.con, chunk.load.load_id, chunk.load.source, notes)


def _mark_problems(chunk: Chunk) -> None:
    """Set (or clear) the problem of each event the Python look decided about."""
    if not chunk.found.problems:
        return
    fixes = {rec: p for rec, p, _ in chunk.found.problems}  # the last word on each event counts
    chunk.amend(
        pa.table(
            {
                "rec": pa.array(list(fixes), pa.int64()),
                "p": pa.array(list(fixes.values()), pa.string()),
            }
        ),
        "CASE WHEN f.rec IS NULL THEN e.problem ELSE NULLIF(f.p, '') END AS problem",
    )
