"""Tests for the EPCIS event hash ID (``traceability.load.epcis.eventhash``).

The oracle is the public test-vector set of the reference Event Hash Generator
(``examples/*.jsonld`` with the expected ``.hashes`` and ``.prehashes``), read from the
shared conformance folder next to the repository; those tests skip when it is absent.
The other tests mirror the upstream "expected equal" cases (different serialisations of
one event) on JSON-shaped events and need no external data.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from traceability.load.epcis.eventhash import event_hash, prehash

VECTORS = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "event-hash"
EXAMPLES = VECTORS / "examples"

EXAMPLE_NS = "https://ns.example.com/epcis/"
CONTEXT = [
    "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
    {"example": EXAMPLE_NS},
]

# --------------------------------------------------------------------------------------
# Reference vectors
# --------------------------------------------------------------------------------------


def _document_events(doc: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """Events of an EPCIS (query) document and its repository-specific ignoreFields."""
    body = doc["epcisBody"]
    if "queryResults" in body:
        results = body["queryResults"]
        return results["resultsBody"]["eventList"], results.get("repository-x:ignoreFields", [])
    return body["eventList"], doc.get("repository-x:ignoreFields", [])


def _lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [line for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def _vector_cases() -> Iterator[Any]:
    if not EXAMPLES.is_dir():
        yield pytest.param(None, marks=pytest.mark.skip(reason=f"no test vectors at {VECTORS}"))
        return
    for path in sorted(EXAMPLES.glob("*.jsonld")):
        stem = path.name.removesuffix(".jsonld")
        hashes = [line.strip() for line in _lines(path.with_suffix(".hashes"))]
        prehashes = _lines(path.with_suffix(".prehashes"))
        for index, expected in enumerate(hashes):
            # A few upstream .prehashes lines are stale or garbled (upstream only tests
            # .hashes): a line is used only when it actually hashes to the expected value.
            line = prehashes[index] if index < len(prehashes) else None
            if line is not None and _ni(line) != expected:
                line = None
            yield pytest.param((path, index, expected, line), id=f"{stem}[{index}]")


def _ni(text: str) -> str:
    return f"ni:///sha-256;{hashlib.sha256(text.encode()).hexdigest()}?ver=CBV2.0"


def _load(path: Path, parse_float: Any = Decimal) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"), parse_float=parse_float)
    return doc


@pytest.mark.parametrize("parse_float", [Decimal, float], ids=["Decimal", "float"])
@pytest.mark.parametrize("case", list(_vector_cases()))
def test_vector_hash(case: tuple[Path, int, str, str | None], parse_float: Any) -> None:
    path, index, expected, _ = case
    doc = _load(path, parse_float)
    events, ignore = _document_events(doc)
    assert event_hash(events[index], doc["@context"], ignore_fields=ignore) == expected


@pytest.mark.parametrize("case", list(_vector_cases()))
def test_vector_prehash(case: tuple[Path, int, str, str | None]) -> None:
    path, index, expected, line = case
    doc = _load(path)
    events, ignore = _document_events(doc)
    text = prehash(events[index], doc["@context"], ignore_fields=ignore)
    if line is None:  # the upstream line is stale or garbled: the pre-hash must still hash
        assert _ni(text) == expected
    else:
        assert text == line


def test_a_stray_field_in_a_standard_structure_goes_to_the_end_under_its_path() -> None:
    report = {"type": "gs1:Temperature", "value": 26, "bizRules": "https://example.org/r"}
    text = prehash(_event(sensorElementList=[{"sensorReport": [report]}]))
    assert text.endswith("sensorElementListsensorElementsensorReportbizRules=https://example.org/r")
    assert "value=26" in text and text.count("bizRules") == 1
    # In ILMD every member is the user's: it stays there.
    assert "ilmdlotNumber=L1" in prehash(_event(ilmd={"lotNumber": "L1"}))


@pytest.mark.skipif(not EXAMPLES.is_dir(), reason="no test vectors")
def test_ignore_fields_matter() -> None:
    """Without the repository's ignoreFields, its extra fields change the hash."""
    doc = _load(EXAMPLES / "epcisDocHavingEventWithIgnoreFields.jsonld")
    events, ignore = _document_events(doc)
    assert ignore
    with_extras, without_extras = events
    assert event_hash(with_extras, doc["@context"]) != event_hash(without_extras, doc["@context"])
    assert event_hash(with_extras, doc["@context"], ignore_fields=ignore) == event_hash(
        without_extras, doc["@context"]
    )


