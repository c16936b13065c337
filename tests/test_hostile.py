"""Hostile input: each attack a partner's file can carry is refused clearly or loaded right.

Every test loads into a database that already holds accepted data (``store``), through the
command line where the attack is a whole file (exit 2, one line on stderr, no traceback)
and checks afterwards that the database opens and every count is as it was, or changed by
exactly the records that were accepted. The attacks are files in ``fixtures/hostile/``;
the large ones (a zip bomb, a 100 MB line) are made here, in ``tmp_path``.
"""

from __future__ import annotations

import csv
import http.server
import io
import json
import re
import shutil
import struct
import threading
import time
import zipfile
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner, Result
from conftest import counts

from traceability.cli import cli
from traceability.errors import InputError, UnreadableFile
from traceability.load import load
from traceability.load.limits import Limits, current

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = ROOT / "fixtures" / "hostile"
SEEDS = HOSTILE / "seeds"

HEADER = (
    "declaration_id,line,direction,declarant,counterparty,origin_country,destination_country,"
    "shipment_ref,gtin,lot,quantity,uom,declared_date,authorisation_ref"
)
ROW = (
    "SB-{n},1,export,8901234000007,0614141000005,IN,US,BOL-2026-0001,08901234000014,L2401,300,"
    "H87,2026-02-10,EA-IN-2026-001"
)
EVENT = (
    '{{"type":"ObjectEvent","eventID":"urn:uuid:{n}","eventTime":"2026-01-12T10:15:00+05:30",'
    '"eventTimeZoneOffset":"+05:30","action":"ADD","bizStep":"commissioning",'
    '"epcList":["urn:epc:id:sgtin:8901234.000001.Z{n}"]{extra}}}'
)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database holding a quarter's worth of accepted data (in miniature)."""
    db = tmp_path_factory.mktemp("baseline") / "store.duckdb"
    load(db, [SEEDS / "consignments.csv", SEEDS / "events.jsonl", SEEDS / "document-1.2.xml"])
    return db


@pytest.fixture
def store(tmp_path: Path, baseline: Path) -> Path:
    """A copy of the baseline database for one test."""
    db = tmp_path / "store.duckdb"
    shutil.copy(baseline, db)
    return db


def _cli(db: Path, *args: str | Path) -> Result:
    out = CliRunner().invoke(cli, ["load", "--db", str(db), *map(str, args)])
    assert out.exception is None or isinstance(out.exception, SystemExit), out.exception
    assert "Traceback" not in out.output
    return out


def refused(db: Path, path: Path, expected: str, *args: str) -> str:
    """Load ``path`` through the CLI: exit 2, one line naming it, nothing changed."""
    before = counts(db)
    out = _cli(db, *args, path)
    assert out.exit_code == 2, out.output
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert path.name in lines[0] and expected in lines[0], lines[0]
    assert counts(db) == before  # the database opens, and holds what it held
    return lines[0]


def loaded(db: Path, path: Path, *args: str, accepted: int, rejected: int = 0) -> Result:
    """Load ``path`` through the CLI: it loads, and the counts grow by exactly that."""
    before = counts(db)
    out = _cli(db, *args, path)
    assert out.exit_code == 0, out.output
    after = counts(db)
    assert after["rejects"] - before["rejects"] >= rejected
    grown = {t: after[t] - before[t] for t in after if after[t] != before[t]}
    assert grown.pop("loads") == 1
    if rejected:
        assert grown.pop("rejects") >= rejected
    assert sum(v for t, v in grown.items() if t in _RECORD_TABLES) == accepted, grown
    return out


_RECORD_TABLES = ("products", "batches", "consignments", "authorisations", "filings")
_RECORD_TABLES += ("estimates", "events")


def events_text(db: Path) -> str:
    """Everything stored about events, as text."""
    return str(_stored(db, "SELECT CAST(COLUMNS(*) AS VARCHAR) FROM events"))


