"""EPCIS XML ingest, document checks, kept payloads, notes and the sorting of versions."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import event, write_jsonl

from traceability.errors import UnreadableFile
from traceability.load import load
from traceability.load.epcis import pipeline as events_module
from traceability.store import STORE_VERSION, connect

HEAD_12 = (
    '<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:1" '
    'xmlns:cbvmda="urn:epcglobal:cbv:mda" xmlns:ex="https://ns.example.com/epcis/" '
    'schemaVersion="1.2" creationDate="2026-02-01T00:00:00Z"><EPCISBody><EventList>'
)
TAIL = "</EventList></EPCISBody></epcis:EPCISDocument>"

COMMISSION_12 = """
<ObjectEvent>
  <eventTime>2026-01-12T10:15:00+05:30</eventTime>
  <eventTimeZoneOffset>+05:30</eventTimeZoneOffset>
  <baseExtension><eventID>urn:uuid:c1</eventID></baseExtension>
  <epcList><epc>urn:epc:id:sgtin:8901234.000001.S000001</epc></epcList>
  <action>ADD</action>
  <bizStep>urn:epcglobal:cbv:bizstep:commissioning</bizStep>
  <bizTransactionList>
    <bizTransaction
      type="urn:epcglobal:cbv:btt:po">urn:epcglobal:cbv:bt:8901234000007:PO-7</bizTransaction>
  </bizTransactionList>
  <extension>
    <quantityList><quantityElement>
      <epcClass>urn:epc:class:lgtin:8901234.000002.B7</epcClass>
      <quantity>12345678901234.123456789012</quantity><uom>KGM</uom>
    </quantityElement></quantityList>
    <sourceList>
      <source type="urn:epcglobal:cbv:sdt:owning_party">urn:epc:id:pgln:8901234.00000</source>
    </sourceList>
    <ilmd>
      <cbvmda:lotNumber>L2401</cbvmda:lotNumber>
      <cbvmda:itemExpirationDate>2028-01-05</cbvmda:itemExpirationDate>
    </ilmd>
  </extension>
  <ex:temperature>4.50</ex:temperature>
