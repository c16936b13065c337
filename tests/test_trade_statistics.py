"""The input kind trade-statistics: customs statistics, and UN Comtrade's bulk CSV as downloaded.

The sample file ``docs/data/trade-statistics/comtrade.csv`` is Comtrade's final-data
CSV with all its columns; the loader knows it by its column names and reads it into the
contract's columns (countries alpha-2, flows ``export``/``import``, periods ``2026-01``).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb

from traceability.load import load
from traceability.store import connect

SAMPLE = Path(__file__).resolve().parents[1] / "docs" / "data" / "trade-statistics"
COMTRADE = SAMPLE / "comtrade.csv"
COLUMNS = "reporter_country, partner_country, flow, period, hs_code, net_mass, uom"


def _stored(db: Path) -> list[tuple[str, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            f"SELECT {COLUMNS} FROM trade_statistics ORDER BY source_line"
        ).fetchall()
    finally:
        con.close()
    return [tuple(str(v) for v in row) for row in rows]


def _comtrade_rows() -> list[dict[str, str]]:
    with COMTRADE.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_un_comtrade_bulk_csv_loads_as_downloaded(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    result = load(db, [COMTRADE])
    assert [(f.kind, f.status) for f in result.files] == [("trade-statistics", "loaded")]
    assert list(result.rejections) == []
    assert _stored(db) == [
        ("IN", "DE", "export", "2026-01", "293941", "125.000000000000", "KGM"),
        ("DE", "IN", "import", "2026-01", "293941", "125.000000000000", "KGM"),
        ("IN", "KE", "export", "2026-02", "293941", "400.000000000000", "KGM"),
        ("IN", "US", "export", "2026", "293942", "300.000000000000", "KGM"),
    ]
    con = duckdb.connect(str(db), read_only=True)
    extra = json.loads(
        con.execute("SELECT extra FROM trade_statistics ORDER BY source_line LIMIT 1").fetchone()[0]
    )
    con.close()
    assert extra["reporterCode"] == "699" and extra["motCode"] == "0"  # other columns kept
    assert "cmdDesc" in extra and "netWgt" not in extra


def test_ref_period_id_gives_the_month_when_period_is_empty(tmp_path: Path) -> None:
    rows = _comtrade_rows()[:1]
    rows[0] |= {"period": "", "refPeriodId": "20260301"}
    load(tmp_path / "store.duckdb", [_write(tmp_path / "comtrade.csv", rows)])
    assert [r[3] for r in _stored(tmp_path / "store.duckdb")] == ["2026-03"]


def test_the_contract_spelling_takes_quarters_and_a_dotted_hs_code(tmp_path: Path) -> None:
    rows = [
        {
            "reporter_country": "in",
            "partner_country": "DE",
            "flow": "export",
            "period": "2026-q1",
            "hs_code": "2939.42",
            "net_mass": "12.5",
            "uom": "kg",
        }
    ]
    load(tmp_path / "store.duckdb", [_write(tmp_path / "statistics.csv", rows)])
    assert _stored(tmp_path / "store.duckdb") == [
        ("IN", "DE", "export", "2026-Q1", "293942", "12.500000000000", "KGM")
    ]


def test_world_rows_re_exports_and_bad_codes_are_rejected_with_their_codes(
    tmp_path: Path,
) -> None:
    first = _comtrade_rows()[0]
    rows = [
        first | {"partnerISO": "W00", "partnerDesc": "World", "partnerCode": "0"},
        first | {"flowCode": "RX", "flowDesc": "Re-export"},
        first | {"cmdCode": "29394"},
        first | {"period": "2026-13"},
        first,
    ]
    result = load(tmp_path / "store.duckdb", [_write(tmp_path / "comtrade.csv", rows)])
    got = sorted((r.line, r.field, r.code) for r in result.rejections)
    assert got == [
        (2, "partner_country", "bad-country"),
        (3, "flow", "not-allowed"),
        (4, "hs_code", "not-allowed"),
        (5, "period", "bad-period"),
    ]
    assert len(_stored(tmp_path / "store.duckdb")) == 1


def test_a_store_made_before_the_kind_existed_still_opens(tmp_path: Path) -> None:
    db = tmp_path / "old.duckdb"
    connect(db).close()
    con = duckdb.connect(str(db))
    con.execute("DROP TABLE trade_statistics")  # as a store of an earlier version has it
    con.close()
    read = connect(db, read_only=True)  # the table is there, empty, for this session
    assert read.execute("SELECT count(*) FROM trade_statistics").fetchone() == (0,)
    read.close()
    load(db, [COMTRADE])  # opened for writing: the table is made in the store
    assert len(_stored(db)) == 4
