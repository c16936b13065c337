"""The Spark engine: every rule file translates, and Spark finds what DuckDB finds.

The translation tests need only sqlglot. The differential tests run Apache Spark in local
mode (``local[2]``) and skip, saying why, where pyspark or Java is missing; the test extra
installs pyspark, so they run in ``make test``.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

import traceability
from traceability.cli import cli
from traceability.config import Config
from traceability.export import MANIFEST, PARTITION_COLUMN, export
from traceability.load import load
from traceability.model import Report
from traceability.render import render
from traceability.rules import Rule, all_rules, base_statements
from traceability.rules.settings import from_mapping
from traceability.sample import PLANTABLE, generate_quarter
from traceability.spark import (
    NotPortable,
    base_steps,
    coverage_steps,
    rule_sql,
    rule_steps,
    translate,
)

# Spark starts a JVM per module and its runs take tens of seconds: start them first.
pytestmark = pytest.mark.slow

DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "demo-quarter" / "data"


# --- translation (no Spark needed) -------------------------------------------------------


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.id)
def test_every_rule_translates_to_spark_sql(rule: Rule) -> None:
    sql = rule_sql(rule)
    assert sql.lstrip().upper().startswith(("SELECT", "WITH", "/*"))
    steps = rule_steps(rule)
    assert steps[-1].name is None
    for step in steps:
        outside_strings = re.sub(r"'(?:[^'\\]|\\.|'')*'", "''", step.query)
        assert not re.search(r"\$[A-Za-z_]", outside_strings)  # parameters became :name
        assert set(step.parameters) <= set(rule.parameters)


@pytest.mark.parametrize("rule", [r for r in all_rules() if r.coverage], ids=lambda r: r.id)
def test_every_coverage_query_translates_to_spark_sql(rule: Rule) -> None:
    steps = coverage_steps(rule)
    assert steps and steps[-1].name is None
    assert set(rule_steps(rule)).isdisjoint(steps)
    for step in steps:
        assert step.name is None or step.name.startswith(
            "tc_" + rule.id.replace("-", "_") + "_cov_"
        )
        assert set(step.parameters) <= set(rule.coverage_parameters)


def test_every_base_statement_translates_and_one_repeats() -> None:
    steps = base_steps()
    assert len(steps) == len(base_statements())
    assert [s.name for s in steps if s.action == "repeat"] == ["expanded_serials"]
    assert {s.action for s in steps} == {"view", "table", "repeat"}


@pytest.mark.parametrize(
    "construct",
    [
        "list_bool_and(list(x))",
        "regexp_full_match(x, 'a+')",
        "list_aggregate(list(x), 'min')",
        "len(list(x))",
        "date_trunc('quarter', d)",
        "list(x ORDER BY y)",
    ],
)
def test_a_function_spark_lacks_is_refused_with_its_name(construct: str) -> None:
    with pytest.raises(NotPortable) as caught:
        translate(f"SELECT {construct} AS v FROM t", "rule demo")
    assert "rule demo" in str(caught.value)


def test_only_portable_functions_pass_through_untranslated() -> None:
    (sql,) = translate("SELECT hash(a, b) AS h, url_decode(s) AS d FROM t", "x")
    assert "HASH(a, b)" in sql and "URL_DECODE(s)" in sql


def test_a_cte_read_twice_is_written_out_and_renamed_per_rule() -> None:
    rule = next(r for r in all_rules() if r.id == "shipped-not-received")
    steps = rule_steps(rule)
    by_name = {s.name: s for s in steps if s.name}
    assert by_name["tc_shipped_not_received_sent"].materialise
    assert all(name.startswith("tc_shipped_not_received_") for name in by_name)
    readers = [s.name for s in steps if "tc_shipped_not_received_sent " in s.query]
    assert readers.count("tc_shipped_not_received_matched") == 1 and len(readers) > 1
    # no step reads the CTE by its old name any more
    assert not any(re.search(r"\bFROM sent\b|\bJOIN sent\b", s.query) for s in steps)


# --- export (no Spark needed) ------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    result = load(db, [DEMO])
    assert not result.rejections
    return db


def test_export_writes_every_table_split_by_quarter_with_a_manifest(
    demo_store: Path, tmp_path: Path
) -> None:
    out = export(demo_store, tmp_path / "parquet").folder
    manifest = json.loads((out / MANIFEST).read_text("utf-8"))
    con = duckdb.connect(str(demo_store), read_only=True)
    try:
        for table, about in manifest["tables"].items():
            stored = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()
            files = str(out / table / "**" / "*.parquet")
            assert about["rows"] == (stored[0] if stored else -1), table
            if about["rows"]:
                read = con.execute(
                    "SELECT count(*) FROM read_parquet(?, hive_partitioning = true)", [files]
                ).fetchone()
                assert read == stored, table
    finally:
        con.close()
    quarters = sorted(p.name for p in (out / "events").iterdir())
    assert quarters and all(q.startswith(f"{PARTITION_COLUMN}=2026-Q") for q in quarters)
    assert {p.name for p in (out / "epc_rows").iterdir()} <= set(quarters)
    assert manifest["tables"]["products"]["partitioned"] is False


def test_export_keeps_exact_decimals_and_times(demo_store: Path, tmp_path: Path) -> None:
    out = export(demo_store, tmp_path / "parquet").folder
    con = duckdb.connect(str(demo_store), read_only=True)
    try:
        sql = "SELECT quantity, declared_date FROM {} ORDER BY declaration_id, line"
        stored = con.execute(sql.format("consignments")).fetchall()
        parquet = f"read_parquet('{out / 'consignments' / '**' / '*.parquet'}')"
        assert con.execute(sql.format(parquet)).fetchall() == stored
        times = "SELECT event_key, CAST(event_time AS VARCHAR) FROM {} ORDER BY event_row"
        parquet = f"read_parquet('{out / 'events' / '**' / '*.parquet'}')"
        assert (
            con.execute(times.format(parquet)).fetchall()
            == con.execute(times.format("events")).fetchall()
        )
    finally:
        con.close()


def test_export_refuses_a_folder_in_use_and_overwrites_only_an_export(
    demo_store: Path, tmp_path: Path
) -> None:
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    runner = CliRunner()
    result = runner.invoke(cli, ["export", "--db", str(demo_store), "--to", str(other)])
    assert result.exit_code == 2 and "not empty" in result.output
    result = runner.invoke(
        cli, ["export", "--db", str(demo_store), "--to", str(other), "--overwrite"]
    )
    assert result.exit_code == 2 and "not a tracecheck export" in result.output
    assert (other / "notes.txt").read_text() == "keep me"
    target = tmp_path / "out"
    assert (
        runner.invoke(cli, ["export", "--db", str(demo_store), "--to", str(target)]).exit_code == 0
    )
    again = ["export", "--db", str(demo_store), "--to", str(target), "--overwrite"]
    assert runner.invoke(cli, again).exit_code == 0
    assert (target / MANIFEST).is_file()
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_spark_engine_needs_data_and_duckdb_engine_needs_db(tmp_path: Path) -> None:
    runner = CliRunner(env={"TRACECHECK_DB": None})
    result = runner.invoke(cli, ["reconcile", "--engine", "spark"])
    assert result.exit_code == 2 and "--data" in result.output
    result = runner.invoke(cli, ["reconcile"])
    assert result.exit_code == 2 and "--db is required" in result.output
    result = runner.invoke(cli, ["reconcile", "--db", "x.duckdb", "--data", str(tmp_path)])
    assert result.exit_code == 2 and "--engine spark" in result.output


# --- differential: Spark and DuckDB on the same data ------------------------------------


def _java_missing() -> bool:
    return shutil.which("java") is None


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install '.[spark]')")
    if _java_missing():
        pytest.skip("no Java runtime on PATH: Spark needs Java 17 or newer")
    from traceability.spark import spark_session

    # these tests compare answers on data of a few hundred rows, where compiling each
    # query's generated code costs more than running it: interpreted, the demo quarter's
    # catalogue took 76 s against 100 s. The load's and the cluster's tests keep Spark's
    # default, code generation, which every run of tracecheck uses.
    interpreted = {
        "spark.sql.codegen.wholeStage": "false",
        "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    }
    with spark_session("local[2]", interpreted) as session:
        yield session


def _report_json(report: Report) -> dict[str, Any]:
    data = json.loads(render(report, "json"))
    data.pop("generated_at")
    return dict(data)


def _both(
    store: Path, folder: Path, config: Config | None = None, rules: list[str] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    from traceability.spark import reconcile_spark

    export(store, folder)
    duck = traceability.reconcile(store, config=config, rules=rules)
    return _report_json(duck), _report_json(reconcile_spark(folder, config=config, rules=rules))


def test_spark_and_duckdb_agree_byte_for_byte_on_the_demo_quarter(
    spark: Any, demo_store: Path, tmp_path: Path
) -> None:
    # the rules that find something in the demo quarter: Spark's time is per rule, and the
    # whole catalogue is compared on the planted quarter below (26 of its 28 rules find there)
    expected = json.loads((DEMO.parent / "expected-findings.json").read_text())
    found = sorted({f["rule"] for f in expected})
    duck, on_spark = _both(demo_store, tmp_path / "parquet", rules=found)
    assert {f["rule"] for f in duck["findings"]} == set(found)
    assert json.dumps(on_spark, sort_keys=True) == json.dumps(duck, sort_keys=True)


def test_spark_and_duckdb_agree_on_every_planted_discrepancy(spark: Any, tmp_path: Path) -> None:
    sample = generate_quarter(
        tmp_path / "data", seed=3, plant=PLANTABLE, packs_per_lot=120, lots_per_product=2
    )
    store = tmp_path / "planted.duckdb"
    assert not load(store, [sample.folder]).rejections
    duck, on_spark = _both(store, tmp_path / "parquet")
    fired = {f["rule"] for f in duck["findings"]}
    assert fired >= {p.rule for p in sample.planted}
    assert json.dumps(on_spark, sort_keys=True) == json.dumps(duck, sort_keys=True)


# what the caveats' quarter finds, and the rules whose evidence the two-folder quarter gives
CAVEATED = ("export-without-import", "filing-mismatch", "serial-count-mismatch")
CAVEATED += ("serial-not-commissioned",)
WITH_EVIDENCE = ("authorisation-exceeded", "export-without-import", "mirror-quantity-gap")
WITH_EVIDENCE += ("over-export", "received-not-shipped", "serial-shipped-twice", "stock-imbalance")


def test_spark_and_duckdb_agree_on_caveats_and_what_was_not_judged(
    spark: Any, tmp_path: Path
) -> None:
    from test_caveats import build_quarter

    store = build_quarter(tmp_path / "quarter")
    # the returns of India only are collected: the British party is not judged
    only_india = from_mapping({"missing_filing": {"countries": ["IN"]}})
    # the rules that find something here and those that cannot judge everything (the whole
    # catalogue is compared on the demo and planted quarters; Spark's time is per rule)
    rules = [*CAVEATED, "expired-shipped", "missing-filing", "shipped-not-received"]
    duck, on_spark = _both(store, tmp_path / "parquet", only_india, rules)
    assert duck["summary"]["caveated"] >= 2 and duck["summary"]["rejected_records"] == 3
    assert {f["rule"] for f in duck["findings"]} == set(CAVEATED)
    assert {r["rule"] for r in duck["rules_run"] if "not_judged" in r} >= {
        "missing-filing",
        "shipped-not-received",
        "expired-shipped",
    }
    assert json.dumps(on_spark, sort_keys=True) == json.dumps(duck, sort_keys=True)


def test_spark_and_duckdb_give_the_same_evidence_records(spark: Any, tmp_path: Path) -> None:
    """Files of the same names from two folders: the same sources, inputs and records."""
    from test_evidence_records import build_two_folder_quarter

    store = build_two_folder_quarter(tmp_path / "quarter")
    duck, on_spark = _both(store, tmp_path / "parquet", rules=list(WITH_EVIDENCE))
    assert {f["rule"] for f in duck["findings"]} == set(WITH_EVIDENCE)
    evidence = [e for f in duck["findings"] for e in f["evidence"]]
    assert evidence and all("input" in e and e.get("record") for e in evidence)
    assert on_spark["parameters"]["records"] == duck["parameters"]["records"]
    assert json.dumps(on_spark, sort_keys=True) == json.dumps(duck, sort_keys=True)


def test_cli_reconciles_an_export_on_spark(spark: Any, demo_store: Path, tmp_path: Path) -> None:
    folder = tmp_path / "parquet"
    export(demo_store, folder)
    runner = CliRunner()
    args = ["reconcile", "--engine", "spark", "--data", str(folder), "--rule", "batch"]
    result = runner.invoke(cli, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert {r["rule"] for r in report["rules_run"]} == {
        r.id for r in all_rules() if r.group == "batch"
    }
    duck = _report_json(traceability.reconcile(demo_store, rules=["batch"]))
    report.pop("generated_at")
    assert report == duck


def test_spark_refuses_a_folder_that_is_not_an_export(spark: Any, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["reconcile", "--engine", "spark", "--data", str(tmp_path / "nothing")]
    )
    assert result.exit_code == 2
    assert "not a tracecheck export" in result.output


def test_without_the_spark_extra_the_engine_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # an installation without the extra: sqlglot cannot be imported
    monkeypatch.setitem(sys.modules, "sqlglot", None)
    for name in [m for m in sys.modules if m.split(".")[:2] == ["traceability", "spark"]]:
        monkeypatch.delitem(sys.modules, name)
    result = CliRunner().invoke(cli, ["reconcile", "--engine", "spark", "--data", str(tmp_path)])
    assert result.exit_code == 2
    assert "tracecheck[spark]" in result.output and "Traceback" not in result.output
