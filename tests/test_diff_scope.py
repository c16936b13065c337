"""``diff`` compares only what both reports looked at.

A finding is not resolved merely because the other report did not look for it: another
rule set (``--rule mirror``), a rule without data, a subject it could not judge. Reports of
other kinds (a reconcile report and a preflight result) are refused; reports of other
periods or settings too, unless ``common_scope`` asks for a comparison on what they share.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator
from test_diff import GAP, LATE, LOT, STOCK, report
from test_render import HOSTILE, finding

from traceability import preflight, reconcile
from traceability.cli import cli
from traceability.diff import Diff, diff, fails, load_report
from traceability.errors import ExitCode, InputError, NotComparable
from traceability.kinds import load_schema
from traceability.load import load
from traceability.model import NotJudged, Report, RuleRun, Severity
from traceability.render import render, render_diff
from traceability.render.to_csv import FORMULA_START
from traceability.render.to_table import render_diff_table
from traceability.rules import all_rules

C, H, M = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM
REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "fixtures" / "demo-quarter" / "data"
PREFLIGHT = REPO / "fixtures" / "preflight"
MIRROR = sorted(r.id for r in all_rules() if r.group == "mirror")
CONTRACT = ["new", "resolved", "changed", "unchanged"]
PARTY = "8901234000007"
FILING = finding("missing-filing", {"party": PARTY}, H, expected=None, observed=None)
OTHER = finding("missing-filing", {"party": "0614141000005"}, H, expected=None, observed=None)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo quarter, loaded once (every test only reads it)."""
    db = tmp_path_factory.mktemp("scope") / "q1.duckdb"
    load(db, [FIXTURE])
    return db


@pytest.fixture(scope="module")
def full(store: Path) -> Report:
    return reconcile(store)


@pytest.fixture(scope="module")
def mirror(store: Path) -> Report:
    return reconcile(store, rules=["mirror"])


@pytest.fixture(scope="module")
def q1(store: Path) -> Report:
    return reconcile(store, period="2026-Q1")


def fps(findings: Any) -> list[str]:
    return sorted(f.fingerprint for f in findings)


def with_runs(r: Report, **changes: RuleRun) -> Report:
    """``r`` with some rules' entries of ``rules_run`` replaced (a rule given None: dropped)."""
    runs = [changes.get(run.rule.replace("-", "_"), run) for run in r.rules_run]
    return dataclasses.replace(r, rules_run=tuple(runs))


def with_parameters(r: Report, **parameters: Any) -> Report:
    return dataclasses.replace(r, parameters={**r.parameters, **parameters})


# --- rule sets --------------------------------------------------------------------------------


def test_a_full_report_against_a_mirror_report_resolves_nothing(
    full: Report, mirror: Report
) -> None:
    result = diff(full, mirror)
    assert result.resolved == () and result.new == () and result.changed == ()
    outside = {f.rule for f in full.findings} - set(MIRROR)
    assert outside, "the demo quarter has findings outside the mirror group"
    assert fps(o.finding for o in result.out_of_scope) == fps(
        f for f in full.findings if f.rule in outside
    )
    assert {o.report for o in result.out_of_scope} == {"old"}
    assert all("not run by the new report" in o.reason for o in result.out_of_scope)
    assert list(result.scope.rules) == MIRROR
    assert result.scope.narrowed
    assert result.scope.lines()[0] == (
        f"compared on {len(MIRROR)} rules both reports ran: " + ", ".join(MIRROR)
    )
    assert fps(result.unchanged) == fps(f for f in full.findings if f.rule in MIRROR)
    assert result.summary().endswith(f"{len(result.out_of_scope)} out of scope")
    assert not fails(result, Severity.INFO)  # nothing new, nothing changed


