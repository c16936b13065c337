"""The bulk event path: the EPC shortcut against the general parser, reading ahead, memory.

The loader cuts each EPC into a prefix and a serial with plain string functions and sends
anything that does not fit the common SGTIN spellings to the general parser; these tests
hold its answers to the Python parser for awkward spellings, and check that reading the
file ahead of the database work keeps line numbers and errors where they were.
"""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path

import duckdb
import pytest
from conftest import event

from traceability.errors import UnreadableFile
from traceability.load import load
from traceability.load.epcis import pipeline as events_module
from traceability.load.epcis.terms import CBV_MACRO
from traceability.load.identifiers import parse_epc
from traceability.load.identifiers_sql import SQL_MACROS
from traceability.store import connect

#: Spellings around the shortcut's edges: plain serials, serials with dots and escapes,
#: spaces, other domains and paths, wrong check digits, other kinds of EPC, bare serials.
SPELLINGS = [
    "urn:epc:id:sgtin:8901234.000001.S1",
    "urn:epc:id:sgtin:8901234.000001.12345678901234567890",
    "urn:epc:id:sgtin:8901234.000001.123456789012345678901",
    "urn:epc:id:sgtin:8901234.000001.S.1",
    "urn:epc:id:sgtin:8901234.000001.a_b-c",
    "urn:epc:id:sgtin:8901234.000001.%2F7",
    "urn:epc:id:sgtin:8901234.000001.%22",
    "urn:epc:id:sgtin:8901234.000001.",
    "URN:EPC:ID:SGTIN:8901234.000001.S2",
    " urn:epc:id:sgtin:8901234.000001.S3 ",
    "urn:epc:id:sgtin:8901234.00001.S4",
    "urn:epc:id:sgtin:0614141.112345.S5",
    "https://id.gs1.org/01/08901234000014/21/S6",
    "https://id.gs1.org/01/8901234000014/21/S7",
    "https://id.gs1.org/01/08901234000015/21/S8",
    "https://brand.example/shop/01/08901234000014/21/A.B9",
    "http://brand.example/01/08901234000014/21/S10?x=1",
    "https://brand.example/01/08901234000014/21/",
    "https://brand.example/01/08901234000014/21/%C3%A9",
    "https://bränd.example/01/08901234000014/21/S11",
    "https://brand.example/01/08901234000014/21/S12,S13",
    "https://id.gs1.org/01/08901234000014/10/L1",
    "urn:epc:id:sscc:8901234.1000000000",
    "urn:epc:id:sscc:8901234.100000000",
    "https://id.gs1.org/00/189012340000000004",
    "urn:epc:idpat:sgtin:8901234.000001.*",
    "not an epc",
    "S14",  # bare serials with no prefix: in byte order, one before every prefix
    "z15",  # and one after
]


def _query(db: Path, sql: str) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("where", ["first", "last", "alone", "twice"])
def test_every_epc_spelling_gets_the_key_the_python_parser_gives(
    tmp_path: Path, db: Path, where: str
) -> None:
    # One event per spelling. The spelling comes before or after a plain EPC, alone, or
    # twice with another serial: an event's first EPC sets the prefix its list is tried
    # against on the fast path. An invalid EPC is rejected on its own (its list and
    # position named); the event loads with its other EPCs, unless none is valid.
    events = []
    for i, raw in enumerate(SPELLINGS):
        e = event(f"urn:uuid:s{i}", [])
        plain = f"urn:epc:id:sgtin:8901234.000001.X{i}"
        e["epcList"] = {
            "first": [raw, plain],
            "last": [plain, raw],
            "alone": [raw],
            "twice": [raw, raw.replace("S", "T")],
        }[where]
        events.append(e)
    path = tmp_path / "spellings.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    result = load(db, [path])
    stored = {
        raw: key
        for raw, key in _query(
            db, "SELECT epc_raw, epc_key FROM event_epcs WHERE epc_raw NOT LIKE '%.X%'"
        )
    }
    members = {(r.line, r.field) for r in result.rejections if r.field}
    whole = {r.line for r in result.rejections if not r.field}
    kept = 0
    for line, e in enumerate(events, start=1):
        epcs = [parse_epc(raw) for raw in e["epcList"]]
        if all(epc is None for epc in epcs):
            assert line in whole, e["epcList"]
        else:
            assert line not in whole, e["epcList"]
        for pos, (raw, epc) in enumerate(zip(e["epcList"], epcs, strict=True)):
            if epc is None:
                assert raw not in stored
                assert line in whole or (line, f"epcList[{pos}]") in members, raw
            else:
                assert (line, f"epcList[{pos}]") not in members, raw
                kept += 1
                if ".X" not in raw:
                    assert stored[raw] == epc.key, raw
    assert {r.code for r in result.rejections} == {"bad-epc"}
    assert _query(db, "SELECT count(*) FROM event_epcs")[0][0] == kept