def _as_xml_shape(value: Any, context: dict[str, str], key: str = "") -> Any:
    """Re-express a JSON event the way an XML event converted to a dict would look.

    CBV terms become CBV 1.x URNs, extension names Clark notation and numbers text.
    """
    urns = {
        "bizStep": "urn:epcglobal:cbv:bizstep:",
        "disposition": "urn:epcglobal:cbv:disp:",
        "btt": "urn:epcglobal:cbv:btt:",
        "sdt": "urn:epcglobal:cbv:sdt:",
    }
    if isinstance(value, dict):
        out = {}
        for name, child in value.items():
            prefix, colon, local = name.partition(":")
            new_name = "{" + context[prefix] + "}" + local if colon and prefix in context else name
            if name == "type" and ("bizTransaction" in value):
                out[name] = urns["btt"] + child
            elif name == "type" and ("source" in value or "destination" in value):
                out[name] = urns["sdt"] + child
            else:
                out[new_name] = _as_xml_shape(child, context, name)
        return out
    if isinstance(value, list):
        return [_as_xml_shape(item, context, key) for item in value]
    if key in ("bizStep", "disposition") and ":" not in value:
        return urns[key] + value
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return str(value) + ".0" if isinstance(value, int) else str(value) + "00"
    return value


@pytest.mark.skipif(not EXAMPLES.is_dir(), reason="no test vectors")
@pytest.mark.parametrize(
    "stem",
    [
        "epcisDocWithVariousEventTypes",
        "ReferenceEventHashAlgorithm",
        "ReferenceEventHashAlgorithm3",
        "ralfsChaosExample",
    ],
)
def test_xml_shaped_event_hashes_the_same(stem: str) -> None:
    """The same events in the dict shape of converted XML give the expected hashes."""
    doc = _load(EXAMPLES / f"{stem}.jsonld")
    context: dict[str, str] = {"cbvmda": "urn:epcglobal:cbv:mda:"}
    for item in doc["@context"]:
        if isinstance(item, dict):
            context.update(item)
    expected = [line.strip() for line in _lines(EXAMPLES / f"{stem}.hashes")]
    events, _ = _document_events(doc)
    got = [event_hash(_as_xml_shape(event, context)) for event in events]
    assert got == expected


# --------------------------------------------------------------------------------------
# Canonicalisation rules on JSON-shaped events
# --------------------------------------------------------------------------------------


def _event(**fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": "2019-10-21T14:58:56.000+02:00",
        "eventTimeZoneOffset": "+02:00",
        "epcList": ["urn:epc:id:sscc:5200001.0111111146"],
        "action": "ADD",
        "bizStep": "commissioning",
    }
    event.update(fields)
    return event


@pytest.mark.parametrize(
    ("event_time", "offset", "expected"),
    [
        ("2019-10-21T14:58:56.000+02:00", "+02:00", "2019-10-21T12:58:56.000Z"),
        ("2019-10-21T14:58:56.000000+02:00", "+02:00", "2019-10-21T12:58:56.000Z"),
        ("2019-10-21T14:58:56.0+02:00", "+02:00", "2019-10-21T12:58:56.000Z"),
        ("2019-10-21T14:58:56+02:00", "+02:00", "2019-10-21T12:58:56.000Z"),
        ("2019-10-21T12:58:56.000Z", "+02:00", "2019-10-21T12:58:56.000Z"),
        ("2019-10-21T15:58:56.000+03:00", "+02:00", "2019-10-21T12:58:56.000Z"),
        ("2019-10-21T06:28:56-06:30", "-06:30", "2019-10-21T12:58:56.000Z"),
        ("2023-02-02T11:04:03.1415Z", "+01:00", "2023-02-02T11:04:03.142Z"),
        ("2023-02-02T11:04:03.1414999Z", "+01:00", "2023-02-02T11:04:03.141Z"),
        ("2023-02-02T11:04:03.1425Z", "+01:00", "2023-02-02T11:04:03.143Z"),
        ("2023-12-31T23:59:59.9995Z", "+00:00", "2024-01-01T00:00:00.000Z"),
        ("2020-02-29T00:30:00+01:00", "+01:00", "2020-02-28T23:30:00.000Z"),
        # No offset in the timestamp: read in the event's eventTimeZoneOffset.
        ("2019-10-21T14:58:56.163126", "+02:00", "2019-10-21T12:58:56.163Z"),
        # Not a timestamp: kept (trimmed) rather than guessed at.
        (" yesterday ", "+02:00", "yesterday"),
    ],
)
def test_timestamps(event_time: str, offset: str, expected: str) -> None:
    text = prehash(_event(eventTime=event_time, eventTimeZoneOffset=offset))
    assert f"eventTime={expected}eventTimeZoneOffset={offset}" in text


