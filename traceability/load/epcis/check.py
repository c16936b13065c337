"""The checks of an EPCIS event, whatever its syntax: what rejects it and what only warns.

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
document's namespace (see :class:`~traceability.load.epcis.read_xml_schema.XsdCheck`). Schema
deviations are only ever warnings: whether an event is rejected does not depend on
whether the schemas are given. The official schema is not shipped with tracecheck (GS1 publishes
it at https://ref.gs1.org/standards/epcis/artefacts); checking every event against it
costs about a millisecond an event, so it is for conformance work rather than bulk loads.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator, FormatChecker

from traceability.errors import UnreadableFile
from traceability.load.epcis.items import Document, Issue, Item
from traceability.load.epcis.terms import (
    BARE_ILMD_NAMES,
    CBV_TERMS,
    CBV_URN_PREFIXES,
    QUANTITY_ELEMENT_FIELDS,
    QUANTITY_LISTS,
    STANDARD_FIELDS,
    bare_cbv,
    canonical_spellings,
)

#: Environment variable naming the official EPCIS 2.0.1 JSON Schema file, if any.
SCHEMA_VARIABLE = "TRACECHECK_EPCIS_SCHEMA"
_MAX_SCHEMA_WARNINGS = 5  # per event


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
    _check_vocabulary(item, event, from_json)
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
    item.warnings.extend(_schema_warnings(event))


def _check_vocabulary(item: Item, event: Mapping[str, Any], from_json: bool) -> None:
    """Reject a word no vocabulary has; note a CBV term in a spelling its binding does
    not use."""
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


def _schema_warnings(event: Mapping[str, Any]) -> Iterator[Issue]:
    """The deviations from the official JSON Schema, where its path is given."""
    validator = official_validator()
    if validator is not None:
        errors = sorted(validator.iter_errors(event), key=lambda e: list(map(str, e.path)))
        for error in errors[:_MAX_SCHEMA_WARNINGS]:
            where = ".".join(str(p) for p in error.absolute_path) or "event"
            yield Issue(where, "schema", f"{where}: {error.message[:300]} (EPCIS 2.0.1 schema)")


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