def _stored(db: Path, sql: str) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


# --------------------------------------------------------------------------------------
# XML: entities, DTDs, URLs and the parser's size limits
# --------------------------------------------------------------------------------------


def test_an_external_entity_is_refused_and_the_file_it_names_is_never_read(store: Path) -> None:
    line = refused(store, HOSTILE / "xml" / "xxe-file.xml", "declares entities (secret)")
    assert "reads no DTD and expands no entity" in line
    stored = _stored(store, "SELECT * FROM rejects") + _stored(
        store, "SELECT CAST(COLUMNS(*) AS VARCHAR) FROM events"
    )
    assert "TOP-SECRET" not in str(stored)


def test_a_parameter_entity_naming_an_external_dtd_is_refused_unread(store: Path) -> None:
    refused(store, HOSTILE / "xml" / "xxe-parameter.xml", "declares entities (dtd)")
    with pytest.raises(UnreadableFile, match="declares entities"):
        load(store, [HOSTILE / "xml" / "xxe-parameter.xml"])
    assert "DTD-WAS-READ" not in str(events_text(store))


@pytest.fixture
def listener() -> Iterator[tuple[int, list[str]]]:
    """A web server on this machine that notes every request it gets."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            seen.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'<!ENTITY leak "FETCHED">')

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        thread.join()


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [("dtd-fetch.xml", "names an external DTD"), ("xxe-url.xml", "declares entities (remote)")],
)
def test_no_dtd_or_entity_is_ever_fetched_from_a_url(
    tmp_path: Path, store: Path, listener: tuple[int, list[str]], fixture: str, expected: str
) -> None:
    port, seen = listener
    text = (HOSTILE / "xml" / fixture).read_text().replace("__PORT__", str(port))
    path = tmp_path / fixture
    path.write_text(text)
    refused(store, path, expected)
    assert seen == []


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("billion-laughs.xml", "declares entities (lol0, lol1"),
        ("quadratic-blowup.xml", "declares entities (a)"),
        ("deep-nesting.xml", "refused: elements nested more than 256 levels deep"),
    ],
)
def test_entity_expansion_and_deep_nesting_are_refused_at_once(
    store: Path, fixture: str, expected: str
) -> None:
    started = time.perf_counter()
    refused(store, HOSTILE / "xml" / fixture, expected)
    assert time.perf_counter() - started < 10


def test_entity_expansion_is_refused_by_the_parser_too_when_the_dtd_comes_late(
    tmp_path: Path,
) -> None:
    # Past the check of the DOCTYPE (which needs the root element), libxml2's own guard
    # against amplification still refuses the entities, as a file error.
    from traceability.load.epcis.read_xml_prolog import open_xml as _open

    text = (HOSTILE / "xml" / "billion-laughs.xml").read_text()
    path = tmp_path / "laughs.xml"
    path.write_text(text)
    f, parser = _open(path)
    with f, pytest.raises(Exception, match="amplification|entit"):
        for _ in parser:
            pass


def test_a_text_of_more_than_ten_million_bytes_is_refused(tmp_path: Path, store: Path) -> None:
    text = (HOSTILE / "xml" / "bare-doctype.xml").read_text()
    big = text.replace("<bizStep>commissioning", "<bizStep>" + "x" * 10_500_000, 1)
    path = tmp_path / "big-text.xml"
    path.write_text(big)
    refused(store, path, "more than 10,000,000 bytes of text in one element")


def test_a_bare_doctype_declares_nothing_and_loads(store: Path) -> None:
    loaded(store, HOSTILE / "xml" / "bare-doctype.xml", accepted=2)


# --------------------------------------------------------------------------------------
# SQL: names from files never become SQL
# --------------------------------------------------------------------------------------


def test_a_file_named_like_sql_loads_as_an_ordinary_file(store: Path) -> None:
    path = HOSTILE / "csv" / "x'); drop table events; --.csv"
    events = counts(store)["events"]
    loaded(store, path, accepted=1)
    assert counts(store)["events"] == events
    con = duckdb.connect(str(store), read_only=True)
    try:
        row = con.execute("SELECT source_file FROM consignments WHERE declaration_id = 'SB-1'")
        assert row.fetchone() == (str(path),)
    finally:
        con.close()


def test_column_names_from_a_file_are_kept_as_data_and_printed_inert(store: Path) -> None:
    path = HOSTILE / "csv" / "hostile-column-names.csv"
    out = loaded(store, path, accepted=1)
    (extra,) = _stored(store, "SELECT extra FROM consignments WHERE declaration_id = 'SB-7'")[0]
    names = next(csv.reader(io.StringIO(path.read_text())))[14:]
    assert sorted(json.loads(str(extra))) == sorted(names)
    assert "\x1b" not in out.output and "\\x1b[31mred" in out.output
    assert "[/bold]" in out.output


def test_a_column_name_holding_nul_is_refused_and_an_identifier_holding_nul_is_rejected(
    store: Path,
) -> None:
    refused(store, HOSTILE / "jsonl" / "nul-in-key.jsonl", "holds a NUL character")
    # A lot "L\x002401" shows as L2401 and would match or miss it: the record is rejected,
    # the character named.
    loaded(store, HOSTILE / "jsonl" / "nul-in-value.jsonl", accepted=0, rejected=1)
    assert _stored(store, "SELECT lot FROM consignments WHERE declaration_id = 'SB-8'") == []
    ((field, code, message),) = _stored(store, "SELECT field, code, message FROM rejects")
    assert (field, code) == ("lot", "invisible-character")
    assert "U+0000" in message and "\x00" not in message


# --------------------------------------------------------------------------------------
# Text encodings and separators
# --------------------------------------------------------------------------------------


def test_a_bom_and_crlf_line_ends_load_as_if_absent(store: Path) -> None:
    loaded(store, HOSTILE / "csv" / "bom-crlf.csv", accepted=2)
    rows = _stored(
        store,
        "SELECT declaration_id, authorisation_ref FROM consignments "
        "WHERE declaration_id IN ('SB-2', 'SB-3') ORDER BY 1",
    )
    assert rows == [("SB-2", "EA-IN-2026-001"), ("SB-3", "EA-IN-2026-001")]


def test_trailing_empty_columns_are_ignored(store: Path) -> None:
    loaded(store, HOSTILE / "csv" / "trailing-empty-columns.csv", accepted=1)


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("csv/nul-byte.csv", "nul-byte.csv:2: contains NUL bytes"),
        ("csv/invalid-utf8.csv", "invalid-utf8.csv:2: not UTF-8 text"),
    ],
)
def test_nul_bytes_and_invalid_utf8_are_refused_with_the_line(
    store: Path, fixture: str, expected: str
) -> None:
    refused(store, HOSTILE / fixture, expected)


def test_invalid_utf8_and_nul_in_json_lines_events(tmp_path: Path, store: Path) -> None:
    bad = tmp_path / "bad-utf8.jsonl"
    bad.write_bytes(EVENT.format(n=1, extra="").encode() + b"\n\xff\xfe\n")
    refused(store, bad, "bad-utf8.jsonl:2: not UTF-8 text")
    nul = tmp_path / "nul.jsonl"
    nul.write_bytes(
        EVENT.format(n=2, extra="").encode() + b"\n" + EVENT.format(n="3\x00", extra="").encode()
    )
    loaded(store, nul, accepted=1, rejected=1)
    crlf = tmp_path / "crlf.jsonl"
    crlf.write_bytes(
        b"\xef\xbb\xbf" + EVENT.format(n=4, extra="").encode() + b"\r\n"
        b"" + EVENT.format(n=5, extra="").encode() + b"\r\n"
    )
    loaded(store, crlf, accepted=2)


# --------------------------------------------------------------------------------------
# Sizes and shapes: long fields and lines, many columns, deep nesting
# --------------------------------------------------------------------------------------


def _csv(path: Path, header: str, rows: Sequence[str]) -> Path:
    path.write_text(header + "\n" + "".join(r + "\n" for r in rows))
    return path


def test_a_field_of_ten_megabytes_rejects_its_record_only(tmp_path: Path, store: Path) -> None:
    big = ROW.format(n=10).replace("L2401", "L" * 10_000_000)
    path = _csv(tmp_path / "consignments.csv", HEADER, [ROW.format(n=11), big, ROW.format(n=12)])
    loaded(store, path, accepted=2, rejected=1)
    (message,) = _stored(store, "SELECT message FROM rejects WHERE code = 'field-too-large'")[0]
    assert "longer than 1,048,576 characters" in str(message)
    assert "TRACECHECK_MAX_FIELD_CHARS" in str(message)


def test_a_field_of_ten_megabytes_in_json_lines_names_its_field(
    tmp_path: Path, store: Path
) -> None:
    fields = dict(zip(HEADER.split(","), ROW.format(n=13).split(","), strict=True))
    path = tmp_path / "consignments.jsonl"
    rows = [fields, {**fields, "declaration_id": "SB-14", "lot": "L" * 10_000_000}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    loaded(store, path, accepted=1, rejected=1)
    (message,) = _stored(store, "SELECT message FROM rejects WHERE code = 'field-too-large'")[0]
    assert str(message).startswith("'lot': longer than")


@pytest.mark.slow
def test_a_single_line_of_a_hundred_megabytes(tmp_path: Path, store: Path) -> None:
    line = EVENT.format(n=20, extra=', "ex:blob": "' + "y" * 100_000_000 + '"')
    events = tmp_path / "events.jsonl"
    events.write_text(EVENT.format(n=21, extra="") + "\n" + line + "\n")
    refused(store, events, "events.jsonl:2: the line is longer than 67,108,864 bytes")
    declarations = _csv(
        tmp_path / "consignments.csv",
        HEADER,
        [ROW.format(n=22), ROW.format(n=23).replace("L2401", "L" * 100_000_000)],
    )
    loaded(store, declarations, accepted=1, rejected=1)


def test_a_long_json_lines_record_is_rejected_alone(
    tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACECHECK_MAX_LINE_BYTES", "2000")
    fields = dict(zip(HEADER.split(","), ROW.format(n=24).split(","), strict=True))
    rows = [fields, {**fields, "declaration_id": "SB-25", "note": "n" * 5000}]
    path = tmp_path / "consignments.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    loaded(store, path, accepted=1, rejected=1)
    assert _stored(store, "SELECT line, code FROM rejects WHERE code = 'line-too-long'") == [
        (2, "line-too-long")
    ]


def test_a_million_columns_are_refused_before_they_are_read(tmp_path: Path, store: Path) -> None:
    wide = _csv(tmp_path / "wide.csv", ",".join(f"c{i}" for i in range(1_000_000)), ["1"])
    refused(store, wide, "the header row goes on past the first 1,048,576 bytes")
    refused(store, wide, "the header row goes on past", "--kind", "consignments")
    narrow = _csv(tmp_path / "narrow.csv", ",".join("x" * 200_000), ["1"])
    refused(store, narrow, "200,000 columns, more than the limit of 1,000", "--kind", "batches")


def test_the_column_limit_is_exact_and_can_be_raised(
    tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def wide(n: int) -> Path:
        extra = [f"extra{i}" for i in range(n - 14)]
        return _csv(
            tmp_path / f"consignments-{n}.csv",
            HEADER + "," + ",".join(extra),
            [ROW.format(n=30 + n) + "," + ",".join("v" for _ in extra)],
        )

    loaded(store, wide(1000), accepted=1)
    refused(store, wide(1001), "1,001 columns, more than the limit of 1,000")
    monkeypatch.setenv("TRACECHECK_MAX_COLUMNS", "1001")
    loaded(store, wide(1001), accepted=1)
    monkeypatch.setenv("TRACECHECK_MAX_COLUMNS", "many")
    out = _cli(store, wide(999))
    assert out.exit_code == 2
    assert out.stderr.startswith("error: TRACECHECK_MAX_COLUMNS='many': not a whole number")


def test_limits_come_from_the_environment_and_are_checked() -> None:
    assert current() == Limits()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRACECHECK_MAX_XLSX_ROWS", "2_000_000")
        assert current().max_xlsx_rows == 2_000_000
        mp.setenv("TRACECHECK_MAX_FIELD_CHARS", "0")
        with pytest.raises(InputError, match="TRACECHECK_MAX_FIELD_CHARS='0'"):
            current()


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_deeply_nested_json_is_refused_or_rejected_never_a_crash(
    tmp_path: Path, store: Path
) -> None:
    # An event with its eventID and no quantities is read by DuckDB alone, which follows
    # any depth: it loads. Without an eventID its hash is computed in Python: refused.
    events = tmp_path / "events.jsonl"
    deep = EVENT.format(n=41, extra=', "ex:x": ' + _deep(100_000))
    events.write_text(EVENT.format(n=40, extra="") + "\n" + deep)
    loaded(store, events, accepted=2)
    hashed = tmp_path / "hashed.jsonl"
    hashed.write_text(
        EVENT.format(n=42, extra="") + "\n" + deep.replace('"eventID":"urn:uuid:41",', "")
    )
    refused(store, hashed, "holds JSON nested too deeply to be read")
    document = tmp_path / "document.json"
    doc = json.loads((SEEDS / "document.json").read_text())
    text = json.dumps(doc).replace('"ex:temperature": 4.5', '"ex:temperature": ' + _deep(5000))
    document.write_text(text)
    refused(store, document, "holds JSON nested too deeply to be read")
    fields = dict(zip(HEADER.split(","), ROW.format(n=43).split(","), strict=True))
    declarations = tmp_path / "consignments.jsonl"
    declarations.write_text(
        json.dumps(fields) + "\n" + json.dumps(fields)[:-1] + ', "x": ' + _deep(100_000) + "}\n"
    )
    loaded(store, declarations, accepted=1, rejected=1)
    assert _stored(store, "SELECT message FROM rejects WHERE line = 2 AND code = 'bad-json'") == [
        ("not read: nested too deeply to be read",)
    ]


def test_an_aborted_strict_load_leaves_every_count_as_it_was(tmp_path: Path, store: Path) -> None:
    big = ROW.format(n=50).replace("L2401", "L" * 2_000_000)
    path = _csv(tmp_path / "consignments.csv", HEADER, [ROW.format(n=51), big])
    before = counts(store)
    out = _cli(store, "--strict", path)
    assert out.exit_code == 3
    assert "longer than 1,048,576 characters" in out.stderr
    assert counts(store) == before


# --------------------------------------------------------------------------------------
# Spreadsheets: zip bombs, declared sizes, far rows and columns, huge cells, XML attacks
# --------------------------------------------------------------------------------------

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_PARTS = {
    "[Content_Types].xml": (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>'
    ),
    "_rels/.rels": (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        f'<workbook xmlns="{_MAIN}" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="filings" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/worksheet" Target="worksheets/sheet1.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>'
    ),
}
FILING_HEADER = [
    *("filing_id", "filer", "country", "period", "flow", "gtin", "substance_base"),
    *("counterparty_country", "quantity", "uom"),
]
FILING = [
    *("RET-IN-2026Q1", "8901234000007", "IN", "2026-Q1", "export", "", "pseudoephedrine"),
    *("US", "0.442368", "KGM"),
]


def _column(i: int) -> str:
    name = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        name = chr(65 + r) + name
    return name


def sheet_row(n: int, values: Sequence[str]) -> str:
    """One row of inline-string cells."""
    cells = "".join(
        f'<c r="{_column(i)}{n}" t="inlineStr"><is><t>{v}</t></is></c>'
        for i, v in enumerate(values)
        if v
    )
    return f'<row r="{n}">{cells}</row>'


def sheet(rows: Sequence[str], dimension: str = "A1:J2", prolog: str = "") -> str:
    """A worksheet part."""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}<worksheet xmlns="{_MAIN}">'
        f'<dimension ref="{dimension}"/><sheetData>{"".join(rows)}</sheetData></worksheet>'
    )


def xlsx(path: Path, worksheet: str, shared: str | None = None) -> Path:
    """A minimal .xlsx workbook of one sheet named filings."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in _PARTS.items():
            z.writestr(name, text)
        z.writestr("xl/worksheets/sheet1.xml", worksheet)
        z.writestr("xl/sharedStrings.xml", shared or f'<sst xmlns="{_MAIN}" count="0"/>')
    return path


