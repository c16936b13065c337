"""Every check the loader makes, by its code: whether it rejects a record or notes it, what
it means, and why it has that class.

One principle decides the class. A record is **rejected** only when its business meaning
cannot be established: no readable time, an unknown event type or business step, nothing
it is about, a quantity that is not a number, an identifier that is not a valid GS1 key, a
required value missing. Every other deviation from the standard or from the input contract
**loads**, with a note (code, file, line, field, what was assumed) in ``load_notes``. A
rejected record is kept in ``rejects`` and every finding that may rest on it says so.

The codes are what the ``code`` columns of ``rejects`` and ``load_notes`` hold;
``docs/input-formats.md`` lists them in a table generated from :data:`CHECKS`, and a test
fails when the loader can write a code that is not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Outcome = Literal["reject", "note"]


@dataclass(frozen=True)
class Check:
    """One check: its code, what happens to the record, what it means and why."""

    code: str
    outcome: Outcome
    applies_to: str  # "events", "tables", "files" or "all"
    meaning: str
    why: str


def _reject(code: str, applies_to: str, meaning: str, why: str) -> Check:
    return Check(code, "reject", applies_to, meaning, why)


def _note(code: str, applies_to: str, meaning: str, why: str) -> Check:
    return Check(code, "note", applies_to, meaning, why)


_UNKNOWN_VALUE = "What the record says cannot be told without it."

CHECKS_IN_ORDER: tuple[Check, ...] = (
    # -- events: rejects ------------------------------------------------------------------
    _reject(
        "bad-json",
        "events",
        "The line or event is not valid JSON.",
        "Nothing of it can be read.",
    ),
    _reject(
        "not-an-object",
        "events",
        "The line is JSON, but not an object.",
        "An event is an object of fields; anything else holds no event.",
    ),
    _reject(
        "bad-shape",
        "events",
        "A field the rules read does not have the shape EPCIS gives it (a text where a "
        "list belongs).",
        "Which objects, parties or transactions the event names cannot be told.",
    ),
    _reject(
        "bad-event-type",
        "events",
        "The type is not one of the five EPCIS event types.",
        "What kind of event it is (and so how to read the rest) is unknown.",
    ),
    _reject(
        "bad-event-time",
        "events",
        "eventTime is missing or not a date-time with an offset.",
        "When it happened, and so its period and its place in a serial's history, is unknown "
        "(a time without an offset is any of 26 hours).",
    ),
    _reject(
        "bad-time-zone-offset",
        "events",
        "eventTimeZoneOffset is missing or not written +HH:MM.",
        "The event's local date, and so its period, is unknown.",
    ),
    _reject(
        "bad-action",
        "events",
        "action is missing, or not ADD, OBSERVE or DELETE, where the event type needs one.",
        "Whether objects were added, seen or removed (packed or unpacked) is unknown.",
    ),
    _reject(
        "bad-error-declaration",
        "events",
        "errorDeclaration.declarationTime is not a date-time.",
        "When the correction was made, and so which version stands, is unknown.",
    ),
    _reject(
        "unknown-vocabulary",
        "events",
        "A business step, disposition, transaction, source or destination type is a word "
        "that no vocabulary defines (neither a CBV term in any spelling nor a URI).",
        "What happened (a shipment? a receipt?) or who a party is cannot be told; a guess "
        "would make or hide a finding.",
    ),
    _reject(
        "no-objects",
        "events",
        "An ObjectEvent names no objects (no epcList, no quantityList, no sensor data).",
        "An event about nothing states no fact about any serial or lot.",
    ),
    _reject(
        "bad-epc",
        "events",
        "An identifier is not a valid GS1 key (check digit, length or form). Inside a list "
        "(field epcList[3]) only that identifier is rejected and the event loads with the "
        "rest; the event itself is rejected when its parentID is invalid or no valid "
        "object is left.",
        "A serial or SSCC with a wrong check digit is not the one on the pack: counting it "
        "would invent a serial, guessing would hide a real one.",
    ),
    _reject(
        "bad-epc-class",
        "events",
        "A quantity element's epcClass is not a valid GS1 class identifier: that element "
        "is rejected (field quantityList[0].epcClass); the event too when nothing valid is "
        "left.",
        "Which product and lot the quantity is of cannot be told.",
    ),
    _reject(
        "bad-quantity",
        "events",
        "A quantity is not a non-negative number.",
        "How much the event is about cannot be told.",
    ),
    _reject(
        "bad-certification-info",
        "events",
        "certificationInfo is not a URI or a list of URIs.",
        "The event refers to a certificate that it does not name.",
    ),
    _reject(
        "no-context",
        "events",
        "A JSON-LD document declares no @context.",
        "Without a context the field names of a JSON-LD document have no defined meaning "
        "(a line of JSON Lines, an event on its own, needs none).",
    ),
    _reject(
        "xml-entity",
        "events",
        "An XML event holds an entity reference.",
        "Entities are never expanded, so the text the sender meant is not there.",
    ),
    _reject(
        "bad-event",
        "events",
        "An event without an eventID whose EPCIS event hash cannot be computed.",
        "Without an id or a hash, a repeat of it cannot be told from a second event.",
    ),
    _reject(
        "invisible-character",
        "all",
        "An identifier (eventID, EPC, epcClass, parentID, read point, location, lot, "
        "business transaction, party, GTIN, GLN; in declarations every text column but "
        "a product's name) holds a character that does not show: a "
        "control character, a zero-width space or joiner, a byte-order mark, or a "
        "bidirectional override or isolate (U+200B-U+200D, U+2060, U+FEFF, U+202A-U+202E, "
        "U+2066-U+2069, C0 and C1 controls). The field is named.",
        "L2401 followed by a zero-width space looks like L2401 and is not it: it would "
        "match or miss another record without anyone seeing why.",
    ),
    # -- events: notes --------------------------------------------------------------------
    _note(
        "ilmd-bare-name",
        "events",
        "ILMD lotNumber or itemExpirationDate written without the cbvmda: prefix; read as "
        "the CBV master-data field.",
        "The input contract names these fields bare; the meaning is the same.",
    ),
    _note(
        "unknown-field",
        "events",
        "A field that is not an EPCIS field and has no namespace of its own; kept in the "
        "stored event as received.",
        "Nothing the event says depends on it; it is kept, not lost.",
    ),
    _note(
        "xml-unknown-field",
        "events",
        "An element without a namespace inside a 1.2 extension; kept as given.",
        "The 1.2 schema admits such elements there; nothing the event says depends on it.",
    ),
    _note(
        "xml-element-order",
        "events",
        "XML elements of an event out of the sequence of the EPCIS XSD; read all the same.",
        "An element means the same wherever it stands in its event.",
    ),
    _note(
        "epcis-version",
        "events",
        "An EPCIS 2.0 field in a 1.2 document, or a field given outside the extension "
        "wrapper a 1.2 document puts it in; read as 2.0 writes it.",
        "The field is unambiguous in either version.",
    ),
    _note(
        "vocabulary-spelling",
        "events",
        "A CBV term in another case, with spaces around it, or in a spelling its binding "
        "does not use (a bare word in XML); read as the term.",
        "The term is recognised whatever its spelling; every form is stored the same.",
    ),
    _note(
        "cbv-urn-in-json",
        "events",
        "A CBV 1.x URN where EPCIS 2.0 JSON writes the bare word; read as the term.",
        "The URN names the same term.",
    ),
    _note(
        "time-without-seconds",
        "events",
        "A time written without seconds (2026-01-10T14:00+05:30); read as second 0.",
        "The minute is given; the seconds change no period and no order of events that a "
        "whole minute does not.",
    ),
    _note(
        "time-without-offset",
        "events",
        "A recordTime or errorDeclaration.declarationTime without an offset from UTC; read "
        "as UTC. (An eventTime without one is rejected: bad-event-time.)",
        "These times only order the records and corrections of one event, which an error "
        "of hours does not change; the event's own time decides its period.",
    ),
    _note(
        "unit-synonym",
        "events",
        "A unit written as a common spelling rather than its UN/ECE Rec 20 code (KG, G, "
        "MG, L, LB); stored as the code (KGM, GRM, MGM, LTR, LBR).",
        "The spelling names one unit without doubt.",
    ),
    _note(
        "unknown-unit",
        "events",
        "A unit tracecheck does not know; the quantity is kept in it as given.",
        "The quantity is a fact; no rule converts it, and a rule that would have compared "
        "it says so in its coverage instead of comparing a wrong number.",
    ),
    _note(
        "ilmd-without-add",
        "events",
        "ILMD on an event whose action is not ADD.",
        "Lot master data belongs to an object's beginning of life; the lot is read all the same.",
    ),
    _note(
        "xml-stray-text",
        "events",
        "Text among the elements of an XML wrapper; ignored.",
        "It belongs to no field.",
    ),
    _note(
        "dtd-default-ignored",
        "events",
        "The DOCTYPE of an XML document declares a default attribute value (an ATTLIST); "
        "it is not applied, the document is read as written.",
        "A value nobody wrote in the document is not part of what was sent; an EPCIS "
        "document is described by its XSD, never by a DTD.",
    ),
    _note(
        "xml-repeated-field",
        "events",
        "A single-valued field given more than once; the last is read.",
        "The event's meaning is clear from the value read; the repeat is noted.",
    ),
    _note(
        "xsd",
        "events",
        "A deviation from the official EPCIS XSD (only when its folder is given).",
        "A schema deviation is a warning for the sender; what is rejected never depends on "
        "whether the schemas are given.",
    ),
    _note(
        "schema",
        "events",
        "A deviation from the official EPCIS 2.0.1 JSON Schema (only when it is given).",
        "As for xsd.",
    ),
    _note(
        "same-event-other-form",
        "events",
        "An event stored before under the same id, written differently but saying the same.",
        "The same event in another serialisation counts once.",
    ),
    _note(
        "correction",
        "events",
        "An event stored before under the same id, one of the two carrying an errorDeclaration.",
        "A correction voids the event; both are kept.",
    ),
    _note(
        "conflict",
        "events",
        "An event stored before under the same id with other content; both are kept.",
        "Neither can be dropped without deciding which is true; the first stays in use and "
        "the conflict is counted.",
    ),
    _note(
        "master-data-skipped",
        "files",
        "An EPCIS master-data document; skipped.",
        "It holds no events.",
    ),
    _note(
        "capture-job-skipped",
        "files",
        "An EPCIS capture-job report; skipped.",
        "It holds no events.",
    ),
    _note(
        "header-master-data-skipped",
        "files",
        "The master data in an EPCIS document's header is not read.",
        "The events are read; the vocabularies describe them and change none of them.",
    ),
    _note("no-events", "files", "The document holds no events.", "There is nothing to load."),
    # -- tables: rejects ------------------------------------------------------------------
    _reject(
        "missing-value",
        "tables",
        "A required column is empty.",
        _UNKNOWN_VALUE,
    ),
    _reject(
        "missing-one-of",
        "tables",
        "Neither of two columns of which one is required is given (gtin or substance_base).",
        "What the line is about is unknown.",
    ),
    _reject(
        "bad-decimal",
        "tables",
        "A quantity is not a decimal number.",
        "How much is declared is unknown.",
    ),
    _reject(
        "decimal-out-of-range",
        "all",
        "A quantity has more than 26 digits before the point (1E+30), however it is written.",
        "It cannot be stored exactly, and a rounded value would be a false difference.",
    ),
    _reject(
        "decimal-precision",
        "all",
        "A quantity has more than 12 decimal places, however it is written (0.1234567890123, "
        "1.5e-13, 1e-400); trailing zeros do not count.",
        "It cannot be stored without rounding, and a rounded value (or 0 for 1e-400) would "
        "be a false difference.",
    ),
    _reject(
        "negative-quantity",
        "tables",
        "A quantity is negative.",
        "A declaration of a negative movement has no agreed meaning; returns are their own "
        "records.",
    ),
    _reject(
        "bad-date",
        "tables",
        "A date is not written YYYY-MM-DD.",
        "10/02/2026 is the 10th of February or the 2nd of October: the date is unknown.",
    ),
    _reject(
        "impossible-date",
        "tables",
        "A date that does not exist (2026-02-30).",
        _UNKNOWN_VALUE,
    ),
    _reject(
        "bad-period",
        "tables",
        "A period is not a quarter (2026-Q1) or a year.",
        "Which period the return covers is unknown.",
    ),
    _reject("bad-year", "tables", "A year is not a four-digit year.", _UNKNOWN_VALUE),
    _reject(
        "bad-country",
        "tables",
        "A country is not an ISO 3166-1 alpha-2 code.",
        "USA could be mapped, but a three-letter or misspelt code is as often another "
        "country; the mirror checks pair countries exactly.",
    ),
    _reject(
        "not-allowed",
        "tables",
        "A value outside the column's list (a direction, a flow, a unit, a kind).",
        "A unit such as 'boxes' or a flow such as 'imported' has no defined meaning here.",
    ),
    _reject(
        "not-a-mass-unit",
        "tables",
        "A unit that is not a mass where a mass is required (estimates, contents).",
        "Mass and volume never convert into each other.",
    ),
    _reject(
        "bad-gtin",
        "tables",
        "A GTIN that is not 8, 12, 13 or 14 digits.",
        "Which product the line is about is unknown.",
    ),
    _reject(
        "bad-gln",
        "tables",
        "A GLN that is not 13 digits.",
        "Which party or site is meant is unknown.",
    ),
    _reject(
        "bad-check-digit",
        "tables",
        "A GTIN or GLN whose check digit is wrong.",
        "A typing error: the number is not the product or party meant, and guessing would "
        "attribute the record to someone else.",
    ),
    _reject(
        "bad-field-count",
        "tables",
        "A CSV line with more or fewer fields than its header.",
        "Which value belongs to which column is unknown.",
    ),
    _reject(
        "bad-csv",
        "tables",
        "A CSV line that cannot be split into fields (an unclosed quote).",
        "Which value belongs to which column is unknown.",
    ),
    _reject(
        "line-too-long",
        "all",
        "A line longer than the reader's limit.",
        "A line that size is not a record of this contract; reading it would exhaust memory.",
    ),
    _reject(
        "field-too-large",
        "tables",
        "A field larger than the reader's limit.",
        "As for line-too-long.",
    ),
    _reject(
        "duplicate-key-conflict",
        "all",
        "A JSON object holds the same key twice with different values.",
        "Which of the two values the sender meant cannot be told.",
    ),
    _reject(
        "formula-without-value",
        "tables",
        "An .xlsx cell holds a formula but no value computed by the spreadsheet that saved it.",
        "tracecheck does not evaluate formulas, so the cell's value is unknown.",
    ),
    # -- tables: notes --------------------------------------------------------------------
    _note(
        "event-id-given-twice",
        "events",
        "An event gives its eventID twice, with different values; the first is kept.",
        "What the event says is clear, only which id names it is not (a sample of the "
        "standard does this); a copy sent under the other id would count twice, so it is "
        "noted.",
    ),
    _note(
        "duplicate-key",
        "all",
        "A JSON object holds the same key twice with the same value; read once.",
        "The value is the same either way.",
    ),
    _note(
        "formula-cell",
        "tables",
        "An .xlsx cell holds a formula; the value the sender's spreadsheet computed and saved "
        "with it is read.",
        "That saved value is what the sender saw and sent; tracecheck does not recompute it.",
    ),
    _note(
        "hidden-sheet",
        "tables",
        "An .xlsx workbook has hidden sheets; the first visible sheet (or the visible sheet "
        "named after the kind) is read and each hidden one is skipped, with this note.",
        "A sender reads and checks the sheets that can be seen; a hidden sheet is not what "
        "was declared.",
    ),
    _note(
        "extra-columns",
        "tables",
        "Columns that are not in the input contract; kept as received.",
        "The contract allows them; nothing is dropped.",
    ),
)

#: The checks by code.
CHECKS: dict[str, Check] = {c.code: c for c in CHECKS_IN_ORDER}


def check(code: str) -> Check:
    """The check of a code.

    >>> check("ilmd-bare-name").outcome
    'note'

    Raises:
        KeyError: a code that is not registered.
    """
    return CHECKS[code]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def checks_markdown() -> str:
    """The table of every check, rejects first, for docs/input-formats.md."""
    lines = [
        "| check code | what happens | applies to | what it means | why |",
        "| --- | --- | --- | --- | --- |",
    ]
    for c in sorted(CHECKS_IN_ORDER, key=lambda c: c.outcome != "reject"):
        outcome = "**rejected**" if c.outcome == "reject" else "loaded, with a note"
        lines.append(
            f"| `{c.code}` | {outcome} | {c.applies_to} | {_cell(c.meaning)} | {_cell(c.why)} |"
        )
    return "\n".join(lines) + "\n"