def test_the_other_way_round_the_unseen_findings_still_fail_a_gate(
    full: Report, mirror: Report
) -> None:
    result = diff(mirror, full)
    assert result.new == () and result.resolved == ()
    assert {o.report for o in result.out_of_scope} == {"new"}
    assert all("not run by the old report" in o.reason for o in result.out_of_scope)
    worst = min((o.finding.severity for o in result.out_of_scope), key=lambda s: s.rank)
    assert fails(result, worst)  # the old report never looked: nothing says they are known


def test_a_rule_without_data_in_the_new_report_resolves_nothing() -> None:
    old = report(GAP, LOT, STOCK)
    new = with_runs(report(GAP, LOT), stock_imbalance=RuleRun("stock-imbalance", "no-data"))
    result = diff(old, new)
    assert result.resolved == ()
    [outside] = result.out_of_scope
    assert outside.finding == STOCK and outside.report == "old"
    assert outside.reason == "the new report had no data for rule stock-imbalance"
    assert "no data in the new report: stock-imbalance" in result.scope.notes
    assert "stock-imbalance" not in result.scope.rules


def test_reports_with_no_rule_in_common_are_refused(mirror: Report, store: Path) -> None:
    batch = reconcile(store, rules=["batch"])
    with pytest.raises(NotComparable, match="no rule ran with data in both reports"):
        diff(batch, mirror)


# --- periods and settings ---------------------------------------------------------------------


def test_reports_of_two_quarters_are_refused(q1: Report, store: Path) -> None:
    q2 = reconcile(store, period="2026-Q2")
    message = "not comparable: the old report covers 2026-Q1, the new one 2026-Q2"
    with pytest.raises(NotComparable, match=message) as caught:
        diff(q1, q2)
    assert "\n" not in str(caught.value)
    with pytest.raises(NotComparable, match="no period is in both"):
        diff(q1, q2, common_scope=True)  # nothing in common to compare


def test_another_period_is_refused_unless_the_common_scope_is_asked_for(
    full: Report, q1: Report
) -> None:
    with pytest.raises(NotComparable, match="covers every period, the new one 2026-Q1") as caught:
        diff(full, q1)
    assert caught.value.hint is not None and "--common-scope" in caught.value.hint
    result = diff(full, q1, common_scope=True)
    assert result.scope.period == "2026-Q1" and result.scope.narrowed
    assert result.resolved == () and result.new == ()
    assert any("compared on 2026-Q1" in note for note in result.scope.notes)


def test_the_common_period_leaves_out_findings_of_other_quarters_and_of_none() -> None:
    q2 = dataclasses.replace(LATE, period="2026-Q2")
    timeless = dataclasses.replace(STOCK, period=None)
    year = with_parameters(report(GAP, q2, timeless), period="2026")
    quarter = with_parameters(report(GAP), period="2026-Q1")
    result = diff(year, quarter, common_scope=True)
    assert result.resolved == () and fps(result.unchanged) == [GAP.fingerprint]
    reasons = {o.finding.fingerprint: o.reason for o in result.out_of_scope}
    assert reasons == {
        q2.fingerprint: "period 2026-Q2 is outside 2026-Q1, the period both reports cover",
        timeless.fingerprint: "no period, and the reports cover different periods",
    }


def test_other_tolerances_are_refused_by_name_and_compared_on_the_rules_they_spare() -> None:
    old = report(GAP, LATE, STOCK)
    wider = {**old.parameters["tolerances"], "tol_units": "5"}
    new = with_parameters(report(LATE), tolerances=wider)
    with pytest.raises(NotComparable, match=r"tol_units 0 \(old\) and 5 \(new\)"):
        diff(old, new)
    result = diff(old, new, common_scope=True)
    assert result.resolved == ()  # GAP and STOCK use tol_units: judged otherwise
    assert fps(result.unchanged) == [LATE.fingerprint]
    assert {o.finding.rule for o in result.out_of_scope} == {
        "mirror-quantity-gap",
        "stock-imbalance",
    }
    assert all(o.reason == "judged with other settings (tol_units)" for o in result.out_of_scope)
    assert "late-arrival" in result.scope.rules and "over-export" not in result.scope.rules


