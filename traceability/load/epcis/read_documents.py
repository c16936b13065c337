"""EPCIS JSON / JSON-LD documents read as events, every number exactly as written.

:func:`read_document` opens a document in either syntax (the XML reader is
:mod:`traceability.load.epcis.read_xml`); the events it gives are checked by
:mod:`traceability.load.epcis.check`. A key given twice in one object is kept as data
(:class:`RepeatedKeys`) so that the checks can tell a harmless repeat from a conflict.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from traceability.errors import UnreadableFile
from traceability.load.epcis.items import Document, Issue, Item, Note
from traceability.load.epcis.read_xml import looks_like_xml, read_xml
from traceability.load.epcis.terms import EVENT_TYPES
from traceability.load.exact_numbers import BigNumber, number_text, written_number


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
