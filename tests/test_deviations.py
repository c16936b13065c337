"""Lenient loading: events that deviate from the EPCIS standard in form load, with a note.

Partners' systems write EPCIS in many near-miss shapes. Each deviation class below must
load the same facts as the canonical event, leave a note in ``load_notes`` and reject
nothing:

- ILMD with bare names (``lotNumber`` instead of ``cbvmda:lotNumber``; in XML ``<lotNumber>``
  in no namespace);
- XML children of an event out of the XSD's sequence (``action`` before ``eventTime``), in a
  2.0 and in a 1.2 document;
- CBV values in another spelling (a CBV 1.x URN in JSON; a bare word or a CURIE in XML), in
  other case (``SHIPPING``, ``Shipping``) or with surrounding whitespace (``" shipping "``);
- units spelled ``KG``, ``G``, ``MG``, ``L`` (for ``KGM``, ``GRM``, ``MGM``, ``LTR``), and ``LB``
  (a pound, ``LBR``);
- EPCIS 1.2 XML documents carrying 2.0 fields directly (``quantityList``, ``sourceList``,
  ``destinationList``, ``ilmd``, ``eventID`` outside their 1.2 wrappers; ``sensorElementList``);
- timestamps without seconds (``2026-01-10T14:00+05:30``, where the seconds are zero);
- and, not a deviation but a delivery form, the same events as JSON Lines, as an EPCIS 2.0
  JSON-LD document and as EPCIS XML 2.0 and 1.2: the same facts, no rejection.

The property draws the deviation classes and the delivery form of every event of a generated
quarter and checks that the report (fingerprints, expected, observed, difference and unit of
each finding) is the canonical one. Explicit tests pin each class on a single event, and an
invalid identifier inside a list rejects that identifier alone.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from test_properties import PLANTS, QUARTER, SEEDS, SMALL, copy_folder, workdir

import traceability
from traceability.load import load
from traceability.model import Report
from traceability.sample import generate_quarter
from traceability.sample.events import CONTEXT, to_json
from traceability.sample.xml import Layout, cbv_uri, xml_document

Event = dict[str, Any]
Form = Literal["lines", "document", "xml-2.0", "xml-1.2"]
FORMS: tuple[Form, ...] = ("lines", "document", "xml-2.0", "xml-1.2")
SUFFIX: dict[Form, str] = {
    "lines": ".jsonl",
    "document": ".jsonld",
    "xml-2.0": ".xml",
    "xml-1.2": ".xml",
}
CREATED = "2026-04-01T00:00:00Z"

# --- writing events in each form ----------------------------------------------------------


def json_document(events: Sequence[Event]) -> str:
    """An EPCIS 2.0 JSON-LD document of the events (decimals written exactly)."""
    return to_json(
        {
            "@context": [CONTEXT],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": CREATED,
            "epcisBody": {"eventList": list(events)},
        }
    )


def write_events(path: Path, form: Form, events: Sequence[tuple[Event, Layout]]) -> Path:
    """The events as one file of the form (the layouts matter to XML only)."""
    if form == "lines":
        path.write_text("".join(to_json(e) + "\n" for e, _ in events), encoding="utf-8")
    elif form == "document":
        path.write_text(json_document([e for e, _ in events]), encoding="utf-8")
    else:
        version: Literal["2.0", "1.2"] = "2.0" if form == "xml-2.0" else "1.2"
        path.write_bytes(xml_document(events, version, creation_date=CREATED))
    return path


# --- the deviation classes, as rewrites of an event ----------------------------------------

#: CBV-typed values of an event: (vocabulary, web URI / CURIE name).
VOCABULARIES = {
    "bizStep": "BizStep",
    "disposition": "Disp",
    "bizTransactionType": "BTT",
    "sourceDestinationType": "SDT",
}
_WORD = re.compile(
    r"(?:urn:epcglobal:cbv:[a-z]+:|https://ref\.gs1\.org/cbv/[A-Za-z]+-|cbv:[A-Za-z]+-)?"
    r"([a-z_]+)"
)

Spelling = Literal["bare", "urn", "web", "curie", "upper", "capitalised", "spaced"]
SPELLINGS: tuple[Spelling, ...] = ("bare", "urn", "web", "curie", "upper", "capitalised", "spaced")
#: Spellings that deviate from the standard in JSON (which writes bare words, web URIs or
#: CURIEs) and in XML (which writes URIs: CBV 1.x URNs or web URIs).
DEVIANT_SPELLINGS: dict[str, frozenset[str]] = {
    "json": frozenset({"urn", "upper", "capitalised", "spaced"}),
    "xml": frozenset({"bare", "curie", "upper", "capitalised", "spaced"}),
}


def spell(vocabulary: str, value: str, spelling: Spelling) -> str:
    """A standard CBV value in a spelling.

    >>> spell("bizStep", "cbv:BizStep-shipping", "urn")
    'urn:epcglobal:cbv:bizstep:shipping'
    >>> [spell("disposition", "in_transit", s) for s in ("upper", "capitalised", "spaced")]
    ['IN_TRANSIT', 'In_transit', ' in_transit ']
    """
    m = _WORD.fullmatch(value)
    assert m, value
    word = m[1]
    name = VOCABULARIES[vocabulary]
    if spelling == "bare":
        return word
    if spelling == "urn":
        return cbv_uri(vocabulary, word, "urn")
    if spelling == "web":
        return cbv_uri(vocabulary, word, "web")
    if spelling == "curie":
        return f"cbv:{name}-{word}"
    if spelling == "upper":
        return word.upper()
    if spelling == "capitalised":
        return word.capitalize()
    return f" {word} "


def respell(event: Event, spelling: Callable[[], Spelling]) -> Event:
    """The event with every CBV value respelled (each by a call of ``spelling``)."""
    out = json.loads(to_json(event), parse_float=Decimal)
    for field in ("bizStep", "disposition"):
        if field in out:
            out[field] = spell(field, out[field], spelling())
    for field, vocabulary in (
        ("bizTransactionList", "bizTransactionType"),
        ("sourceList", "sourceDestinationType"),
        ("destinationList", "sourceDestinationType"),
    ):
        for member in out.get(field, []):
            if "type" in member:
                member["type"] = spell(vocabulary, member["type"], spelling())
    assert isinstance(out, dict)
    return out


def bare_ilmd(event: Event) -> Event:
    """ILMD written with bare names, ``lotNumber`` for ``cbvmda:lotNumber``."""
    if "ilmd" not in event:
        return event
    ilmd = {k.removeprefix("cbvmda:"): v for k, v in event["ilmd"].items()}
    return {**event, "ilmd": ilmd}


#: Unit spellings that are not UN/ECE Recommendation 20 codes, and the code they mean.
UNIT_SPELLINGS = {"KG": "KGM", "G": "GRM", "MG": "MGM", "L": "LTR"}


def units(event: Event, spelling: Mapping[str, str]) -> Event:
    """Each quantity's UN/ECE code respelled (``spelling``: code -> spelling), same number."""
    if "quantityList" not in event:
        return event
    quantities = [
        {**q, "uom": spelling.get(q["uom"], q["uom"])} if "uom" in q else q
        for q in event["quantityList"]
    ]
    return {**event, "quantityList": quantities}


