"""The terminal tables fit the width they are given, and pipe without padding.

The report, diff and preflight tables are compared byte for byte with golden files in
``tests/golden/terminal/`` at 80 and 120 columns (and the default width, for a pipe). After
an intended change of the layout, regenerate them and review the diff like any other change::

    TRACECHECK_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_terminal_width.py

Every test also checks the output's shape: no line longer than the width, none ending in a
space, and every finding's rule, subject values, quantities and detail words present.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import VALID, write_csv

from traceability.cli import cli
from traceability.diff import diff
from traceability.engine.findings import fingerprint
from traceability.model import (
    Caveat,
    Evidence,
    Finding,
    InputFile,
    NotJudged,
    Report,
    RuleRun,
    Severity,
)
from traceability.preflight import Balance, Preflight
from traceability.render import render
from traceability.render.to_table import (
    DEFAULT_WIDTH,
    render_diff_table,
    render_preflight_table,
    render_table,
)

GOLDEN = Path(__file__).parent / "golden" / "terminal"
WIDTHS = (80, 120)
EPC = "https://id.gs1.org/01/08901234000038/21/3A69-SERIAL-WITH-A-LONG-TAIL-0001"
DETAIL = (
    "Lot L2401 of 08901234000012: 10400 units exported over 3 declarations, 10000 "
    "manufactured; the 400 more than made came from outside the declared production."
)


def finding(rule: str, severity: Severity, subject: dict[str, str], **fields: object) -> Finding:
    """A finding with a real fingerprint and a plain quantity gap unless told otherwise."""
    values: dict[str, object] = {
        "period": "2026-Q1",
        "expected": "10000",
        "observed": "10400",
        "difference": "400",
        "unit": "H87",
        "message": f"{rule} on " + ", ".join(subject.values()),
        "detail": None,
    }
    values.update(fields)
    return Finding(
        fingerprint=fingerprint(rule, subject),
        rule=rule,
        severity=severity,
        subject=subject,
        **values,  # type: ignore[arg-type]
    )


def sample() -> Report:
    """Findings of every shape a table must fit: long detail, caveats, a long EPC, a
    three-key subject, no quantities; a rule that could not judge everything and one idle."""
    caveats = (
        Caveat("consignments.csv:14", "bad-decimal", "quantity: '10,4OO' is not a decimal"),
        Caveat("consignments.csv:15", "bad-gtin", "gtin: check digit is 3, not 2"),
    )
    findings = (
        finding(
            "over-export",
            Severity.CRITICAL,
            {"gtin": "08901234000012", "lot": "L2401"},
            detail=DETAIL,
            caveats=caveats,
            evidence=(Evidence("consignment", "SB-88123/1", "consignments.csv:14"),),
        ),
        finding(
            "mirror-quantity-gap",
            Severity.HIGH,
            {"shipment_ref": "AWB-1", "country_from": "IN", "country_to": "US"},
            expected="1200.5",
            observed="1180.25",
            difference="-20.25",
            unit="KGM",
            detail="Import declared 20.25 kg less than the export.",
        ),
        finding(
            "serial-shipped-twice",
            Severity.MEDIUM,
            {"epc": EPC},
            expected="1",
            observed="2",
            difference="1",
            unit="EA",
            detail="Shipped by two parties on 2026-02-03 and 2026-02-05.",
        ),
        finding(
            "missing-filing",
            Severity.INFO,
            {"party": "8901234000007"},
            expected=None,
            observed=None,
            difference=None,
            unit=None,
        ),
    )
    not_judged = NotJudged(
        "parties in GB not judged: GB is not among the countries whose returns are collected",
        ("5012345000017", "5012345000024", "5012345000031"),
        3,
    )
    return Report(
        tool_version="0.0.0",
        generated_at="2026-01-01T00:00:00Z",
        inputs=(InputFile("consignments.csv", "a" * 64, "consignments", 20, 2),),
        parameters={"period": "2026-Q1", "tolerances": {"tol_units": "0"}},
        rules_run=(
            RuleRun("over-export", "ran", 1),
            RuleRun("mirror-quantity-gap", "ran", 1),
            RuleRun("serial-shipped-twice", "ran", 1),
            RuleRun("missing-filing", "ran", 1, not_judged=(not_judged,)),
            RuleRun("late-arrival", "ran", 0),
            RuleRun("shipped-not-received", "no-data", absent=("events",)),
        ),
        findings=findings,
        rejected_records=2,
    )


def check_golden(name: str, text: str) -> None:
    """Compare ``text`` with ``tests/golden/terminal/<name>`` exactly (or rewrite it when
    TRACECHECK_UPDATE_GOLDEN=1)."""
    path = GOLDEN / name
    if os.environ.get("TRACECHECK_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
        return
    assert path.exists(), f"no golden file {name}; create it with TRACECHECK_UPDATE_GOLDEN=1"
    expected = path.read_bytes().decode("utf-8")
    if text != expected:
        shown = "\n".join(
            list(difflib.unified_diff(expected.splitlines(), text.splitlines(), lineterm=""))[:40]
        )
        pytest.fail(f"{name} differs from its golden file (TRACECHECK_UPDATE_GOLDEN=1):\n{shown}")


def later(report: Report) -> Report:
    """The sample a week on: one finding resolved, one changed, one new."""
    over, gap, twice, missing = report.findings
    new = finding(
        "late-arrival",
        Severity.LOW,
        {"shipment_ref": "AWB-9"},
        expected="30",
        observed="41",
        difference="11",
        unit="DAY",
        detail="Received 41 days after it was shipped; the window is 30 days.",
    )
    changed = dataclasses.replace(gap, observed="1150", difference="-50.5")
    return dataclasses.replace(report, findings=(over, changed, missing, new))


def planned() -> Preflight:
    """A blocked shipment quoting two authorisations."""
    report = sample()
    blockers = dataclasses.replace(report, findings=report.findings[:2])
    balances = (
        Balance("EA-IN-2026-001", "H87", "12000", "9600", "2400", "0"),
        Balance("NCB/EA/2026/779750", "KGM", "500.000", "120.5", "400", "-20.5"),
    )
    return Preflight("BOL-2026-0001", dt.date(2026, 3, 2), blockers, balances)


def shape(text: str, width: int) -> None:
    """No line longer than ``width``, none ending in a space, no tab or control character."""
    for line in text.splitlines():
        assert len(line) <= width, line
        assert not line.endswith(" "), repr(line)
        assert line.isprintable(), repr(line)
    assert text.endswith("\n")


def squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


def in_pieces(value: str, flat: str, least: int = 8) -> bool:
    """Whether ``value`` is in ``flat`` as pieces of at least ``least`` characters (the last
    may be shorter): a value folded over lines of a table column."""
    rest = squeezed(value)
    while rest:
        n = next((k for k in range(len(rest), 0, -1) if rest[:k] in flat), 0)
        if n < min(least, len(rest)):
            return False
        rest = rest[n:]
    return True


def readable(text: str, report: Report) -> None:
    """Every finding's rule, subject, quantities, unit and detail words are in ``text``:
    the rule whole, a value whole or folded into pieces, a word whole or folded."""
    flat = squeezed(text)
    words = set(text.split())
    for f in report.findings:
        assert f.rule in words
        values = [*f.subject.values(), f.expected, f.observed, f.difference, f.unit]
        for value in filter(None, values):
            assert in_pieces(value, flat), value
        for word in (f.detail or "").split():
            assert word in words or in_pieces(word, flat), word


# --- golden files -------------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_the_report_table_at_each_width_is_its_golden_file(width: int) -> None:
    text = render_table(sample(), width=width)
    shape(text, width)
    readable(text, sample())
    check_golden(f"report-{width}.txt", text)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_diff_table_at_each_width_is_its_golden_file(width: int) -> None:
    result = diff(sample(), later(sample()))
    text = render_diff_table(result, width=width)
    shape(text, width)
    assert "RESOLVED (1)" in text and "NEW (1)" in text and "1180.25→1150" in squeezed(text)
    check_golden(f"diff-{width}.txt", text)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_preflight_table_at_each_width_is_its_golden_file(width: int) -> None:
    text = render_preflight_table(planned(), width=width)
    shape(text, width)
    assert "BLOCKED by 2 reasons" in text and "NCB/EA/2026/779750" in text
    readable(text, planned().report)
    check_golden(f"preflight-{width}.txt", text)


# --- the layout -----------------------------------------------------------------------


@pytest.mark.parametrize("width", [40, 60, 80, 100, 120, 160, 240])
def test_every_width_keeps_every_value_and_no_line_is_longer(width: int) -> None:
    text = render_table(sample(), width=width)
    shape(text, width)
    readable(text, sample())
    shape(render_diff_table(diff(sample(), later(sample())), width=width), width)
    shape(render_preflight_table(planned(), width=width), width)


def test_a_table_when_the_columns_fit_and_labelled_blocks_when_they_do_not() -> None:
    short = dataclasses.replace(sample(), findings=sample().findings[:2])
    wide = render_table(short, width=120)
    head = [line.split() for line in wide.splitlines() if line.lstrip().startswith("rule ")]
    assert head and head[0][:8] == ["rule", "subject", "period", "expected", "observed"] + [
        "difference",
        "unit",
        "detail",
    ]  # headers whole, never cut to "expec…"
    readable(wide, short)
    narrow = render_table(short, width=80)
    labels = [line.split()[0] for line in narrow.splitlines()[:12] if line.startswith("  ")]
    assert labels[:5] == ["rule", "subject", "lot=L2401", "period", "expected"]
    assert "…" not in wide + narrow
    readable(narrow, short)


def test_the_default_width_suits_a_pipe_and_pads_nothing() -> None:
    text = render(sample(), "table")
    assert text == render_table(sample(), width=DEFAULT_WIDTH)
    shape(text, DEFAULT_WIDTH)


def test_verbose_tables_list_every_caveat() -> None:
    f = sample().findings[0]
    many = dataclasses.replace(f, caveats=f.caveats * 4)
    report = dataclasses.replace(sample(), findings=(many,))
    assert "3 more caveat(s)" in render_table(report)
    every = render_table(report, caveats_shown=None)
    assert "more caveat" not in every and every.count("consignments.csv:14") == 4


# --- the commands -----------------------------------------------------------------------


def reports(tmp_path: Path) -> tuple[str, str]:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(render(sample(), "json"), encoding="utf-8")
    new.write_text(render(later(sample()), "json"), encoding="utf-8")
    return str(old), str(new)


@pytest.mark.parametrize("columns", ["", "80", "120"])
def test_diff_command_fits_columns_and_pads_nothing_when_piped(
    tmp_path: Path, columns: str
) -> None:
    old, new = reports(tmp_path)
    env = {"COLUMNS": columns} if columns else {"COLUMNS": ""}
    out = CliRunner().invoke(cli, ["diff", old, new, "--format", "table"], env=env)
    assert out.exit_code == 0, out.output
    shape(out.stdout, int(columns or DEFAULT_WIDTH))
    assert out.stdout == render_diff_table(
        diff(sample(), later(sample())), width=int(columns or DEFAULT_WIDTH)
    )


def rejecting_file(tmp_path: Path, bad: int) -> Path:
    rows = [
        {**VALID["consignments"], "declaration_id": f"SB-{i:05d}", "gtin": "08901234000019"}
        for i in range(bad)
    ]
    return write_csv(tmp_path / "consignments.csv", rows)


def test_load_quiet_prints_only_the_rejections_and_verbose_prints_them_all(
    tmp_path: Path,
) -> None:
    path = str(rejecting_file(tmp_path, 25))
    normal = CliRunner().invoke(cli, ["load", "--db", str(tmp_path / "a.duckdb"), path])
    assert normal.exit_code == 0, normal.output
    assert "Load summary" in normal.stdout and "... and 5 more" in normal.stdout
    tables = [line for line in normal.stdout.splitlines() if not line.startswith((path, "..."))]
    shape("\n".join(tables) + "\n", DEFAULT_WIDTH)  # a rejection is one line, to grep
    quiet = CliRunner().invoke(cli, ["load", "-q", "--db", str(tmp_path / "b.duckdb"), path])
    assert quiet.exit_code == 0, quiet.output
    assert "Load summary" not in quiet.output and quiet.stderr == ""
    assert len(quiet.stdout.splitlines()) == 21  # the first 20 rejections and "... 5 more"
    verbose = CliRunner().invoke(cli, ["load", "-v", "--db", str(tmp_path / "c.duckdb"), path])
    assert verbose.exit_code == 0, verbose.output
    assert "more (all are in the rejects table)" not in verbose.stdout
    assert sum("consignments.csv:" in line for line in verbose.stdout.splitlines()) >= 25


def test_quiet_and_verbose_exclude_each_other(tmp_path: Path) -> None:
    old, new = reports(tmp_path)
    out = CliRunner().invoke(cli, ["diff", "-q", "-v", old, new])
    assert out.exit_code == 2 and "exclude each other" in out.stderr