</ObjectEvent>
"""


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[Any, ...]]:
    return con.execute(sql).fetchall()


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_1_2_document_loads_with_its_wrappers_unwrapped(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.xml", HEAD_12 + COMMISSION_12 + TAIL)
    con = connect(tmp_path / "s.duckdb")
    result = load(con, [path])
    assert (result.files[0].accepted, result.files[0].rejected) == (1, 0)
    assert _rows(con, "SELECT event_key, biz_step, lot, expiry::VARCHAR FROM events") == [
        ("urn:uuid:c1", "commissioning", "L2401", "2028-01-05")
    ]
    assert _rows(con, "SELECT quantity, uom FROM event_quantities") == [
        (Decimal("12345678901234.123456789012"), "KGM")
    ]
    assert _rows(con, "SELECT type, ref FROM event_biz_transactions") == [("po", "PO-7")]
    assert _rows(con, "SELECT role, type FROM event_parties") == [("source", "owning_party")]
    (payload,) = _rows(con, "SELECT payload FROM event_payloads")[0]
    kept = json.loads(payload)
    assert kept["ex:temperature"] == "4.50"  # the user extension, with its prefix declared
    # The user extension's prefix, and cbvmda bound to the namespace the XML gave it.
    assert kept["@context"] == {
        "cbvmda": "urn:epcglobal:cbv:mda",
        "ex": "https://ns.example.com/epcis/",
    }
    con.close()


def test_a_large_document_is_read_in_chunks_with_stable_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = []
    for n in range(40):
        action = "CREATE" if n == 17 else "OBSERVE"
        events.append(
            f"<ObjectEvent><eventTime>2026-01-12T10:15:00Z</eventTime>"
            f"<eventTimeZoneOffset>+00:00</eventTimeZoneOffset>"
            f"<epcList><epc>urn:epc:id:sgtin:8901234.000001.S{n:06d}</epc></epcList>"
            f"<action>{action}</action></ObjectEvent>\n"
        )
    path = _write(tmp_path / "big.xml", HEAD_12 + "\n" + "".join(events) + TAIL)
    monkeypatch.setattr(events_module, "CHUNK_BYTES", 700)
    result = load(tmp_path / "s.duckdb", [path])
    assert (result.files[0].accepted, result.files[0].rejected) == (39, 1)
    assert [(r.line, r.code) for r in result.rejections] == [(18, "bad-action")]


def test_an_unknown_field_is_kept_with_a_warning_and_an_unknown_step_rejects(
    tmp_path: Path,
) -> None:
    # An element with no namespace of its own means nothing to tracecheck, but nothing
    # the event says depends on it: kept in the stored event, with a warning. A business
    # step CBV does not define leaves what happened unknown: that event is rejected.
    bad_field = COMMISSION_12.replace("urn:uuid:c1", "urn:uuid:c2").replace(
        "<action>", "<madeUpField>x</madeUpField><action>"
    )
    bad_step = COMMISSION_12.replace("urn:uuid:c1", "urn:uuid:c3").replace(
        "urn:epcglobal:cbv:bizstep:commissioning", "transforming"
    )
    path = _write(tmp_path / "m.xml", HEAD_12 + COMMISSION_12 + bad_field + bad_step + TAIL)
    con = connect(tmp_path / "s.duckdb")
    result = load(con, [path])
    assert result.files[0].accepted == 2
    assert [(r.line, r.code, r.field) for r in result.rejections] == [
        (3, "unknown-vocabulary", "bizStep")
    ]
    assert "line" in result.rejections[0].message
    assert [(n.record, n.code) for n in result.notes if n.code == "unknown-field"] == [
        (2, "unknown-field")
    ]
    payload = _rows(
        con,
        "SELECT p.payload FROM event_payloads p JOIN events e USING (event_row) "
        "WHERE e.event_id = 'urn:uuid:c2'",
    )
    assert '"madeUpField":"x"' in payload[0][0]
    con.close()


def test_master_data_is_skipped_with_a_note_and_a_query_is_refused(tmp_path: Path) -> None:
    master = _write(
        tmp_path / "md.xml",
        '<epcismd:EPCISMasterDataDocument xmlns:epcismd="urn:epcglobal:epcis-masterdata:xsd:2"'
        ' schemaVersion="2.0" creationDate="2026-01-01T00:00:00Z"><EPCISBody><VocabularyList/>'
        "</EPCISBody></epcismd:EPCISMasterDataDocument>",
    )
    con = connect(tmp_path / "s.duckdb")
    result = load(con, [master])
    assert (result.files[0].records, result.files[0].rejected) == (0, 0)
    assert _rows(con, "SELECT level, code FROM load_notes") == [("note", "master-data-skipped")]
    con.close()
    query = _write(
        tmp_path / "q.xml",
        '<q:EPCISQueryDocument xmlns:q="urn:epcglobal:epcis-query:xsd:2"><EPCISBody>'
        "<q:Poll><queryName>SimpleEventQuery</queryName></q:Poll></EPCISBody>"
        "</q:EPCISQueryDocument>",
    )
    with pytest.raises(UnreadableFile, match="query"):
        load(tmp_path / "s.duckdb", [query])


def test_entities_are_never_resolved(tmp_path: Path) -> None:
    secret = _write(tmp_path / "secret.txt", "TOP-SECRET")
    text = (
        f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file://{secret}">]>'
        + HEAD_12
        + COMMISSION_12.replace("<ex:temperature>4.50", "<ex:temperature>&x;")
        + TAIL
    )
    con = connect(tmp_path / "s.duckdb")
    path = _write(tmp_path / "xxe.xml", text)
    refused = False
    try:
        load(con, [path])
    except UnreadableFile as exc:  # a DOCTYPE declaring entities may refuse the file
        assert str(exc).startswith(str(path)) and "TOP-SECRET" not in str(exc)
        refused = True
    stored = _rows(con, "SELECT payload FROM event_payloads")
    stored += _rows(con, "SELECT raw FROM rejects")
    assert (refused or stored) and not any("TOP-SECRET" in str(row) for row in stored)
    con.close()


def test_xml_that_is_not_well_formed_names_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "broken.xml", HEAD_12 + "\n<ObjectEvent>\n<eventTime>" + TAIL)
    with pytest.raises(UnreadableFile, match=r"broken\.xml:\d+: not well-formed XML"):
        load(tmp_path / "s.duckdb", [path])


def test_versions_are_sorted_into_conflicts_corrections_and_other_forms(tmp_path: Path) -> None:
    original = event("urn:uuid:v1", [1])
    changed = event("urn:uuid:v1", [1], biz_step="shipping", action="OBSERVE")
    declared = {**original, "errorDeclaration": {"declarationTime": "2026-02-01T00:00:00Z"}}
    write_jsonl(tmp_path / "a.jsonl", [original])
    write_jsonl(tmp_path / "b.jsonl", [changed])
    write_jsonl(tmp_path / "c.jsonl", [declared])
    # The same event as XML: the same stored content, written differently.
    xml = (
        HEAD_12 + "<ObjectEvent><eventTime>2026-01-12T10:15:00+05:30</eventTime>"
        "<eventTimeZoneOffset>+05:30</eventTimeZoneOffset>"
        "<baseExtension><eventID>urn:uuid:v1</eventID></baseExtension>"
        "<epcList><epc>urn:epc:id:sgtin:8901234.000001.S000001</epc></epcList>"
        "<action>ADD</action><bizStep>urn:epcglobal:cbv:bizstep:commissioning</bizStep>"
        "</ObjectEvent>" + TAIL
    )
    _write(tmp_path / "d.xml", xml)
    con = connect(tmp_path / "s.duckdb")
    result = load(con, sorted(tmp_path.glob("[abcd].*")))
    assert [f.conflicts for f in result.files] == [0, 1, 0, 0]
    notes = _rows(con, "SELECT source_file, level, code, message FROM load_notes ORDER BY 1")
    assert [(Path(f).name, level, code) for f, level, code, _ in notes] == [
        ("b.jsonl", "warning", "conflict"),
        ("c.jsonl", "note", "correction"),
        ("d.xml", "note", "same-event-other-form"),
    ]
    assert "action, bizStep" in notes[0][3]
    con.close()


def test_a_version_1_store_gains_the_notes_and_payload_tables(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    connect(db).close()
    con = duckdb.connect(str(db))
    con.execute("DROP TABLE load_notes; DROP TABLE event_payloads")
    con.execute("UPDATE tracecheck_meta SET value = '1' WHERE key = 'store_version'")
    con.close()
    con = connect(db)
    tables = {r[0] for r in _rows(con, "SELECT table_name FROM duckdb_tables()")}
    version = _rows(con, "SELECT value FROM tracecheck_meta WHERE key = 'store_version'")
    con.close()
    assert {"load_notes", "event_payloads"} <= tables and version == [(str(STORE_VERSION),)]


HEAD_20 = (
    '<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" schemaVersion="2.0" '
    'creationDate="2026-02-01T00:00:00Z"><EPCISBody><EventList>'
)
SHIP_OUT_OF_ORDER = """
<ObjectEvent>
  <action>OBSERVE</action>
  <eventTime>2026-01-12T10:15:00+05:30</eventTime>
  <eventTimeZoneOffset>+05:30</eventTimeZoneOffset>
  <epcList><epc>urn:epc:id:sgtin:8901234.000001.S000001</epc></epcList>
  <bizStep>shipping</bizStep>