def _filings(n: int) -> list[str]:
    return [f"RET-{n}", *FILING[1:]]


@pytest.mark.slow
def test_a_zip_bomb_is_refused_from_the_zip_directory(tmp_path: Path, store: Path) -> None:
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in _PARTS.items():
            z.writestr(name, text)
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as part:
            part.write(f'<worksheet xmlns="{_MAIN}"><sheetData>'.encode())
            block = sheet_row(2, FILING).encode() * 10_000
            for _ in range(300 * 2**20 // len(block)):
                part.write(block)
            part.write(b"</sheetData></worksheet>")
    assert path.stat().st_size < 5_000_000
    started = time.perf_counter()
    refused(store, path, "unpacks to", "--kind", "filings")
    assert time.perf_counter() - started < 5


def test_a_zip_that_understates_a_part_is_never_unpacked_past_it(
    tmp_path: Path, store: Path
) -> None:
    rows = [sheet_row(1, FILING_HEADER)] + [sheet_row(n, _filings(n)) for n in range(2, 5000)]
    path = xlsx(tmp_path / "understated.xlsx", sheet(rows))
    data = bytearray(path.read_bytes())
    # Say the sheet unpacks to 100 bytes, in its local header and in the zip directory.
    name = b"xl/worksheets/sheet1.xml"
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.find(signature + b"")
        while at >= 0:
            start = at + (30 if signature == b"PK\x03\x04" else 46)
            if data[start : start + len(name)] == name:
                struct.pack_into("<I", data, at + offset, 100)
            at = data.find(signature, at + 4)
    path.write_bytes(bytes(data))
    refused(store, path, "not a readable .xlsx workbook", "--kind", "filings")


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("far-row.xlsx", "goes on past row 1,048,576, the limit"),
        ("far-column.xlsx", "has cells up to column 16,384, more than the limit of 1,000"),
        ("billion-laughs.xlsx", "not a readable .xlsx workbook (limit on input amplification"),
        ("shared-strings-laughs.xlsx", "not a readable .xlsx workbook (limit on input amplif"),
        ("external-entity.xlsx", "not a readable .xlsx workbook (undefined entity"),
        ("broken-sheet.xlsx", "not a readable .xlsx workbook (mismatched tag"),
        ("bad-cell-reference.xlsx", "not a readable .xlsx workbook ('ZZZZZ'"),
    ],
)
def test_a_hostile_workbook_is_refused_clearly(store: Path, fixture: str, expected: str) -> None:
    started = time.perf_counter()
    refused(store, HOSTILE / "xlsx" / fixture, expected, "--kind", "filings")
    assert time.perf_counter() - started < 20


