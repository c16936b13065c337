"""No value of an EPCIS event changes between the file and the store unseen.

Each case is a real file loaded into a real store: a quantity is stored with every digit
written or its event is rejected with the reason; a key given twice is noted (same value)
or rejects its event (different values) alike in JSON Lines and documents; a DTD's
attribute default is never applied; an identifier holding an invisible character rejects
its event, naming the field.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
from click.testing import CliRunner

from traceability.cli import cli
from traceability.load import load
from traceability.sample.xml import xml_document

CLASS = "urn:epc:class:lgtin:8901234.000001.L2401"
CONTEXT = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]
CREATED = "2026-02-01T00:00:00Z"


def _event(n: int, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventID": f"urn:uuid:00000000-0000-4000-8000-{n:012d}",
        "eventTime": "2026-01-12T10:15:00+05:30",
        "eventTimeZoneOffset": "+05:30",
        "action": "OBSERVE",
        "bizStep": "shipping",
        "epcList": [f"urn:epc:id:sgtin:8901234.000001.S{n:06d}"],
    }
    event.update(fields)
    return event


def _with_quantity(n: int, quantity: str) -> str:
    """An event line whose quantity is written exactly as ``quantity``."""
    event = _event(n, quantityList=[{"epcClass": CLASS, "quantity": "@@", "uom": "KGM"}])
    return json.dumps(event).replace('"@@"', quantity)


def _document(lines: list[str]) -> str:
    return (
        json.dumps({"@context": CONTEXT, "type": "EPCISDocument", "schemaVersion": "2.0"})[:-1]
        + ', "creationDate": "2026-02-01T00:00:00Z", "epcisBody": {"eventList": ['
        + ",\n".join(lines)
        + "]}}"
    )


def _rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _rejects(db: Path) -> dict[int, tuple[str, str]]:
    return {r: (c, m) for r, c, m in _rows(db, "SELECT line, code, message FROM rejects")}


def _quantities(db: Path) -> dict[str, Decimal]:
    return dict(
        _rows(
            db,
            "SELECT e.event_id, q.quantity FROM event_quantities q JOIN events e USING (event_row)",
        )
    )


QUANTITIES = {
    # written -> stored value, or the reject code
    "1.0000000000000001": "decimal-precision",  # 16 decimals: never rounded to 12
    "1e-400": "decimal-precision",  # not 0
    "1.5e-13": "decimal-precision",
    "0.0000000000001": "decimal-precision",
    "1e400": "decimal-out-of-range",  # no traceback
    "1E+30": "decimal-out-of-range",
    "1e999999999999999999999": "decimal-out-of-range",  # beyond any decimal
    "1" + "0" * 5000: "decimal-out-of-range",  # beyond Python's integer reading
    "1.5E3": Decimal(1500),
    "2.500000000000000000": Decimal("2.5"),
    "0.000000000001": Decimal("0.000000000001"),
    "99999999999999999999999999.999999999999": Decimal("99999999999999999999999999.999999999999"),
}


def _check_quantities(db: Path) -> None:
    rejects = _rejects(db)
    stored = _quantities(db)
    for n, (text, want) in enumerate(QUANTITIES.items(), 1):
        event_id = f"urn:uuid:00000000-0000-4000-8000-{n:012d}"
        if isinstance(want, Decimal):
            assert stored.get(event_id) == want, text
            assert n not in rejects
        else:
            assert event_id not in stored, text
            code, message = rejects[n]
            assert code == want, text
            assert message.startswith("quantityList[0].quantity: "), message


def test_quantities_in_json_lines_keep_every_digit_or_are_rejected(tmp_path: Path) -> None:
    # Through the command line: no traceback, whatever the number. (Every spelling in
    # every syntax: tests/test_decimal_epcis.py.)
    path = tmp_path / "events.jsonl"
    lines = [_with_quantity(n, q) for n, q in enumerate(QUANTITIES, 1)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["load", str(path), "--db", str(tmp_path / "s.duckdb"), "--kind", "events"]
    )
    assert result.exit_code in (0, 1), result.output  # loaded, with records rejected
    assert "Traceback" not in result.output
    _check_quantities(tmp_path / "s.duckdb")


#: Lines of JSON Lines (and events of a document) giving a key twice, with what must
#: come of each: the reject code, or None (loaded, with a note).
TWICE = [
    ('"bizStep": "shipping"', '"bizStep": "receiving"', "bizStep", "duplicate-key-conflict"),
    ('"bizStep": "shipping"', '"bizStep": "shipping"', "bizStep", None),
    ('"readPoint": {"id": "urn:epc:id:sgln:8901234.00001.0"', None, "readPoint.id", "conflict"),
    ('"ilmd": {"cbvmda:lotNumber": "L1"', None, "ilmd.cbvmda:lotNumber", "conflict"),
    (
        '"bizTransactionList": [{"type": "bol", "bizTransaction": "AWB-1"',
        None,
        "bizTransactionList[0].bizTransaction",
        "conflict",
    ),
    ('"quantityList": [{"epcClass": "' + CLASS + '"', None, "quantityList[0].epcClass", None),
]


def _twice_lines() -> list[str]:
    lines = []
    for n, (first, second, _, _) in enumerate(TWICE, 1):
        base = json.dumps(_event(n))
        if second is not None:  # a top-level key, given again at the end
            lines.append(base.replace('"bizStep": "shipping"', first)[:-1] + ", " + second + "}")
        elif first.startswith('"readPoint"'):
            lines.append(base[:-1] + ", " + first + ', "id": "urn:epc:id:sgln:8901234.00002.7"}}')
        elif first.startswith('"ilmd"'):
            lines.append(base[:-1] + ", " + first + ', "cbvmda:lotNumber": "L2"}}')
        elif first.startswith('"bizTransactionList"'):
            lines.append(base[:-1] + ", " + first + ', "bizTransaction": "AWB-2"}]}')
        else:  # the same epcClass twice in one quantity element: read once, noted
            lines.append(
                base[:-1] + ", " + first + ', "epcClass": "' + CLASS + '", "quantity": 2}]}'
            )
    return lines


def _check_twice(db: Path, where: str) -> None:
    rejects = _rejects(db)
    notes = _rows(db, "SELECT record, code, location FROM load_notes WHERE code = 'duplicate-key'")
    loaded = {i for (i,) in _rows(db, "SELECT event_id FROM events")}
    for n, (_, _, field, outcome) in enumerate(TWICE, 1):
        event_id = f"urn:uuid:00000000-0000-4000-8000-{n:012d}"
        if outcome is None:
            assert event_id in loaded
            assert (n, "duplicate-key", f"{where} {n} {field}") in notes
        else:
            assert event_id not in loaded
            code, message = rejects[n]
            assert code == "duplicate-key-conflict"
            assert message.startswith(f"{field}: given twice with different values"), message


def test_a_key_given_twice_in_json_lines_is_noted_or_rejects_its_event(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(_twice_lines()) + "\n", encoding="utf-8")
    load(tmp_path / "s.duckdb", [path])
    _check_twice(tmp_path / "s.duckdb", "line")


def test_a_key_given_twice_in_a_document_is_noted_or_rejects_its_event(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonld"
    path.write_text(_document(_twice_lines()), encoding="utf-8")
    load(tmp_path / "s.duckdb", [path])
    _check_twice(tmp_path / "s.duckdb", "event")


def test_a_document_giving_its_event_list_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonld"
    one = json.dumps(_event(1))
    path.write_text(
        '{"@context": [], "type": "EPCISDocument", "schemaVersion": "2.0", '
        f'"epcisBody": {{"eventList": [{one}], "eventList": []}}}}',
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["load", str(path), "--db", str(tmp_path / "s.duckdb")])
    assert result.exit_code == 2, result.output
    assert "epcisBody.eventList is given twice with different values" in result.output
    assert "Traceback" not in result.output


def test_an_attribute_default_in_the_doctype_is_not_applied(tmp_path: Path) -> None:
    event = _event(
        1, bizTransactionList=[{"bizTransaction": "urn:epcglobal:cbv:bt:8901234000007:PO-1"}]
    )
    written = xml_document([event], creation_date=CREATED).decode("utf-8")
    declaration, rest = written.split("\n", 1)
    doctype = (
        "<!DOCTYPE epcis:EPCISDocument [\n"
        '<!ATTLIST bizTransaction type CDATA "urn:epcglobal:cbv:btt:po">\n'
        "]>\n"
    )
    path = tmp_path / "events.xml"
    path.write_text(declaration + "\n" + doctype + rest, encoding="utf-8")
    db = tmp_path / "s.duckdb"
    load(db, [path])
    assert _rows(db, "SELECT type, ref FROM event_biz_transactions") == [(None, "PO-1")]
    notes = _rows(db, "SELECT code, location FROM load_notes WHERE code = 'dtd-default-ignored'")
    assert notes == [("dtd-default-ignored", "DOCTYPE")]


ZWSP = "\u200b"

#: An identifier field, the event that carries an invisible character in it, and the
#: field the reject names.
HIDDEN = [
    ({"eventID": f"urn:uuid:00000000-0000-4000-8000-00000000000{ZWSP}1"}, "eventID"),
    ({"ilmd": {"cbvmda:lotNumber": f"L2401{ZWSP}"}, "action": "ADD"}, "ilmd.cbvmda:lotNumber"),
    (
        {"bizTransactionList": [{"type": "po", "bizTransaction": "PO-1\u202e"}]},
        "bizTransactionList[0].bizTransaction",
    ),
    (
        {
            "sourceList": [
                {"type": "owning_party", "source": f"urn:epc:id:sgln:8901234.00000.0{ZWSP}"}
            ]
        },
        "sourceList[0].source",
    ),
    ({"epcList": ["urn:epc:id:sgtin:8901234.000001.S1\u2066"]}, "epcList[0]"),
    (
        {"quantityList": [{"epcClass": f"{CLASS}\u00ad\u0085", "quantity": 1}]},
        "quantityList[0].epcClass",
    ),
    ({"readPoint": {"id": "urn:epc:id:sgln:8901234.00001.0\ufeff"}}, "readPoint.id"),
]


def _check_hidden(db: Path) -> None:
    rejects = _rejects(db)
    assert _rows(db, "SELECT count(*) FROM events") == [(1,)]  # only the clean event
    for n, (_, field) in enumerate(HIDDEN, 1):
        code, message = rejects[n]
        assert code == "invisible-character", message
        assert message.startswith(f"{field}: "), message


def _hidden_events() -> list[dict[str, Any]]:
    events = [_event(n, **fields) for n, (fields, _) in enumerate(HIDDEN, 1)]
    return [*events, _event(len(HIDDEN) + 1)]


def test_an_invisible_character_in_an_identifier_rejects_its_event(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in _hidden_events()) + "\n", encoding="utf-8")
    load(tmp_path / "s.duckdb", [path])
    _check_hidden(tmp_path / "s.duckdb")


def test_an_invisible_character_in_an_xml_identifier_rejects_its_event(tmp_path: Path) -> None:
    path = tmp_path / "events.xml"
    path.write_bytes(xml_document(_hidden_events(), creation_date=CREATED))
    load(tmp_path / "s.duckdb", [path])
    _check_hidden(tmp_path / "s.duckdb")