_SECONDS = re.compile(r"(T[0-9]{2}:[0-9]{2}):00(?:\.0+)?(?=Z|[+-][0-9]{2}:[0-9]{2}$)")


def without_seconds(event: Event) -> Event:
    """``eventTime`` written to the minute (the seconds are zero: the instant is the same).

    >>> without_seconds({"eventTime": "2026-04-01T04:30:00.000Z"})["eventTime"]
    '2026-04-01T04:30Z'
    """
    time, n = _SECONDS.subn(r"\1", event["eventTime"])
    assert n == 1, event["eventTime"]  # only where the seconds are zero
    return {**event, "eventTime": time}


def shuffled_order(event: Event, form: Form, rng: random.Random) -> list[str]:
    """The event's XML children in an order that leaves the XSD's sequence.

    ``action`` always comes before ``eventTime`` (and the rest is shuffled).
    """
    names = [n for n in event if n not in ("@context", "type")]
    if form == "xml-1.2":
        names += ["baseExtension", "extension"]
    rng.shuffle(names)
    names.remove("action")
    names.insert(names.index("eventTime"), "action")
    return names


# --- one event's plan --------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """How one event of a quarter is delivered: its form and its deviation classes."""

    form: Form
    bare_ilmd: bool = False
    vocabulary: bool = False
    units: bool = False
    minutes: bool = False
    order: bool = False
    unwrapped: bool = False
    xml_spelling: Literal["urn", "web"] = "urn"
    seed: int = 0

    def __repr__(self) -> str:
        on = [name for name, value in vars(self).items() if value is True]
        return f"{self.form}[{'+'.join(on)}|{self.xml_spelling}|{self.seed}]"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))  # one short line per event in a failure's report


