"""The checks of :mod:`traceability.load.epcis.check` on JSON Lines, where events are
loaded set-based: a SQL condition that selects the events a check could reject or note,
and the checks run in Python on those alone.
"""

from __future__ import annotations

from collections.abc import Iterable

from traceability.load.epcis.check import check_event
from traceability.load.epcis.items import Document, Item, Note
from traceability.load.epcis.read_documents import load_json
from traceability.load.epcis.terms import BARE_ILMD_NAMES, CBV_TERMS, canonical_spellings
from traceability.sql import literal


def _terms_sql(values: Iterable[str]) -> str:
    return ", ".join(literal(v) for v in sorted(values))


def jsonl_check_condition(keys: str, line: str) -> str:
    """SQL: whether a JSON Lines event is one that a check of :func:`check_event` could
    reject or note, over the loader's typed parse of it ``o`` (the raw field values), its
    parsed columns (``bizTransactionList``, ``sourceList``, ``destinationList``,
    ``event_type``, ``action``, ``has_quantities``), its top-level field names ``keys`` and
    its ``line``.

    JSON Lines are loaded set-based, without a Python object per event; this cheap filter
    (every vocabulary value against its standard spellings, the field names, times without
    seconds, a few substrings of the line) selects a superset of the events the checks
    reject or note, and only those are read in Python and given to :func:`check_event`. So
    a JSON Lines event gets the same rejects and notes as the same event in a document.
    Two document checks do not apply: ``no-context`` (a line is an event, not a JSON-LD
    document) and ``unknown-field`` (without a document ``@context`` there is nothing to
    define a term; extra fields are kept as they are, like extra columns).
    """

    def odd(column: str, vocabulary: str) -> str:
        # The bare words first: most values are one, and a short list is looked through
        # in a third of the time of every spelling.
        return (
            f"CASE WHEN {column} IS NULL OR {column} IN ({_terms_sql(CBV_TERMS[vocabulary])}) "
            f"THEN false ELSE {column} NOT IN ({_terms_sql(canonical_spellings(vocabulary))}) "
            "END"
        )

    def odd_types(column: str, vocabulary: str) -> str:
        return f"len(list_filter({column}, x -> {odd('x.type', vocabulary)})) > 0"

    def no_seconds(column: str) -> str:
        return f"({column} IS NOT NULL AND substr({column}, 17, 1) <> ':')"

    def no_offset(column: str) -> str:
        return (
            f"({column} IS NOT NULL AND right({column}, 1) <> 'Z' "
            f"AND substr({column}, -6, 1) NOT IN ('+', '-'))"
        )

    # The field names come from the parse; the substrings are looked for with contains(),
    # which, unlike a regular expression, costs little over a long line.
    bare_ilmd = " OR ".join(f"contains({line}, '\"{n}\"')" for n in BARE_ILMD_NAMES)
    return f"""coalesce(
            {odd("o.bizStep", "bizStep")} OR {odd("o.disposition", "disposition")}
            OR {odd_types("bizTransactionList", "bizTransactionType")}
            OR {odd_types("sourceList", "sourceDestinationType")}
            OR {odd_types("destinationList", "sourceDestinationType")}
            OR {no_seconds("o.eventTime")} OR {no_seconds("o.recordTime")}
            OR {no_offset("o.recordTime")}
            OR list_contains({keys}, 'errorDeclaration')
            OR list_contains({keys}, 'persistentDisposition')
            OR list_contains({keys}, 'certificationInfo')
            OR (event_type = 'ObjectEvent' AND NOT list_contains({keys}, 'epcList'))
            OR has_quantities
            OR (list_contains({keys}, 'ilmd') AND (action IN ('OBSERVE', 'DELETE') OR {bare_ilmd})),
            false)"""


def check_lines(rows: Iterable[tuple[int, str]]) -> tuple[list[tuple[int, str, str]], list[Note]]:
    """:func:`check_event` on JSON Lines events: (line, code, message) of each event
    rejected, and the warnings as notes."""
    document = Document("events", "", None, iter(()))
    problems: list[tuple[int, str, str]] = []
    notes: list[Note] = []
    for rec, line in rows:
        try:
            event = load_json(line)
        except ValueError:
            continue  # not JSON: the event pipeline rejects it
        item = Item(rec, event)
        check_event(item, document, from_json=True, field_names=False)
        for w in item.warnings:
            where = f"line {rec}" + (f" {w.field}" if w.field else "")
            notes.append(Note("warning", w.code, w.message, rec, where))
        if item.problems:
            problems.append((rec, item.problems[0].code, item.problems[0].message))
    return problems, notes