def test_the_sscc_shortcut_agrees_with_the_general_parser() -> None:
    rng = random.Random(7)
    values: list[str | None] = [None, "", "urn:epc:id:sscc:8901234.1000000000"]
    for _ in range(2000):
        k = rng.randint(5, 13)
        width = rng.choice([17 - k, 17 - k, rng.randint(0, 13)])
        prefix = "".join(rng.choice("0123456789") for _ in range(k))
        ref = "".join(rng.choice("0123456789") for _ in range(max(width, 0)))
        value = f"urn:epc:id:sscc:{prefix}.{ref}"
        values.append(rng.choice([value, value, value, value.upper(), f" {value}", value + "x"]))
    con = duckdb.connect()
    for macro in SQL_MACROS:
        con.execute(macro)
    con.execute("CREATE TABLE v (raw VARCHAR)")
    con.executemany("INSERT INTO v VALUES (?)", [[v] for v in values])
    rows = con.execute("SELECT raw, tc_sscc_urn_key(raw), tc_epc_key(raw) FROM v").fetchall()
    shortcuts = [(raw, fast, general) for raw, fast, general in rows if fast is not None]
    assert len(shortcuts) > 500
    assert all(fast == general for _, fast, general in shortcuts)
    # Spellings the shortcut leaves alone still get their key, from the general parser.
    assert any(fast is None and general is not None for _, fast, general in rows)