ALL_CLASSES = {
    "bare_ilmd": True,
    "vocabulary": True,
    "units": True,
    "minutes": True,
    "order": True,
    "unwrapped": True,
}


def _plan(draw: tuple[Any, ...]) -> Plan:
    form, bare, vocabulary, unit, minutes, order, unwrapped, spelling, seed = draw
    return Plan(form, bare, vocabulary, unit, minutes, order, unwrapped, spelling, seed)


PLANS = st.tuples(
    st.sampled_from(FORMS),
    *[st.booleans()] * 6,
    st.sampled_from(("urn", "web")),
    st.integers(min_value=0, max_value=255),
).map(_plan)


def apply(event: Event, plan: Plan) -> tuple[Event, Layout, list[str]]:
    """The event rewritten by the plan, its XML layout, and the deviations that the
    standard does not allow in its form (each of which must leave a note)."""
    rng = random.Random(plan.seed)
    xml = plan.form.startswith("xml")
    deviations = []
    if plan.bare_ilmd and "ilmd" in event:
        event = bare_ilmd(event)
        deviations.append("bare ILMD names")
    if plan.vocabulary:
        drawn: list[Spelling] = []

        def pick() -> Spelling:
            drawn.append(rng.choice(SPELLINGS))
            return drawn[-1]

        event = respell(event, pick)
        odd = sorted(set(drawn) & DEVIANT_SPELLINGS["xml" if xml else "json"])
        if odd:
            deviations.append(f"vocabulary spelled {', '.join(odd)}")
    if plan.units and "quantityList" in event:
        event = units(event, {"KGM": rng.choice(("KG", "kg"))})
        deviations.append("unit spelling")
    if plan.minutes:
        event = without_seconds(event)
        deviations.append("time without seconds")
    layout = Layout(vocabulary="as-given" if plan.vocabulary else plan.xml_spelling)
    if xml and plan.order:
        layout = replace(layout, order=shuffled_order(event, plan.form, rng))
        deviations.append("XML order")
    if plan.form == "xml-1.2" and plan.unwrapped:
        layout = replace(layout, unwrapped=True)
        deviations.append("2.0 fields in a 1.2 document")
    return event, layout, deviations


def deliver(
    events: Sequence[Event], plans: Sequence[Plan], folder: Path
) -> dict[str, dict[int, list[str]]]:
    """Write the events by their plans, one file per form; return file name -> record
    number -> the deviations of that event that must leave a note."""
    by_form: dict[Form, list[tuple[Event, Layout, list[str]]]] = {}
    for event, plan in zip(events, plans, strict=True):
        by_form.setdefault(plan.form, []).append(apply(event, plan))
    expected: dict[str, dict[int, list[str]]] = {}
    for form, rows in by_form.items():
        path = folder / f"events-{form}{SUFFIX[form]}"
        write_events(path, form, [(e, layout) for e, layout, _ in rows])
        expected[path.name] = {i: d for i, (_, _, d) in enumerate(rows, 1) if d}
    return expected


# --- loading and what the store holds ------------------------------------------------------

Finding = tuple[Any, ...]


def findings(report: Report) -> tuple[list[Finding], list[Finding]]:
    """Each finding's fingerprint, rule, subject, period, severity, expected, observed,
    difference and unit; and the rules run."""
    found = sorted(
        (
            f.fingerprint,
            f.rule,
            tuple(sorted(f.subject.items())),
            f.period,
            f.severity.value,
            f.expected,
            f.observed,
            f.difference,
            f.unit,
        )
        for f in report.findings
    )
    return found, sorted((r.rule, r.status, r.findings) for r in report.rules_run)


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


