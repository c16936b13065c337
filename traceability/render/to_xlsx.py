"""The Excel report (``--format xlsx``): a workbook of four sheets, returned as bytes.

* **Summary**: the tool, when the report was made, the period and as-of date, the settings
  file, the counts by severity, the tolerances and severity overrides.
* **Findings**: one row per finding, with exactly the columns of the CSV report
  (:func:`traceability.render.to_csv.header`).
* **Rules run**: each rule's status, findings, absent inputs and what it could not judge.
* **Caveats**: one row per rejected input record that names a finding's subject.
* **Inputs**: the files the report was made from, with their SHA-256.

How values are protected:

* **Every text cell is text.** A cell is given the string type explicitly, so a value
  starting with ``=``, ``+``, ``-`` or ``@`` is stored as a string, never as a formula
  (openpyxl would otherwise write ``=...`` as one); such a cell also carries Excel's
  quote prefix, so editing it in Excel keeps it text. Identifiers (GTINs, SSCCs, lots) are
  text too, so no leading zero or digit is lost.
* **Quantities are numbers only where exact.** ``expected``, ``observed`` and
  ``difference`` are written as numbers when the spreadsheet's 15-significant-digit number
  holds the decimal exactly, and as text otherwise (so ``0.1000000000000000001`` is not
  silently rounded).
* **Nothing acts on a reader.** Control, bidi and zero-width characters are written as
  visible escapes (``\\x1b``, ``\\u200b``) by :func:`traceability.inert.inert`, as in the
  other formats (line breaks are kept); a text longer than a cell holds is cut, and says
  so.

Each sheet has a bold, frozen header row, filters and column widths fitted to the values.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal, InvalidOperation

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from traceability.diff import QUANTITIES, Diff
from traceability.inert import inert
from traceability.model import Finding, Report
from traceability.render.common import caveat_text
from traceability.render.registry import Format, fixed
from traceability.render.to_csv import (
    FORMULA_START,
    QUANTITY_COLUMNS,
    evidence_text,
    header,
    subject_keys,
)

#: The most characters an Excel cell holds.
MAX_CELL_CHARS = 32_767
#: The widest a column is made, in characters.
MAX_WIDTH = 60
_CUT = " [cut: longer than a spreadsheet cell holds]"
#: The significant digits a spreadsheet number (an IEEE double) holds exactly.
EXACT_DIGITS = 15

Cell = str | int | float | None


def cell_text(value: str) -> str:
    r"""A text as a cell can hold it: made inert (control, bidi and zero-width characters
    escaped; line breaks kept) and cut to the cell's limit.

    >>> cell_text("a\x1bb\u200b\nc")
    'a\\x1bb\\u200b\nc'
    """
    text = inert(value, keep="\n")
    if len(text) > MAX_CELL_CHARS:
        text = text[: MAX_CELL_CHARS - len(_CUT)] + _CUT
    return text


def exact_number(value: str | None) -> int | float | None:
    """A quantity as a spreadsheet number when one holds it exactly; None otherwise.

    >>> [exact_number(v) for v in ("-8", "0.5", "0.1000000000000000001", "x")]
    [-8, 0.5, None, None]
    """
    if value is None:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    if not number.is_finite() or len(number.as_tuple().digits) > EXACT_DIGITS:
        return None
    if number == number.to_integral_value():
        return int(number)
    as_float = float(number)
    return as_float if Decimal(repr(as_float)) == number else None


def _put(ws: Worksheet, row: int, column: int, value: Cell) -> None:
    """Write one cell: a number as a number, anything else as inert text."""
    cell = ws.cell(row=row, column=column)
    if value is None:
        return
    if isinstance(value, int | float) and not isinstance(value, bool):
        cell.value = value
        return
    text = cell_text(str(value))
    cell.value = text
    cell.data_type = "s"  # never a formula, whatever the text starts with
    if text.startswith(FORMULA_START):
        cell.quotePrefix = True


def _sheet(ws: Worksheet, columns: Sequence[str], rows: Iterable[Sequence[Cell]]) -> None:
    """A table: bold frozen header, the rows, filters and fitted column widths."""
    widths = [len(c) for c in columns]
    for i, name in enumerate(columns, start=1):
        _put(ws, 1, i, name)
        ws.cell(row=1, column=i).font = Font(bold=True)
    count = 1
    for r, values in enumerate(rows, start=2):
        count = r
        for i, value in enumerate(values, start=1):
            _put(ws, r, i, value)
            if value is not None:
                longest = max(len(part) for part in str(value).split("\n"))
                widths[i - 1] = max(widths[i - 1], longest)
    ws.freeze_panes = "A2"
    if columns:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{count}"
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = min(width, MAX_WIDTH) + 2


def _finding_cells(f: Finding, keys: Sequence[str]) -> list[Cell]:
    """A finding's cells for the CSV report's columns, looked up by column name."""
    values: dict[str, Cell] = {
        "fingerprint": f.fingerprint,
        "rule": f.rule,
        "severity": f.severity.value,
        "period": f.period,
        "unit": f.unit,
        "message": f.message,
        "evidence": "; ".join(evidence_text(e) for e in f.evidence),
        "caveats": "; ".join(caveat_text(c) for c in f.caveats),
    }
    for q in QUANTITY_COLUMNS:
        raw = getattr(f, q)
        number = exact_number(raw)
        values[q] = raw if number is None else number
    subject = {k: f.subject.get(k) for k in keys}
    return [subject[c] if c in subject else values.get(c) for c in header(keys)]


def _summary_rows(report: Report) -> list[tuple[Cell, Cell]]:
    params = report.parameters
    config = report.config or {}
    rows: list[tuple[Cell, Cell]] = [
        ("tool", f"{report.tool_name} {report.tool_version}"),
        ("generated at", report.generated_at),
        ("period", params.get("period") or "all"),
        ("as of", params.get("as_of")),
        ("settings file", config.get("file") or "none (defaults)"),
        ("findings", len(report.findings)),
    ]
    rows += [(f"  {level}", n) for level, n in report.by_severity().items()]
    rows += [
        ("with caveats", report.caveated()),
        ("records rejected at load", report.rejected_records),
    ]
    if report.records_in_scope is not None:
        rows.append(("records in scope", report.records_in_scope))
    for name, value in dict(params.get("tolerances") or {}).items():
        rows.append((f"tolerance {name}", str(value)))
    if "window_days" in params:
        rows.append(("window days", params["window_days"]))
    for rule, level in dict(params.get("severity") or {}).items():
        rows.append((f"severity of {rule}", str(level)))
    rows.append(("inputs", len(report.inputs)))
    return rows


INPUT_COLUMNS = ["path", "kind", "records", "rejected", "sha256"]


def _input_rows(report: Report) -> list[list[Cell]]:
    return [[i.path, i.kind, i.records, i.rejected, i.sha256] for i in report.inputs]


def _run_rows(report: Report) -> list[list[Cell]]:
    rows: list[list[Cell]] = []
    for run in report.rules_run:
        not_judged = "; ".join(f"{n.reason} ({n.count})" for n in run.not_judged)
        rows.append([run.rule, run.status, run.findings, ", ".join(run.absent), not_judged])
    return rows


def _caveat_rows(findings: Iterable[Finding]) -> list[list[Cell]]:
    return [
        [f.fingerprint, f.rule, _subject_text(f), c.source, c.code, c.reason]
        for f in findings
        for c in f.caveats
    ]


def _subject_text(f: Finding) -> str:
    return ", ".join(f"{k}={v}" for k, v in f.subject.items())


def _save(workbook: Workbook) -> bytes:
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _workbook(sheets: Sequence[tuple[str, Callable[[Worksheet], None]]]) -> bytes:
    workbook = Workbook()
    first = workbook.active
    assert first is not None
    workbook.remove(first)
    for title, fill in sheets:
        fill(workbook.create_sheet(title))
    return _save(workbook)


def render_xlsx(report: Report) -> bytes:
    """The report as an Excel workbook (Summary, Findings, Rules run, Caveats, Inputs)."""
    keys = subject_keys(report.findings)
    return _workbook(
        [
            ("Summary", lambda ws: _sheet(ws, ["item", "value"], _summary_rows(report))),
            (
                "Findings",
                lambda ws: _sheet(
                    ws, header(keys), (_finding_cells(f, keys) for f in report.findings)
                ),
            ),
            (
                "Rules run",
                lambda ws: _sheet(
                    ws, ["rule", "status", "findings", "absent", "not judged"], _run_rows(report)
                ),
            ),
            ("Caveats", lambda ws: _sheet(ws, CAVEAT_COLUMNS, _caveat_rows(report.findings))),
            ("Inputs", lambda ws: _sheet(ws, INPUT_COLUMNS, _input_rows(report))),
        ]
    )


CAVEAT_COLUMNS = ["fingerprint", "rule", "subject", "source", "code", "reason"]


def render_diff_xlsx(result: Diff) -> bytes:
    """A diff of two reports as a workbook: Summary, then Changes (one row per finding,
    its change first, the previous severity and quantities for changed ones), then the
    findings out of scope."""
    everything = [
        *result.new,
        *(c.new for c in result.changed),
        *result.resolved,
        *result.unchanged,
        *(o.finding for o in result.out_of_scope),
    ]
    keys = subject_keys(everything)
    previous = ["previous_severity", *(f"previous_{q}" for q in QUANTITIES)]
    rows: list[list[Cell]] = [["new", *_finding_cells(f, keys)] for f in result.new]
    for c in result.changed:
        before: list[Cell] = [c.old.severity.value]
        before += [_quantity(getattr(c.old, q)) for q in QUANTITIES]
        rows.append(["changed", *_finding_cells(c.new, keys), *before])
    rows += [["resolved", *_finding_cells(f, keys)] for f in result.resolved]
    rows += [["unchanged", *_finding_cells(f, keys)] for f in result.unchanged]
    outside = [[o.report, o.reason, *_finding_cells(o.finding, keys)] for o in result.out_of_scope]
    summary: list[tuple[Cell, Cell]] = [
        ("old report", result.old_generated_at),
        ("new report", result.new_generated_at),
        ("summary", result.summary()),
        *(("scope", line) for line in result.scope.lines()),
    ]
    return _workbook(
        [
            ("Summary", lambda ws: _sheet(ws, ["item", "value"], summary)),
            ("Changes", lambda ws: _sheet(ws, ["change", *header(keys), *previous], rows)),
            ("Out of scope", lambda ws: _sheet(ws, ["report", "why", *header(keys)], outside)),
        ]
    )


def _quantity(value: str | None) -> Cell:
    number = exact_number(value)
    return value if number is None else number


FORMAT = Format(
    name="xlsx",
    suffix=".xlsx",
    binary=True,
    report=fixed(render_xlsx),
    diff=fixed(render_diff_xlsx),
    preflight=None,
)

__all__ = ["FORMAT", "render_diff_xlsx", "render_xlsx"]
