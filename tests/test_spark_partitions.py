"""Rules that scale on Spark: no window over all rows, and a period run reads what it needs.

A window function without PARTITION BY orders every row in one place, which Spark runs as
a single task: no statement of the base or of a rule may use one (checked on the SQL, no
Spark needed), and the EPC keys are computed from each key alone. A period run reads, of
the tables split by period, only the partitions its findings can depend on
(``traceability.spark.read``): on a store of four quarters, Spark's own scan metrics show
the later partitions unread, and the findings are DuckDB's.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import openpyxl
import pytest
import sqlglot
from sqlglot import exp

import traceability
from traceability.config import Config
from traceability.export import MANIFEST, PARTITION_COLUMN, export
from traceability.load import load
from traceability.model import Report
from traceability.render import render
from traceability.rules import all_rules, base_statements, run_base, select
from traceability.sample import generate_quarter
from traceability.spark.read import (
    REACH,
    label_start,
    partitions_through,
    reach_end,
    read_export,
)

# Spark starts a JVM per module and its runs take tens of seconds: start them first.
pytestmark = pytest.mark.slow

DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "demo-quarter" / "data"

# --- no window over all rows (no Spark needed) -------------------------------------------


def _statements() -> list[tuple[str, str]]:
    out = [(f"_base.sql statement {n}", s) for n, (s, _) in enumerate(base_statements(), 1)]
    for rule in all_rules():
        out.append((f"rule {rule.id}", rule.sql))
        if rule.coverage is not None:
            out.append((f"rule {rule.id} (coverage)", rule.coverage))
    return out


def _unpartitioned_windows(sql: str) -> list[str]:
    """The window functions of ``sql`` that no PARTITION BY bounds (a named window resolved)."""
    found = []
    for tree in sqlglot.parse(sql, read="duckdb"):
        assert tree is not None
        named = {
            w.alias_or_name: w
            for select_ in tree.find_all(exp.Select)
            for w in select_.args.get("windows") or []
        }
        for window in tree.find_all(exp.Window):
            if window.parent is not None and window in (window.parent.args.get("windows") or []):
                continue  # a WINDOW clause's definition: checked where it is used
            spec = window
            if not window.args.get("partition_by") and window.args.get("alias"):
                spec = named.get(window.args["alias"].name, window)
            if not spec.args.get("partition_by"):
                found.append(window.sql(dialect="duckdb"))
    return found


def test_no_base_or_rule_statement_has_a_window_over_all_rows() -> None:
    statements = _statements()
    assert len(statements) > len(all_rules())
    offenders = {name: w for name, sql in statements if (w := _unpartitioned_windows(sql))}
    assert offenders == {}


def test_the_window_check_sees_a_global_order_and_a_named_window() -> None:
    bad = "SELECT row_number() OVER (ORDER BY k) AS n FROM t"
    named_bad = "SELECT lead(x) OVER w FROM t WINDOW w AS (ORDER BY x)"
    good = "SELECT lead(x) OVER w FROM t WINDOW w AS (PARTITION BY k ORDER BY x)"
    assert _unpartitioned_windows(bad) == ["ROW_NUMBER() OVER (ORDER BY k)"]
    assert len(_unpartitioned_windows(named_bad)) == 1
    assert _unpartitioned_windows(good) == []


def test_keys_come_from_the_key_alone(tmp_path: Path) -> None:
    """A GTIN's number is its digits after a 1; another key is a letter and its own text; a
    key that looks like an SGTIN without 14 digits there is another key, as stored."""
    db = tmp_path / "demo.duckdb"
    assert not load(db, [DEMO]).rejections
    malformed = "https://id.gs1.org/01/123ABC/21/x"
    con = duckdb.connect(str(db))
    try:
        con.execute(
            "INSERT INTO epc_rows (event_row, list, epc_raw, epc_key, prefix_id, serial) "
            "SELECT min(event_row), 'epcList', ?, ?, NULL, NULL FROM epc_rows",
            [malformed, malformed],
        )
        run_base(con)
        gtins = con.execute("SELECT gtin_id, gtin FROM epc_gtins").fetchall()
        keys = {
            str(k): (kind, g, s)
            for k, kind, g, s in con.execute(
                "SELECT epc_key, epc_kind, id_gtin, id_serial FROM epc_keys"
            ).fetchall()
        }
    finally:
        con.close()
    assert gtins and all(number == int("1" + gtin) for number, gtin in gtins)
    assert keys[malformed] == ("other", 0, "O" + malformed)
    ssccs = [k for k in keys if k.startswith("https://id.gs1.org/00/")]
    assert ssccs and all(keys[k] == ("sscc", 0, "S" + k[22:]) for k in ssccs)


# --- which partitions a period run needs (no Spark needed) --------------------------------


def test_only_rules_whose_reach_is_worked_out_leave_partitions_out() -> None:
    q1 = (date(2026, 1, 1), date(2026, 3, 31))
    catalogue = Config().parameters()
    assert set(REACH) <= {r.id for r in all_rules()}
    assert reach_end(all_rules(), q1, catalogue) is None
    assert reach_end(all_rules(), None, catalogue) is None
    assert reach_end(select(list(REACH)), q1, catalogue) == date(2026, 12, 31)
    assert partitions_through(["2026-Q1", "2027", "2027-Q1", "undated"], date(2026, 12, 31)) == (
        "2026-Q1",
        "undated",
    )
    assert label_start("2026-Q4") == date(2026, 10, 1)


# --- a store of four quarters -------------------------------------------------------------

QUARTERS = (2026, 2027, 2028, 2029)  # the sample's first quarter, once a year
PERIOD = "2027-Q1"
RULES = sorted(REACH)
_YEAR = re.compile(r"(?<![0-9A-Za-z])2026(?![0-9])")


def _moved(value: Any, year: int) -> Any:
    if isinstance(value, str):
        return _YEAR.sub(str(year), value)
    if isinstance(value, datetime | date) and value.year == 2026:
        return value.replace(year=year)
    return value


def _quarter_of(sample: Path, to: Path, year: int) -> None:
    """The sample quarter's files with every 2026 date, period and document number moved to
    ``year`` (identifiers and serials unchanged)."""
    to.mkdir(parents=True)
    for path in sample.iterdir():
        if path.suffix == ".xlsx":
            book = openpyxl.load_workbook(path)
            for sheet in book.worksheets:
                for row in sheet.iter_rows():
                    for cell in row:
                        cell.value = _moved(cell.value, year)
            book.save(to / path.name)
        else:
            (to / path.name).write_text(_moved(path.read_text("utf-8"), year), "utf-8")


@pytest.fixture(scope="module")
def quarters(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A store of four quarters and its export."""
    root = tmp_path_factory.mktemp("quarters")
    folders = []
    for year in QUARTERS:
        # a seed of its own: other document numbers, serials and spellings each quarter
        sample = generate_quarter(
            root / f"sample-{year}",
            seed=year - QUARTERS[0],
            plant=RULES,
            packs_per_lot=120,
            lots_per_product=1,
        ).folder
        _quarter_of(sample, root / str(year), year)
        folders.append(root / str(year))
    store = root / "store.duckdb"
    assert not load(store, folders).rejections
    return store, export(store, root / "export").folder