def test_a_sheet_that_declares_a_million_rows_reads_only_what_it_holds(store: Path) -> None:
    started = time.perf_counter()
    loaded(store, HOSTILE / "xlsx" / "declared-size.xlsx", "--kind", "filings", accepted=1)
    assert time.perf_counter() - started < 10


def test_an_enormous_cell_rejects_its_row_only(store: Path) -> None:
    path = HOSTILE / "xlsx" / "enormous-cell.xlsx"
    loaded(store, path, "--kind", "filings", accepted=1, rejected=1)
    (message,) = _stored(store, "SELECT message FROM rejects WHERE code = 'field-too-large'")[0]
    assert str(message).startswith("'substance_base': longer than 1,048,576 characters")


def make_workbook_fixtures(folder: Path) -> None:
    """Write the small hostile workbooks of ``fixtures/hostile/xlsx/`` (kept in the repo)."""
    lol = (
        "<!DOCTYPE worksheet [<!ENTITY lol0 'lol'>"
        + "".join(f"<!ENTITY lol{i} '{f'&lol{i - 1};' * 10}'>" for i in range(1, 10))
        + "]>"
    )
    header, ok = sheet_row(1, FILING_HEADER), sheet_row(2, FILING)
    with_value = [*FILING[:6], "&lol9;", *FILING[7:]]
    far = '<row r="3"><c r="XFD3" t="inlineStr"><is><t>x</t></is></c></row>'
    big = sheet_row(3, [*_filings(3)[:6], "z" * 2_000_000, *FILING[7:]])
    xxe = [*FILING[:6], "&x;", *FILING[7:]]
    workbooks = {
        "declared-size.xlsx": sheet([header, ok], "A1:XFD1048576"),
        "far-row.xlsx": sheet([header, ok, sheet_row(5_000_000, FILING)]),
        "far-column.xlsx": sheet([header, ok, far]),
        "enormous-cell.xlsx": sheet([header, ok, big]),
        "billion-laughs.xlsx": sheet([header, sheet_row(2, with_value)], prolog=lol),
        "external-entity.xlsx": sheet(
            [header, sheet_row(2, xxe)],
            prolog="<!DOCTYPE worksheet [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>",
        ),
        "broken-sheet.xlsx": sheet([header, ok]).replace("</sheetData>", "<sheetData>"),
        "bad-cell-reference.xlsx": sheet([header, ok]).replace('r="B2"', 'r="ZZZZZ2"'),
    }
    for name, worksheet in workbooks.items():
        xlsx(folder / name, worksheet)
    shared = lol.replace("worksheet", "sst") + f'<sst xmlns="{_MAIN}"><si><t>&lol9;</t></si></sst>'
    xlsx(folder / "shared-strings-laughs.xlsx", sheet([header, ok]), shared)


