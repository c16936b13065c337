"""Loading EPCIS 2.0 events: documents and JSON Lines, normalisation, de-duplication."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import counts, event, write_jsonl

from traceability.load import load
from traceability.load.epcis import pipeline as events_module


def _document(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-02-01T00:00:00Z",
        "epcisBody": {"eventList": events},
    }


def _query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_a_resent_document_with_overlapping_events_changes_no_count(
    tmp_path: Path, db: Path
) -> None:
    first = [event(f"urn:uuid:e{i}", range(i * 3, i * 3 + 3)) for i in range(4)]
    resent = first[2:] + [event("urn:uuid:e9", [90, 91])]
    a = tmp_path / "a.jsonld"
    a.write_text(json.dumps(_document(first)))
    b = tmp_path / "b.json"
    b.write_text(json.dumps(_document(resent), indent=2))
    load(db, [a])
    before = counts(db)
    result = load(db, [b, a])
    assert [(f.status, f.accepted, f.duplicates) for f in result.files] == [
        ("loaded", 1, 2),
        ("already-loaded", 0, 0),
    ]
    after = counts(db)
    assert after["events"] == before["events"] + 1
    assert after["epc_rows"] == before["epc_rows"] + 2


def test_events_in_a_document_and_in_json_lines_are_the_same_events(
    tmp_path: Path, db: Path
) -> None:
    events = [event(f"urn:uuid:e{i}", [i]) for i in range(3)]
    (tmp_path / "doc.jsonld").write_text(json.dumps(_document(events)))
    write_jsonl(tmp_path / "events.jsonl", events)
    load(db, [tmp_path])
    assert counts(db)["events"] == 3


def test_events_without_an_id_are_deduplicated_by_their_event_hash(
    tmp_path: Path, db: Path
) -> None:
    events = [event(None, [1, 2]), event(None, [3], biz_step="shipping", action="OBSERVE")]
    write_jsonl(tmp_path / "a.jsonl", events)
    write_jsonl(tmp_path / "b.jsonl", list(reversed(events)))
    load(db, [tmp_path])
    rows = _query(db, "SELECT event_key FROM events ORDER BY event_key")
    assert len(rows) == 2
    assert all(key.startswith("ni:///sha-256;") for (key,) in rows)


def test_an_error_declaration_resent_under_the_same_id_is_kept_as_a_correction(
    tmp_path: Path, db: Path
) -> None:
    original = event("urn:uuid:x1", [1])
    corrected = {
        **original,
        "errorDeclaration": {
            "declarationTime": "2026-02-01T00:00:00Z",
            "reason": "urn:epcglobal:cbv:er:incorrect_data",
            "correctiveEventIDs": ["urn:uuid:x2"],
        },
    }
    write_jsonl(tmp_path / "a.jsonl", [original])
    write_jsonl(tmp_path / "b.jsonl", [corrected])
    result = load(db, [tmp_path])
    assert [f.conflicts for f in result.files] == [0, 0]
    rows = _query(db, "SELECT error_reason FROM events ORDER BY error_reason NULLS FIRST")
    assert rows == [(None,), ("incorrect_data",)]


def test_vocabulary_identifiers_and_local_dates_are_normalised(tmp_path: Path, db: Path) -> None:
    urn = event(
        "urn:uuid:s1",
        [7],
        biz_step="urn:epcglobal:cbv:bizstep:shipping",
        action="OBSERVE",
        time="2026-03-31T23:30:00-05:00",
        offset="-05:00",
        disposition="https://ref.gs1.org/cbv/Disp-in_transit",
        bizTransactionList=[
            {"type": "bol", "bizTransaction": "urn:epcglobal:cbv:bt:8901234000007:BOL-2026-0001"}
        ],
        sourceList=[
            {
                "type": "urn:epcglobal:cbv:sdt:owning_party",
                "source": "urn:epc:id:pgln:8901234.00000",
            }
        ],
    )
    dl = event(
        "urn:uuid:r1",
        [],
        biz_step="cbv:BizStep-receiving",
        action="OBSERVE",
        time="2026-04-02T09:00:00+00:00",
        offset="+00:00",
    )
    dl["epcList"] = ["https://brand.example/01/08901234000014/21/S000007"]
    write_jsonl(tmp_path / "e.jsonl", [urn, dl])
    load(db, [tmp_path])
    rows = _query(
        db,
        "SELECT biz_step, disposition, local_date::VARCHAR, epc_key FROM events "
        "JOIN event_epcs USING (event_row) ORDER BY event_time",
    )
    key = "https://id.gs1.org/01/08901234000014/21/S000007"
    assert rows == [
        ("shipping", "in_transit", "2026-03-31", key),
        ("receiving", None, "2026-04-02", key),
    ]
    assert _query(db, "SELECT type, ref FROM event_biz_transactions") == [("bol", "BOL-2026-0001")]
    assert _query(db, "SELECT role, type FROM event_parties") == [("source", "owning_party")]


def test_quantities_are_exact_decimals_from_json_numbers(tmp_path: Path, db: Path) -> None:
    bulk = event("urn:uuid:q1", [], biz_step="shipping", action="OBSERVE")
    bulk["quantityList"] = [
        {"epcClass": "urn:epc:class:lgtin:8901234.000002.B7", "quantity": 0.1, "uom": "KGM"},
        {"epcClass": "urn:epc:class:lgtin:8901234.000002.B8", "quantity": 1, "uom": "kg"},
    ]
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps(bulk).replace("0.1", "12345678901234.123456789012") + "\n")
    load(db, [path])
    rows = _query(db, "SELECT gtin, lot, quantity, uom FROM event_quantities ORDER BY lot")
    assert rows == [
        ("08901234000021", "B7", Decimal("12345678901234.123456789012"), "KGM"),
        ("08901234000021", "B8", Decimal("1"), "KGM"),
    ]


def test_bad_events_are_rejected_with_their_line_and_the_rest_load(
    tmp_path: Path, db: Path
) -> None:
    good = [event(f"urn:uuid:g{i}", [i]) for i in range(5)]
    bad_epc = event("urn:uuid:b1", [1])
    bad_epc["epcList"] = ["https://id.gs1.org/01/08901234000015/21/X"]  # wrong check digit
    bad_time = event("urn:uuid:b2", [2], time="2026-02-30T10:00:00+01:00")
    no_offset = event("urn:uuid:b3", [3])
    del no_offset["eventTimeZoneOffset"]
    lines = [json.dumps(e) for e in good[:2]]
    lines += ["{not json", json.dumps(bad_epc), "", json.dumps(bad_time), json.dumps(no_offset)]
    lines += [json.dumps(e) for e in good[2:]]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = load(db, [path])
    assert (result.files[0].accepted, result.files[0].rejected) == (5, 4)
    got = [(r.line, r.code) for r in result.rejections]
    assert got == [
        (3, "bad-json"),
        (4, "bad-epc"),
        (6, "bad-event-time"),
        (7, "bad-time-zone-offset"),
    ]
    assert "epcList[0]" in result.rejections[1].message


def test_a_field_of_the_wrong_shape_is_rejected_not_silently_dropped(
    tmp_path: Path, db: Path
) -> None:
    wrong = event("urn:uuid:w1", [1])
    wrong["epcList"] = "urn:epc:id:sgtin:8901234.000001.S000001"  # a string, not a list
    mentions = event("urn:uuid:w2", [2], note='the word "epcList" in a text field')
    others = [
        event(f"urn:uuid:w{i}", [i], **{name: value})
        for i, (name, value) in enumerate(
            [
                ("readPoint", "urn:epc:id:sgln:8901234.00001.0"),
                ("bizLocation", ["urn:epc:id:sgln:8901234.00001.0"]),
                ("errorDeclaration", "2026-01-12T10:15:00+05:30"),
                ("sourceList", {"type": "owning_party", "source": "x"}),
                ("bizTransactionList", "po-1"),
            ],
            start=3,
        )
    ]
    absent = event("urn:uuid:w9", [9], readPoint=None, sourceList=None)  # null: absent
    write_jsonl(tmp_path / "e.jsonl", [wrong, mentions, *others, absent])
    result = load(db, [tmp_path / "e.jsonl"])
    assert [(r.line, r.code) for r in result.rejections] == [
        (line, "bad-error-declaration" if line == 5 else "bad-shape") for line in (1, 3, 4, 5, 6, 7)
    ]
    assert [r.message.split(":")[0] for r in result.rejections] == [
        "epcList",
        "readPoint",
        "bizLocation",
        "errorDeclaration.declarationTime",
        "sourceList",
        "bizTransactionList",
    ]
    assert counts(db)["epc_rows"] == 2


def test_a_file_read_in_many_chunks_loads_the_same_with_the_same_line_numbers(
    tmp_path: Path, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [json.dumps(event(f"urn:uuid:c{i}", [i])) for i in range(40)]
    lines[17] = "{broken"
    lines[31] = lines[3]  # the same event again, in another chunk
    lines[35] = json.dumps(event("urn:uuid:c5", [5], biz_step="packing"))  # other content
    path = tmp_path / "events.jsonl"
    path.write_text("\ufeff" + "\n".join(lines) + "\n")
    monkeypatch.setattr(events_module, "CHUNK_BYTES", 700)
    result = load(db, [path])
    assert (result.files[0].accepted, result.files[0].duplicates) == (38, 1)
    assert result.files[0].conflicts == 1
    assert [(r.line, r.code) for r in result.rejections] == [(18, "bad-json")]
    assert counts(db)["events"] == 38
    # Loaded again under another name: every event is one stored before.
    again = tmp_path / "again.jsonl"
    again.write_text(path.read_text() + json.dumps(event("urn:uuid:new", [99])) + "\n")
    result = load(db, [again])
    assert (result.files[0].accepted, result.files[0].duplicates) == (1, 39)
    assert counts(db)["events"] == 39


def test_the_standard_context_alone_keeps_no_payload_and_anything_more_does(
    tmp_path: Path, db: Path
) -> None:
    standard = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
    own = {"ex": "https://ns.example.com/epcis/"}
    path = write_jsonl(
        tmp_path / "events.jsonl",
        [
            event("urn:uuid:c1", [1], **{"@context": [standard]}),
            event("urn:uuid:c2", [2], **{"@context": standard}),
            event("urn:uuid:c3", [3]),
            event("urn:uuid:c4", [4], **{"@context": [standard, own]}),
            event("urn:uuid:c5", [5], **{"ex:temperature": 4.5}),
            event("urn:uuid:c6", [6], readPoint={"id": "urn:epc:id:sgln:8901234.00001.0", "x": 1}),
            event("urn:uuid:c7", [7], ilmd={"cbvmda:lotNumber": "L1", "ex:grade": "A"}),
        ],
    )
    spaced_out = '{"@context" : [ "' + standard + '" ], '
    spaced = json.dumps(event("urn:uuid:c8", [8])).replace("{", spaced_out, 1)
    path.write_text(path.read_text() + spaced + "\n")  # the standard context, spaced out
    load(db, [path])
    kept = _query(
        db,
        "SELECT e.event_id, p.payload FROM event_payloads p JOIN events e USING (event_row) "
        "ORDER BY e.event_id",
    )
    assert [k for k, _ in kept] == ["urn:uuid:c4", "urn:uuid:c5", "urn:uuid:c6", "urn:uuid:c7"]
    assert json.loads(kept[0][1])["@context"] == [standard, own]  # kept as received


def test_one_event_id_twice_in_one_chunk_with_other_content_is_a_conflict(
    tmp_path: Path, db: Path
) -> None:
    path = write_jsonl(
        tmp_path / "events.jsonl",
        [
            event("urn:uuid:t1", [1]),
            event("urn:uuid:t1", [1], biz_step="packing"),
            event("urn:uuid:t2", [2]),
            event("urn:uuid:t2", [2]),
        ],
    )
    result = load(db, [path]).files[0]
    assert (result.accepted, result.duplicates, result.conflicts) == (3, 1, 1)


def test_an_event_sent_again_in_other_spacing_counts_once(tmp_path: Path, db: Path) -> None:
    # The content hash covers the event's text minified: the same events written with
    # Python's default separators and written compactly are the same events.
    events = [event("urn:uuid:s1", [1]), event("urn:uuid:s2", [2])]
    write_jsonl(tmp_path / "a.jsonl", events)  # {"type": "ObjectEvent", ...}
    compact = tmp_path / "b.jsonl"
    compact.write_text("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events))
    result = load(db, [tmp_path / "a.jsonl", compact])
    assert [(f.accepted, f.duplicates, f.conflicts) for f in result.files] == [(2, 0, 0), (0, 2, 0)]
    assert _query(db, "SELECT count(*) FROM load_notes") == [(0,)]
    assert counts(db)["events"] == 2
