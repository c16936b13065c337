"""Loading declarations: every kind and format, rejections, strictness, idempotence."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest
from click.testing import CliRunner
from conftest import VALID, consignment_rows, counts, write_csv, write_jsonl
from openpyxl import Workbook

from traceability.cli import cli
from traceability.errors import StrictLoadAborted
from traceability.kinds import TABULAR_KINDS, kind_spec
from traceability.load import load


def _clean(row: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in row.items() if v != ""}


@pytest.mark.parametrize("kind", TABULAR_KINDS)
def test_every_kind_loads_from_csv(tmp_path: Path, db: Path, kind: str) -> None:
    path = write_csv(tmp_path / f"{kind}.csv", [VALID[kind]])
    result = load(db, [path])
    assert [(f.kind, f.accepted, f.rejected) for f in result.files] == [(kind, 1, 0)]
    assert counts(db)[kind_spec(kind).table] == 1


@pytest.mark.parametrize("kind", TABULAR_KINDS)
def test_every_kind_loads_from_parquet_and_json_lines(tmp_path: Path, db: Path, kind: str) -> None:
    row = _clean(VALID[kind])
    pl.DataFrame([row]).write_parquet(tmp_path / f"{kind}.parquet")
    numeric = {
        k: (Decimal(v) if kind_spec(kind).column(k).logical == "decimal" else v)
        for k, v in row.items()
    }
    (tmp_path / f"{kind}.jsonl").write_text(
        "{"
        + ", ".join(
            f'"{k}": {v if isinstance(v, Decimal) else repr(v).replace(chr(39), chr(34))}'
            for k, v in numeric.items()
        )
        + "}\n",  # noqa: E501
        encoding="utf-8",
    )
    result = load(db, [tmp_path / f"{kind}.parquet", tmp_path / f"{kind}.jsonl"])
    assert [(f.kind, f.format, f.rejected) for f in result.files] == [
        (kind, "parquet", 0),
        (kind, "jsonl", 0),
    ]
    # The same record from two files of different formats is stored once.
    assert [f.accepted + f.duplicates for f in result.files] == [1, 1]
    assert counts(db)[kind_spec(kind).table] == 1


def _xlsx(path: Path, rows: list[dict[str, object]]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(rows[0]))
    for r in rows:
        sheet.append(list(r.values()))
    book.save(path)
    return path


@pytest.mark.parametrize("kind", ["filings", "authorisations", "estimates"])
def test_spreadsheet_kinds_load_from_xlsx_with_numeric_and_date_cells(
    tmp_path: Path, db: Path, kind: str
) -> None:
    row: dict[str, object] = dict(_clean(VALID[kind]))
    for name, value in list(row.items()):
        logical = kind_spec(kind).column(name).logical
        if logical == "decimal":
            row[name] = 0.1 + 0.2  # a float cell, as Excel stores every number
        elif logical == "date":
            row[name] = dt.datetime.fromisoformat(str(value))
        elif logical == "year":
            row[name] = 2026
    result = load(db, [_xlsx(tmp_path / f"{kind}.xlsx", [row])])
    assert result.files[0].accepted == 1, result.rejections
    con = duckdb.connect(str(db), read_only=True)
    quantity = "max_quantity" if kind == "authorisations" else "quantity"
    stored = con.execute(f"SELECT {quantity} FROM {kind}").fetchone()
    con.close()
    assert stored == (Decimal("0.3"),)


def test_xlsx_is_refused_for_consignments(tmp_path: Path, db: Path) -> None:
    path = _xlsx(tmp_path / "consignments.xlsx", [dict(_clean(VALID["consignments"]))])
    out = CliRunner().invoke(cli, ["load", "--db", str(db), str(path)])
    assert out.exit_code == 2
    assert "consignments are not read from xlsx" in out.output


def test_three_bad_rows_among_a_thousand_are_rejected_and_the_rest_load(
    tmp_path: Path, db: Path
) -> None:
    rows = consignment_rows(1000)
    rows[12]["quantity"] = "twelve"  # file line 14
    rows[99]["gtin"] = "08901234000015"  # wrong check digit, line 101
    rows[499]["declared_date"] = "2026-02-30"  # line 501
    path = write_csv(tmp_path / "consignments.csv", rows)
    result = load(db, [path])
    assert (result.files[0].accepted, result.files[0].rejected) == (997, 3)
    assert counts(db)["consignments"] == 997
    assert [(r.line, r.field, r.code) for r in result.rejections] == [
        (14, "quantity", "bad-decimal"),
        (101, "gtin", "bad-check-digit"),
        (501, "declared_date", "impossible-date"),
    ]
    assert str(result.rejections[0]).endswith(
        "consignments.csv:14: quantity: 'twelve' is not a decimal number"
    )
    con = duckdb.connect(str(db), read_only=True)
    stored = con.execute("SELECT count(*), count(DISTINCT line) FROM rejects").fetchone()
    con.close()
    assert stored == (3, 3)


def test_strict_exits_3_and_leaves_every_count_unchanged(tmp_path: Path, db: Path) -> None:
    load(db, [write_csv(tmp_path / "products.csv", [VALID["products"]])])
    before = counts(db)
    rows = consignment_rows(50)
    rows[3]["quantity"] = "twelve"
    path = write_csv(tmp_path / "consignments.csv", rows)
    out = CliRunner().invoke(cli, ["load", "--db", str(db), "--strict", str(path)])
    assert out.exit_code == 3
    assert "consignments.csv:5: quantity: 'twelve' is not a decimal number" in out.output
    assert "Traceback" not in out.output
    assert counts(db) == before
    with pytest.raises(StrictLoadAborted):
        load(db, [path], strict=True)
    assert counts(db) == before


def test_loading_the_same_files_twice_changes_nothing(tmp_path: Path, db: Path) -> None:
    paths = [write_csv(tmp_path / f"{k}.csv", [VALID[k]]) for k in TABULAR_KINDS]
    load(db, paths)
    before = counts(db)
    again = load(db, paths)
    assert {f.status for f in again.files} == {"already-loaded"}
    assert counts(db) == before


def test_same_record_in_two_files_counts_once_and_a_changed_one_is_a_conflict(
    tmp_path: Path, db: Path
) -> None:
    a = write_csv(tmp_path / "a.csv", [VALID["batches"]])
    b = write_csv(tmp_path / "b.csv", [{**VALID["batches"], "site": ""}, VALID["batches"]])
    first, second = load(db, [a, b]).files
    assert (first.accepted, second.accepted, second.duplicates, second.conflicts) == (1, 1, 1, 1)
    changed = write_csv(tmp_path / "c.csv", [{**VALID["batches"], "quantity": "12000"}])
    third = load(db, [changed]).files[0]
    assert (third.accepted, third.conflicts) == (1, 1)
    assert counts(db)["batches"] == 3  # nothing is overwritten


def test_units_and_identifiers_are_normalised_and_spellings_kept_apart_from_keys(
    tmp_path: Path, db: Path
) -> None:
    row = {**VALID["batches"], "gtin": "8901234000014", "uom": "unit", "quantity": "1.50"}
    load(db, [write_csv(tmp_path / "b.csv", [row])])
    con = duckdb.connect(str(db), read_only=True)
    got = con.execute("SELECT gtin, uom, quantity FROM batches").fetchone()
    con.close()
    assert got == ("08901234000014", "H87", Decimal("1.5"))


def test_unknown_extra_columns_are_kept(tmp_path: Path, db: Path) -> None:
    path = write_csv(tmp_path / "p.csv", [{**VALID["products"], "atc_code": "R01BA02"}])
    result = load(db, [path])
    assert result.files[0].extra_columns == ("atc_code",)
    con = duckdb.connect(str(db), read_only=True)
    extra = con.execute("SELECT extra ->> 'atc_code' FROM products").fetchone()
    con.close()
    assert extra == ("R01BA02",)


def test_json_lines_numbers_are_exact_decimals(tmp_path: Path, db: Path) -> None:
    row = {**_clean(VALID["batches"])}
    path = tmp_path / "b.jsonl"
    body = ", ".join(f'"{k}": "{v}"' for k, v in row.items() if k != "quantity")
    path.write_text("{" + body + ', "quantity": 12345678901234.123456789012}\n')
    load(db, [path])
    con = duckdb.connect(str(db), read_only=True)
    got = con.execute("SELECT quantity::VARCHAR FROM batches").fetchone()
    con.close()
    assert got == ("12345678901234.123456789012",)


@pytest.mark.parametrize(
    ("name", "content", "args", "expected"),
    [
        ("missing.csv", None, [], "no such file"),
        ("consignments.csv", "a,b\n1,2\n", [], "cannot tell what kind"),
        ("b.csv", "x", ["--kind", "batches"], "missing column"),
        ("table.parquet", "not parquet", [], "not a readable Parquet file"),
        ("book.xlsx", "not a zip", ["--kind", "filings"], "not a readable .xlsx"),
        ("latin1.csv", b"gtin,name,trade_uom\n08901234000014,Caf\xe9,H87\n", [], "not UTF-8"),
        ("notes.txt", "hello", [], "unknown file type"),
    ],
)
def test_unreadable_input_is_one_line_on_stderr_with_exit_2(
    tmp_path: Path, db: Path, name: str, content: str | bytes | None, args: list[str], expected: str
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    out = CliRunner().invoke(cli, ["load", "--db", str(db), *args, str(path)])
    assert out.exit_code == 2, out.output
    assert "Traceback" not in out.output
    lines = [line for line in out.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], lines


def test_folders_are_walked_and_kinds_detected(tmp_path: Path, db: Path) -> None:
    for k in TABULAR_KINDS:
        write_csv(tmp_path / "data" / k / f"{k}-2026.csv", [VALID[k]])
    write_jsonl(tmp_path / "data" / "more.jsonl", [_clean(VALID["estimates"])])
    result = load(db, [tmp_path / "data"])
    assert sorted(f.kind for f in result.files) == sorted([*TABULAR_KINDS, "estimates"])
