"""EPCIS documents (JSON / JSON-LD and XML): reading, checking, and recording what was found.

What rejects an event and what only warns follows one line (set out, code by code, in
:mod:`traceability.load.checks`): an event is **rejected** when its business meaning
cannot be told, and only **warned** about when the meaning is clear but the form deviates
from the standard.

Rejected here (besides what the event pipeline itself rejects: type, times, action, EPCs,
quantities):

- ``unknown-vocabulary``: a word where no vocabulary has such a term, in any spelling
  (``transforming`` as a bizStep): what happened cannot be told;
- ``no-objects``: an ObjectEvent naming no objects (no ``epcList``, no
  ``quantityList``, no sensor data at a read point);
- ``bad-certification-info``: ``certificationInfo`` that is not a URI or a list of them;
- ``no-context``: a JSON-LD document without ``@context``;
- ``duplicate-key-conflict``: a key given twice in one object of the event with
  different values (with the same value: noted, ``duplicate-key``). Numbers are read
  exactly as written (:func:`load_json`), never as binary floats.

Warned (kept in ``load_notes``, with the event number, XML line and field): fields that are
neither EPCIS fields nor namespaced (``unknown-field``, kept in the stored event), ILMD
``lotNumber`` / ``itemExpirationDate`` without their ``cbvmda:`` prefix
(``ilmd-bare-name``), a CBV term in another case, with spaces around it or in a spelling
its binding does not use (``vocabulary-spelling``, ``cbv-urn-in-json``), times without
seconds, ILMD on an event that is not ``ADD``; the XML reader's own (elements out of the
XSD's sequence, 2.0 fields in a 1.2 document, stray text in XML wrappers); where the
official EPCIS 2.0.1 JSON Schema is given (a file path in ``TRACECHECK_EPCIS_SCHEMA``), each
deviation from it; and where the folder of the official XSDs is given
(``TRACECHECK_EPCIS_XSD``), each deviation of an XML event from the XSD of its
document's namespace (see :class:`~traceability.load.epcis_xml.XsdCheck`). Schema
deviations are only ever warnings: whether an event is rejected does not depend on
whether the schemas are given. The official schema is not shipped with tracecheck (GS1 publishes
it at https://ref.gs1.org/standards/epcis/artefacts); checking every event against it
costs about a millisecond an event, so it is for conformance work rather than bulk loads.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
from jsonschema import Draft7Validator, FormatChecker

from traceability.errors import UnreadableFile
from traceability.load.epcis.terms import (
    BARE_ILMD_NAMES,
    CBV_TERMS,
    CBV_URN_PREFIXES,
    EVENT_TYPES,
    QUANTITY_ELEMENT_FIELDS,
    QUANTITY_LISTS,
    STANDARD_FIELDS,
    bare_cbv,
    canonical_spellings,
)
from traceability.load.epcis_items import Document, Issue, Item, Note
from traceability.load.epcis_xml import looks_like_xml, read_xml
from traceability.load.exact_numbers import BigNumber, number_text, written_number
from traceability.store import append_rows

#: Environment variable naming the official EPCIS 2.0.1 JSON Schema file, if any.
SCHEMA_VARIABLE = "TRACECHECK_EPCIS_SCHEMA"
_MAX_SCHEMA_WARNINGS = 5  # per event


def read_document(path: Path) -> Document:
    """Open an EPCIS document, JSON or XML (told apart by its first character)."""
    return read_xml(path) if looks_like_xml(path) else read_json(path)


#: Starts of SimpleEventQuery parameter names (EQ_bizStep, GE_eventTime, ...).
_QUERY = ("EQ_", "GE_", "GT_", "LE_", "LT_", "MAT", "EXI", "HAS", "WD_")


def _integer(text: str) -> int | Decimal:
    # Python refuses to read an integer of more than 4,300 digits; a Decimal holds it.
    return int(text) if len(text) <= 4000 else Decimal(text)


class RepeatedKeys(dict[str, Any]):
    """A JSON object that held a key more than once: ``repeats`` names each such key with
    whether every value given for it was the same. The first value is kept (as DuckDB's
    reader keeps it)."""

    __slots__ = ("repeats",)

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__()
        self.repeats: dict[str, bool] = {}
        for key, value in pairs:
            if key in self:
                same = _value_text(self[key]) == _value_text(value)
                self.repeats[key] = self.repeats.get(key, True) and same
            else:
                self[key] = value


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    return out if len(out) == len(pairs) else RepeatedKeys(pairs)


def _value_text(value: Any) -> str:
    """A JSON value read by :func:`load_json` as JSON text, each number as written (so
    ``1.0`` and ``1.00``, ``1`` and ``"1"`` differ)."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_value_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_value_text(v) for v in value) + "]"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, BigNumber | Decimal | int):
        return number_text(value)
    return json.dumps(value)


