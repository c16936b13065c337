"""A terminal table of the findings, grouped by severity, with a one-line summary.

A finding that carries caveats has the mark ``⚠`` after its rule and one line per caveat
under its detail; a "NOT JUDGED" table follows the findings when a rule could not judge
everything (or had no data).
"""

from __future__ import annotations

import io

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from traceability.model import Finding, Report, Severity
from traceability.render.common import CAVEAT_MARK, caveat_text, gaps, subjects_text

STYLES = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}
WIDTH = 160
#: How many caveats a finding's row lists (the JSON report has them all).
CAVEATS_SHOWN = 5


def summary_line(report: Report) -> str:
    """One line: how many findings of each severity, and the rules without data."""
    counts = report.by_severity()
    ran = sum(1 for r in report.rules_run if r.status == "ran")
    idle = [r.rule for r in report.rules_run if r.status == "no-data"]
    if counts:
        parts = ", ".join(f"{n} {sev}" for sev, n in counts.items())
        head = f"{len(report.findings)} finding(s): {parts}"
    elif report.empty_scope:
        head = "No findings: no records in scope, nothing was judged"
    else:
        head = "No findings"
    caveated = report.caveated()
    if caveated:
        head += f", {caveated} with caveats ({CAVEAT_MARK})"
    text = f"{head}; {ran} rule(s) ran"
    if idle:
        text += f", {len(idle)} had no data ({', '.join(idle)})"
    partial = sum(1 for r in report.rules_run if r.not_judged)
    if partial:
        text += f", {partial} could not judge everything"
    if report.rejected_records:
        text += f"; {report.rejected_records} input record(s) rejected at load"
    period = report.parameters.get("period")
    as_of = report.parameters.get("as_of")
    if period:
        text += f"; period {period}"
    if as_of:
        text += f"; as of {as_of}"
    return text + "."


def caveat_lines(f: Finding, shown: int = CAVEATS_SHOWN) -> list[str]:
    """One line per caveat of a finding (the first ``shown``, then how many more)."""
    lines = [f"{CAVEAT_MARK} {caveat_text(c)}" for c in f.caveats[:shown]]
    if len(f.caveats) > shown:
        lines.append(f"{CAVEAT_MARK} ... and {len(f.caveats) - shown} more caveat(s)")
    return lines


def _row(f: Finding) -> tuple[Text, ...]:
    detail = "\n".join([f.detail or "", *caveat_lines(f)]).strip("\n")
    cells = (
        f"{f.rule} {CAVEAT_MARK}" if f.caveats else f.rule,
        "\n".join(f"{k}={v}" for k, v in f.subject.items()),
        f.period or "",
        f.expected or "",
        f.observed or "",
        f.difference or "",
        f.unit or "",
        detail,
    )
    return tuple(Text(c) for c in cells)  # Text: data is never read as markup


def _fit(cells: list[tuple[Text, ...]], i: int, cap: int = 60) -> int:
    """The width of column ``i``: its longest line, at most ``cap``."""
    longest = max(max(len(line) for line in c[i].plain.split("\n")) for c in cells)
    return max(1, min(cap, longest))


def text_console(out: io.StringIO, *, width: int, color: bool) -> Console:
    """A rich console writing into ``out``: fixed width, ANSI colours only when asked."""
    return Console(
        file=out,
        width=width,
        color_system="standard" if color else None,
        force_terminal=color,
        highlight=False,
    )


def render_table(report: Report, *, width: int = WIDTH, color: bool = False) -> str:
    """The findings as tables, one per severity present, then the summary line."""
    out = io.StringIO()
    console = text_console(out, width=width, color=color)
    for severity in Severity:
        rows = [f for f in report.findings if f.severity is severity]
        if not rows:
            continue
        table = Table(
            title=Text(f"{severity.value.upper()} ({len(rows)})", style=STYLES[severity]),
            title_justify="left",
            box=box.SIMPLE_HEAD,
            expand=True,
        )
        cells = [_row(f) for f in rows]

        table.add_column("rule", width=_fit(cells, 0), no_wrap=True)
        table.add_column("subject", width=_fit(cells, 1, 40), overflow="fold")
        table.add_column("period", width=max(6, _fit(cells, 2)), no_wrap=True)
        for i, name in enumerate(("expected", "observed", "difference"), start=3):
            width = max(len(name), _fit(cells, i))
            table.add_column(name, justify="right", width=width, no_wrap=True)
        table.add_column("unit", width=4, no_wrap=True)
        table.add_column("detail", ratio=1)
        for row in cells:
            table.add_row(*row)
        console.print(table)
    _print_gaps(console, report)
    console.print(Text(summary_line(report)), soft_wrap=True)  # one line, however long
    return out.getvalue()


def _print_gaps(console: Console, report: Report) -> None:
    """The NOT JUDGED table: what each rule could not judge and why, and the idle rules."""
    rows = gaps(report)
    if not rows:
        return
    table = Table(
        title=Text(f"NOT JUDGED ({len(rows)})", style="bold"),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        expand=True,
    )
    table.add_column("rule", width=max(len(g.rule) for g in rows), no_wrap=True)
    table.add_column("what was not judged, and why", ratio=2)
    table.add_column("count", justify="right", width=5, no_wrap=True)
    table.add_column("subjects", ratio=1, overflow="fold")
    for g in rows:
        count = str(g.count) if g.count else ""
        table.add_row(Text(g.rule), Text(g.reason), Text(count), Text(subjects_text(g)))
    console.print(table)
