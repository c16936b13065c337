"""A terminal table of the findings, grouped by severity, with a one-line summary."""

from __future__ import annotations

import io

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from traceability.model import Finding, Report, Severity

STYLES = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}
WIDTH = 160


def summary_line(report: Report) -> str:
    """One line: how many findings of each severity, and the rules without data."""
    counts = report.by_severity()
    ran = sum(1 for r in report.rules_run if r.status == "ran")
    idle = [r.rule for r in report.rules_run if r.status == "no-data"]
    if counts:
        parts = ", ".join(f"{n} {sev}" for sev, n in counts.items())
        head = f"{len(report.findings)} finding(s): {parts}"
    else:
        head = "No findings"
    text = f"{head}; {ran} rule(s) ran"
    if idle:
        text += f", {len(idle)} had no data ({', '.join(idle)})"
    period = report.parameters.get("period")
    as_of = report.parameters.get("as_of")
    if period:
        text += f"; period {period}"
    if as_of:
        text += f"; as of {as_of}"
    return text + "."


def _row(f: Finding) -> tuple[Text, ...]:
    cells = (
        f.rule,
        "\n".join(f"{k}={v}" for k, v in f.subject.items()),
        f.period or "",
        f.expected or "",
        f.observed or "",
        f.difference or "",
        f.unit or "",
        f.detail or "",
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
    console.print(Text(summary_line(report)), soft_wrap=True)  # one line, however long
    return out.getvalue()
