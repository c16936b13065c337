"""No verdict from absent data: a gate that could not judge says so and does not pass.

A preflight whose store lacks what a check of the shipment needs blocks it with reasons
``cannot check: ...``; a reconciliation whose store, or period, holds no records says so,
and ``--fail-on`` fails on it. ``allow_missing_data`` / ``--allow-missing-data`` and
``allow_empty`` / ``--allow-empty`` let them pass, and say that they did.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator, FormatChecker

from traceability import preflight, reconcile
from traceability.cli import cli
from traceability.errors import StrictLoadAborted
from traceability.kinds import load_schema
from traceability.load import load
from traceability.model import Severity
from traceability.preflight.needs import AUTHORISATION_RULES, BATCH_RULES, HISTORY_RULES

PRODUCTS = (
    "gtin,name,substance,substance_base,base_factor,content_per_unit,content_uom,trade_uom,"
    "control_class\n"
    '08901234000014,"Sinudec 60 mg tablets, 3 x 10",pseudoephedrine hydrochloride,'
    "pseudoephedrine,0.8192,1.8,GRM,H87,INCB-Table-I\n"
    '08901234000038,"Paracetamol 500 mg, 20 tablets",,,,,,H87,none\n'
)
BATCHES = """\
manufacturer,site,gtin,lot,quantity,uom,manufacture_date,expiry_date
8901234000007,8901234000106,08901234000014,PSE2601,1000,H87,2026-01-05,2028-01-31
8901234000007,8901234000106,08901234000038,PCM2601,30,H87,2026-01-05,2028-01-31
"""
AUTHORISATIONS = """\
authorisation_ref,kind,issuing_country,holder,counterparty,gtin,substance_base,max_quantity,uom,valid_from,valid_to
EA-IN-2026-0001,export-authorisation,IN,8901234000007,0614141000005,08901234000014,,40,H87,2026-01-01,2026-12-31
"""
HEAD = (
    "declaration_id,line,direction,declarant,counterparty,origin_country,destination_country,"
    "shipment_ref,gtin,lot,quantity,uom,declared_date,authorisation_ref\n"
)
CONTROLLED = HEAD + (
    "SB/0000201,1,export,8901234000007,0614141000005,IN,US,AWB-NEXT-1,08901234000014,"
    "PSE2601,20,H87,2026-03-16,EA-IN-2026-0001\n"
)
UNCONTROLLED = HEAD + (
    "SB/0000206,1,export,8901234000007,0614141000005,IN,US,AWB-NEXT-2,08901234000038,"
    "PCM2601,2,H87,2026-03-16,\n"
)
UNKNOWN_PRODUCT = HEAD + (
    "SB/0000207,1,export,8901234000007,0614141000005,IN,US,AWB-NEXT-3,08901234000021,"
    "PSE2601,2,H87,2026-03-16,\n"
)
EPCS = "urn:epc:id:sgtin:8901234.000001.P1-0021\nurn:epc:id:sgtin:8901234.000001.P1-0022\n"


def _write(folder: Path, files: dict[str, str]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in files.items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def _store(tmp_path: Path, **files: str) -> Path:
    """A store loaded from the given files (``products=...``, ``batches=...``, ...)."""
    db = tmp_path / "store.duckdb"
    paths = _write(tmp_path / "in", {f"{kind}.csv": text for kind, text in files.items()})
    result = load(db, paths)
    assert result.rejected == 0
    return db


@pytest.fixture
def empty_store(tmp_path: Path) -> Path:
    """The store a --strict load that was rejected leaves: nothing in it."""
    db = tmp_path / "empty.duckdb"
    (bad,) = _write(tmp_path / "bad", {"products.csv": PRODUCTS.replace("08901234000038", "1")})
    with pytest.raises(StrictLoadAborted):
        load(db, [bad], strict=True)
    assert db.exists()
    return db


def _shipment(tmp_path: Path, text: str, name: str = "shipment.csv") -> Path:
    (path,) = _write(tmp_path / "planned", {name: text})
    return path


def _invoke(args: list[str]) -> Any:
    result = CliRunner().invoke(cli, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def _valid(report: dict[str, Any]) -> None:
    Draft202012Validator(load_schema("report"), format_checker=FormatChecker()).validate(report)


# --- preflight --------------------------------------------------------------------------------


def test_a_preflight_on_an_empty_store_is_blocked_naming_what_is_missing(
    empty_store: Path, tmp_path: Path
) -> None:
    result = preflight(empty_store, _shipment(tmp_path, CONTROLLED))
    assert not result.clear and not result.checked
    assert {u.rule for u in result.unchecked} == {*BATCH_RULES, *AUTHORISATION_RULES}
    reasons = {f.rule: f.detail or "" for f in result.blockers}
    assert set(reasons) == {*BATCH_RULES, *AUTHORISATION_RULES}
    for rule in BATCH_RULES:
        assert reasons[rule].startswith("cannot check: no batches loaded")
    for rule in AUTHORISATION_RULES:
        assert reasons[rule].startswith("cannot check: no products or authorisations loaded")
    for f in result.blockers:
        assert "cannot check: " in f.message and "to clear: load " in f.message
        assert dict(f.subject) == {"shipment_ref": "AWB-NEXT-1"}
        assert [e.key for e in f.evidence] == ["SB/0000201/1"]
    assert result.report.parameters["verdict"] == "blocked"


def test_the_command_blocks_an_empty_store_with_exit_1(empty_store: Path, tmp_path: Path) -> None:
    shipment = _shipment(tmp_path, CONTROLLED)
    out = _invoke(["preflight", "--db", str(empty_store), str(shipment), "--format", "json"])
    assert out.exit_code == 1, out.output
    data = json.loads(out.stdout)
    _valid(data)
    assert data["parameters"]["verdict"] == "blocked"
    assert data["parameters"]["missing_data_allowed"] is False
    assert {c["rule"] for c in data["parameters"]["cannot_check"]} == {
        *BATCH_RULES,
        *AUTHORISATION_RULES,
    }
    assert all("cannot check: " in f["message"] for f in data["findings"])
    assert "blocked: cannot check: no batches loaded" in out.stderr
    assert "--allow-missing-data" in out.stderr
    table = _invoke(["preflight", "--db", str(empty_store), str(shipment), "--format", "table"])
    assert table.exit_code == 1
    assert "BLOCKED by 7 reasons" in table.stdout and "CLEAR TO SHIP" not in table.stdout


def test_a_controlled_product_without_authorisations_is_blocked(tmp_path: Path) -> None:
    db = _store(tmp_path, products=PRODUCTS, batches=BATCHES)
    shipment = _shipment(tmp_path, CONTROLLED)
    result = preflight(db, shipment)
    assert not result.clear
    assert sorted(f.rule for f in result.blockers) == sorted(AUTHORISATION_RULES)
    for f in result.blockers:
        assert f.detail is not None
        assert f.detail.startswith(
            "cannot check: no authorisations loaded (08901234000014 is controlled: INCB-Table-I)"
        )
        assert "to clear: load the authorisations the shipment quotes" in f.detail
    assert {u.missing for u in result.unchecked} == {("authorisations",)}
    # the command: blocked, exit 1, the reason on stdout and stderr
    out = _invoke(["preflight", "--db", str(db), str(shipment), "--format", "md"])
    assert out.exit_code == 1
    assert "BLOCKED by 4 reasons" in out.stdout
    assert "cannot check: no authorisations loaded" in out.stdout
    assert "blocked: cannot check: no authorisations loaded" in out.stderr


def test_allowing_missing_data_clears_it_and_says_so(tmp_path: Path) -> None:
    db = _store(tmp_path, products=PRODUCTS, batches=BATCHES)
    shipment = _shipment(tmp_path, CONTROLLED)
    result = preflight(db, shipment, allow_missing_data=True)
    assert result.clear and not result.checked and result.missing_data_allowed
    assert not result.blockers
    assert sorted(u.rule for u in result.unchecked) == sorted(AUTHORISATION_RULES)
    assert result.report.parameters["verdict"] == "clear"
    assert result.report.parameters["missing_data_allowed"] is True
    args = ["preflight", "--db", str(db), str(shipment), "--allow-missing-data"]
    out = _invoke([*args, "--format", "table"])
    assert out.exit_code == 0, out.output
    shown = " ".join(out.stdout.split())  # the table wraps its lines to the width
    assert "CLEAR TO SHIP, missing data allowed: 4 check(s) not made." in shown
    assert "not checked: authorisation-missing: cannot check: no authorisations" in shown
    (line,) = out.stderr.splitlines()
    assert line.startswith("warning: cannot check: no authorisations loaded")
    assert line.endswith("; not blocking (--allow-missing-data)")
    assert "authorisation-missing" in line
    data = json.loads(_invoke([*args, "--format", "json"]).stdout)
    _valid(data)
    assert data["findings"] == [] and data["parameters"]["verdict"] == "clear"


def test_what_a_shipment_does_not_need_blocks_nothing(tmp_path: Path) -> None:
    """Uncontrolled products need no authorisation; without EPCs, no event is needed."""
    db = _store(tmp_path, products=PRODUCTS, batches=BATCHES)
    result = preflight(db, _shipment(tmp_path, UNCONTROLLED))
    assert result.clear and result.checked, [f.message for f in result.blockers]
    out = _invoke(["preflight", "--db", str(db), str(_shipment(tmp_path, UNCONTROLLED))])
    assert out.exit_code == 0 and out.stderr == ""


def test_epcs_need_the_serials_history(tmp_path: Path) -> None:
    db = _store(tmp_path, products=PRODUCTS, batches=BATCHES, authorisations=AUTHORISATIONS)
    shipment = _shipment(tmp_path, CONTROLLED)
    assert preflight(db, shipment).clear  # no EPCs: no serial to judge, no event needed
    (epcs,) = _write(tmp_path / "scan", {"scanned.txt": EPCS})
    result = preflight(db, shipment, epcs=epcs)
    assert not result.clear
    unchecked = {u.rule: u for u in result.unchecked}
    assert set(unchecked) == set(HISTORY_RULES)
    for u in unchecked.values():
        assert u.missing == ("events",)
        assert u.reason.startswith("cannot check: no events loaded")
    blocking = {f.rule for f in result.blockers if (f.detail or "").startswith("cannot check")}
    assert blocking == set(HISTORY_RULES)


def test_a_product_not_loaded_cannot_be_checked_for_control(tmp_path: Path) -> None:
    db = _store(tmp_path, products=PRODUCTS, batches=BATCHES, authorisations=AUTHORISATIONS)
    result = preflight(db, _shipment(tmp_path, UNKNOWN_PRODUCT))
    assert not result.clear
    reasons = {u.rule: u.reason for u in result.unchecked}
    assert set(reasons) == set(AUTHORISATION_RULES)
    assert all(
        r == "cannot check: product 08901234000021 not loaded (whether it is controlled)"
        for r in reasons.values()
    )


def test_only_the_rules_the_preflight_runs_count(tmp_path: Path) -> None:
    db = _store(tmp_path, products=PRODUCTS, batches=BATCHES)
    (config,) = _write(tmp_path / "cfg", {"pf.toml": '[preflight]\nrules = ["batch"]\n'})
    result = preflight(db, _shipment(tmp_path, CONTROLLED), config=config)
    assert result.clear and result.checked


# --- reconcile --------------------------------------------------------------------------------


def test_a_reconciliation_of_an_empty_store_says_it_judged_nothing(empty_store: Path) -> None:
    report = reconcile(empty_store)
    assert report.empty_scope and report.records_in_scope == 0
    assert report.fails(Severity.INFO)  # a gate does not pass on nothing ...
    assert not report.fails(Severity.INFO, allow_empty=True)  # ... unless allowed
    data = report.to_dict()
    _valid(data)
    assert data["scope"] == {
        "records": 0,
        "by_table": {"batches": 0, "consignments": 0, "events": 0, "filings": 0},
    }


def test_fail_on_fails_on_an_empty_store_unless_allowed(empty_store: Path) -> None:
    args = ["reconcile", "--db", str(empty_store), "--format", "json"]
    failed = _invoke([*args, "--fail-on", "info"])
    assert failed.exit_code == 1
    _valid(json.loads(failed.stdout))  # the report is still written
    (line,) = failed.stderr.splitlines()
    assert line == (
        "error: no records in scope: the store holds no batches, consignments, events or "
        "filings; nothing was judged, and --fail-on info does not pass on nothing "
        "(--allow-empty lets it)"
    )
    allowed = _invoke([*args, "--fail-on", "info", "--allow-empty"])
    assert allowed.exit_code == 0, allowed.output
    assert allowed.stderr.startswith("warning: no records in scope: the store holds no ")
    assert allowed.stderr.rstrip().endswith("passing anyway (--allow-empty)")
    plain = _invoke(args)  # without --fail-on: it reports, and warns
    assert plain.exit_code == 0
    assert plain.stderr.startswith("warning: no records in scope")
    table = _invoke(["reconcile", "--db", str(empty_store), "--format", "table"])
    assert "No findings: no records in scope, nothing was judged" in table.stdout


def test_fail_on_fails_on_an_empty_period_unless_allowed(tmp_path: Path) -> None:
    db = _store(
        tmp_path,
        products=PRODUCTS,
        batches=BATCHES,
        authorisations=AUTHORISATIONS,
        consignments=CONTROLLED,
    )
    report = reconcile(db, period="2025-Q1")
    assert report.empty_scope
    assert report.scope == {"batches": 0, "consignments": 0, "events": 0, "filings": 0}
    in_period = reconcile(db, period="2026-Q1")
    assert not in_period.empty_scope and in_period.records_in_scope == 3
    assert [f.severity for f in in_period.findings] == [Severity.INFO]  # no import side
    assert not in_period.fails(Severity.LOW)
    args = ["reconcile", "--db", str(db), "--format", "csv", "--period"]
    failed = _invoke([*args, "2025-Q1", "--fail-on", "info"])
    assert failed.exit_code == 1
    assert "no batches, consignments, events or filings dated in 2025-Q1" in failed.stderr
    assert "--fail-on info does not pass on nothing" in failed.stderr
    allowed = _invoke([*args, "2025-Q1", "--fail-on", "info", "--allow-empty"])
    assert allowed.exit_code == 0
    assert "passing anyway (--allow-empty)" in allowed.stderr
    judged = _invoke([*args, "2026-Q1", "--fail-on", "low"])
    assert judged.exit_code == 0, judged.output
    assert judged.stderr == ""


def test_the_scope_counts_only_the_records_the_rules_read(tmp_path: Path) -> None:
    db = _store(tmp_path, products=PRODUCTS, batches=BATCHES)
    report = reconcile(db, rules=["mirror"])  # reads consignments only: none loaded
    assert report.scope == {"consignments": 0} and report.empty_scope
    assert reconcile(db, rules=["batch-conflict"]).scope == {"batches": 2}
    filings = reconcile(db, rules=["filings"], period="2026")
    assert filings.scope == {"filings": 0}