</ObjectEvent>
"""
SHIP_IN_ORDER = SHIP_OUT_OF_ORDER.replace("<action>OBSERVE</action>", "").replace(
    "</epcList>", "</epcList><action>OBSERVE</action>"
)
XSD_FOLDER = Path(__file__).resolve().parents[2] / "shared/conformance/gs1-epcis-2.0.1-schema/xsd"


def test_fields_out_of_the_xsd_sequence_are_read_with_a_warning(tmp_path: Path) -> None:
    # The XSD's sequence is part of the XML binding, but no element's meaning depends on
    # its place: the event is read all the same, in a 2.0 and in a 1.2 document, and is
    # stored as the same row as the event in order.
    doc_20 = _write(tmp_path / "a.xml", HEAD_20 + SHIP_OUT_OF_ORDER + SHIP_IN_ORDER + TAIL)
    head = HEAD_12.replace('schemaVersion="1.2"', 'schemaVersion="2.0"')
    doc_12 = _write(tmp_path / "b.xml", head + SHIP_OUT_OF_ORDER + TAIL)
    con = connect(tmp_path / "s.duckdb")
    result = load(con, [doc_20, doc_12])
    assert result.rejections == []
    # The three are one event (no eventID: one event hash): the second, in another order,
    # is the same event in another form (kept, with a note); the third repeats one of them.
    assert [(f.accepted, f.duplicates) for f in result.files] == [(2, 0), (0, 1)]
    assert _rows(con, "SELECT count(DISTINCT event_key) FROM events") == [(1,)]
    assert ("note", "same-event-other-form") in _rows(con, "SELECT level, code FROM load_notes")
    warned = [(n.source, n.record, n.code) for n in result.notes if n.level == "warning"]
    assert (str(doc_20), 1, "xml-element-order") in warned
    assert (str(doc_12), 1, "xml-element-order") in warned
    message = next(n.message for n in result.notes if n.code == "xml-element-order")
    assert "eventTime (line 4) comes after action" in message
    con.close()


@pytest.mark.skipif(not XSD_FOLDER.is_dir(), reason="no official XSDs next to the repository")
def test_the_official_xsd_adds_warnings_with_lines_when_its_folder_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A 2.0-only field in a 1.2 document: readable, so a warning, not a rejection.
    sensor = "<sensorElementList><sensorElement><sensorReport type='gs1:Temperature' " + (
        "value='4'/></sensorElement></sensorElementList>"
    )
    text = HEAD_12 + COMMISSION_12.replace("<ex:temperature>", sensor + "<ex:temperature>") + TAIL
    path = _write(tmp_path / "a.xml", text)
    monkeypatch.setenv("TRACECHECK_EPCIS_XSD", str(XSD_FOLDER))
    result = load(tmp_path / "s.duckdb", [path])
    assert result.files[0].accepted == 1 and not result.rejections
    xsd = [n for n in result.notes if n.code == "xsd"]
    assert xsd and "sensorElementList" in xsd[0].message and "line 26" in xsd[0].message
    assert xsd[0].location == "event 1 (line 2) sensorElementList"
    # A valid document gets none.
    clean = _write(tmp_path / "b.xml", HEAD_20 + SHIP_IN_ORDER + TAIL)
    assert not [n for n in load(tmp_path / "t.duckdb", [clean]).notes if n.code == "xsd"]
    monkeypatch.setenv("TRACECHECK_EPCIS_XSD", str(tmp_path))
    with pytest.raises(UnreadableFile, match="no EPCglobal-epcis-2_0.xsd"):
        load(tmp_path / "u.duckdb", [clean])


def test_json_lines_events_get_the_document_checks(tmp_path: Path) -> None:
    lines = [
        event("urn:uuid:j1", [1]),
        event("urn:uuid:j2", [2], biz_step="transforming"),
        {**event("urn:uuid:j3", []), "epcList": None},
        event("urn:uuid:j4", [4], certificationInfo={"x": 1}),
        event("urn:uuid:j5", [5], action="OBSERVE", biz_step="shipping", ilmd={"lotNumber": "L"}),
        event("urn:uuid:j6", [6], ilmd={"lotNumber": "L1"}, note="kept as it is"),
    ]
    del lines[2]["epcList"]
    write_jsonl(tmp_path / "e.jsonl", lines)
    result = load(tmp_path / "s.duckdb", [tmp_path / "e.jsonl"])
    assert [(r.line, r.code) for r in result.rejections] == [
        (2, "unknown-vocabulary"),
        (3, "no-objects"),
        (4, "bad-certification-info"),
    ]
    assert result.files[0].accepted == 3
    assert sorted((n.record, n.code) for n in result.notes) == [
        (5, "ilmd-bare-name"),
        (5, "ilmd-without-add"),
        (6, "ilmd-bare-name"),
    ]


def test_load_notes_are_counted_listed_and_readable_from_the_store(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from traceability.cli import cli
    from traceability.load import read_notes

    master = _write(
        tmp_path / "md.xml",
        '<epcismd:EPCISMasterDataDocument xmlns:epcismd="urn:epcglobal:epcis-masterdata:xsd:1"'
        ' schemaVersion="1.2" creationDate="2026-01-01T00:00:00Z"/>',
    )
    head = HEAD_12.replace('schemaVersion="1.2"', 'schemaVersion="2.0"')
    body = "".join(SHIP_OUT_OF_ORDER.replace("S000001", f"S{n:06d}") for n in range(1, 8))
    shipped = _write(tmp_path / "ship.xml", head + body + TAIL)
    db = tmp_path / "s.duckdb"
    # Wide enough for the summary's table (narrower, it is a block per file).
    args = ["load", "--db", str(db), str(master), str(shipped)]
    out = CliRunner().invoke(cli, args, env={"COLUMNS": "240"})
    assert out.exit_code == 0, out.output
    header = next(line for line in out.output.splitlines() if "file" in line and "kind" in line)
    assert header.split()[-2:] == ["notes", "┃"]
    assert "md.xml: note: an EPCIS master-data document: skipped" in out.output
    # Seven events, each out of order and with a bare-word business step: 14 notes.
    assert out.output.count("ship.xml: event ") == 5  # the first five
    assert "ship.xml: ... and 9 more (all are in the load_notes table)" in out.output
    codes = [n.code for n in read_notes(db, str(shipped))]
    assert sorted(codes) == ["vocabulary-spelling"] * 7 + ["xml-element-order"] * 7
    assert len(read_notes(db)) == 15