def test_sensor_timestamps_are_normalised() -> None:
    element = {
        "sensorMetadata": {"time": "2022-02-16T14:05:00+01:00", "startTime": "2022-02-16T14:00Z"},
        "sensorReport": [{"type": "Temperature", "time": "2022-02-16T15:05:00.0001+02:00"}],
    }
    text = prehash(_event(sensorElementList=[element]))
    assert "sensorMetadatatime=2022-02-16T13:05:00.000Z" in text
    assert "sensorReporttype=https://gs1.org/voc/Temperaturetime=2022-02-16T13:05:00.000Z" in text
    # "14:00Z" has no seconds: not a dateTimeStamp, so it is kept as written.
    assert "startTime=2022-02-16T14:00Z" in text


@pytest.mark.parametrize(
    "value",
    [26, 26.0, Decimal("26"), Decimal("26.000"), Decimal("2.6E+1"), "26", "26.0", " +26.00 "],
)
def test_number_forms_are_equal(value: Any) -> None:
    report = {"type": "Temperature", "value": value, "uom": "CEL"}
    text = prehash(_event(sensorElementList=[{"sensorReport": [report]}]))
    assert "value=26uom=CEL" in text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("0.050"), "0.05"),
        (0.05, "0.05"),
        (Decimal("1.5E-5"), "0.000015"),
        (1e-05, "0.00001"),
        (Decimal("-0.0"), "0"),
        ("-12.10", "-12.1"),
        (".5", "0.5"),
        (Decimal("1E+3"), "1000"),
        # Read as the nearest binary double, as the reference vectors are.
        (12345678901234567890, "12345678901234567168"),
        (Decimal("0.1000000000000000055511151231257827"), "0.1"),
        ("111100001111000011110000", "111100001111000003641344"),
        (Decimal("1E+400"), "1" + "0" * 400),  # beyond a double: exact
        (True, "true"),
        ("12-3", "12-3"),
    ],
)
def test_number_text(value: Any, expected: str) -> None:
    assert prehash(_event(**{"example:v": value}), CONTEXT).endswith(
        "{" + EXAMPLE_NS + "}v=" + expected
    )


def test_number_precision_expected_equal() -> None:
    """JSON counterpart of the upstream numberPrecision.xml case."""

    def reports(*values: Any) -> dict[str, Any]:
        return _event(
            sensorElementList=[
                {
                    "sensorMetadata": {"deviceID": "urn:epc:id:giai:4000001.111"},
                    "sensorReport": [
                        {"type": "gs1:Temperature", "value": values[0], "sDev": values[1]},
                        {"type": "Humidity", "value": values[2], "uom": "A93"},
                        {"type": "Molar_concentration", "value": values[3], "uom": "C35"},
                    ],
                }
            ]
        )

    plain = reports(26, 0.1, 12.1, 0.05)
    padded = reports(Decimal("26.0"), Decimal("0.100"), "12.10000", "0.050")
    assert event_hash(plain) == event_hash(padded)
    assert event_hash(plain) != event_hash(reports(26, 0.1, 12.1, 0.5))


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"bizStep": "shipping"}, "bizStep=https://ref.gs1.org/cbv/BizStep-shipping"),
        ({"bizStep": "urn:epcglobal:cbv:bizstep:shipping"}, "BizStep-shipping"),
        ({"bizStep": "cbv:BizStep-shipping"}, "bizStep=https://ref.gs1.org/cbv/BizStep-shipping"),
        ({"bizStep": "https://example.com/steps/x"}, "bizStep=https://example.com/steps/x"),
        ({"disposition": "in_transit"}, "disposition=https://ref.gs1.org/cbv/Disp-in_transit"),
        ({"disposition": "urn:epcglobal:cbv:disp:in_transit"}, "Disp-in_transit"),
        (
            {"persistentDisposition": {"unset": ["recalled"], "set": ["damaged", "active"]}},
            "persistentDispositionset=https://ref.gs1.org/cbv/Disp-active"
            "set=https://ref.gs1.org/cbv/Disp-damaged"
            "unset=https://ref.gs1.org/cbv/Disp-recalled",
        ),
        (
            {"bizTransactionList": [{"type": "urn:epcglobal:cbv:btt:po", "bizTransaction": "x"}]},
            "bizTransactionListtype=https://ref.gs1.org/cbv/BTT-pobizTransaction=x",
        ),
        (
            {"sourceList": [{"type": "urn:epcglobal:cbv:sdt:owning_party", "source": "s"}]},
            "sourceListtype=https://ref.gs1.org/cbv/SDT-owning_partysource=s",
        ),
        (
            {"sensorElementList": [{"sensorReport": [{"type": "gs1:Angle", "component": "x"}]}]},
            "sensorReporttype=https://gs1.org/voc/Anglecomponent=https://ref.gs1.org/cbv/Comp-x",
        ),
        (
            {"sensorElementList": [{"sensorReport": [{"exception": "ALARM_CONDITION"}]}]},
            "sensorReportexception=https://gs1.org/voc/ALARM_CONDITION",
        ),
    ],
)
def test_vocabulary(fields: dict[str, Any], expected: str) -> None:
    assert expected in prehash(_event(**fields))