def test_another_window_or_severity_override_is_a_difference_too() -> None:
    old = with_parameters(report(LATE, GAP), window_days=60)
    with pytest.raises(NotComparable, match="window_days 60 \\(old\\) and 90 \\(new\\)"):
        diff(old, with_parameters(report(LATE, GAP), window_days=90))
    louder = with_parameters(
        report(dataclasses.replace(LATE, severity=H), GAP), severity={"late-arrival": "high"}
    )
    with pytest.raises(NotComparable, match="severity of late-arrival default \\(old\\) and high"):
        diff(old, louder)
    result = diff(old, louder, common_scope=True)
    assert result.changed == () and fps(result.unchanged) == [GAP.fingerprint]
    assert sorted(o.report for o in result.out_of_scope) == ["new", "old"]


def test_the_countries_whose_returns_are_collected_are_a_difference() -> None:
    # missing-filing judges other parties with [missing_filing] countries set: the two
    # reports did not look for the same findings of that rule.
    old = report(LATE, GAP)
    limited = with_parameters(report(LATE, GAP), collected_countries=["IN"])
    with pytest.raises(NotComparable, match="collected_countries all \\(old\\) and IN"):
        diff(old, limited)
    result = diff(old, limited, common_scope=True)
    assert "missing-filing" not in result.scope.rules
    assert fps(result.unchanged) == sorted([LATE.fingerprint, GAP.fingerprint])


def test_a_run_date_alone_is_no_difference() -> None:
    old = with_parameters(report(GAP), as_of="2026-03-27")
    new = with_parameters(report(GAP), as_of="2026-06-30")
    assert not diff(old, new).scope.narrowed


# --- kinds ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def preflight_json(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    db = tmp_path_factory.mktemp("preflight") / "store.duckdb"
    load(db, [PREFLIGHT / "store"])
    result = preflight(db, PREFLIGHT / "planned" / "exhausted.csv")
    data: dict[str, Any] = json.loads(render(result, "json"))
    return data


def test_a_report_and_a_preflight_result_are_refused(
    full: Report, preflight_json: dict[str, Any]
) -> None:
    with pytest.raises(NotComparable) as caught:
        diff(full.to_dict(), preflight_json)
    message = str(caught.value)
    assert "the old report is a reconcile report" in message
    assert "the new one a preflight result of shipment" in message and "\n" not in message
    with pytest.raises(NotComparable, match="old report is a preflight result"):
        diff(preflight_json, full.to_dict())


def test_preflights_of_one_shipment_compare_and_of_two_do_not(
    preflight_json: dict[str, Any],
) -> None:
    again = diff(preflight_json, preflight_json)
    assert again.new == again.resolved == () and not again.scope.narrowed
    other = json.loads(json.dumps(preflight_json))
    other["parameters"]["shipment_ref"] = "AWB-OTHER"
    with pytest.raises(NotComparable, match="of shipment AWB-OTHER"):
        diff(preflight_json, other)


# --- subjects not judged ----------------------------------------------------------------------


def _unjudged(r: Report, *subjects: str, count: int | None = None, reason: str = "") -> Report:
    gap = NotJudged(reason or "parties whose country's returns are not loaded", subjects)
    gap = dataclasses.replace(gap, count=len(subjects) if count is None else count)
    run = RuleRun("missing-filing", "ran", 0, not_judged=(gap,))
    return with_runs(r, missing_filing=run)


def test_a_finding_whose_subject_became_unjudged_is_not_resolved() -> None:
    old = report(FILING, OTHER, GAP)
    new = _unjudged(report(GAP), PARTY, "0000000000000")
    result = diff(old, new)
    assert fps(result.resolved) == [OTHER.fingerprint]  # judged, and gone: resolved
    [outside] = result.out_of_scope
    assert outside.finding == FILING and outside.report == "old"
    assert outside.reason.startswith("subject not judged by the new report: parties whose")
    assert result.scope.notes[-1] == (
        "1 finding of the old report not counted as resolved: the new report did not judge "
        "its subject"
    )


