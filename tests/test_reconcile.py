"""The reconciliation runner, report, renderers and the ``reconcile``/``rules`` commands.

The properties at the end run the whole catalogue on generated quarters: a consistent
supply chain gives no findings, and each planted discrepancy exactly its own finding.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

import traceability
from traceability.cli import cli
from traceability.config import Config
from traceability.engine.findings import decimal_text, fingerprint, parse_period
from traceability.errors import ExitCode, InputError
from traceability.load import load
from traceability.load.identifiers import canonical_uri
from traceability.model import Report, Severity
from traceability.reconcile import DuckDBEngine
from traceability.render.to_table import render_table
from traceability.rules import (
    GROUPS,
    UnknownRule,
    all_rules,
    base_made,
    base_named,
    base_needed,
    base_statements,
    run_base,
    select,
)
from traceability.rules.settings import from_mapping, load_config
from traceability.sample import DEMO_PLANTS, PLANTABLE, Sample, generate_quarter
from traceability.store import connect

SCHEMA = json.loads(
    (Path(__file__).parents[1] / "schemas" / "report.schema.json").read_text(encoding="utf-8")
)
CONSIGNMENTS = (
    (
        "declaration_id,line,direction,declarant,counterparty,origin_country,destination_country,"
        "shipment_ref,gtin,lot,quantity,uom,declared_date\n"
    )
    + """SB-1,1,export,8901234000007,0614141000005,IN,US,BOL-1,08901234000014,L1,300,H87,2026-01-07
BE-1,1,import,0614141000005,8901234000007,IN,US,BOL-1,08901234000014,,288,H87,2026-01-17
SB-2,1,export,8901234000007,4012345000009,IN,DE,BOL-2,08901234000014,L1,100,H87,2026-04-02
"""
)
BATCHES = """manufacturer,site,gtin,lot,quantity,uom,manufacture_date,expiry_date
8901234000007,8901234000106,08901234000014,L1,350,H87,2026-01-03,2028-01-03
"""
SMALL = {"packs_per_lot": 120, "lots_per_product": 2}


def validate(report: Report) -> None:
    Draft202012Validator(SCHEMA).validate(report.to_dict())


@pytest.fixture(scope="module")
def small_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Over-export (Q2), a mirror shortfall (Q1) and an export pending in Q2."""
    folder = tmp_path_factory.mktemp("small")
    (folder / "consignments.csv").write_text(CONSIGNMENTS, encoding="utf-8")
    (folder / "batches.csv").write_text(BATCHES, encoding="utf-8")
    db = folder / "small.duckdb"
    result = load(db, [folder / "consignments.csv", folder / "batches.csv"])
    assert not result.rejections
    return db


# --- pure helpers -----------------------------------------------------------------


def test_decimals_are_written_exactly_without_trailing_zeros() -> None:
    assert decimal_text(Decimal("400.000000000000")) == "400"
    assert decimal_text(Decimal("0.500")) == "0.5"
    assert decimal_text(Decimal("-12.000")) == "-12"
    assert decimal_text(Decimal("1E+2")) == "100"
    assert decimal_text(None) is None


def test_fingerprints_depend_on_rule_and_subject_only() -> None:
    a = fingerprint("over-export", {"gtin": "1", "lot": "L"})
    assert a == fingerprint("over-export", {"lot": "L", "gtin": "1"})
    assert a != fingerprint("over-commission", {"gtin": "1", "lot": "L"})
    assert a.startswith("over-export:")


@pytest.mark.parametrize("text", ["2026-Q5", "Q1-2026", "26", "2026-1"])
def test_a_malformed_period_is_bad_input(text: str) -> None:
    with pytest.raises(InputError):
        parse_period(text)


def test_a_fourth_quarter_ends_on_new_years_eve() -> None:
    assert parse_period("2025-Q4") == (date(2025, 10, 1), date(2025, 12, 31))


# --- configuration ----------------------------------------------------------------