def test_a_bad_byte_in_a_later_chunk_names_its_line(
    tmp_path: Path, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [json.dumps(event(f"urn:uuid:u{i}", [i])).encode() for i in range(30)]
    lines[22] = lines[22].replace(b"ObjectEvent", b"Object\xffEvent")
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    monkeypatch.setattr(events_module, "CHUNK_BYTES", 600)
    with pytest.raises(UnreadableFile, match=r"events\.jsonl:23: not UTF-8"):
        load(db, [path])
    assert _query(db, "SELECT count(*) FROM events") == [(0,)]


def test_reading_ahead_gives_every_line_once_and_stops_with_the_reader(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(f'{{"n": {i}}}\n' for i in range(1000)), encoding="utf-8")
    seen = [
        (first + k, line)
        for first, lines in events_module.jsonl_chunks(path, 100)
        for k, line in enumerate(lines)
    ]
    assert seen == [(i + 1, f'{{"n": {i}}}') for i in range(1000)]
    chunks = events_module.jsonl_chunks(path, 100)
    assert next(chunks)[0] == 1
    chunks.close()  # the reader thread ends with the generator
    assert not [t for t in threading.enumerate() if t.name == "tracecheck-read-ahead"]


def test_a_load_leaves_no_working_tables_or_views_behind(tmp_path: Path, db: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(
        "".join(json.dumps(event(f"urn:uuid:w{i}", [i])) + "\n" for i in range(50)),
        encoding="utf-8",
    )
    con = connect(db)
    try:
        load(con, [path])
        leftovers = con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'tc\\_%' ESCAPE '\\' "
            "UNION ALL SELECT view_name FROM duckdb_views() "
            "WHERE view_name LIKE 'tc\\_%' ESCAPE '\\'"
        ).fetchall()
        assert leftovers == []
        assert con.execute("SELECT count(*) FROM events").fetchone() == (50,)
    finally:
        con.close()


@pytest.mark.parametrize("remembered", [100_000, 3])
def test_identifiers_known_from_an_earlier_chunk_get_the_same_keys(
    tmp_path: Path, db: Path, monkeypatch: pytest.MonkeyPatch, remembered: int
) -> None:
    # Read points repeat from chunk to chunk and are remembered; parties are new in each.
    # With room for 3, what is remembered is dropped and built again as the load goes.
    monkeypatch.setattr(events_module, "CHUNK_BYTES", 700)
    monkeypatch.setattr(events_module, "KNOWN_IDS", remembered)
    points = [
        "urn:epc:id:sgln:8901234.00001.0",
        "https://id.gs1.org/414/8901234000017",
        "somewhere",
        "urn:epc:id:sgln:0614141.00001.0",
    ]
    events = [
        event(
            f"urn:uuid:k{i}",
            [i],
            readPoint={"id": points[i % len(points)]},
            sourceList=[{"type": "owning_party", "source": f"urn:epc:id:sgln:8901234.{i:05d}.0"}],
        )
        for i in range(40)
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    assert load(db, [path]).files[0].accepted == 40

    def key(raw: str) -> str:
        epc = parse_epc(raw)
        return epc.key if epc else raw

    assert _query(db, "SELECT read_point FROM events ORDER BY source_line") == [
        (key(points[i % len(points)]),) for i in range(40)
    ]
    assert _query(db, "SELECT value_key FROM event_parties ORDER BY event_row") == [
        (key(f"urn:epc:id:sgln:8901234.{i:05d}.0"),) for i in range(40)
    ]


def test_the_files_of_a_load_share_what_was_resolved_and_keys_stay_exact(
    tmp_path: Path, db: Path
) -> None:
    # Three small files name the same read points, parties and non-GTIN EPC prefixes, in
    # other orders and among new ones. Each identifier's key is the Python parser's,
    # whichever file resolved it first; the cache carries from file to file.
    giai, gsrn = "urn:epc:id:giai:4000001.", "urn:epc:id:gsrn:95252084."
    points = ["urn:epc:id:sgln:8901234.00001.0", "https://id.gs1.org/414/8901234000017", "here"]
    files = []
    for f in range(3):
        events = []
        for i in range(4):
            n = f * 4 + i
            e = event(
                f"urn:uuid:f{f}e{i}",
                [n],
                readPoint={"id": points[(f + i) % len(points)]},
                sourceList=[{"type": "owning_party", "source": points[(f * i) % 2]}],
            )
            e["epcList"] += [f"{giai}A{n}", f"{gsrn}{n:09d}" if i % 2 else f"{giai}B{f}"]
            events.append(e)
        path = tmp_path / f"day{f}.jsonl"
        path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
        files.append((path, events))

    known = events_module.known_ids()
    con = connect(db)
    try:
        for macro in (*SQL_MACROS, *CBV_MACRO.split(";\n")):
            con.execute(macro)
        for load_id, (path, _) in enumerate(files, start=1):
            events_module.load_events(
                con, path, document=False, load_id=load_id, source=str(path), known=known
            )
            if load_id == 1:  # what the first file resolved is there for the next
                assert known.ids is not None
                assert set(points) <= set(known.ids.column("raw").to_pylist())
                assert set(known.not_gtin.column("p").to_pylist()) == {giai, gsrn}
    finally:
        con.close()

    def key(raw: str) -> str:
        epc = parse_epc(raw)
        return epc.key if epc else raw

    every = [e for _, events in files for e in events]
    assert _query(db, "SELECT read_point FROM events ORDER BY load_id, source_line") == [
        (key(e["readPoint"]["id"]),) for e in every
    ]
    assert sorted(_query(db, "SELECT epc_raw, epc_key FROM event_epcs")) == sorted(
        (raw, key(raw)) for e in every for raw in e["epcList"]
    )
    # The files in one load() store what three loads of one file each store.
    together, apart = tmp_path / "together.duckdb", tmp_path / "apart.duckdb"
    load(together, [path for path, _ in files])
    for path, _ in files:
        load(apart, [path])
    for sql in (
        "SELECT epc_raw, epc_key, list FROM event_epcs ORDER BY ALL",
        "SELECT read_point, source_line FROM events ORDER BY ALL",
        "SELECT value_key FROM event_parties ORDER BY ALL",
    ):
        assert _query(together, sql) == _query(apart, sql) == _query(db, sql)


@pytest.mark.parametrize("epcs", [["A", None], [None, "A"], [None], ["A", None, "B"]])
def test_a_null_among_plain_epcs_is_rejected_on_its_own_and_named_by_its_place(
    tmp_path: Path, db: Path, epcs: list[str | None]
) -> None:
    # The null is rejected with its list and position; the event loads with its other
    # EPCs, and is rejected only when it is left naming nothing.
    e = event("urn:uuid:null", [])
    e["epcList"] = [None if s is None else f"urn:epc:id:sgtin:8901234.000001.{s}" for s in epcs]
    path = tmp_path / "nulls.jsonl"
    path.write_text(json.dumps(e) + "\n" + json.dumps(event("urn:uuid:ok", [1])) + "\n")
    result = load(db, [path])
    place = f"epcList[{epcs.index(None)}]"
    left = [s for s in epcs if s is not None]
    assert [(r.line, r.code, r.field, r.message.split(":")[0]) for r in result.rejections] == [
        (1, "bad-epc", place if left else None, place)
    ]
    assert _query(db, "SELECT count(*) FROM event_epcs") == [(1 + len(left),)]
    assert _query(db, "SELECT count(*) FROM events") == [(1 + bool(left),)]
