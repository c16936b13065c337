"""The JSON Lines pre-check selects every event the document checks would reject or note.

JSON Lines are loaded set-based; only the events that :func:`jsonl_check_condition`
selects are given to :func:`check_event` (see its docstring). So the condition must be a
superset of the checks: an event about which ``check_event`` reports anything must be
selected, or a JSON Lines event would lose a rejection or a note that the same event in a
document gets. The property draws events, valid and with each deviation the checks know
(vocabulary in other spellings and unknown words, in every vocabulary slot; times without
seconds or offset; ILMD with bare names or on an event that does not add; an ObjectEvent
naming no objects; certification info that is not URIs), and evaluates the condition in
DuckDB over the inputs it is documented to read: the typed parse ``o`` of the raw field
values, the typed member lists, the event type, action, whether it has quantities, its
top-level field names and its line.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from traceability.load.epcis.check import check_event
from traceability.load.epcis.check_lines import jsonl_check_condition
from traceability.load.epcis.items import Document, Item
from traceability.load.epcis.read_documents import load_json
from traceability.load.epcis.terms import BARE_ILMD_NAMES, QUANTITY_LISTS
from traceability.sample.events import CONTEXT
from traceability.sample.spellings import CASES, PADDINGS, SPELLINGS, spell

#: The raw values the condition reads, as the loader's typed parse gives them.
_RAW = json.dumps(
    {
        "type": "VARCHAR",
        "action": "VARCHAR",
        "bizStep": "VARCHAR",
        "disposition": "VARCHAR",
        "eventTime": "VARCHAR",
        "recordTime": "VARCHAR",
        **dict.fromkeys(("bizTransactionList", "sourceList", "destinationList"), "JSON"),
        **dict.fromkeys(QUANTITY_LISTS, "JSON"),
    }
)
_TYPED = '[{"type": "VARCHAR"}]'
_QUERY = f"""
    WITH parsed AS (
        SELECT line, json_transform(line, '{_RAW}') AS o, json_keys(line) AS keys
        FROM (SELECT $line::VARCHAR AS line)
    ), typed AS (
        SELECT *, o.type AS event_type, o.action AS action,
               try(json_transform(o.bizTransactionList, '{_TYPED}')) AS bizTransactionList,
               try(json_transform(o.sourceList, '{_TYPED}')) AS sourceList,
               try(json_transform(o.destinationList, '{_TYPED}')) AS destinationList,
               ({" OR ".join(f"o.{n} IS NOT NULL" for n in QUANTITY_LISTS)}) AS has_quantities
        FROM parsed
    )
    SELECT {jsonl_check_condition("keys", "line")} FROM typed
