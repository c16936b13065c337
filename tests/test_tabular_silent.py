"""Nothing in a declaration file changes on its way to the store without a note or a reject.

Each case is a real file: JSON Lines with a key given twice, workbooks written by openpyxl
with a formula cell (with and without the value the spreadsheet saved) and with a hidden
sheet before the visible one; and a long file read in chunks, whose line numbers,
duplicates and conflicts must come out as for a file read at once.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import VALID, write_csv
from openpyxl import Workbook

from traceability.load import load, read

FILING: dict[str, Any] = {k: v for k, v in VALID["filings"].items() if v != ""}


def _rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


# -- JSON Lines: a key given twice -------------------------------------------------------


def test_a_key_given_twice_with_one_value_loads_with_a_note(tmp_path: Path, db: Path) -> None:
    line = json.dumps(FILING)[:-1] + ', "quantity": "0.442368"}'
    path = tmp_path / "filings.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    result = load(db, [path])
    assert (result.files[0].accepted, result.files[0].rejected) == (1, 0)
    assert _rows(db, "SELECT code, record FROM load_notes") == [("duplicate-key", 1)]
    assert _rows(db, "SELECT quantity::VARCHAR FROM filings") == [("0.442368000000",)]


def test_a_key_given_twice_with_two_values_rejects_the_record(tmp_path: Path, db: Path) -> None:
    # Python's json keeps the last value; the sender may have meant the first.
    conflicting = json.dumps(FILING)[:-1] + ', "quantity": "99999"}'
    fine = json.dumps({**FILING, "filing_id": "RET-2"})
    path = tmp_path / "filings.jsonl"
    path.write_text(conflicting + "\n" + fine + "\n", encoding="utf-8")
    result = load(db, [path])
    assert (result.files[0].accepted, result.files[0].rejected) == (1, 1)
    assert _rows(db, "SELECT line, field, code FROM rejects") == [
        (1, "quantity", "duplicate-key-conflict")
    ]
    assert _rows(db, "SELECT filing_id FROM filings") == [("RET-2",)]


def test_one_and_true_are_different_values_of_a_repeated_key(tmp_path: Path, db: Path) -> None:
    line = json.dumps(FILING)[:-1] + ', "x": 1, "x": true}'
    path = tmp_path / "filings.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    load(db, [path])
    assert _rows(db, "SELECT field, code FROM rejects") == [("x", "duplicate-key-conflict")]


# -- .xlsx: formula cells and hidden sheets ----------------------------------------------


def _workbook(path: Path, sheets: list[tuple[str, str, list[list[Any]]]]) -> Path:
    """A workbook of (title, state, rows) sheets, written by openpyxl."""
    book = Workbook()
    first = book.active
    assert first is not None
    book.remove(first)
    for title, state, rows in sheets:
        sheet = book.create_sheet(title)
        sheet.sheet_state = state
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def _filing_rows(quantity: Any, filing_id: str = "RET-1") -> list[list[Any]]:
    record = {**FILING, "filing_id": filing_id, "quantity": quantity}
    return [list(record), list(record.values())]


def _save_value(path: Path, formula: str, value: str) -> None:
    """Give a formula cell the value a spreadsheet would have saved with it."""
    with zipfile.ZipFile(path) as z:
        parts = {name: z.read(name) for name in z.namelist()}
    for name, data in parts.items():
        if name.startswith("xl/worksheets/"):
            text = data.decode()
            parts[name] = re.sub(
                f"<f>{re.escape(formula)}</f><v\\s*/?>(</v>)?",
                f"<f>{formula}</f><v>{value}</v>",
                text,
            ).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)


def test_a_formula_cell_loads_the_value_its_spreadsheet_saved_with_a_note(
    tmp_path: Path, db: Path
) -> None:
    path = _workbook(tmp_path / "filings.xlsx", [("filings", "visible", _filing_rows("=1+1"))])
    _save_value(path, "1+1", "999")  # a stale value: what the sender saw and sent
    result = load(db, [path], kind="filings")
    assert (result.files[0].accepted, result.files[0].rejected) == (1, 0)
    assert _rows(db, "SELECT quantity FROM filings")[0][0] == 999
    notes = _rows(db, "SELECT code, record, message FROM load_notes")
    assert [(code, record) for code, record, _ in notes] == [("formula-cell", 2)]
    assert "quantity" in notes[0][2]


def test_a_formula_saved_without_its_value_rejects_the_record(tmp_path: Path, db: Path) -> None:
    # openpyxl computes no formula: it saves the formula with an empty value.
    path = _workbook(
        tmp_path / "filings.xlsx",
        [("filings", "visible", [*_filing_rows("=1+1"), _filing_rows("2.5", "RET-2")[1]])],
    )
    result = load(db, [path], kind="filings")
    assert (result.files[0].accepted, result.files[0].rejected) == (1, 1)
    assert _rows(db, "SELECT line, field, code FROM rejects") == [
        (2, "quantity", "formula-without-value")
    ]
    assert _rows(db, "SELECT filing_id FROM filings") == [("RET-2",)]


def test_a_hidden_first_sheet_is_skipped_with_a_note(tmp_path: Path, db: Path) -> None:
    path = _workbook(
        tmp_path / "filings.xlsx",
        [
            ("secret", "veryHidden", _filing_rows("99999")),
            ("old", "hidden", _filing_rows("7")),
            ("visible", "visible", _filing_rows("15")),
        ],
    )
    result = load(db, [path], kind="filings")
    assert result.files[0].accepted == 1
    assert _rows(db, "SELECT quantity FROM filings")[0][0] == 15
    notes = _rows(db, "SELECT code, record, message FROM load_notes ORDER BY message")
    assert [(code, record) for code, record, _ in notes] == [("hidden-sheet", None)] * 2
    assert ["'old'" in notes[0][2], "'secret'" in notes[1][2]] == [True, True]


def test_a_workbook_of_hidden_sheets_only_is_refused(tmp_path: Path, db: Path) -> None:
    from traceability.errors import UnreadableFile

    path = _workbook(
        tmp_path / "filings.xlsx",
        [("a", "visible", [["x"]]), ("filings", "hidden", _filing_rows("1"))],
    )
    # openpyxl will not save a workbook without a visible sheet; hide it in the XML.
    with zipfile.ZipFile(path) as z:
        parts = {name: z.read(name) for name in z.namelist()}
    parts["xl/workbook.xml"] = parts["xl/workbook.xml"].replace(
        b'name="a" sheetId="1" state="visible"', b'name="a" sheetId="1" state="hidden"'
    )
    assert b'state="visible"' not in parts["xl/workbook.xml"]
    with zipfile.ZipFile(path, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)
    with pytest.raises(UnreadableFile, match="every sheet of the workbook is hidden"):
        load(db, [path], kind="filings")


# -- A file read in chunks ---------------------------------------------------------------


def test_a_file_read_in_chunks_keeps_lines_duplicates_and_conflicts(
    tmp_path: Path, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(read, "CHUNK_ROWS", 4)
    base = VALID["consignments"]
    rows = [{**base, "declaration_id": f"SB-{i}"} for i in range(10)]
    rows[5]["quantity"] = "1e-400"  # line 7: rejected
    rows.append(dict(rows[1]))  # line 12: the same record again: a duplicate
    rows.append({**rows[2], "quantity": "301"})  # line 13: same key, other content
    path = write_csv(tmp_path / "consignments.csv", rows)
    result = load(db, [path])
    f = result.files[0]
    assert (f.records, f.accepted, f.duplicates, f.conflicts, f.rejected) == (12, 10, 1, 1, 1)
    assert _rows(db, "SELECT line, code FROM rejects") == [(7, "decimal-precision")]
    lines = [r[0] for r in _rows(db, "SELECT source_line FROM consignments ORDER BY 1")]
    assert lines == [2, 3, 4, 5, 6, 8, 9, 10, 11, 13]


# -- identifiers that hold characters which do not show ----------------------------------


def test_an_identifier_with_an_invisible_character_is_rejected_and_a_name_is_not(
    tmp_path: Path, db: Path
) -> None:
    # L2401 followed by a zero-width space looks like L2401 and would miss its events.
    lots = ["L2401", "L2401\u200b", "L\u202e1042", "L24\x0701"]
    rows = [{**VALID["batches"], "lot": lot} for lot in lots]
    products = [{**VALID["products"], "name": "Pseudoephedrine\u00a0HCl\t60\u200bmg"}]
    load(db, [write_csv(tmp_path / "b.csv", rows), write_csv(tmp_path / "p.csv", products)])
    assert _rows(db, "SELECT lot FROM batches") == [("L2401",)]
    rejects = _rows(db, "SELECT line, field, code, message FROM rejects ORDER BY line")
    assert [(line, field, code) for line, field, code, _ in rejects] == [
        (3, "lot", "invisible-character"),
        (4, "lot", "invisible-character"),
        (5, "lot", "invisible-character"),
    ]
    assert "U+200B ZERO WIDTH SPACE" in rejects[0][3]
    assert "\u200b" not in rejects[0][3] and "\x07" not in rejects[2][3]
    assert _rows(db, "SELECT count(*) FROM products") == [(1,)]