def test_numbers_too_long_or_too_large_to_read_are_rejected_or_refused(
    tmp_path: Path, store: Path
) -> None:
    fields = dict(zip(HEADER.split(","), ROW.format(n=60).split(","), strict=True))
    declarations = tmp_path / "consignments.jsonl"
    declarations.write_text(
        json.dumps(fields)
        + "\n"
        + json.dumps({**fields, "declaration_id": "SB-61"})[:-1]
        + ', "n": 1'
        + "0" * 5000
        + "}\n"
    )
    loaded(store, declarations, accepted=1, rejected=1)
    document = tmp_path / "document.json"
    text = (SEEDS / "document.json").read_text()
    document.write_text(text.replace('"quantity": 10', '"quantity": 1.5E+99999999999999999999'))
    loaded(store, document, accepted=2, rejected=1)  # that event: decimal-out-of-range
    assert _stored(store, "SELECT code FROM rejects ORDER BY rowid DESC LIMIT 1") == [
        ("decimal-out-of-range",)
    ]


@pytest.mark.parametrize(
    ("prolog", "expected"),
    [
        ('<?xml version="1.0"?>\n<!-- a comment -->\n<!DOCTYPE r [<!ENTITY a "]>">]>', "(a)"),
        ("<!DOCTYPE r [<!-- <!ENTITY not \"x\"> --><!ENTITY % p SYSTEM 'x.dtd'>]>", "(p)"),
        ('<!DOCTYPE r PUBLIC "-//X//DTD X//EN" "x.dtd">', "external DTD (x.dtd)"),
    ],
)
def test_the_doctype_is_read_from_the_text_whatever_the_xml_library(
    tmp_path: Path, prolog: str, expected: str
) -> None:
    # The refusal does not wait for the parser, whose own guards (and their wording)
    # change from one libxml2 version to the next; UTF-16 files are read as text too.
    from traceability.load.epcis.read_xml import read_xml

    for encoding in ("utf-8", "utf-16"):
        path = tmp_path / f"doc-{encoding}.xml"
        path.write_bytes((prolog + "<r>&a;</r>").encode(encoding))
        with pytest.raises(UnreadableFile, match=re.escape(expected)):
            read_xml(path)