def _report_json(report: Report) -> dict[str, Any]:
    data = json.loads(render(report, "json"))
    data.pop("generated_at")
    return dict(data)


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install '.[spark]')")
    if shutil.which("java") is None:
        pytest.skip("no Java runtime on PATH: Spark needs Java 17 or newer")
    from traceability.spark import spark_session

    # no setting the JVM reads as it starts (another module's session may have started
    # this process's JVM already; Spark's default driver memory is 1g)
    # (and interpreted, not compiled: on tiny data compiling each query costs more than
    # running it; the scan metrics are the same)
    conf = {
        "spark.sql.adaptive.enabled": "false",
        "spark.sql.codegen.wholeStage": "false",
        "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    }
    with spark_session("local[1]", conf) as session:
        yield session


def _scanned(frame: Any) -> tuple[int, int]:
    """Read ``frame``; Spark's count of the partitions and files its file scan read."""
    frame.collect()
    plan = frame._jdf.queryExecution().executedPlan()
    leaves = plan.collectLeaves()
    scans = [leaves.apply(i) for i in range(leaves.size())]
    scans = [s for s in scans if s.getClass().getSimpleName() == "FileSourceScanExec"]
    assert len(scans) == 1, [s.getClass().getSimpleName() for s in scans]
    metrics = scans[0].metrics()
    return int(metrics.apply("numPartitions").value()), int(metrics.apply("numFiles").value())


def test_a_period_run_reads_only_the_partitions_its_findings_need(
    spark: Any, quarters: tuple[Path, Path]
) -> None:
    store, folder = quarters
    duck = _report_json(traceability.reconcile(store, period=PERIOD, rules=RULES))
    steps: list[str] = []
    report = traceability.reconcile(
        folder, engine="spark", period=PERIOD, rules=RULES, steps=steps.append
    )
    on_spark = _report_json(report)
    periods = {f["period"] for f in duck["findings"]}
    assert {f["rule"] for f in duck["findings"]} == set(RULES) and periods == {PERIOD}
    assert json.dumps(on_spark, sort_keys=True) == json.dumps(duck, sort_keys=True)
    assert any(s.startswith("not read:") for s in steps), steps

    # the run's views of the tables split by period (still registered on the session it
    # shared): Spark's scan read the partitions up to the end of 2027, not 2028 and 2029
    manifest = json.loads((folder / MANIFEST).read_text("utf-8"))
    end = reach_end(select(RULES), (date(2027, 1, 1), date(2027, 3, 31)), Config().parameters())
    assert end == date(2027, 12, 31)
    checked = 0
    for table, about in manifest["tables"].items():
        if not about["partitioned"] or not about["rows"]:
            continue
        every = about["periods"]
        needed = partitions_through(every, end)
        assert set(every) - set(needed), table  # something after the end to leave out
        read, files = _scanned(spark.table(table))
        assert read == len(needed), (table, every)
        written = [f for p in needed for f in (folder / table).glob(f"{PARTITION_COLUMN}={p}/*")]
        assert files == len(written), table
        checked += 1
    assert checked >= 5  # events, their details, consignments, batches, filings

    # read with no end (a run over every period, or with a rule whose reach has none),
    # the same views scan every partition
    every_read = read_export(spark, str(folder))
    assert not every_read.narrowed
    for table in ("events", "filings"):
        assert _scanned(spark.table(table))[0] == len(manifest["tables"][table]["periods"])


def test_leaving_out_what_a_rule_of_no_end_reads_would_change_its_findings(
    quarters: tuple[Path, Path], tmp_path: Path
) -> None:
    """Why late-arrival has no end: a 2027-Q1 export whose import is declared in 2029 is a
    2027-Q1 finding, which a store cut at the end of 2027 does not report."""
    store, _ = quarters
    copy = tmp_path / "store.duckdb"
    shutil.copy(store, copy)
    con = duckdb.connect(str(copy))
    try:
        row = con.execute(
            "SELECT shipment_ref FROM consignments WHERE direction = 'export' "
            "AND declared_date BETWEEN DATE '2027-01-01' AND DATE '2027-03-31' "
            "AND shipment_ref IN (SELECT shipment_ref FROM consignments WHERE direction = "
            "'import') AND shipment_ref NOT IN (SELECT shipment_ref FROM consignments WHERE "
            "year(declared_date) <> 2027) ORDER BY shipment_ref LIMIT 1"
        ).fetchone()
        assert row is not None
        # the shipment's import declared two years late
        con.execute(
            "UPDATE consignments SET declared_date = DATE '2029-02-01' "
            "WHERE shipment_ref = ? AND direction = 'import'",
            [row[0]],
        )
    finally:
        con.close()
    whole = traceability.reconcile(copy, period=PERIOD, rules=["late-arrival"])
    assert {"shipment_ref": row[0]} in [dict(f.subject) for f in whole.findings]
    con = duckdb.connect(str(copy))
    try:
        con.execute("DELETE FROM consignments WHERE declared_date > DATE '2027-12-31'")
    finally:
        con.close()
    cut = traceability.reconcile(copy, period=PERIOD, rules=["late-arrival"])
    assert [f.fingerprint for f in cut.findings] != [f.fingerprint for f in whole.findings]
