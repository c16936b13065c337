"""``diff``: new, resolved, changed and unchanged findings; ``fails``; ``load_report``.

The diff golden files (``tests/golden/diff.*``) come from the small hand-built reports
below; regenerate them with ``TRACECHECK_UPDATE_GOLDEN=1`` (see ``test_render.py``).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from test_render import PINNED_AT, check_golden, finding, hostile_report

from traceability.diff import Diff, diff, fails, load_report, order
from traceability.errors import InputError, UnreadableFile
from traceability.model import Evidence, Finding, Report, RuleRun, Severity
from traceability.render import render_diff
from traceability.rules import all_rules

C, H, M, L = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW


def report(*findings: Finding, at: str = PINNED_AT) -> Report:
    """A report holding ``findings`` and nothing else of interest: every rule ran."""
    runs = tuple(
        RuleRun(r.id, "ran", sum(1 for f in findings if f.rule == r.id)) for r in all_rules()
    )
    return dataclasses.replace(hostile_report(), generated_at=at, findings=findings, rules_run=runs)


GAP = finding("mirror-quantity-gap", {"gtin": "08901234000014", "shipment_ref": "AWB-1"}, H)
LOT = finding("over-export", {"gtin": "08901234000021", "lot": "EPH26002"}, C)
STOCK = finding("stock-imbalance", {"party": "8901234000007", "substance_base": "ephedrine"}, M)
EPC = finding(
    "serial-shipped-twice",
    {"epc": "https://id.gs1.org/01/08901234000038/21/3A69"},
    C,
    expected=None,
    observed=None,
    difference=None,
    unit=None,
)
LATE = finding("late-arrival", {"shipment_ref": "AWB-9"}, L, unit="DAY")

OLD = report(GAP, LOT, STOCK, EPC, at="2026-01-05T08:00:00Z")
NEW = report(
    dataclasses.replace(GAP, observed="380", difference="-20"),  # changed quantities
    dataclasses.replace(LOT, message="Reworded.", evidence=(Evidence("batch", "x", None),)),
    dataclasses.replace(STOCK, severity=H),  # changed severity
    LATE,  # new
    at="2026-04-01T08:00:00Z",
)  # EPC resolved


def fps(findings: tuple[Finding, ...]) -> list[str]:
    return [f.fingerprint for f in findings]


def test_diff_sorts_findings_into_new_resolved_changed_and_unchanged() -> None:
    d = diff(OLD, NEW)
    assert fps(d.new) == [LATE.fingerprint]
    assert fps(d.resolved) == [EPC.fingerprint]
    assert [(c.old.fingerprint, c.fields()) for c in d.changed] == [
        (GAP.fingerprint, ("observed", "difference")),
        (STOCK.fingerprint, ("severity",)),
    ]
    assert fps(d.unchanged) == [LOT.fingerprint]
    assert d.unchanged[0].message == "Reworded."  # the newer wording is kept


def test_changed_keeps_old_and_new_side_by_side() -> None:
    out = diff(OLD, NEW).to_dict()
    assert list(out)[:4] == ["new", "resolved", "changed", "unchanged"]
    first = out["changed"][0]
    assert (first["old"]["observed"], first["new"]["observed"]) == ("90", "380")
    assert first["old"]["fingerprint"] == first["new"]["fingerprint"]


def test_a_unit_change_alone_is_a_change() -> None:
    d = diff(report(GAP), report(dataclasses.replace(GAP, unit="KGM")))
    assert [c.fields() for c in d.changed] == [("unit",)]


def test_diff_of_a_report_with_itself_is_all_unchanged() -> None:
    d = diff(NEW, NEW)
    assert (d.new, d.resolved, d.changed) == ((), (), ())
    assert fps(d.unchanged) == fps(tuple(sorted(NEW.findings, key=order)))


def test_new_one_way_is_resolved_the_other_way() -> None:
    assert diff(OLD, NEW).new == diff(NEW, OLD).resolved
    assert diff(OLD, NEW).resolved == diff(NEW, OLD).new


def test_diff_reads_json_reports_the_same_as_objects() -> None:
    as_json = diff(json.loads(json.dumps(OLD.to_dict())), NEW.to_dict())
    assert as_json == diff(OLD, NEW)


def test_one_subject_in_two_periods_pairs_by_period() -> None:
    q1, q2 = (dataclasses.replace(GAP, period=p) for p in ("2026-Q1", "2026-Q2"))
    d = diff(report(q1, q2), report(dataclasses.replace(q2, observed="1"), q1))
    assert [f.period for f in d.unchanged] == ["2026-Q1"]
    assert [c.new.period for c in d.changed] == ["2026-Q2"]
    gone = diff(report(q1, q2), report(q2))
    assert [f.period for f in gone.resolved] == ["2026-Q1"] and not gone.changed


def test_summary_line() -> None:
    filler = tuple(finding("unknown-lot", {"lot": f"L{i}"}, L) for i in range(40))
    changed = [finding("batch-conflict", {"lot": f"X{i}"}, M) for i in range(2)]
    resolved = tuple(finding("late-arrival", {"shipment_ref": f"S{i}"}, L) for i in range(3))
    old = report(*filler, *changed, *resolved)
    new = report(*filler, *(dataclasses.replace(f, observed="1") for f in changed), LOT)
    assert diff(old, new).summary() == (
        "3 resolved since the previous report, 1 new (1 critical), 2 changed, 40 unchanged"
    )
    two = diff(report(), report(LOT, GAP)).summary()
    assert two.startswith("0 resolved since the previous report, 2 new (1 critical, 1 high)")


@pytest.mark.parametrize(
    ("threshold", "expected"), [(C, False), (H, True), (M, True), (L, True), (Severity.INFO, True)]
)
def test_fails_looks_at_new_and_changed_findings(threshold: Severity, expected: bool) -> None:
    # changed: STOCK medium -> high and GAP high; new: LATE low; resolved: EPC critical
    assert fails(diff(OLD, NEW), threshold) is expected


def test_fails_ignores_resolved_and_unchanged_findings() -> None:
    assert not fails(diff(report(EPC, LOT), report(LOT)), Severity.INFO)
    assert fails(diff(report(), report(LATE)), L) and not fails(diff(report(), report(LATE)), M)


def test_a_changed_finding_fails_on_its_new_severity() -> None:
    calmer = diff(report(LOT), report(dataclasses.replace(LOT, severity=L)))
    assert not fails(calmer, M) and fails(calmer, L)


# --- load_report ---------------------------------------------------------------------------


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_report_reads_a_valid_report(tmp_path: Path) -> None:
    path = write(tmp_path, "q1.json", json.dumps(NEW.to_dict()))
    assert diff(load_report(path), NEW) == diff(NEW, NEW)


def test_load_report_names_the_file_and_the_json_path(tmp_path: Path) -> None:
    data = NEW.to_dict()
    data["findings"][1]["severity"] = "urgent"
    path = write(tmp_path, "bad-severity.json", json.dumps(data))
    with pytest.raises(InputError) as caught:
        load_report(path)
    message = str(caught.value)
    assert "bad-severity.json" in message and "$.findings[1].severity" in message
    assert "urgent" in message and "\n" not in message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{not json", "not JSON"),
        ("[]", "not a tracecheck report"),
        (json.dumps({**NEW.to_dict(), "generated_at": "yesterday"}), "$.generated_at"),
    ],
)
def test_load_report_rejects_what_is_not_a_report(tmp_path: Path, text: str, words: str) -> None:
    path = write(tmp_path, "broken.json", text)
    with pytest.raises(InputError, match="broken.json") as caught:
        load_report(path)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_load_report_on_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFile, match="gone.json"):
        load_report(tmp_path / "gone.json")


# --- renderers -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "csv", "md", "html", "table"])
def test_diff_renders_as_its_golden_file(fmt: str) -> None:
    suffix = "txt" if fmt == "table" else fmt
    text = render_diff(diff(OLD, NEW), fmt)
    assert text == render_diff(diff(OLD.to_dict(), NEW.to_dict()), fmt)  # byte-stable
    check_golden(f"diff.{suffix}", text)


def test_render_diff_rejects_an_unknown_format() -> None:
    with pytest.raises(InputError, match="unknown format 'pdf'"):
        render_diff(Diff((), (), (), ()), "pdf")


def _quarter(folder: Path, plant: list[str], *, reverse: bool = False) -> Report:
    """A generated quarter with the given plants, loaded (files in order or reversed) and
    reconciled: the report a regulator would keep."""
    from traceability import reconcile
    from traceability.load import load
    from traceability.sample import generate_quarter

    sample = generate_quarter(folder / "data", plant=plant, packs_per_lot=120)
    files = list(sample.files)
    load(folder / "q.duckdb", files[::-1] if reverse else files)
    return reconcile(folder / "q.duckdb")


def test_two_corrections_and_one_new_problem_give_two_resolved_and_one_new(
    tmp_path: Path,
) -> None:
    old = _quarter(tmp_path / "old", ["over-export", "serial-duplicate", "mirror-quantity-gap"])
    new = _quarter(tmp_path / "new", ["mirror-quantity-gap", "unknown-lot"])
    result = diff(old, new)
    assert sorted(f.rule for f in result.resolved) == ["over-export", "serial-duplicate"]
    assert [f.rule for f in result.new] == ["unknown-lot"]
    assert result.changed == ()
    assert [f.rule for f in result.unchanged] == ["mirror-quantity-gap"]
    assert result.summary().startswith("2 resolved since the previous report, 1 new (1 ")


def test_loading_the_files_in_another_order_changes_nothing(tmp_path: Path) -> None:
    plants = ["over-export", "serial-not-commissioned", "shipped-not-received"]
    forward = _quarter(tmp_path / "forward", plants)
    backward = _quarter(tmp_path / "backward", plants, reverse=True)
    result = diff(forward, backward)
    assert result.new == () and result.resolved == () and result.changed == ()
    assert len(result.unchanged) == len(forward.findings) >= 3