def test_a_bare_doctype_is_no_reason_to_refuse(tmp_path: Path) -> None:
    from traceability.load.epcis.read_xml_prolog import doctype as _doctype
    from traceability.load.epcis.read_xml_prolog import refuse_doctype as _refuse_doctype

    path = tmp_path / "bare.xml"
    path.write_text('<?xml version="1.0"?><!DOCTYPE r><r/>')
    _refuse_doctype(path)  # nothing to refuse
    assert _doctype('<?xml version="1.0"?><!DOCTYPE r><r/>') == "<!DOCTYPE r>"
    assert _doctype("<r/>") is None


def _codes_by_line(db: Path, name: str) -> dict[int, str]:
    rows = _stored(db, f"SELECT line, code FROM rejects WHERE source_file LIKE '%{name}'")
    return {int(str(line)): str(code) for line, code in rows}


def test_event_quantities_that_would_round_are_rejected_never_stored_rounded(
    store: Path,
) -> None:
    path = HOSTILE / "jsonl" / "silent-quantities.jsonl"
    loaded(store, path, accepted=1, rejected=4)
    assert _codes_by_line(store, path.name) == {
        1: "decimal-out-of-range",  # 1e400: no traceback
        2: "decimal-out-of-range",  # 1E+30
        3: "decimal-precision",  # 1e-400: not 0
        4: "decimal-precision",  # 16 decimals: not rounded to 12
    }
    assert _stored(
        store,
        "SELECT q.quantity FROM event_quantities q JOIN events e USING (event_row) "
        "WHERE e.event_id = 'urn:uuid:9c0f0000-0000-4000-8000-000000000005'",
    ) == [(Decimal("15"),)]