def load_json(text: str) -> Any:
    """JSON text as Python values, every number exactly as written: decimals as
    :class:`~decimal.Decimal`, numbers beyond a decimal's range as :class:`BigNumber`
    text, integers of any length; an object holding a key twice as :class:`RepeatedKeys`.

    Raises:
        ValueError: not JSON.

    >>> load_json('{"quantity": 1.50, "n": 1e999999999999999999999}')
    {'quantity': Decimal('1.50'), 'n': '1e999999999999999999999'}
    >>> load_json('{"a": 1, "a": 2}').repeats
    {'a': False}
    """
    return json.loads(
        text, parse_float=written_number, parse_int=_integer, object_pairs_hook=_object
    )


def repeated_keys(value: Any, path: str = "") -> Iterator[tuple[str, bool]]:
    """(field path, whether the values were the same) of each key given twice in one
    object, anywhere in ``value`` (read by :func:`load_json`).

    >>> list(repeated_keys(load_json('{"a": [{"b": 1, "b": 1}], "c": 2, "c": "2"}')))
    [('c', False), ('a[0].b', True)]
    """
    if isinstance(value, RepeatedKeys):
        for key, same in value.repeats.items():
            yield (f"{path}.{key}" if path else key), same
    if isinstance(value, dict):
        for key, member in value.items():
            if isinstance(member, dict | list):
                yield from repeated_keys(member, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, member in enumerate(value):
            if isinstance(member, dict | list):
                yield from repeated_keys(member, f"{path}[{i}]")


def repeated_key_issues(event: Any) -> tuple[list[Issue], list[Issue]]:
    """(problems, warnings) for the keys an event gives twice: with different values the
    event is rejected (``duplicate-key-conflict``: which one was meant cannot be told);
    with the same value it is read once, with a note (``duplicate-key``)."""
    problems: list[Issue] = []
    warnings: list[Issue] = []
    for where, same in repeated_keys(event):
        if where == "eventID" and not same:
            # What the event says is clear; only which of its ids names it is not. The
            # first is kept (as JSON readers do) and the note says so.
            warnings.append(
                Issue(
                    where,
                    "event-id-given-twice",
                    "eventID: given twice with different values; the first is kept as the "
                    "event's id (a copy of the event sent under the other id would count twice)",
                )
            )
        elif same:
            warnings.append(
                Issue(
                    where, "duplicate-key", f"{where}: given twice with the same value; read once"
                )
            )
        else:
            problems.append(
                Issue(
                    where,
                    "duplicate-key-conflict",
                    f"{where}: given twice with different values; which one was meant "
                    "cannot be told",
                )
            )
    return problems, warnings


def read_json(path: Path) -> Document:
    """Read an EPCIS JSON / JSON-LD document, query document or bare event.

    Raises:
        UnreadableFile: not UTF-8, not JSON, or not an EPCIS document.
    """
    try:
        with path.open("rb") as f:
            doc = load_json(f.read().decode("utf-8-sig"))
    except OSError as exc:
        raise UnreadableFile(f"{path}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise UnreadableFile(f"{path}: not UTF-8 text", hint="save the file as UTF-8") from None
    except json.JSONDecodeError as exc:
        raise UnreadableFile(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    if not isinstance(doc, dict):
        raise UnreadableFile(f"{path}: not an EPCIS document (the top level is not an object)")
    notes: list[Note] = []
    for where, same in _header_repeats(doc):
        if not same:
            raise UnreadableFile(
                f"{path}: {where} is given twice with different values; which one was meant "
                "cannot be told",
                hint="give each field of the document once",
            )
        notes.append(
            Note("warning", "duplicate-key", f"{where}: given twice with the same value; read once")
        )
    kind = doc.get("type")
    version = str(doc.get("schemaVersion") or "")
    context = doc.get("@context")
    if kind == "EPCISMasterDataDocument":
        note = Note("note", "master-data-skipped", "an EPCIS master-data document: skipped")
        return Document("master-data", version, context, iter(()), [note])
    if kind in EVENT_TYPES or ("epcisBody" not in doc and "eventTime" in doc):
        return Document("events", version, context, iter([_item(1, doc)]))
    body = doc.get("epcisBody")
    if not isinstance(body, dict):
        if any(k in ("query", "queryName", "eventType") or k[:3] in _QUERY for k in doc):
            raise UnreadableFile(
                f"{path}: an EPCIS query definition, not events",
                hint="give tracecheck the query's results, not the query",
            )
        raise UnreadableFile(f"{path}: not an EPCIS document (no epcisBody)")
    events = body.get("eventList")
    if events is None and isinstance(body.get("queryResults"), dict):
        events = (body["queryResults"].get("resultsBody") or {}).get("eventList")
    if events is None:
        events = []
    if not isinstance(events, list):
        raise UnreadableFile(f"{path}: epcisBody.eventList is not a list")
    items = [_item(n, e) for n, e in enumerate(events, 1)]
    if not items:
        notes.append(Note("note", "no-events", "the document holds no events"))
    if context is None:
        for item in items:
            item.problems.append(
                Issue(
                    "@context",
                    "no-context",
                    "@context: the document declares no JSON-LD "
                    "context, so its field names cannot be read as EPCIS 2.0",
                )
            )
    return Document("events", version, context, iter(items), notes)


def _item(number: int, event: Any) -> Item:
    """An event of a JSON document, with the keys it gives twice as problems or warnings."""
    item = Item(number, event)
    item.problems, item.warnings = repeated_key_issues(event)
    return item


_EVENT_LISTS = ("epcisBody.eventList[", "epcisBody.queryResults.resultsBody.eventList[")


def _header_repeats(doc: dict[str, Any]) -> list[tuple[str, bool]]:
    """The keys given twice in a document outside its events (see :func:`_item`)."""
    if doc.get("type") in EVENT_TYPES or ("epcisBody" not in doc and "eventTime" in doc):
        return []  # a bare event: its repeats are the event's
    return [(w, same) for w, same in repeated_keys(doc) if not w.startswith(_EVENT_LISTS)]


# --------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------


def _terms(context: Any, out: set[str]) -> set[str]:
    """Terms a JSON-LD context defines (``{"myField": "https://..."}``)."""
    if isinstance(context, Mapping):
        out.update(k for k in context if isinstance(k, str) and not k.startswith("@"))
    elif isinstance(context, list):
        for item in context:
            _terms(item, out)
    return out


def _vocabulary_values(event: Mapping[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """(field path, vocabulary, value) of every CBV-typed value of an event."""
    yield "bizStep", "bizStep", event.get("bizStep")
    yield "disposition", "disposition", event.get("disposition")
    persistent = event.get("persistentDisposition")
    if isinstance(persistent, Mapping):
        for part in ("set", "unset"):
            values = persistent.get(part)
            for i, value in enumerate(values if isinstance(values, list) else [values]):
                yield f"persistentDisposition.{part}[{i}]", "disposition", value
    for name, vocabulary in (
        ("bizTransactionList", "bizTransactionType"),
        ("sourceList", "sourceDestinationType"),
        ("destinationList", "sourceDestinationType"),
    ):
        members = event.get(name)
        for i, member in enumerate(members if isinstance(members, list) else []):
            if isinstance(member, Mapping):
                yield f"{name}[{i}].type", vocabulary, member.get("type")
    declaration = event.get("errorDeclaration")
    if isinstance(declaration, Mapping):
        yield "errorDeclaration.reason", "errorReason", declaration.get("reason")


_VOCABULARY_NAMES = {
    "bizStep": "business step",
    "disposition": "disposition",
    "bizTransactionType": "business transaction type",
    "sourceDestinationType": "source/destination type",
    "errorReason": "error reason",
}


def check_event(
    item: Item, document: Document, *, from_json: bool, field_names: bool = True
) -> None:
    """Add the problems and warnings of the document checks to ``item``.

    ``field_names``: whether a JSON event's field names are checked (not in JSON Lines).
    """
    event = item.event
    if not isinstance(event, dict):
        return
    if from_json and field_names:  # the XML reader checks an XML event's names itself
        terms = _terms(event.get("@context"), _terms(document.context, set()))
        item.warnings.extend(_unknown_names(event, terms))
    ilmd = event.get("ilmd")
    if isinstance(ilmd, Mapping):
        item.warnings.extend(_bare_ilmd_names(ilmd))
        if event.get("action") in ("OBSERVE", "DELETE"):
            item.warnings.append(
                Issue(
                    "ilmd",
                    "ilmd-without-add",
                    "ilmd: instance/lot master data belongs "
                    "to an ADD event (the object's beginning of life)",
                )
            )
    for path, vocabulary, value in _vocabulary_values(event):
        if not isinstance(value, str) or not value.strip():
            continue
        bare = bare_cbv(vocabulary, value)
        if bare not in CBV_TERMS[vocabulary] and ":" not in bare:
            item.problems.append(
                Issue(
                    path,
                    "unknown-vocabulary",
                    f"{path}: {value!r} is not a CBV "
                    f"{_VOCABULARY_NAMES[vocabulary]} (nor the URI of another vocabulary)",
                )
            )
        elif not from_json or value in canonical_spellings(vocabulary):
            continue  # the XML reader notes an XML spelling as it reads it
        elif value == CBV_URN_PREFIXES[vocabulary] + bare:
            item.warnings.append(
                Issue(
                    path,
                    "cbv-urn-in-json",
                    f"{path}: {value!r} is a CBV 1.x URN; EPCIS 2.0 JSON writes the bare word",
                )
            )
        elif bare in CBV_TERMS[vocabulary]:
            item.warnings.append(
                Issue(
                    path,
                    "vocabulary-spelling",
                    f"{path}: {value!r} read as the CBV term {bare!r} "
                    "(written in another case, or with spaces around it)",
                )
            )
    item.warnings.extend(_time_notes(event))
    if event.get("type") == "ObjectEvent" and not _names_objects(event):
        item.problems.append(
            Issue(
                "epcList",
                "no-objects",
                "epcList: an ObjectEvent names its objects in "
                "epcList or quantityList (or carries sensor data at a readPoint)",
            )
        )
    info = event.get("certificationInfo")
    if info is not None and not (
        isinstance(info, str) or (isinstance(info, list) and all(isinstance(v, str) for v in info))
    ):
        item.problems.append(
            Issue(
                "certificationInfo",
                "bad-certification-info",
                "certificationInfo: not a URI, nor a list of URIs",
            )
        )
    validator = official_validator()
    if validator is not None:
        errors = sorted(validator.iter_errors(event), key=lambda e: list(map(str, e.path)))
        for error in errors[:_MAX_SCHEMA_WARNINGS]:
            where = ".".join(str(p) for p in error.absolute_path) or "event"
            item.warnings.append(
                Issue(where, "schema", f"{where}: {error.message[:300]} (EPCIS 2.0.1 schema)")
            )


def _unknown_names(event: Mapping[str, Any], terms: set[str]) -> Iterator[Issue]:
    """Field names that are neither standard, nor namespaced, nor defined in @context."""
    paths = [n for n in event if ":" not in n and n not in STANDARD_FIELDS and n not in terms]
    for list_name in QUANTITY_LISTS:
        elements = event.get(list_name)
        for i, element in enumerate(elements if isinstance(elements, list) else []):
            if isinstance(element, Mapping):
                paths += [
                    f"{list_name}[{i}].{n}"
                    for n in element
                    if ":" not in n and n not in QUANTITY_ELEMENT_FIELDS
                ]
    ilmd = event.get("ilmd")
    if isinstance(ilmd, Mapping):
        paths += [f"ilmd.{n}" for n in ilmd if ":" not in n and n not in terms and n[:1] != "@"]
    for path in paths:
        if path.removeprefix("ilmd.") in BARE_ILMD_NAMES and path.startswith("ilmd."):
            continue  # noted as ilmd-bare-name
        yield Issue(
            path,
            "unknown-field",
            f"{path}: not an EPCIS field, and not namespaced (a user field needs a prefix "
            "declared in @context); kept in the stored event",
        )


def _bare_ilmd_names(ilmd: Mapping[str, Any]) -> Iterator[Issue]:
    for name, standard in BARE_ILMD_NAMES.items():
        if name in ilmd:
            yield Issue(
                f"ilmd.{name}",
                "ilmd-bare-name",
                f"ilmd.{name}: read as {standard} (the CBV master-data name, written "
                "without its prefix)",
            )


_WITHOUT_SECONDS = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2})"
)


_WITHOUT_OFFSET = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?")


def _time_notes(event: Mapping[str, Any]) -> Iterator[Issue]:
    declaration = event.get("errorDeclaration")
    times = [("eventTime", event.get("eventTime")), ("recordTime", event.get("recordTime"))]
    if isinstance(declaration, Mapping):
        times.append(("errorDeclaration.declarationTime", declaration.get("declarationTime")))
    for path, value in times:
        if not isinstance(value, str):
            continue
        if _WITHOUT_SECONDS.fullmatch(value.strip()):
            yield Issue(
                path,
                "time-without-seconds",
                f"{path}: {value!r} has no seconds; read as second 0 of that minute",
            )
        if path != "eventTime" and _WITHOUT_OFFSET.fullmatch(value.strip()):
            yield Issue(
                path,
                "time-without-offset",
                f"{path}: {value!r} has no offset from UTC; read as UTC",
            )


def _names_objects(event: Mapping[str, Any]) -> bool:
    if "epcList" in event:
        return True
    if isinstance(event.get("quantityList"), list) and event["quantityList"]:
        return True
    sensors = event.get("sensorElementList")
    return bool(isinstance(sensors, list) and sensors and event.get("readPoint"))


def official_validator() -> Draft7Validator | None:
    """A validator for one event against the official schema, if its path is given."""
    path = os.environ.get(SCHEMA_VARIABLE)
    return _validator(path) if path else None


@cache
def _validator(path: str) -> Draft7Validator:
    try:
        schema = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UnreadableFile(
            f"{path}: cannot read the EPCIS JSON Schema ({exc})",
            hint=f"point {SCHEMA_VARIABLE} at epcis-json-schema.json",
        ) from None
    definitions = schema.get("definitions") if isinstance(schema, dict) else None
    if not isinstance(definitions, dict) or "EPCIS-Document-Event" not in definitions:
        raise UnreadableFile(f"{path}: not the EPCIS 2.0 JSON Schema (no EPCIS-Document-Event)")
    event_schema = {"definitions": definitions, "$ref": "#/definitions/EPCIS-Document-Event"}
    return Draft7Validator(event_schema, format_checker=FormatChecker())


# --------------------------------------------------------------------------------------
# The same checks on JSON Lines
# --------------------------------------------------------------------------------------


def _terms_sql(values: Iterable[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in sorted(values))


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


# --------------------------------------------------------------------------------------
# Recording
# --------------------------------------------------------------------------------------


#: The most event text a document's chunk holds (JSON Lines chunks may be larger).
DOCUMENT_CHUNK_BYTES = 16 * 1024 * 1024


class Recorder:
    """Turns a document into chunks of event text, keeping what it rejects and notes.

    Events rejected here are sent on as blank lines (which the event pipeline skips) so
    that every event keeps its number; their rejections are written by :meth:`finish`.
    """

    def __init__(self, load_id: int, source: str) -> None:
        self.load_id = load_id
        self.source = source
        self.rejects: list[tuple[Any, ...]] = []
        self.notes: list[Note] = []

    def chunks(
        self, document: Document, dump: Callable[[Any], str], chunk_bytes: int
    ) -> Iterator[tuple[int, list[str]]]:
        """(first record number, event texts) a chunk at a time.

        A document's chunks are at most :data:`DOCUMENT_CHUNK_BYTES`: the event texts are
        built here in Python, and a smaller chunk keeps the peak memory of a large XML
        document well under 1 GiB (see ``bench/xml_ingest.py``) at no cost in speed.
        """
        chunk_bytes = min(chunk_bytes, DOCUMENT_CHUNK_BYTES)
        first, lines, size = 1, [], 0
        for item in document.items:
            check_event(item, document, from_json=item.line is None)
            for w in item.warnings:
                where = item.where() + (f" {w.field}" if w.field else "")
                self.notes.append(Note("warning", w.code, w.message, item.record, where))
            text = dump(item.event)
            if item.problems:
                problem = item.problems[0]
                message = problem.message + (f" (line {item.line})" if item.line else "")
                self.rejects.append(
                    (
                        self.load_id,
                        self.source,
                        item.record,
                        problem.field,
                        problem.code,
                        message,
                        text[:2000],
                    )
                )
                text = ""
            lines.append(text)
            size += len(text) + 1
            if size >= chunk_bytes:
                yield first, lines
                first, lines, size = first + len(lines), [], 0
        if lines:
            yield first, lines
        self.notes[:0] = document.notes

    def finish(self, con: duckdb.DuckDBPyConnection) -> int:
        """Write the rejections and notes; return the number of events rejected here."""
        append_rows(con, "rejects", self.rejects)
        write_notes(con, self.load_id, self.source, self.notes)
        return len(self.rejects)


def write_notes(
    con: duckdb.DuckDBPyConnection, load_id: int, source: str, notes: list[Note]
) -> None:
    """Store notes in ``load_notes``."""
    append_rows(
        con,
        "load_notes",
        [(load_id, source, n.record, n.location, n.level, n.code, n.message) for n in notes],
    )