def test_config_file_overrides_tolerances_and_severities(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[tolerances]\ntol_units = 15\nwindow_days = 30\n[severity]\nlate-arrival = "high"\n',
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.tolerances["tol_units"] == Decimal(15)
    assert config.window_days == 30
    assert config.severity["late-arrival"] is Severity.HIGH
    assert Config().tolerances["tol_mass_pct"] == Decimal("0.5")


@pytest.mark.parametrize(
    "text",
    [
        "[tolerances]\ntol_unit = 1\n",
        "[tolerances]\ntol_units = -1\n",
        "[tolerances]\nwindow_days = 1.5\n",
        '[severity]\nover-export = "urgent"\n',
        "[colours]\nx = 1\n",
        "not toml at all [",
    ],
)
def test_a_bad_config_is_bad_input_with_one_clear_message(tmp_path: Path, text: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_config(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


# --- the runner -------------------------------------------------------------------


def test_a_database_without_data_reports_no_data_for_every_rule(tmp_path: Path) -> None:
    connect(tmp_path / "e.duckdb").close()
    report = traceability.reconcile(tmp_path / "e.duckdb")
    assert report.findings == ()
    assert {r.status for r in report.rules_run} == {"no-data"}
    assert len(report.rules_run) == len(all_rules())
    validate(report)


def test_findings_are_sorted_by_severity_rule_and_subject(small_db: Path) -> None:
    report = traceability.reconcile(small_db, as_of="2026-04-10")
    keys = [(f.severity.rank, f.rule, json.dumps(dict(f.subject))) for f in report.findings]
    assert keys == sorted(keys)
    assert [f.rule for f in report.findings][:2] == ["over-export", "mirror-quantity-gap"]
    validate(report)


def test_two_runs_give_the_same_bytes_apart_from_generated_at(small_db: Path) -> None:
    texts = []
    for _ in range(2):
        data = traceability.reconcile(small_db).to_dict()
        data["generated_at"] = "pinned"
        texts.append(json.dumps(data))
    assert texts[0] == texts[1]


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo quarter: events with SSCC hierarchies and planted findings of every group."""
    data = Path(__file__).resolve().parents[1] / "fixtures" / "demo-quarter" / "data"
    db = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    assert not load(db, [data]).rejections
    return db


def test_rules_run_at_once_give_the_same_report_as_one_at_a_time(demo_db: Path) -> None:
    db = demo_db
    texts = []
    for workers in (1, None, 3):
        report = traceability.reconcile(db, workers=workers).to_dict()
        report["generated_at"] = "pinned"
        texts.append(json.dumps(report, sort_keys=True))
    assert json.loads(texts[0])["findings"], "the demo quarter has planted findings"
    assert texts[0] == texts[1] == texts[2]
    with connect(db, read_only=True) as con:  # the shared catalog lived in memory only
        names = {
            r[0] for r in con.execute("SELECT database_name FROM duckdb_databases()").fetchall()
        }
    assert "tracecheck_work" not in names


def test_a_run_of_some_rules_builds_the_base_they_read_and_finds_the_same(
    demo_db: Path,
) -> None:
    whole = traceability.reconcile(demo_db).to_dict()["findings"]
    for group in GROUPS:
        ids = {r.id for r in select([group])}
        alone = traceability.reconcile(demo_db, rules=[group]).to_dict()["findings"]
        assert alone == [f for f in whole if f["rule"] in ids], group
    assert {f["rule"].split("-")[0] for f in whole} >= {"serial", "over", "mirror"}

    def built(engine: DuckDBEngine) -> set[str]:
        engine.plan(select(["mirror"]), None, {})
        with engine:
            engine.build_base()
            return {
                r[0]
                for r in engine.con.execute(
                    # TEMP with one worker; the attached catalog with more
                    "SELECT table_name FROM duckdb_tables() "
                    "WHERE temporary OR database_name = 'tracecheck_work' UNION ALL "
                    "SELECT view_name FROM duckdb_views() "
                    "WHERE (temporary OR database_name = 'tracecheck_work') AND NOT internal"
                ).fetchall()
            }

    opened = built(DuckDBEngine(demo_db, workers=1))  # a store the engine opens
    assert opened == base_needed(select(["mirror"]))
    assert "current_consignments" in opened
    assert not opened & {"pack_links", "expanded_serials", "live_rows", "serial_moves"}
    with connect(demo_db, read_only=True) as con:  # the caller reads the base after the run
        assert built(DuckDBEngine(con)) == {base_made(s) for s, _ in base_statements()}


def test_the_base_a_rule_needs_holds_everything_that_reads() -> None:
    made = [base_made(statement) for statement, _ in base_statements()]
    for rule in all_rules():
        needed = base_needed([rule])
        for statement, _ in base_statements():
            if base_made(statement) in needed:
                assert base_named(statement) <= needed, (rule.id, base_made(statement))
        assert base_named(rule.sql) <= needed
    assert base_needed(all_rules()) <= set(made)
    assert base_needed([]) == frozenset()


def test_workers_below_one_is_bad_input(small_db: Path) -> None:
    with pytest.raises(InputError, match="workers"):
        traceability.reconcile(small_db, workers=0)


def test_period_keeps_only_findings_of_that_quarter(small_db: Path) -> None:
    q1 = traceability.reconcile(small_db, period="2026-Q1", as_of="2026-04-10")
    q2 = traceability.reconcile(small_db, period="2026-Q2", as_of="2026-04-10")
    assert {f.rule for f in q1.findings} == {"mirror-quantity-gap"}
    assert {f.rule for f in q2.findings} == {"over-export", "export-without-import"}
    assert q1.parameters["period"] == "2026-Q1"


def test_as_of_decides_whether_an_open_export_is_pending(small_db: Path) -> None:
    def severity(as_of: str) -> Severity:
        report = traceability.reconcile(small_db, rules=["export-without-import"], as_of=as_of)
        (finding,) = report.findings
        return finding.severity

    assert severity("2026-04-10") is Severity.INFO
    assert severity("2026-06-30") is Severity.HIGH


def test_the_default_as_of_is_the_latest_date_in_the_data(small_db: Path) -> None:
    assert traceability.reconcile(small_db, rules=["batch"]).parameters["as_of"] == "2026-04-02"


def test_rules_and_groups_select_what_runs(small_db: Path) -> None:
    report = traceability.reconcile(small_db, rules=["mirror", "over-export"])
    ran = {r.rule for r in report.rules_run}
    assert ran == {r.id for r in all_rules() if r.group == "mirror"} | {"over-export"}


def test_an_unknown_rule_is_bad_input(small_db: Path) -> None:
    with pytest.raises(UnknownRule, match="no-such-rule"):
        traceability.reconcile(small_db, rules=["no-such-rule"])


def test_a_severity_override_applies_but_pending_stays_info(small_db: Path) -> None:
    config = from_mapping(
        {"severity": {"mirror-quantity-gap": "low", "export-without-import": "critical"}}
    )
    report = traceability.reconcile(small_db, config=config, as_of="2026-04-10")
    by_rule = {f.rule: f.severity for f in report.findings}
    assert by_rule["mirror-quantity-gap"] is Severity.LOW
    assert by_rule["export-without-import"] is Severity.INFO


def test_a_tolerance_from_the_config_reaches_the_rules(small_db: Path) -> None:
    config = from_mapping({"tolerances": {"tol_units": 50}})
    report = traceability.reconcile(small_db, config=config, rules=["batch", "mirror"])
    assert {f.rule for f in report.findings} == {"export-without-import"}


def test_a_tolerance_written_with_an_exponent_means_the_same(
    small_db: Path, tmp_path: Path
) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[tolerances]\ntol_units = 5e1\n", encoding="utf-8")
    config = load_config(path)
    assert config.tolerances["tol_units"] == Decimal(50)
    report = traceability.reconcile(small_db, config=config, rules=["batch", "mirror"])
    assert {f.rule for f in report.findings} == {"export-without-import"}


def test_an_open_connection_is_used_as_it_is(small_db: Path) -> None:
    con = connect(small_db, read_only=True)
    try:
        report = traceability.reconcile(con, rules=["over-export"])
    finally:
        con.close()
    (finding,) = report.findings
    assert (finding.expected, finding.observed, finding.difference) == ("350", "400", "50")
    # the path as loaded and the line; the input it names, and the record at that line
    assert finding.evidence[0].source == f"{small_db.parent / 'batches.csv'}:2"
    source = report.inputs[finding.evidence[0].input or 0]
    assert source.path == str(small_db.parent / "batches.csv")
    assert '"quantity": "350"' in (finding.evidence[0].record or "")


def test_reports_record_the_inputs_they_were_made_from(small_db: Path) -> None:
    report = traceability.reconcile(small_db, rules=["batch"])
    assert [i.kind for i in report.inputs] == ["consignments", "batches"]
    assert all(len(i.sha256) == 64 for i in report.inputs)


def test_the_table_groups_by_severity_and_ends_with_a_summary(small_db: Path) -> None:
    report = traceability.reconcile(small_db, as_of="2026-04-10")
    text = render_table(report, width=140)
    assert text.index("CRITICAL (1)") < text.index("HIGH (1)") < text.index("INFO (1)")
    summary = text.rstrip().split("\n\n")[-1]  # wrapped to the width
    assert summary.startswith("3 finding(s): 1 critical, 1 high, 1 info")
    assert traceability.render(report, "json").endswith("\n")
    with pytest.raises(InputError):
        traceability.render(report, "pdf")


# --- the commands -----------------------------------------------------------------


def test_reconcile_command_writes_json_and_fails_on_request(small_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    args = ["reconcile", "--db", str(small_db), "--format", "json", "--output", str(out)]
    result = CliRunner().invoke(cli, [*args, "--fail-on", "critical"])
    assert result.exit_code == ExitCode.FINDINGS, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    Draft202012Validator(SCHEMA).validate(data)
    calm = CliRunner().invoke(cli, [*args, "--rule", "mirror", "--fail-on", "critical"])
    assert calm.exit_code == ExitCode.OK, calm.output


def test_reconcile_command_reports_bad_input_in_one_line(small_db: Path) -> None:
    result = CliRunner().invoke(cli, ["reconcile", "--db", str(small_db), "--period", "Q1"])
    assert result.exit_code == ExitCode.BAD_INPUT
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    missing = CliRunner().invoke(cli, ["reconcile", "--db", "missing.duckdb"])
    assert missing.exit_code == ExitCode.BAD_INPUT and "Traceback" not in missing.output


def test_rules_command_lists_the_catalogue() -> None:
    result = CliRunner().invoke(cli, ["rules"], terminal_width=200)
    assert result.exit_code == 0
    for rule in all_rules():
        assert rule.id in result.output


# --- properties on generated quarters ---------------------------------------------


def _quarter(seed: int, plant: tuple[str, ...]) -> tuple[Sample, Report]:
    with tempfile.TemporaryDirectory() as tmp:
        sample = generate_quarter(Path(tmp) / "data", seed=seed, plant=plant, **SMALL)
        db = Path(tmp) / "quarter.duckdb"
        result = load(db, [sample.folder])
        assert not result.rejections, [str(r) for r in result.rejections][:5]
        return sample, traceability.reconcile(db)


def _canonical(subject: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """Subjects compared with EPCs in one spelling (the sample writes URNs)."""
    return tuple(sorted((k, canonical_uri(v) if k == "epc" else v) for k, v in subject.items()))


def _found(report: Report) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    return {(f.rule, _canonical(dict(f.subject))) for f in report.findings}


def _planted(sample: Sample) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    return {(p.rule, _canonical(dict(p.subject))) for p in sample.planted}


PRESENT = {r.id for r in all_rules()}
#: A generated quarter takes seconds to load and check: no shrinking (a failure names its
#: seed), no example database, no deadline.
QUARTER_SETTINGS = {
    "deadline": None,
    "database": None,
    "phases": [Phase.explicit, Phase.generate],
    "suppress_health_check": [HealthCheck.too_slow],
}


@pytest.mark.slow
@settings(max_examples=2, **QUARTER_SETTINGS)
@given(seed=st.integers(min_value=0, max_value=2**16))
def test_a_consistent_generated_quarter_has_no_findings(seed: int) -> None:
    _, report = _quarter(seed, ())
    assert [f.to_dict() for f in report.findings] == []
    # The sample quarter holds no customs statistics yet, so that rule alone has no data.
    idle = {r.rule for r in report.rules_run if r.status != "ran"}
    assert idle == {"customs-trade-unlicensed"}
    validate(report)


@pytest.mark.slow
@pytest.mark.parametrize("rule", PLANTABLE)
@settings(max_examples=1, **QUARTER_SETTINGS)
@given(seed=st.integers(min_value=0, max_value=2**16))
def test_each_planted_discrepancy_yields_exactly_its_finding(rule: str, seed: int) -> None:
    if rule not in PRESENT:
        pytest.skip(f"rule {rule} is not written yet")
    sample, report = _quarter(seed, (rule,))
    assert _found(report) == _planted(sample), [f.to_dict() for f in report.findings]


@pytest.mark.slow
def test_the_demo_quarter_reports_exactly_the_demo_plants() -> None:
    sample, report = _quarter(0, DEMO_PLANTS)
    assert _found(report) == _planted(sample)
    assert len(report.findings) == len(DEMO_PLANTS)


# --- the base views ---------------------------------------------------------------

SSCC = "https://id.gs1.org/00/089012340000000014"
CASE = "https://id.gs1.org/00/089012340000000021"
TOTE = "https://id.gs1.org/00/089012340000000038"


def _pack(eid: str, time: str, parent: str, children: list[str], action: str = "ADD") -> str:
    step = "packing" if action == "ADD" else "unpacking"
    return json.dumps(
        {
            "type": "AggregationEvent",
            "eventID": eid,
            "eventTime": time,
            "eventTimeZoneOffset": "+00:00",
            "action": action,
            "bizStep": step,
            "parentID": parent,
            "childEPCs": children,
        }
    )


def _ship(eid: str, time: str, epcs: list[str], ref: str | None, step: str = "shipping") -> str:
    event: dict[str, object] = {
        "type": "ObjectEvent",
        "eventID": eid,
        "eventTime": time,
        "eventTimeZoneOffset": "+00:00",
        "action": "OBSERVE",
        "bizStep": step,
        "epcList": epcs,
    }
    if ref:
        event["bizTransactionList"] = [{"type": "bol", "bizTransaction": ref}]
    return json.dumps(event)


def _sgtin(serial: str) -> str:
    return f"https://id.gs1.org/01/08901234000014/21/{serial}"


@pytest.fixture(scope="module")
def base_con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    folder = tmp_path_factory.mktemp("base")
    lines = [
        _pack("urn:uuid:p1", "2026-01-05T10:00:00Z", CASE, [_sgtin("S1"), _sgtin("S2")]),
        _pack("urn:uuid:p2", "2026-01-05T11:00:00Z", SSCC, [CASE]),
        _pack("urn:uuid:u1", "2026-01-05T12:00:00Z", CASE, [_sgtin("S2")], action="DELETE"),
        _ship("urn:uuid:s1", "2026-01-06T10:00:00Z", [SSCC], "BOL-1"),
        _ship("urn:uuid:v1", "2026-01-06T12:00:00Z", [SSCC], "BOL-1", step="void_shipping"),
        _ship("urn:uuid:s2", "2026-01-07T10:00:00Z", [SSCC], "BOL-2"),
        _ship("urn:uuid:s3", "2026-01-08T10:00:00Z", [_sgtin("S2")], None),
        _ship("urn:uuid:v2", "2026-01-08T11:00:00Z", [_sgtin("S2")], None, step="void_shipping"),
        _pack("urn:uuid:p3", "2026-01-09T10:00:00Z", TOTE, [_sgtin("S5"), _sgtin("S6")]),
        _pack("urn:uuid:p4", "2026-01-09T10:30:00Z", TOTE, [_sgtin("S7")]),
        _pack("urn:uuid:u2", "2026-01-09T11:00:00Z", TOTE, [_sgtin("S6")], action="DELETE"),
        _pack("urn:uuid:u3", "2026-01-09T12:00:00Z", TOTE, [], action="DELETE"),
    ]
    (folder / "events.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = load(folder / "b.duckdb", [folder / "events.jsonl"])
    assert not result.rejections, [str(r) for r in result.rejections]
    con = connect(folder / "b.duckdb", read_only=True)
    run_base(con)
    yield con
    con.close()


def _contents(con: duckdb.DuckDBPyConnection, root: str, at: str) -> set[str]:
    rows = con.execute(
        """
        SELECT DISTINCT epc_key FROM sscc_contents
        WHERE root_key = ? AND valid_from <= CAST(? AS TIMESTAMPTZ)
          AND (valid_to IS NULL OR valid_to > CAST(? AS TIMESTAMPTZ))
        """,
        [root, at, at],
    ).fetchall()
    return {r[0] for r in rows}


def test_sscc_contents_expand_to_any_depth_as_of_a_time(
    base_con: duckdb.DuckDBPyConnection,
) -> None:
    assert _contents(base_con, SSCC, "2026-01-05T10:30:00Z") == set()
    assert _contents(base_con, SSCC, "2026-01-05T11:30:00Z") == {CASE, _sgtin("S1"), _sgtin("S2")}
    assert _contents(base_con, SSCC, "2026-01-06T10:00:00Z") == {CASE, _sgtin("S1")}


def test_an_unpacking_naming_no_children_empties_the_parent(
    base_con: duckdb.DuckDBPyConnection,
) -> None:
    s5, s6, s7 = _sgtin("S5"), _sgtin("S6"), _sgtin("S7")
    assert _contents(base_con, TOTE, "2026-01-09T10:45:00Z") == {s5, s6, s7}
    assert _contents(base_con, TOTE, "2026-01-09T11:30:00Z") == {s5, s7}
    assert _contents(base_con, TOTE, "2026-01-09T12:30:00Z") == set()
    ended = base_con.execute(
        "SELECT child_key, strftime(timezone('UTC', unpacked_at), '%H:%M') "
        "FROM aggregation_links WHERE parent_key = ? ORDER BY child_key",
        [TOTE],
    ).fetchall()
    assert [(k[-2:], t) for k, t in ended] == [
        ("S5", "12:00"),
        ("S6", "11:00"),
        ("S7", "12:00"),
    ]


def test_a_shipping_event_moves_what_its_sscc_held_at_that_time(
    base_con: duckdb.DuckDBPyConnection,
) -> None:
    rows = base_con.execute(
        "SELECT DISTINCT epc_key FROM event_serials "
        "WHERE event_key = 'urn:uuid:s2' AND epc_kind = 'sgtin'"
    ).fetchall()
    assert {r[0] for r in rows} == {_sgtin("S1")}


def test_void_shipping_cancels_by_reference_or_by_the_latest_shipping_of_its_epcs(
    base_con: duckdb.DuckDBPyConnection,
) -> None:
    voided = base_con.execute(
        "SELECT voided_key, shipment_ref FROM voided_shipments ORDER BY voided_key"
    ).fetchall()
    assert voided == [("urn:uuid:s1", "BOL-1"), ("urn:uuid:s3", None)]
    live = {r[0] for r in base_con.execute("SELECT event_key FROM live_events").fetchall()}
    assert "urn:uuid:s2" in live and not {"urn:uuid:s1", "urn:uuid:s3"} & live
