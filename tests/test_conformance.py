"""The public GS1 EPCIS conformance corpus, walked whole.

The corpus lives next to the repository in ``../shared/conformance`` (its README says where
each folder comes from; ``MANIFEST.csv`` lists every EPCIS-like file with the upstream's
intent); these tests skip when it is absent. Each group of the corpus is loaded in one
load, and every file must end as upstream intends: a valid document loads, a file kept in
an ``Invalid/`` folder is rejected with a reason, master data is skipped with a note. The
exceptions are listed below, each with the reason tracecheck decides otherwise. The JSON
and XML renditions of the same upstream example must give the same stored events, and
XML event hashes must equal the reference vectors (or the hashes of the JSON rendition).
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pytest
from lxml import etree

from traceability.errors import UnreadableFile
from traceability.load import load
from traceability.load.checks import CHECKS
from traceability.load.epcis.eventhash import event_hash
from traceability.load.epcis.read_documents import read_document
from traceability.load.epcis.read_xml import XSD_VARIABLE, read_xml
from traceability.store import connect

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "conformance"
MANIFEST = CORPUS / "MANIFEST.csv"

pytestmark = pytest.mark.skipif(not MANIFEST.is_file(), reason=f"no corpus at {CORPUS}")

GROUPS = {
    "event-hash": "event-hash/",
    "gs1-epcis": "gs1-epcis/",
    "openepcis-1.2": "openepcis-test-resources/1.2/",
    "openepcis-2.0-capture": "openepcis-test-resources/2.0/EPCIS/*/Capture/",
    "openepcis-2.0-query": "openepcis-test-resources/2.0/EPCIS/*/Query/",
    "quartet-epcis": "quartet-epcis/",
}

# Every upstream-valid file loads whole: what used to lose events here (quartet's "LB"
# units, declaration times without seconds, elements out of the XSD's sequence in
# JumbledFieldsOrder.xml and SensorDataExamples.xml) now loads, with a note.

#: JSON files whose XML rendition upstream says something else, and what.
RENDITIONS_THAT_DIFFER = {
    # errorDeclaration.declarationTime 14:00:00Z in JSON, 14:00:00.000+01:00 in XML.
    "openepcis-test-resources/2.0/EPCIS/JSON/Capture/Documents/Combination_of_different_event.json",
    "openepcis-test-resources/2.0/EPCIS/JSON/Query/Combination_of_different_event.json",
    # readPoint sgln 0614141.07346.1234 in JSON, 4012345.00000.0 in XML; the input
    # quantity 500 KGM in JSON is xsi:nil without unit in XML.
    "gs1-epcis/JSON/WithErrorDeclaration/ErrorDeclarationAndCorrectiveEvent.jsonld",
    # The JSON has certificationInfo and an eventID; the XML has neither.
    "gs1-epcis/JSON/WithFullCombinationOfFields/aggregation_event_all_possible_fields.jsonld",
    "gs1-epcis/JSON/WithFullCombinationOfFields/association_event_all_possible_fields.jsonld",
    "gs1-epcis/JSON/WithFullCombinationOfFields/object_event_all_possible_fields.jsonld",
    "gs1-epcis/JSON/WithFullCombinationOfFields/transaction_event_all_possible_fields.jsonld",
    "gs1-epcis/JSON/WithFullCombinationOfFields/transformation_event_all_possible_fields.jsonld",
    # errorDeclaration.declarationTime 2020-01-15T00:00Z in JSON, 2020-01-14T23:00Z in XML.
    "openepcis-test-resources/2.0/EPCIS/JSON/Capture/Events/TransformationEvent.json",
    # The XML has an empty <rail:vehicleMasterGIAI/> that the JSON leaves out.
    "openepcis-test-resources/2.0/EPCIS/JSON/Capture/Events/TransactionEvent.json",
    # The XML's sensor type is https://ref.gs1.org/voc/Speed, not gs1:Speed
    # (https://gs1.org/voc/Speed) as in the JSON.
    "openepcis-test-resources/2.0/EPCIS/JSON/Query/queryDocument.json",
    # The lot is in namespace http://example.com/cbvmda/ in both; the JSON binds the
    # prefix cbvmda to it, and the loader reads the lot from the literal key
    # cbvmda:lotNumber, so only the JSON's lot column is filled.
    "openepcis-test-resources/2.0/EPCIS/JSON/Capture/Documents/"
    "TransformationEvent_all_possible_fields.json",
    # ILMD in the XML binding's namespace urn:epcglobal:cbv:mda, which the JSON writes
    # as cbvmda: (urn:epcglobal:cbv:mda:); the event hash keeps the namespace as given,
    # as the reference vectors do (event-hash SensorDataExamples.xml, event 12), so the
    # events without an eventID get other keys. The stored facts are the same.
    *(
        f"openepcis-test-resources/2.0/EPCIS/JSON/{folder}/{name}.json"
        for folder, name in (
            ("Capture/Documents", "SensorData_with_combined_events"),
            ("Capture/Documents", "TransformationEvent_with_userExtensions"),
            ("Query", "SensorData_with_combined_events"),
        )
    ),
}

#: Files upstream keeps in an Invalid/ folder that load, with the warning each gets. Each
#: deviates from the standard in a way that leaves the business meaning of its event clear,
#: and tracecheck loads such a record with a note (docs/input-formats.md, "What is rejected
#: and what is noted"); ``tracecheck validate`` reports each of them as not conforming.
#: The corpus itself calls the same deviation valid elsewhere: JumbledFieldsOrder.xml (two
#: copies) has its elements out of the XSD's sequence too.
INVALID_BUT_LOADED: dict[str, str] = {
    "openepcis-test-resources/2.0/EPCIS/JSON/Capture/Invalid/"
    "ObjectEvent_with_ilmd_field_without_namespace.json": "unknown-field",
    "openepcis-test-resources/2.0/EPCIS/JSON/Capture/Invalid/"
    "ObjectEvent_with_unknown_field_in_quantityList.json": "unknown-field",
    "openepcis-test-resources/2.0/EPCIS/XML/Capture/Invalid/"
    "ObjectEvent_with_unknown_element.xml": "unknown-field",
    "openepcis-test-resources/2.0/EPCIS/XML/Capture/Invalid/"
    "ObjectEvent_with_wrong_element_order.xml": "xml-element-order",
}

#: The folder of the official EPCIS XSDs in the corpus, for the optional XSD check.
XSD_FOLDER = CORPUS / "gs1-epcis-2.0.1-schema" / "xsd"


def _manifest() -> list[dict[str, str]]:
    with MANIFEST.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _in_group(path: str, pattern: str) -> bool:
    head, star, tail = pattern.partition("*/")
    if not star:
        return path.startswith(pattern)
    return path.startswith(head) and f"/{tail}" in path[len(head) :]


def _query(con: duckdb.DuckDBPyConnection, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    return con.execute(sql, list(params)).fetchall()


def _stored_events(con: duckdb.DuckDBPyConnection, load_id: int) -> dict[str, Any]:
    """Events stored by one load, projected onto what reconciliation reads, by event key."""
    queries = (
        "SELECT event_row, event_type, action, biz_step, disposition, event_time::VARCHAR,"
        " tz_offset, local_date::VARCHAR, read_point, biz_location, parent_key, lot,"
        " expiry::VARCHAR, error_declared_at::VARCHAR, error_reason, corrective_event_ids"
        " FROM events",
        "SELECT event_row, list, epc_key FROM event_epcs",
        "SELECT event_row, list, epc_class_key, gtin, lot, quantity, uom FROM event_quantities",
        "SELECT event_row, type, value, ref FROM event_biz_transactions",
        "SELECT event_row, role, type, value_key, gln FROM event_parties",
    )
    keys = dict(_query(con, "SELECT event_row, event_key FROM events WHERE load_id = ?", load_id))
    parts: dict[int, list[list[Any]]] = {row: [[] for _ in queries] for row in keys}
    for i, sql in enumerate(queries):
        for row, *member in _query(
            con,
            f"SELECT * FROM ({sql}) WHERE event_row IN (SELECT event_row FROM events "
            "WHERE load_id = ?)",
            load_id,
        ):
            parts[row][i].append(tuple(member))
    out: dict[str, list[Any]] = {}
    for row, members in parts.items():
        out.setdefault(keys[row], []).append(tuple(tuple(sorted(m, key=repr)) for m in members))
    return {key: sorted(versions, key=repr) for key, versions in out.items()}


def _event_keys(path: Path) -> list[str]:
    """eventID, or event hash, of each event of a document, in order."""
    document = read_document(path)
    return [
        item.event.get("eventID") or event_hash(item.event, document.context)
        for item in document.items
    ]


def _same_events(con: duckdb.DuckDBPyConnection, json_load: int, xml_load: int) -> bool:
    """Whether two loads stored the same canonical events.

    An event of the second that repeats one stored before to the letter is not stored
    again; its key then appears in one load only, and is compared through the keys.
    """
    first, second = _stored_events(con, json_load), _stored_events(con, xml_load)
    return all(first[k] == second[k] for k in first.keys() & second.keys())


def _rendition(path: str, loaded: set[str]) -> str | None:
    """The XML rendition of a JSON file, when the corpus has one."""
    stem = path.rsplit(".", 1)[0].replace("/JSON/", "/XML/")
    candidate = stem + ".xml"
    return candidate if candidate != path and candidate in loaded else None


@pytest.mark.slow
@pytest.mark.parametrize("group", list(GROUPS))
def test_corpus_loads_as_upstream_intends(
    group: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(XSD_VARIABLE, str(XSD_FOLDER))  # the XSD deviations as warnings too
    rows = [r for r in _manifest() if _in_group(r["path"], GROUPS[group])]
    assert rows
    unreadable: dict[str, str] = {}
    readable: list[str] = []
    for row in rows:
        try:
            list(read_document(CORPUS / row["path"]).items)
        except UnreadableFile as exc:
            unreadable[row["path"]] = str(exc)
        else:
            readable.append(row["path"])
    con = connect(":memory:")  # in memory: the corpus is small and this is faster
    try:
        result = load(con, [CORPUS / p for p in readable])
        outcome: dict[str, str] = {}
        reasons: dict[str, set[str]] = {}
        notes: dict[str, set[str]] = {}
        load_ids: dict[str, int] = {}
        for path, file in zip(readable, result.files, strict=True):
            assert file.load_id is not None or file.status == "already-loaded"
            codes = _query(con, "SELECT code FROM rejects WHERE load_id = ?", file.load_id)
            reasons[path] = {c for (c,) in codes}
            noted = _query(con, "SELECT code FROM load_notes WHERE load_id = ?", file.load_id)
            notes[path] = {c for (c,) in noted}
            assert file.notes == len(noted)
            if file.load_id is not None:
                load_ids[path] = file.load_id
            if file.status == "already-loaded":
                outcome[path] = "loaded"  # byte-identical to a file loaded before
            elif file.rejected:
                outcome[path] = "rejected"
            elif file.records == 0 and any(n.endswith("-skipped") for n in notes[path]):
                outcome[path] = "skipped"
            else:
                outcome[path] = "loaded"
        for path, message in unreadable.items():
            outcome[path] = "rejected"
            assert message.startswith(str(CORPUS / path))  # the reason names the file

        # Every code written has its entry, with the class it was written as.
        for path in readable:
            for code in reasons[path]:
                assert CHECKS[code].outcome == "reject", (path, code)
            for code in notes[path]:
                assert CHECKS[code].outcome == "note", (path, code)

        intents = {r["path"]: r["upstream_intent"] for r in rows}
        roots = {r["path"]: r["root"] for r in rows}
        counts = Counter((intents[p].split(";")[0], outcome[p]) for p in outcome)
        events = _query(
            con,
            "SELECT count(*) FROM events WHERE list_contains(?, load_id)",
            list(load_ids.values()),
        )[0][0]
        print(f"\n{group}: {len(rows)} files, {events} events stored")
        for (intent, what), n in sorted(counts.items()):
            print(f"  upstream {intent:<16} -> {what:<9} {n}")
        for path in sorted(outcome):
            if outcome[path] == "rejected":
                why = unreadable.get(path) or ", ".join(sorted(reasons[path]))
                print(f"  rejected: {path.split('/')[-1]}: {why[-110:]}")

        for path, intent in intents.items():
            invalid = intent == "invalid" and "/Invalid/" in path
            if path in INVALID_BUT_LOADED:
                assert outcome[path] == "loaded" and INVALID_BUT_LOADED[path] in notes[path]
            elif invalid:
                assert outcome[path] == "rejected", path
                assert path in unreadable or reasons[path], path
            elif roots[path] == "EPCISMasterDataDocument":
                assert outcome[path] == "skipped", path
                assert "master-data-skipped" in notes[path]
            elif intent.startswith("query definition"):
                assert path in unreadable and "query" in unreadable[path], path
            elif intent.startswith("valid"):
                assert outcome[path] in ("loaded", "skipped"), (path, unreadable.get(path))
                assert not reasons.get(path), (path, reasons[path])

        # The XSD check: a file the official XSD accepts gets no XSD warning; the events
        # of a file it rejects do (unless what it rejects is the header, which is not
        # validated, or the file is a bare event); each warning names its line.
        xsd_warned = {
            path
            for path, codes in notes.items()
            if "xsd" in codes and path in load_ids and path.endswith(".xml")
        }
        for path in readable:
            check = next(r["schema_check"] for r in rows if r["path"] == path)
            if check.startswith("valid (XSD"):
                assert path not in xsd_warned, path
        for (where,) in _query(
            con,
            "SELECT location FROM load_notes WHERE code = 'xsd' AND list_contains(?, load_id)",
            list(load_ids.values()),
        ):
            assert "(line " in where
        print(f"  files with XSD warnings: {len(xsd_warned)}")

        compared = 0
        for path in readable:
            xml = _rendition(path, set(load_ids))
            if xml is None or reasons[path] or reasons[xml] or path not in load_ids:
                continue
            same = _event_keys(CORPUS / path) == _event_keys(CORPUS / xml) and _same_events(
                con, load_ids[path], load_ids[xml]
            )
            assert same == (path not in RENDITIONS_THAT_DIFFER), (path, xml)
            compared += same
        print(f"  JSON/XML renditions compared, same stored events: {compared}")
    finally:
        con.close()


# --------------------------------------------------------------------------------------
# Event hashes of XML-derived events
# --------------------------------------------------------------------------------------

EXAMPLES = CORPUS / "event-hash" / "examples"


def _hashes(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def _ignore_fields(path: Path) -> list[str]:
    """The repository-specific ignoreFields of a test document (not part of EPCIS)."""
    tree = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))
    return [field.tag for fields in tree.iter("{*}ignoreFields") for field in fields]


@pytest.mark.skipif(not EXAMPLES.is_dir(), reason="no event-hash vectors")
@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.xml")), ids=lambda p: p.stem)
def test_xml_event_hashes_match_the_vectors_and_the_json_rendition(path: Path) -> None:
    items = list(read_xml(path).items)
    ignore = _ignore_fields(path)
    got = [event_hash(item.event, ignore_fields=ignore) for item in items]
    expected = _hashes(path.with_suffix(".hashes"))
    assert got == expected
    rendition = path.with_suffix(".jsonld")
    if rendition.exists():
        json_items = list(read_document(rendition).items)
        doc = read_document(rendition)
        json_hashes = [event_hash(i.event, doc.context, ignore_fields=ignore) for i in json_items]
        assert got == json_hashes


@pytest.mark.skipif(not EXAMPLES.is_dir(), reason="no event-hash vectors")
@pytest.mark.parametrize(
    "path", sorted((CORPUS / "event-hash" / "expected_equal").glob("*.xml")), ids=lambda p: p.stem
)
def test_xml_serialisations_of_one_event_hash_equal(path: Path) -> None:
    hashes = {event_hash(item.event) for item in read_xml(path).items}
    assert len(hashes) == 1
