"""The Excel report: read back with openpyxl, every text stays inert text, exact numbers only.

Reports are hand-built (``test_render.hostile_report`` and a few findings of our own), so
each test knows the values it wrote; the CLI tests run ``reconcile`` on a real store.
"""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from openpyxl.workbook.workbook import Workbook
from test_render import HOSTILE, finding, hostile_report

from traceability.cli import cli
from traceability.diff import diff
from traceability.errors import ExitCode, InputError
from traceability.inert import inert
from traceability.model import Caveat, Evidence, Report, RuleRun, Severity
from traceability.render import RENDERERS, render, render_bytes
from traceability.render.to_csv import header, subject_keys
from traceability.render.to_xlsx import MAX_CELL_CHARS, render_diff_xlsx, render_xlsx
from traceability.store import connect

SHEETS = ["Summary", "Findings", "Rules run", "Caveats", "Inputs"]


def workbook(data: bytes) -> Workbook:
    return load_workbook(io.BytesIO(data))


def rows(data: bytes, sheet: str) -> list[list[Any]]:
    return [list(r) for r in workbook(data)[sheet].iter_rows(values_only=True)]


def by_column(data: bytes, sheet: str = "Findings") -> list[dict[str, Any]]:
    head, *body = rows(data, sheet)
    return [dict(zip(head, r, strict=True)) for r in body]


def report_of(*findings: Any) -> Report:
    return Report(
        tool_version="0.0.0",
        generated_at="2026-04-01T08:00:00Z",
        inputs=(),
        parameters={"period": "2026-Q1", "tolerances": {"tol_units": "0"}},
        rules_run=(RuleRun("over-export", "ran", len(findings)),),
        findings=tuple(findings),
    )


def test_the_workbook_has_its_sheets_with_a_frozen_filtered_header() -> None:
    data = render_xlsx(hostile_report())
    book = workbook(data)
    assert book.sheetnames == SHEETS
    for name in SHEETS:
        sheet = book[name]
        assert sheet.freeze_panes == "A2"
        assert sheet.auto_filter.ref is not None and sheet.auto_filter.ref.startswith("A1:")
        assert all(c.font.bold for c in sheet[1])
        assert sheet.column_dimensions["A"].width > 0


def test_findings_have_exactly_the_csv_reports_columns() -> None:
    report = hostile_report()
    head = rows(render_xlsx(report), "Findings")[0]
    assert head == header(subject_keys(report.findings))


def test_every_hostile_value_reads_back_as_the_same_inert_text() -> None:
    report = hostile_report()
    book = workbook(render_xlsx(report))
    formula_like = 0
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{sheet.title}!{cell.coordinate} is a formula"
                if isinstance(cell.value, str) and cell.value.startswith(("=", "+", "-", "@")):
                    formula_like += 1
                    assert cell.data_type == "s"
                    assert cell.quotePrefix, f"{sheet.title}!{cell.coordinate} lacks the prefix"
    assert formula_like >= 4
    first = by_column(render_xlsx(report))[0]
    source = report.findings[0]
    for key, value in source.subject.items():
        assert first[key] == inert(value)  # no apostrophe added, nothing dropped
    assert first["unit"] == "@SUM(1)"
    assert first["message"] == inert(" ".join(HOSTILE))
    caveats = [r for r in rows(render_xlsx(report), "Caveats")[1:] if r[0] == source.fingerprint]
    assert [tuple(r[3:]) for r in caveats] == [(inert(h),) * 3 for h in HOSTILE]


def test_quantities_are_numbers_only_where_a_spreadsheet_holds_them_exactly() -> None:
    exact = finding("over-export", {"gtin": "08901234000014", "lot": "L1"}, Severity.HIGH)
    inexact = finding(
        "over-export",
        {"gtin": "08901234000021", "lot": "L2"},
        Severity.HIGH,
        expected="0.1000000000000000001",
        observed="12345678901234567890",
        difference="12.5",
    )
    cells = {r["lot"]: r for r in by_column(render_xlsx(report_of(exact, inexact)))}
    assert (cells["L1"]["expected"], cells["L1"]["difference"]) == (100, -10)
    assert cells["L2"]["expected"] == "0.1000000000000000001"
    assert cells["L2"]["observed"] == "12345678901234567890"
    assert cells["L2"]["difference"] == 12.5
    assert cells["L1"]["gtin"] == "08901234000014"  # an identifier keeps its leading zero


def test_control_and_invisible_characters_are_escaped_and_long_text_is_cut() -> None:
    odd = finding(
        "over-export",
        {"gtin": "08901234000014\u200b", "lot": "L\x1b[31m1"},
        Severity.HIGH,
        message="x" * (MAX_CELL_CHARS + 10),
        evidence=(Evidence("batch", "k\x00", "b.csv:2"),),
        caveats=(Caveat("e.jsonl:4", "bad-event-time", "\x07bell"),),
    )
    (cells,) = by_column(render_xlsx(report_of(odd)))
    assert cells["lot"] == "L\\x1b[31m1"
    assert cells["gtin"] == "08901234000014\\u200b"
    assert len(cells["message"]) == MAX_CELL_CHARS and cells["message"].endswith("cell holds]")
    assert cells["evidence"] == "batch k\\x00 (b.csv:2)"


def test_xlsx_is_bytes_not_text() -> None:
    report = hostile_report()
    with pytest.raises(InputError):
        render(report, "xlsx")
    assert render_bytes(report, "xlsx")[:2] == b"PK"
    assert render_bytes(report, "json") == render(report, "json").encode("utf-8")
    assert "xlsx" not in RENDERERS


def test_a_diff_as_xlsx_lists_each_change() -> None:
    old = hostile_report()
    new = dataclasses.replace(old, findings=old.findings[:1])
    data = render_diff_xlsx(diff(old, new))
    changes = by_column(data, "Changes")
    assert sorted(r["change"] for r in changes) == ["resolved", "unchanged"]
    assert all(c.data_type != "f" for row in workbook(data)["Changes"].iter_rows() for c in row)


# --- the command ----------------------------------------------------------------------------


@pytest.fixture()
def empty_store(tmp_path: Path) -> Path:
    db = tmp_path / "empty.duckdb"
    connect(db).close()
    return db


def test_reconcile_writes_xlsx_to_the_output_file(empty_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "q1.xlsx"
    args = ["reconcile", "--db", str(empty_store), "--format", "xlsx", "--output", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == ExitCode.OK, result.output
    assert workbook(out.read_bytes()).sheetnames == SHEETS


def test_xlsx_without_an_output_file_is_refused(empty_store: Path) -> None:
    result = CliRunner().invoke(cli, ["reconcile", "--db", str(empty_store), "--format", "xlsx"])
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "--output" in result.stderr and "Traceback" not in result.output
    assert result.stdout == ""


def test_xlsx_to_standard_output_that_is_not_a_terminal_is_the_workbook(
    empty_store: Path,
) -> None:
    args = ["reconcile", "--db", str(empty_store), "--format", "xlsx", "--output", "-"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == ExitCode.OK
    assert workbook(result.stdout_bytes).sheetnames == SHEETS


def test_diff_writes_xlsx(tmp_path: Path) -> None:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(render(hostile_report(), "json"), encoding="utf-8")
    new.write_text(json.dumps({**json.loads(old.read_text()), "findings": []}), encoding="utf-8")
    out = tmp_path / "d.xlsx"
    args = ["diff", str(old), str(new), "--format", "xlsx", "--output", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == ExitCode.OK, result.output
    assert {r["change"] for r in by_column(out.read_bytes(), "Changes")} == {"resolved"}
