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
from click.testing import CliRunner

from traceability.cli import cli
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


# --- through the CLI: load a Comtrade download with the declarations, then reconcile -------

PRODUCTS = """gtin,name,substance,substance_base,base_factor,content_per_unit,content_uom,trade_uom,control_class
08901234000021,"Ephedrine hydrochloride BP, bulk",ephedrine hydrochloride,ephedrine,0.8192,1,KGM,KGM,INCB-Table-I
08901234000045,"Pseudoephedrine sulphate, bulk",pseudoephedrine sulphate,pseudoephedrine,0.7,1,KGM,KGM,INCB-Table-I
"""  # noqa: E501
CONSIGNMENTS = """declaration_id,line,direction,declarant,counterparty,origin_country,destination_country,shipment_ref,gtin,lot,quantity,uom,declared_date,authorisation_ref
SB-1,1,export,8901234000007,4012345000009,IN,DE,AWB-1,08901234000021,EPH1,125,KGM,2026-01-12,EA-1
BE-1,1,import,4012345000009,8901234000007,IN,DE,AWB-1,08901234000021,,125000,GRM,2026-01-20,IP-1
SB-2,1,export,8901234000007,0614141000005,IN,US,BOL-2,08901234000045,PSE1,300,KGM,2026-06-02,EA-2
"""  # noqa: E501


def _customs_findings(tmp_path: Path, comtrade: Path) -> list[dict[str, object]]:
    (tmp_path / "products.csv").write_text(PRODUCTS, encoding="utf-8")
    (tmp_path / "consignments.csv").write_text(CONSIGNMENTS, encoding="utf-8")
    db = str(tmp_path / "store.duckdb")
    runner = CliRunner()
    loaded = runner.invoke(
        cli,
        [
            "load",
            "--db",
            db,
            str(tmp_path / "products.csv"),
            str(tmp_path / "consignments.csv"),
            str(comtrade),
        ],
    )
    assert loaded.exit_code == 0, loaded.output
    report = runner.invoke(cli, ["reconcile", "--db", db, "--format", "json"])
    assert report.exit_code in (0, 1), report.output  # 1: findings (of other rules too)
    data = json.loads(report.stdout)
    assert {"rule": "customs-trade-unlicensed", "status": "ran"}.items() <= next(
        r for r in data["rules_run"] if r["rule"] == "customs-trade-unlicensed"
    ).items()
    return [f for f in data["findings"] if f["rule"] == "customs-trade-unlicensed"]


def test_reconcile_finds_the_flow_no_declaration_covers_in_a_comtrade_download(
    tmp_path: Path,
) -> None:
    found = _customs_findings(tmp_path, COMTRADE)
    assert [
        (f["subject"], f["period"], f["expected"], f["observed"], f["difference"], f["unit"])
        for f in found
    ] == [
        (
            {"country_from": "IN", "country_to": "KE", "substance_base": "ephedrine"},
            "2026-Q1",
            "0",
            "400",
            "400",
            "KGM",
        )
    ]
    assert [e["kind"] for e in found[0]["evidence"]] == ["trade-statistic"]
    assert found[0]["evidence"][0]["source"].endswith("comtrade.csv:4")


def test_a_comtrade_download_the_declarations_match_gives_no_finding(tmp_path: Path) -> None:
    rows = [r for r in _comtrade_rows() if r["partnerISO"] != "KEN"]
    assert len(rows) == 3
    comtrade = _write(tmp_path / "comtrade-matched.csv", rows)
    assert _customs_findings(tmp_path, comtrade) == []