def test_order_of_sections() -> None:
    text = prehash(
        _event(
            **{
                "example:z": "1",
                "ilmd": {"cbvmda:lotNumber": "L1"},
                "destinationList": [{"type": "location", "destination": "d"}],
                "sourceList": [{"type": "location", "source": "s"}],
                "bizTransactionList": [{"type": "po", "bizTransaction": "b"}],
                "sensorElementList": [{"sensorReport": [{"type": "Temperature", "value": 1}]}],
                "readPoint": {"id": "r", "example:x": "2"},
                "certificationInfo": "https://cert.example.org/1",
                "parentID": "p",
            }
        ),
        CONTEXT,
    )
    order = [
        "eventType=",
        "eventTime=",
        "eventTimeZoneOffset=",
        "certificationInfo=",
        "epcList",
        "parentID=",
        "action=",
        "bizStep=",
        "readPointid=r{" + EXAMPLE_NS + "}x=2",
        "sensorElementList",
        "bizTransactionList",
        "destinationList",
        "ilmd{urn:epcglobal:cbv:mda:}lotNumber=L1",
        "sourceList",
        "{" + EXAMPLE_NS + "}z=1",
    ]
    positions = [text.index(part) for part in order]
    assert positions == sorted(positions)


def test_empty_lists_add_nothing() -> None:
    """JSON counterpart of the upstream ignoreEmptyEpcList.xml case."""
    quantities = [{"epcClass": "urn:epc:class:lgtin:4054739.099914.20160711", "quantity": 600}]
    without = _event(quantityList=quantities)
    del without["epcList"]
    assert event_hash(without) == event_hash(_event(quantityList=quantities, epcList=[]))
    assert "epcList" not in prehash(_event(epcList=[], readPoint={}, bizTransactionList=[]))


def test_excluded_fields() -> None:
    base = _event(readPoint={"id": "urn:epc:id:sgln:4054739.00001.0"})
    noisy = copy.deepcopy(base)
    noisy.update(
        {
            "eventID": "urn:uuid:374d95fc-9457-4a51-bd6a-0bba133845a8",
            "recordTime": "2020-01-01T00:00:00Z",
            "errorDeclaration": {"declarationTime": "2020-01-15T00:00:00Z", "reason": "x"},
            "rdfs:comment": "a comment",
            "@context": [{"example": EXAMPLE_NS}],
        }
    )
    noisy["readPoint"]["rdfs:comment"] = "another comment"
    assert event_hash(noisy) == event_hash(base)