def test_a_finding_on_a_subject_the_old_report_could_not_judge_is_not_new_but_still_fails() -> None:
    result = diff(_unjudged(report(GAP), PARTY), report(GAP, FILING))
    assert result.new == ()
    assert [(o.report, o.finding) for o in result.out_of_scope] == [("new", FILING)]
    assert fails(result, H)


def test_a_list_of_unjudged_subjects_cut_short_leaves_every_missing_finding_out() -> None:
    result = diff(report(FILING, OTHER), _unjudged(report(), "1111111111111", count=250))
    assert result.resolved == ()
    assert all("could not judge 250 subjects" in o.reason for o in result.out_of_scope)


def test_a_report_that_judged_no_record_resolves_nothing() -> None:
    old = report(GAP, LOT).to_dict()
    new = {**report().to_dict(), "scope": {"records": 0, "by_table": {}}}
    result = diff(old, new)
    assert result.resolved == ()
    assert {o.reason for o in result.out_of_scope} == {"the new report judged no record"}


# --- the same scope, older reports, the JSON ---------------------------------------------------


def test_the_same_scope_behaves_as_before(full: Report) -> None:
    result = diff(full, full)
    assert result.out_of_scope == () and not result.scope.narrowed
    assert result.scope.lines() == ()
    assert len(result.unchanged) == len(full.findings)
    assert "out of scope" not in result.summary()
    for fmt in ("md", "table"):
        assert "scope" not in render_diff(result, fmt).lower()
    rows = list(csv.DictReader(io.StringIO(render_diff(result, "csv"))))
    assert all(r["change"] != "scope" and r["scope"] == "" for r in rows)  # a column, empty


def test_older_reports_without_rules_run_or_parameters_still_compare() -> None:
    old = report(GAP, LOT).to_dict()
    new = report(GAP).to_dict()
    for data in (old, new):
        del data["rules_run"]
        del data["parameters"]
    result = diff(old, new)
    assert fps(result.resolved) == [LOT.fingerprint] and not result.scope.narrowed
    known = report(GAP).to_dict()  # one report says what it ran: its rules bound the scope
    known["rules_run"] = [{"rule": "mirror-quantity-gap", "status": "ran", "findings": 1}]
    one_side = diff(old, known)
    assert one_side.resolved == () and [o.finding.rule for o in one_side.out_of_scope] == [
        "over-export"
    ]


def test_the_json_diff_keeps_the_contract_keys_and_adds_the_scope(
    full: Report, mirror: Report
) -> None:
    out = json.loads(render_diff(diff(full, mirror), "json"))
    assert list(out) == [*CONTRACT, "out_of_scope", "scope"]
    assert set(out["scope"]) == {"rules", "period", "narrowed", "notes"}
    schema = load_schema("report")
    finding_schema = {**schema["$defs"]["finding"], "$defs": schema["$defs"]}
    for entry in out["out_of_scope"]:
        assert set(entry) == {"report", "reason", "finding"}
        assert not list(Draft202012Validator(finding_schema).iter_errors(entry["finding"]))


def test_load_report_names_a_diff_given_for_a_report(tmp_path: Path) -> None:
    path = tmp_path / "changes.json"
    path.write_text(render_diff(Diff((), (), (), ()), "json"), encoding="utf-8")
    with pytest.raises(InputError, match="changes.json: a diff of two reports, not a report"):
        load_report(path)


# --- every format, escaped ---------------------------------------------------------------------