def test_a_key_given_twice_with_other_values_rejects_its_event(store: Path) -> None:
    path = HOSTILE / "jsonl" / "duplicate-keys.jsonl"
    loaded(store, path, accepted=1, rejected=2)
    assert _codes_by_line(store, path.name) == {
        1: "duplicate-key-conflict",
        3: "duplicate-key-conflict",
    }
    assert _stored(
        store, "SELECT record, code FROM load_notes WHERE source_file LIKE '%duplicate-keys.jsonl'"
    ) == [(2, "duplicate-key")]


def test_an_invisible_character_in_an_identifier_rejects_its_event(store: Path) -> None:
    path = HOSTILE / "jsonl" / "invisible-identifiers.jsonl"
    loaded(store, path, accepted=1, rejected=2)
    assert _codes_by_line(store, path.name) == {
        1: "invisible-character",
        2: "invisible-character",
    }
    assert "L2401\u200b" not in events_text(store)


def test_a_dtd_attribute_default_is_never_applied(store: Path) -> None:
    path = HOSTILE / "xml" / "attlist-default.xml"
    loaded(store, path, accepted=1)
    transactions = _stored(store, "SELECT type FROM event_biz_transactions WHERE ref = 'PO-31'")
    assert transactions == [(None,)]
    notes = _stored(
        store, "SELECT code FROM load_notes WHERE source_file LIKE '%attlist-default.xml'"
    )
    assert notes == [("dtd-default-ignored",), ("dtd-default-ignored",)]