def test_extension_names_and_context() -> None:
    nested = {"example:a": ["3", "1"], "example:b": {"example:c": "x"}}
    clark = {
        "{" + EXAMPLE_NS + "}a": ["1", "3"],
        "{" + EXAMPLE_NS + "}b": {"{" + EXAMPLE_NS + "}c": "x"},
    }
    expected = (
        "{" + EXAMPLE_NS + "}f{" + EXAMPLE_NS + "}a=1{" + EXAMPLE_NS + "}a=3"
        "{" + EXAMPLE_NS + "}b{" + EXAMPLE_NS + "}c=x"
    )
    assert prehash(_event(**{"example:f": nested}), CONTEXT).endswith(expected)
    assert prehash(_event(**{"example:f": nested}), {"example": EXAMPLE_NS}).endswith(expected)
    assert prehash(_event(**{"example:f": nested, "@context": CONTEXT})).endswith(expected)
    assert prehash(_event(**{"{" + EXAMPLE_NS + "}f": clark})).endswith(expected)
    # An unknown prefix is kept as written; a user CURIE value is not expanded.
    assert prehash(_event(**{"other:f": "example:v"}), CONTEXT).endswith("other:f=example:v")
    # Standard prefixes are known without any context.
    assert prehash(_event(ilmd={"cbvmda:lotNumber": "A1"})).endswith(
        "ilmd{urn:epcglobal:cbv:mda:}lotNumber=A1"
    )


def test_missing_type() -> None:
    with pytest.raises(ValueError, match="type"):
        prehash({"action": "OBSERVE"})


def test_hash_format() -> None:
    value = event_hash(_event())
    assert value.startswith("ni:///sha-256;") and value.endswith("?ver=CBV2.0")
    assert value == _ni(prehash(_event()))


# --------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------


def _rich_event() -> dict[str, Any]:
    return _event(
        epcList=[f"urn:epc:id:sgtin:0614141.107346.{n}" for n in (7, 1, 30, 12, 2)],
        readPoint={"id": "urn:epc:id:sgln:0614141.07346.1234"},
        bizTransactionList=[
            {"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:0614141073467:1"},
            {"type": "desadv", "bizTransaction": "urn:epcglobal:cbv:bt:0614141073467:2"},
        ],
        destinationList=[
            {"type": "possessing_party", "destination": "urn:epc:id:pgln:4000001.98765"},
            {"type": "location", "destination": "urn:epc:id:sgln:4012345.00012.0"},
        ],
        quantityList=[
            {"epcClass": "urn:epc:class:lgtin:4054739.099902.P2", "quantity": 12, "uom": "KGM"},
            {"epcClass": "urn:epc:class:lgtin:4054739.012345.lot2", "quantity": Decimal("17.0")},
        ],
        **{"example:tags": ["b", "a", "c"]},
    )


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False))
def test_member_and_key_order_do_not_matter(rnd: Any) -> None:
    event = _rich_event()
    shuffled: dict[str, Any] = {}
    keys = list(event)
    rnd.shuffle(keys)
    for key in keys:
        value = copy.deepcopy(event[key])
        if isinstance(value, list):
            rnd.shuffle(value)
            value = [
                dict(rnd.sample(list(item.items()), len(item))) if isinstance(item, dict) else item
                for item in value
            ]
        shuffled[key] = value
    assert event_hash(shuffled, CONTEXT) == event_hash(event, CONTEXT)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["eventTime", "action", "bizStep", "example:tags", "epcList", "readPoint"]),
    st.text(alphabet="abcXYZ019_-", min_size=1, max_size=8),
)
def test_changing_a_value_changes_the_hash(field: str, new: str) -> None:
    event = _rich_event()
    changed = copy.deepcopy(event)
    if field == "epcList":
        changed[field][0] = "urn:epc:id:sgtin:0614141.107346.X" + new
    elif field == "readPoint":
        changed[field] = {"id": "urn:epc:id:sgln:0614141.07346.Y" + new}
    elif field == "eventTime":
        changed[field] = "2019-10-21T14:58:57.000+02:00"
    else:
        changed[field] = "changed-" + new
    assert event_hash(changed, CONTEXT) != event_hash(event, CONTEXT)


def test_time_zone_offset_is_taken_as_written() -> None:
    assert "eventTimeZoneOffset=+0200epcList" in prehash(_event(eventTimeZoneOffset=" +0200 "))


def test_ignore_fields_apply_to_any_field() -> None:
    event = _event(readPoint={"id": "r", "example:hash": "h"}, **{"example:captureID": "c"})
    plain = _event(readPoint={"id": "r"})
    assert event_hash(event, CONTEXT) != event_hash(plain, CONTEXT)
    ignore = ["example:hash", "{" + EXAMPLE_NS + "}captureID"]
    assert event_hash(event, CONTEXT, ignore_fields=ignore) == event_hash(plain, CONTEXT)
    assert "bizStep" not in prehash(_event(), ignore_fields=["bizStep"])