"""

SGTIN = "urn:epc:id:sgtin:8901234.000001.S1"
SITE = "urn:epc:id:sgln:8901234.00010.0"
#: Words that are no CBV term in any vocabulary.
UNKNOWN = ("transforming", "shipped", "owner", "bogus_reason")


@st.composite
def vocabulary_value(draw: st.DrawFn, vocabulary: str, word: str) -> str:
    """A standard term in any spelling, case and padding, or a word CBV does not have,
    or the URI of another vocabulary."""
    kind = draw(st.sampled_from(("term", "term", "term", "unknown", "other-uri")))
    if kind == "unknown":
        return draw(st.sampled_from(UNKNOWN))
    if kind == "other-uri":
        return "urn:example:vocabulary:" + word
    return spell(
        vocabulary,
        word,
        draw(st.sampled_from(SPELLINGS)),
        case=draw(st.sampled_from(CASES)),
        padding=draw(st.sampled_from(PADDINGS)),
    )


@st.composite
def time_value(draw: st.DrawFn, *, seconds: bool = True, offset: bool = True) -> str:
    text = "2026-01-10T14:00"
    if draw(st.booleans()) or not seconds:
        text += draw(st.sampled_from((":00", ":07", ":07.250")))
    if draw(st.booleans()) or not offset:
        text += draw(st.sampled_from(("Z", "+05:30", "-05:00")))
    return text


def _vocabulary(draw: st.DrawFn, event: dict[str, Any]) -> None:
    slot = draw(st.sampled_from(("bizStep", "disposition", "bizTransactionList", "sourceList")))
    if slot in ("bizStep", "disposition"):
        word = "shipping" if slot == "bizStep" else "in_transit"
        event[slot] = draw(vocabulary_value(slot, word))
    elif slot == "bizTransactionList":
        value = draw(vocabulary_value("bizTransactionType", "po"))
        event[slot] = [{"type": value, "bizTransaction": "urn:epcglobal:cbv:bt:8901234000007:P"}]
    else:
        value = draw(vocabulary_value("sourceDestinationType", "location"))
        event[slot] = [{"type": value, "source": SITE}]


def _persistent(draw: st.DrawFn, event: dict[str, Any]) -> None:
    part = draw(st.sampled_from(("set", "unset")))
    event["persistentDisposition"] = {
        part: [draw(vocabulary_value("disposition", "completeness_verified"))]
    }


def _error(draw: st.DrawFn, event: dict[str, Any]) -> None:
    event["errorDeclaration"] = {
        "declarationTime": draw(time_value()),
        "reason": draw(vocabulary_value("errorReason", "incorrect_data")),
    }


def _times(draw: st.DrawFn, event: dict[str, Any]) -> None:
    if draw(st.booleans()):
        event["eventTime"] = draw(time_value(offset=False)) + "+05:30"
    else:
        event["recordTime"] = draw(time_value())


def _ilmd(draw: st.DrawFn, event: dict[str, Any]) -> None:
    names = list(BARE_ILMD_NAMES) if draw(st.booleans()) else list(BARE_ILMD_NAMES.values())
    event["ilmd"] = dict(zip(names, ("L1", "2028-01-31"), strict=False))
    event["action"] = draw(st.sampled_from(("ADD", "OBSERVE", "DELETE")))


def _objects(draw: st.DrawFn, event: dict[str, Any]) -> None:
    lists = [n for n in ("epcList", "childEPCs") if n in event]
    quantities = "quantityList" if event["type"] == "ObjectEvent" else "childQuantityList"
    if draw(st.booleans()):
        del event[lists[0]]
    if draw(st.booleans()):
        event[quantities] = [
            {"epcClass": "urn:epc:class:lgtin:8901234.000002.E1", "quantity": 2, "uom": "KGM"}
        ]


def _certification(draw: st.DrawFn, event: dict[str, Any]) -> None:
    event["certificationInfo"] = draw(
        st.sampled_from(("https://cert.example/1", ["https://cert.example/1"], 7, ["a", 1]))
    )


DEVIATIONS = (_vocabulary, _persistent, _error, _times, _ilmd, _objects, _certification)


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    """A canonical event with none, one or two kinds of deviation (rarely more than one,
    so that an event the checks report on for one reason alone is often drawn)."""
    kind = draw(st.sampled_from(("ObjectEvent", "AggregationEvent")))
    event: dict[str, Any] = {
        "@context": [CONTEXT],
        "type": kind,
        "eventTime": "2026-01-10T14:00:00+05:30",
        "eventTimeZoneOffset": "+05:30",
    }
    if kind == "ObjectEvent":
        event["epcList"] = [SGTIN]
    else:
        event["parentID"] = "urn:epc:id:sscc:8901234.0000000018"
        event["childEPCs"] = [SGTIN]
    event["action"] = draw(st.sampled_from(("ADD", "OBSERVE", "DELETE")))
    event["bizStep"] = "shipping"
    event["disposition"] = "in_transit"
    event["readPoint"] = {"id": SITE}
    for deviation in draw(st.lists(st.sampled_from(DEVIATIONS), max_size=2, unique=True)):
        deviation(draw, event)
    return event


_CON = duckdb.connect()


def _selected(line: str) -> bool:
    row = _CON.execute(_QUERY, {"line": line}).fetchone()
    assert row is not None
    return bool(row[0])


def _reported(event: dict[str, Any]) -> list[str]:
    item = Item(1, load_json(json.dumps(event)))
    check_event(item, Document("events", "", None, iter(())), from_json=True, field_names=False)
    return [issue.code for issue in (*item.problems, *item.warnings)]


@settings(max_examples=250, deadline=None, database=None)
@given(events())
def test_every_event_the_checks_report_on_is_selected(event: dict[str, Any]) -> None:
    reported = _reported(event)
    if reported:
        assert _selected(json.dumps(event)), reported


CANONICAL: dict[str, Any] = {
    "@context": [CONTEXT],
    "type": "ObjectEvent",
    "eventTime": "2026-01-10T14:00:00+05:30",
    "eventTimeZoneOffset": "+05:30",
    "epcList": [SGTIN],
    "action": "ADD",
    "bizStep": "shipping",
    "disposition": "in_transit",
    "readPoint": {"id": SITE},
}

#: One event for each code the checks report on JSON Lines, as the property draws them.
EXAMPLES: dict[str, dict[str, Any]] = {
    "unknown-vocabulary": {"bizStep": "transforming"},
    "cbv-urn-in-json": {"disposition": "urn:epcglobal:cbv:disp:in_transit"},
    "vocabulary-spelling": {"bizStep": " Shipping"},
    "time-without-seconds": {"eventTime": "2026-01-10T14:00+05:30"},
    "time-without-offset": {"recordTime": "2026-01-10T14:00:07"},
    "ilmd-bare-name": {"ilmd": {"lotNumber": "L1"}},
    "ilmd-without-add": {"action": "OBSERVE", "ilmd": {"cbvmda:lotNumber": "L1"}},
    "no-objects": {"epcList": None},
    "bad-certification-info": {"certificationInfo": 7},
}


@pytest.mark.parametrize("code", EXAMPLES)
def test_each_code_the_checks_report_is_selected(code: str) -> None:
    event = {k: v for k, v in {**CANONICAL, **EXAMPLES[code]}.items() if v is not None}
    assert code in _reported(event)
    assert _selected(json.dumps(event))


def test_the_condition_can_say_no() -> None:
    """A canonical event is not selected (else the property could not fail)."""
    assert _reported(CANONICAL) == []
    assert not _selected(json.dumps(CANONICAL))