#: The facts stored about each event, each row starting with the event's key.
STORED = {
    "events": """SELECT event_key, event_type, action, biz_step, disposition, lot, expiry,
                        epoch_us(event_time), tz_offset, local_date, read_point, biz_location,
                        parent_key
                 FROM events""",
    "epcs": """SELECT e.event_key, x.list, x.epc_key
               FROM event_epcs x JOIN events e USING (event_row)""",
    "quantities": """SELECT e.event_key, q.list, q.epc_class_key, q.gtin, q.lot, q.quantity, q.uom
                     FROM event_quantities q JOIN events e USING (event_row)""",
    "transactions": """SELECT e.event_key, t.type, t.value, t.ref
                       FROM event_biz_transactions t JOIN events e USING (event_row)""",
    "parties": """SELECT e.event_key, p.role, p.type, p.value_key, p.gln
                  FROM event_parties p JOIN events e USING (event_row)""",
}


def stored(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The facts the store holds (sorted rows of each table, each starting with the key)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {name: sorted(con.execute(sql).fetchall(), key=repr) for name, sql in STORED.items()}
    finally:
        con.close()


def of_events(
    facts: Mapping[str, list[tuple[Any, ...]]], keys: Mapping[str, int]
) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of the events named in ``keys`` (event key -> number), numbered instead."""
    return {
        name: sorted(((keys[r[0]], *r[1:]) for r in rows if r[0] in keys), key=repr)
        for name, rows in facts.items()
    }


def rejects(db: Path) -> list[tuple[Any, ...]]:
    """(file name, line, field, code, message) of each rejection."""
    rows = query(db, "SELECT source_file, line, field, code, message FROM rejects")
    return [(Path(r[0]).name, *r[1:]) for r in rows]


def notes(db: Path) -> list[tuple[Any, ...]]:
    """(file name, record, location, level, code, message) of each load note."""
    rows = query(db, "SELECT source_file, record, location, level, code, message FROM load_notes")
    return [(Path(r[0]).name, *r[1:]) for r in rows]


@dataclass(frozen=True)
class Case:
    """Canonical events and their deviant rendition in one form, which must load the same.

    ``note``: whether the rendition deviates from the standard (then it must leave a note);
    if not, it must leave no warning.
    """

    name: str
    canonical: Sequence[Event]
    deviant: Sequence[Event]
    form: Form
    layout: Layout = Layout()
    canonical_form: Form = "lines"
    note: bool = True


def identified(event: Event, case: int, role: str, n: int) -> Event:
    """The event under an eventID of its own (so that many cases share one store)."""
    return {**event, "eventID": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_OID, f'{case}.{role}.{n}')}"}


def lenient(tmp: Path, cases: Sequence[Case]) -> list[str]:
    """Load every case into one store (the canonical events, and the deviant ones in one
    file per form); return what went wrong with each case: a rejection, other facts, a
    missing note, or a warning about a standard rendition."""
    keys: dict[str, tuple[int, str, int]] = {}
    canonical: dict[Form, list[tuple[Event, Layout]]] = {}
    deviant: dict[Form, list[tuple[Event, Layout]]] = {}
    records: dict[tuple[str, int], tuple[int, int]] = {}  # (file, record) -> (case, event)
    for i, case in enumerate(cases):
        for role, events in (("c", case.canonical), ("d", case.deviant)):
            form = case.canonical_form if role == "c" else case.form
            rows = (canonical if role == "c" else deviant).setdefault(form, [])
            for n, event in enumerate(events):
                keyed = identified(event, i, role, n)
                keys[keyed["eventID"]] = (i, role, n)
                rows.append((keyed, Layout() if role == "c" else case.layout))
                if role == "d":
                    records[(f"deviant-{form}{SUFFIX[form]}", len(rows))] = (i, n)
    files = [
        write_events(tmp / f"{role}-{form}{SUFFIX[form]}", form, rows)
        for role, by_form in (("canonical", canonical), ("deviant", deviant))
        for form, rows in by_form.items()
    ]
    db = tmp / "cases.duckdb"
    load(db, files)
    problems = []
    rejected: dict[tuple[int, int], list[tuple[Any, ...]]] = {}
    for r in rejects(db):
        if (r[0], r[1]) in records:
            rejected.setdefault(records[(r[0], r[1])], []).append(r)
        else:
            problems.append(f"a rejection of a canonical event: {r}")
    noted: dict[tuple[int, int], list[tuple[Any, ...]]] = {}
    for n in notes(db):
        if (n[0], n[1]) in records:
            noted.setdefault(records[(n[0], n[1])], []).append(n)
    everything = stored(db)
    for i, case in enumerate(cases):
        facts = {
            role: of_events(
                everything, {k: n for k, (c, r, n) in keys.items() if (c, r) == (i, role)}
            )
            for role in ("c", "d")
        }
        refused = [r for n in range(len(case.deviant)) for r in rejected.get((i, n), [])]
        for r in refused:
            problems.append(f"{case.name}: rejected: {r[2]}: {r[3]}: {r[4]}")
        for table in () if refused else STORED:
            if facts["d"][table] != facts["c"][table]:
                problems.append(
                    f"{case.name}: {table} {facts['d'][table]} instead of {facts['c'][table]}"
                )
        for n, event in enumerate(case.deviant):
            mine = noted.get((i, n), [])
            what = f"{case.name}: {event['type']} {event.get('bizStep', '').strip()}"
            if case.note and not mine and (i, n) not in rejected:
                problems.append(f"{what}: no load note")
            warnings = [note for note in mine if note[3] == "warning"]
            if not case.note and warnings:
                problems.append(f"{what}: warned about a standard rendition: {warnings}")
    return problems


def expect_lenient(tmp: Path, cases: Sequence[Case]) -> None:
    problems = lenient(tmp, cases)
    assert not problems, f"{len(problems)} problems in {len(cases)} cases:\n" + "\n".join(problems)


# --- small events of each shape ----------------------------------------------------------

OFFSET = "+05:30"
SITE = "urn:epc:id:sgln:8901234.00000.0"  # GLN 8901234000007


def sgtin(serial: str) -> str:
    return f"urn:epc:id:sgtin:8901234.000001.{serial}"  # GTIN 08901234000014


def commission() -> Event:
    return {
        "type": "ObjectEvent",
        "eventID": "urn:uuid:0c0c0c0c-0000-4000-8000-000000000001",
        "eventTime": "2026-01-10T09:00:00+05:30",
        "eventTimeZoneOffset": OFFSET,
        "epcList": [sgtin("S1"), sgtin("S2")],
        "action": "ADD",
        "bizStep": "commissioning",
        "disposition": "active",
        "readPoint": {"id": SITE},
        "bizLocation": {"id": SITE},
        "ilmd": {"cbvmda:lotNumber": "L2401", "cbvmda:itemExpirationDate": "2028-01-31"},
    }


def bulk_commission(uom: str = "KGM", quantity: str = "25.5") -> Event:
    return {
        "type": "ObjectEvent",
        "eventID": "urn:uuid:0c0c0c0c-0000-4000-8000-000000000002",
        "eventTime": "2026-01-11T11:00:00+05:30",
        "eventTimeZoneOffset": OFFSET,
        "quantityList": [
            {
                "epcClass": "urn:epc:class:lgtin:8901234.000002.E1",
                "quantity": Decimal(quantity),
                "uom": uom,
            }
        ],
        "action": "ADD",
        "bizStep": "commissioning",
        "disposition": "active",
        "readPoint": {"id": SITE},
        "bizLocation": {"id": SITE},
        "ilmd": {"cbvmda:lotNumber": "E1", "cbvmda:itemExpirationDate": "2029-01-31"},
    }


def pack() -> Event:
    return {
        "type": "AggregationEvent",
        "eventID": "urn:uuid:0c0c0c0c-0000-4000-8000-000000000003",
        "eventTime": "2026-01-12T09:30:00+05:30",
        "eventTimeZoneOffset": OFFSET,
        "parentID": "urn:epc:id:sscc:8901234.0000000018",
        "childEPCs": [sgtin("S1"), sgtin("S2")],
        "action": "ADD",
        "bizStep": "packing",
        "disposition": "in_progress",
        "readPoint": {"id": SITE},
        "bizLocation": {"id": SITE},
    }


def ship(time: str = "2026-01-20T14:00:00+05:30") -> Event:
    return {
        "type": "ObjectEvent",
        "eventID": "urn:uuid:0c0c0c0c-0000-4000-8000-000000000004",
        "eventTime": time,
        "eventTimeZoneOffset": OFFSET,
        "epcList": ["urn:epc:id:sscc:8901234.0000000018"],
        "quantityList": [
            {
                "epcClass": "urn:epc:class:lgtin:8901234.000002.E1",
                "quantity": Decimal("12.5"),
                "uom": "KGM",
            }
        ],
        "action": "OBSERVE",
        "bizStep": "shipping",
        "disposition": "in_transit",
        "readPoint": {"id": SITE},
        "bizTransactionList": [
            {"type": "bol", "bizTransaction": "urn:epcglobal:cbv:bt:8901234000007:BOL-1"}
        ],
        "sourceList": [
            {"type": "owning_party", "source": "urn:epc:id:pgln:8901234.00000"},
            {"type": "location", "source": SITE},
        ],
        "destinationList": [
            {"type": "owning_party", "destination": "urn:epc:id:pgln:4012345.00000"},
            {"type": "location", "destination": "urn:epc:id:sgln:4012345.00000.0"},
        ],
    }


def with_sensor_data(event: Event) -> Event:
    """The event with a temperature reading (EPCIS 2.0 sensor data)."""
    reading = {"type": "gs1:Temperature", "value": Decimal("4.5"), "uom": "CEL"}
    return {
        **event,
        "sensorElementList": [
            {"sensorMetadata": {"time": "2026-01-20T13:50:00+05:30"}, "sensorReport": [reading]}
        ],
    }


def every_shape() -> list[Event]:
    return [commission(), bulk_commission(), pack(), ship()]


# --- the delivery forms --------------------------------------------------------------------


def test_the_same_events_in_each_delivery_form_are_the_same_facts(tmp_path: Path) -> None:
    """JSON Lines, a JSON-LD document and XML 2.0 and 1.2 (CBV values as URNs or as web URIs)
    hold the same facts, and are not warned about."""
    cases = [Case(form, every_shape(), every_shape(), form, note=False) for form in FORMS]
    cases += [
        Case(f"{form} with {spelling}s", every_shape(), every_shape(), form,
             Layout(vocabulary=spelling), note=False)
        for form in ("xml-2.0", "xml-1.2")
        for spelling in ("urn", "web")
    ]  # fmt: skip
    expect_lenient(tmp_path, cases)


XSDS = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "gs1-epcis-2.0.1-schema"
XSD_FILES = {"2.0": "xsd/2_0_0/EPCglobal-epcis-2_0.xsd", "1.2": "xsd/1_2_0/EPCglobal-epcis-1_2.xsd"}


@pytest.mark.parametrize("version", ["2.0", "1.2"])
def test_the_xml_writer_follows_the_official_xsds(version: Literal["2.0", "1.2"]) -> None:
    """The canonical XML is valid against the official XSD (read where present, never
    copied); the layouts that deviate are not, so the deviations tested here are real."""
    path = XSDS / XSD_FILES[version]
    if not path.is_file():
        pytest.skip("the official EPCIS XSDs are not next to the repository")
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    schema = etree.XMLSchema(etree.parse(str(path), parser))
    events = [*every_shape(), with_sensor_data(ship())] if version == "2.0" else every_shape()

    def valid(layout: Layout, rewrite: Callable[[Event], Event] = lambda e: e) -> bool:
        entries = [(rewrite(event), layout) for event in events]
        document = xml_document(entries, version, creation_date=CREATED)
        return bool(schema.validate(etree.fromstring(document, parser)))

    assert valid(Layout()), schema.error_log
    assert valid(Layout(vocabulary="web")), schema.error_log
    assert not valid(Layout(order=["action", "eventTime"]))
    assert not valid(Layout(), without_seconds)
    if version == "1.2":
        assert valid(Layout(), with_sensor_data), schema.error_log  # inside extension
        assert not valid(Layout(unwrapped=True))


# --- one deviation class at a time ---------------------------------------------------------


def test_bare_ilmd_names_load_with_a_note(tmp_path: Path) -> None:
    events = [commission(), bulk_commission()]
    cases = [Case(form, events, [bare_ilmd(e) for e in events], form) for form in FORMS]
    expect_lenient(tmp_path, cases)


ORDERS = {
    "action before eventTime": ["action", "eventTime"],
    "bizStep before epcList": ["bizStep", "epcList", "childEPCs"],
    "ilmd and lists first": ["ilmd", "destinationList", "sourceList", "quantityList", "eventID"],
    "extension before baseExtension": ["extension", "disposition", "baseExtension"],
}


def test_xml_children_out_of_the_xsd_order_load_with_a_note(tmp_path: Path) -> None:
    cases = [
        Case(f"{form}: {name}", [event], [event], form, Layout(order=order))
        for form in ("xml-2.0", "xml-1.2")
        for name, order in ORDERS.items()
        for event in every_shape()
        # In 1.2 the ILMD, the party and quantity lists and the eventID sit inside their
        # wrappers, whose place that order does not change: no deviation to note there.
        if (form == "xml-2.0" and "extension" not in order)
        or (form == "xml-1.2" and name != "ilmd and lists first")
    ]
    expect_lenient(tmp_path, cases)


def test_each_vocabulary_spelling_loads_the_same(tmp_path: Path) -> None:
    """Every CBV value of the events (business step, disposition, business transaction,
    source and destination types) in one spelling, in each form."""
    cases = []
    for form in FORMS:
        deviant = DEVIANT_SPELLINGS["xml" if form.startswith("xml") else "json"]
        for spelling in SPELLINGS:
            events = [respell(e, itertools.repeat(spelling).__next__) for e in every_shape()]
            cases.append(
                Case(
                    f"{form}: {spelling}",
                    every_shape(),
                    events,
                    form,
                    Layout(vocabulary="as-given"),
                    note=spelling in deviant,
                )
            )
    expect_lenient(tmp_path, cases)


def test_unit_spellings_load_as_their_codes_with_a_note(tmp_path: Path) -> None:
    cases = [
        Case(
            f"{form}: {spelling}",
            [bulk_commission(code)],
            [units(bulk_commission(code), {code: spelling})],
            form,
        )
        for form in FORMS
        for spelling, code in UNIT_SPELLINGS.items()
    ]
    expect_lenient(tmp_path, cases)


def test_lb_loads_as_pounds_with_a_note(tmp_path: Path) -> None:
    """``LB`` is a pound (``LBR``): the quantity stays as written, in pounds."""
    files = {}
    for i, form in enumerate(FORMS):
        event = identified(bulk_commission("LB"), i, "lb", 0)
        files[form] = write_events(tmp_path / f"lb-{form}{SUFFIX[form]}", form, [(event, Layout())])
    db = tmp_path / "lb.duckdb"
    load(db, list(files.values()))
    assert rejects(db) == []
    quantities = stored(db)["quantities"]
    assert [row[-2:] for row in quantities] == [(Decimal("25.5"), "LBR")] * len(FORMS)
    assert sorted({n[0] for n in notes(db)}) == sorted(path.name for path in files.values())


def test_a_1_2_document_with_2_0_fields_loads_with_a_note(tmp_path: Path) -> None:
    """The 2.0 layout (no ``baseExtension`` / ``extension`` wrappers) in a 1.2 document:
    ``eventID``, ``quantityList``, ``sourceList``, ``destinationList`` and ``ilmd`` directly in
    the event; and ``sensorElementList``, which 1.2 does not have."""
    sensed = with_sensor_data(ship())
    cases = [
        Case("2.0 layout", [event], [event], "xml-1.2", Layout(unwrapped=True))
        for event in every_shape()
    ]  # fmt: skip
    cases += [
        Case("sensor data, wrapped", [sensed], [sensed], "xml-1.2", canonical_form="xml-2.0"),
        Case("sensor data, unwrapped", [sensed], [sensed], "xml-1.2", Layout(unwrapped=True),
             canonical_form="xml-2.0"),
    ]  # fmt: skip
    expect_lenient(tmp_path, cases)


TIMES = ("2026-01-20T14:00:00+05:30", "2026-01-20T08:30:00.000Z", "2026-03-31T23:30:00-05:00")


def test_a_time_without_seconds_loads_with_a_note(tmp_path: Path) -> None:
    cases = [
        Case(f"{form}: {time}", [ship(time)], [without_seconds(ship(time))], form)
        for form in FORMS
        for time in TIMES
    ]
    expect_lenient(tmp_path, cases)


# --- an invalid identifier inside a list ---------------------------------------------------

GOOD = ("https://id.gs1.org/01/08901234000014/21/S1", "https://id.gs1.org/01/08901234000014/21/S3")
BAD = "https://id.gs1.org/01/08901234000015/21/S2"  # check digit 5, not 4


def test_an_invalid_epc_in_a_list_rejects_that_epc_alone(tmp_path: Path) -> None:
    """An event with three SGTINs, the second with a wrong check digit, is stored with the
    other two; the one rejection names the list and the position."""
    files, ids = {}, {}
    for i, form in enumerate(FORMS):
        event = identified({**commission(), "epcList": [GOOD[0], BAD, GOOD[1]]}, i, "bad", 0)
        ids[event["eventID"]] = form
        path = tmp_path / f"bad-{form}{SUFFIX[form]}"
        files[form] = write_events(path, form, [(event, Layout())])
    db = tmp_path / "bad.duckdb"
    load(db, list(files.values()))
    rejected, facts = rejects(db), stored(db)
    problems = []
    for key, form in ids.items():
        mine = [r for r in rejected if r[0] == files[form].name]
        if [(r[1], r[2]) for r in mine] != [(1, "epcList[1]")]:
            problems.append(f"{form}: rejections {mine}")
        if not any(row[0] == key for row in facts["events"]):
            problems.append(f"{form}: the event is not stored")
        epcs = [row[1:] for row in facts["epcs"] if row[0] == key]
        if epcs != [("epcList", epc) for epc in GOOD]:
            problems.append(f"{form}: stored EPCs {epcs}")
    assert not problems, "\n".join(problems)


# --- every class on every event of a generated quarter -------------------------------------


@dataclass(frozen=True)
class Quarter:
    folder: Path
    events: list[Event]
    report: tuple[list[Finding], list[Finding]]


@pytest.fixture(scope="module")
def quarters(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int], Quarter]:
    """seed -> the generated quarter, its events and the report of loading it as written."""
    cache: dict[int, Quarter] = {}

    def get(seed: int) -> Quarter:
        if seed not in cache:
            root = tmp_path_factory.mktemp(f"seed{seed}")
            sample = generate_quarter(root / "data", seed=seed, plant=PLANTS, **SMALL)
            assert not load(root / "canonical.duckdb", [sample.folder]).rejections
            report = findings(traceability.reconcile(root / "canonical.duckdb"))
            assert len(report[0]) == len(PLANTS), report[0]
            lines = (sample.folder / "events.jsonl").read_text(encoding="utf-8").splitlines()
            events = [json.loads(line, parse_float=Decimal) for line in lines]
            cache[seed] = Quarter(sample.folder, events, report)
        return cache[seed]

    return get


def check_quarter(quarter: Quarter, plans: Sequence[Plan]) -> None:
    """Deliver the quarter's events by their plans, load, reconcile and compare."""
    with workdir() as tmp:
        data = copy_folder(quarter.folder, tmp / "data")
        (data / "events.jsonl").unlink()
        expected = deliver(quarter.events, plans, data)
        db = tmp / "deviant.duckdb"
        load(db, [data])
        rejected = rejects(db)
        codes = Counter(r[3] for r in rejected)
        assert rejected == [], f"rejected {dict(codes)}: " + summarise(rejected)
        assert findings(traceability.reconcile(db)) == quarter.report
        noted = {(Path(n[0]).name, n[1]) for n in notes(db)}
        silent = [
            (name, record, why)
            for name, records in expected.items()
            for record, why in records.items()
            if (name, record) not in noted
        ]
        reasons = Counter(why for _, _, whys in silent for why in whys)
        assert silent == [], f"no note about {dict(reasons)}: " + summarise(silent)


def summarise(rows: Sequence[tuple[Any, ...]]) -> str:
    """The first rows of a long list, and how many there are."""
    return f"{len(rows)} rows, the first: " + "\n".join(map(str, rows[:8]))


@pytest.mark.slow
@settings(
    max_examples=4,
    **{
        **QUARTER,
        "suppress_health_check": [
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    },
)
@given(seed=st.sampled_from(SEEDS), data=st.data())
def test_deviations_drawn_per_event_change_no_finding(
    quarters: Callable[[int], Quarter], seed: int, data: st.DataObject
) -> None:
    quarter = quarters(seed)
    n = len(quarter.events)
    plans = data.draw(st.lists(PLANS, min_size=n, max_size=n), label="plans")
    check_quarter(quarter, plans)


def test_every_deviation_on_every_event_changes_no_finding(
    quarters: Callable[[int], Quarter],
) -> None:
    """Every class at once, the events dealt round the four delivery forms."""
    quarter = quarters(0)
    plans = [
        Plan(form=FORMS[i % len(FORMS)], seed=i, **ALL_CLASSES) for i in range(len(quarter.events))
    ]
    check_quarter(quarter, plans)