def test_every_format_prints_the_scope_and_the_findings_out_of_scope(
    full: Report, mirror: Report
) -> None:
    result = diff(full, mirror)
    line = result.scope.lines()[0]
    outside = result.out_of_scope[0]
    for fmt in ("table", "md", "csv", "html"):
        text = render_diff(result, fmt)
        assert "compared on" in text and MIRROR[-1] in text, fmt
        assert outside.finding.fingerprint in text or fmt in ("table", "md"), fmt
        assert "not run by the new report" in text, fmt
    assert f"**Scope:** {line.replace('_', chr(92) + '_')}." in render_diff(result, "md")
    assert "## Out of scope (" in render_diff(result, "md")
    assert "OUT OF SCOPE (" in render_diff(result, "table")
    rows = render_diff(result, "csv").splitlines()
    assert rows[0].endswith(",scope") and rows[1].startswith("scope,")
    assert sum(r.startswith("out-of-scope,") for r in rows) == len(result.out_of_scope)
    assert 'id="out-of-scope"' in render_diff(result, "html")


def test_a_hostile_reason_is_escaped_everywhere() -> None:
    reason = "\x1b[31m" + " ".join(HOSTILE)
    result = diff(report(FILING), _unjudged(report(), PARTY, reason=reason))
    assert result.out_of_scope[0].reason.endswith(HOSTILE[-1])
    table = render_diff_table(result, width=600)
    assert "\x1b" not in table and "\r" not in table and "\\x1b[31m" in table
    markdown = render_diff(result, "md")
    assert "<script>" not in markdown and "\x1b" not in markdown
    page = render_diff(result, "html")
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    rows = list(csv.reader(io.StringIO(render_diff(result, "csv"), newline="")))
    assert rows[0][-1] == "scope"
    for row in rows[1:]:
        assert not row[-1].startswith(FORMULA_START), row[-1]


# --- the command line --------------------------------------------------------------------------


def _write(tmp_path: Path, name: str, data: Report | dict[str, Any]) -> str:
    path = tmp_path / name
    text = json.dumps(data.to_dict() if isinstance(data, Report) else data)
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_cli_refuses_a_preflight_against_a_report_in_one_line(
    tmp_path: Path, full: Report, preflight_json: dict[str, Any]
) -> None:
    old, new = _write(tmp_path, "q1.json", full), _write(tmp_path, "pf.json", preflight_json)
    out = CliRunner().invoke(cli, ["diff", old, new, "--fail-on", "info"])
    assert out.exit_code == ExitCode.BAD_INPUT
    lines = out.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: not comparable: ")
    assert "reconcile report" in lines[0] and "preflight result" in lines[0]


def test_cli_another_period_needs_common_scope(tmp_path: Path, full: Report, q1: Report) -> None:
    old, new = _write(tmp_path, "all.json", full), _write(tmp_path, "q1.json", q1)
    refused = CliRunner().invoke(cli, ["diff", old, new])
    assert refused.exit_code == 2 and "--common-scope" in refused.output
    assert len(refused.output.splitlines()) == 1
    out = CliRunner().invoke(cli, ["diff", old, new, "--common-scope", "--format", "json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["scope"]["period"] == "2026-Q1"


def test_cli_full_against_mirror_prints_the_scope_and_passes_the_gate(
    tmp_path: Path, full: Report, mirror: Report
) -> None:
    old, new = _write(tmp_path, "full.json", full), _write(tmp_path, "mirror.json", mirror)
    out = CliRunner().invoke(cli, ["diff", old, new, "--format", "table", "--fail-on", "info"])
    assert out.exit_code == 0, out.output
    assert f"compared on {len(MIRROR)} rules both reports ran: " in out.output
    assert "OUT OF SCOPE" in out.output and "RESOLVED" not in out.output
    back = CliRunner().invoke(cli, ["diff", new, old, "--format", "json", "--fail-on", "high"])
    assert back.exit_code == ExitCode.FINDINGS  # the full report's findings were never seen
    assert json.loads(back.output)["new"] == []
