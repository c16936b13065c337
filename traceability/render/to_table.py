"""Terminal tables of a report and of a diff, sized to the width they are given.

Findings are grouped by severity. A finding that carries caveats has the mark ``⚠`` after
its rule and one line per caveat under its detail; a "NOT JUDGED" part follows the findings
when a rule could not judge everything (or had no data); a summary closes the output.

**Width.** Every renderer takes ``width`` (the CLI passes the terminal's; the default,
:data:`DEFAULT_WIDTH`, suits a file or a pipe) and no line is longer. Where the columns fit
(each at its longest value, headers whole, and room for the detail) the findings are a
table; where they do not, each finding is a block of labelled lines instead::

    rule        over-export
    subject     gtin=08901234000012
                lot=L2401
    expected    10000
    ...

Nothing is cut: long values wrap, and a value too long for a line folds onto the next.
No line ends with a space, so the text pipes and diffs cleanly.

A preflight's view is its verdict and the balances of the authorisations it quotes, then its
report's tables.

Every value from the data passes through :func:`traceability.inert.inert`: control, bidi
and zero-width characters are shown escaped (``\\x1b``, ``\\u200b``) and never reach the
terminal; values are never read as rich markup.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from typing import IO, TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from traceability.diff import QUANTITIES, Diff
from traceability.inert import inert
from traceability.model import Finding, Report, Severity
from traceability.render.common import (
    CAVEAT_MARK,
    caveat_text,
    gaps,
    subjects_text,
    summary_line,
)
from traceability.render.preflight_common import (
    BALANCE_COLUMNS,
    balance_rows,
    unchecked_lines,
    verdict_line,
)
from traceability.render.registry import CAVEATS_SHOWN, DEFAULT_WIDTH, Format

if TYPE_CHECKING:
    from traceability.preflight import Preflight

STYLES = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}
#: The narrowest width honoured; a smaller one is taken as this.
MIN_WIDTH = 30
#: The least room a table leaves its detail column; below it, findings are stacked.
DETAIL_MIN = 20
#: The widest the columns that wrap grow in a table (longer values wrap or fold).
CAPS = {"subject": 32, "what was not judged": 50}
#: Columns of the findings table; the diff table has ``severity`` first and no detail.
COLUMNS = ("rule", "subject", "period", "expected", "observed", "difference", "unit", "detail")
DIFF_COLUMNS = ("severity", "rule", "subject", "period", *QUANTITIES)
_RIGHT = {"expected", "observed", "difference", "count", "authorised", "used before"}
_RIGHT |= {"this shipment", "left"}


def caveat_lines(f: Finding, shown: int | None = CAVEATS_SHOWN) -> list[str]:
    """One line per caveat of a finding (the first ``shown``, or all; then how many more)."""
    listed = f.caveats if shown is None else f.caveats[:shown]
    lines = [f"{CAVEAT_MARK} {caveat_text(c)}" for c in listed]
    if len(f.caveats) > len(listed):
        lines.append(f"{CAVEAT_MARK} ... and {len(f.caveats) - len(listed)} more caveat(s)")
    return lines


def finding_cells(f: Finding, caveats_shown: int | None = CAVEATS_SHOWN) -> list[str]:
    """The texts of :data:`COLUMNS` for one finding, every value inert."""
    detail = [inert(f.detail or ""), *(inert(line) for line in caveat_lines(f, caveats_shown))]
    return [
        inert(f.rule) + (f" {CAVEAT_MARK}" if f.caveats else ""),
        "\n".join(f"{inert(k)}={inert(v)}" for k, v in f.subject.items()),
        inert(f.period or ""),
        inert(f.expected or ""),
        inert(f.observed or ""),
        inert(f.difference or ""),
        inert(f.unit or ""),
        "\n".join(detail).strip("\n"),
    ]


def text_console(out: io.StringIO, *, width: int, color: bool) -> Console:
    """A rich console writing into ``out``: fixed width, ANSI colours only when asked."""
    return Console(
        file=out,
        width=max(MIN_WIDTH, width),
        color_system="standard" if color else None,
        force_terminal=color,
        highlight=False,
    )


def finish(text: str) -> str:
    """The text with no space at the end of any line (rich pads cells to their column)."""
    return "".join(f"{line.rstrip(' ')}\n" for line in text.splitlines())


_PADDING = re.compile(r" +(?=\n)")


class Unpadded(io.TextIOBase):
    """A text stream for a rich console that writes to another without the spaces rich pads
    the end of each line with. ``stream`` is looked up at each write (standard output, say,
    which a test may replace)."""

    def __init__(self, stream: Callable[[], IO[str]]) -> None:
        super().__init__()
        self._stream = stream

    def write(self, text: str) -> int:
        """Write ``text`` without the spaces before its line ends."""
        self._stream().write(_PADDING.sub("", text))
        return len(text)

    def flush(self) -> None:
        """Flush the stream written to."""
        self._stream().flush()

    def isatty(self) -> bool:
        """Whether the stream written to is a terminal."""
        return self._stream().isatty()


def _longest(text: str) -> int:
    return max(len(line) for line in text.split("\n"))


def column_widths(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[int]:
    """Each column's width in a table: its header or its longest line, whichever is wider;
    a column of :data:`CAPS` at most its cap (it wraps)."""
    widths = [max([len(h), *(_longest(r[i]) for r in rows)]) for i, h in enumerate(head)]
    return [
        min(w, max(CAPS[h], len(h))) if h in CAPS else w for h, w in zip(head, widths, strict=True)
    ]


def table_width(widths: Sequence[int]) -> int:
    """The width of a table of columns this wide: one space either side of each cell and
    one between cells (``box.SIMPLE_HEAD`` without edges)."""
    return sum(widths) + 3 * len(widths) - 1


def fit(
    head: Sequence[str], rows: Sequence[Sequence[str]], width: int, *, last_min: int = 0
) -> list[int] | None:
    """The column widths of a table of ``rows`` at most ``width`` wide, or None when the
    columns do not fit whole. With ``last_min``, the last column wraps: it takes what is
    left, its longest line at most, and needs at least ``last_min``."""
    widths = column_widths(head, rows)
    if last_min:
        left = width - table_width(widths[:-1]) - 3
        widths[-1] = max(last_min, min(left, widths[-1]))
    return widths if table_width(widths) <= width else None


def print_table(
    console: Console, head: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[int]
) -> None:
    """Rows as a table with these column widths (from :func:`fit`); a too-long line wraps
    in the wrapping columns (:data:`CAPS`, the last) and folds in the others."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1))
    for name, width in zip(head, widths, strict=True):
        table.add_column(
            name,
            width=width,
            justify="right" if name in _RIGHT else "left",
            overflow="fold",
            no_wrap=name not in CAPS and name != head[-1],
        )
    for row in rows:
        table.add_row(*(Text(c) for c in row))  # Text: data is never read as markup
    console.print(table)


def print_stacked(console: Console, head: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Each row as a block of labelled lines (empty values left out), a blank line after."""
    label = max(len(h) for h in head)
    for row in rows:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(width=label, no_wrap=True)
        grid.add_column(overflow="fold")
        for name, value in zip(head, row, strict=True):
            if value or name == head[0]:
                grid.add_row(Text(name), Text(value))
        console.print(Padding(grid, (0, 0, 1, 2)))


def print_rows(
    console: Console,
    title: Text,
    head: Sequence[str],
    rows: Sequence[Sequence[str]],
    widths: Sequence[int] | None,
) -> None:
    """A titled part: a table with ``widths``, or stacked blocks when they are None."""
    console.print(title)
    console.print()
    if widths is None:
        print_stacked(console, head, rows)
    else:
        print_table(console, head, rows, widths)
        console.print()


def render_table(
    report: Report,
    *,
    width: int = DEFAULT_WIDTH,
    color: bool = False,
    caveats_shown: int | None = CAVEATS_SHOWN,
) -> str:
    """The findings by severity, what was not judged, then the summary, at most ``width``
    columns wide. ``caveats_shown``: how many caveats each finding lists (None: all)."""
    out = io.StringIO()
    console = text_console(out, width=width, color=color)
    groups = [
        (s, [finding_cells(f, caveats_shown) for f in report.findings if f.severity is s])
        for s in Severity
    ]
    every = [row for _, rows in groups for row in rows]
    widths = fit(COLUMNS, every, console.width, last_min=DETAIL_MIN) if every else None
    for severity, rows in groups:  # one layout for all, so the tables align
        if rows:
            title = Text(f"{severity.value.upper()} ({len(rows)})", style=STYLES[severity])
            print_rows(console, title, COLUMNS, rows, widths)
    _print_gaps(console, report)
    console.print(Text(inert(summary_line(report))))
    return finish(out.getvalue())


def _print_gaps(console: Console, report: Report) -> None:
    """The NOT JUDGED part: what each rule could not judge and why, and the idle rules."""
    found = gaps(report)
    if not found:
        return
    rows = [
        [inert(g.rule), inert(g.reason), str(g.count) if g.count else "", inert(subjects_text(g))]
        for g in found
    ]
    head = ("rule", "count", "what was not judged", "subjects")
    rows = [[r[0], r[2], r[1], r[3]] for r in rows]
    title = Text(f"NOT JUDGED ({len(found)})", style="bold")
    widths = fit(head, rows, console.width, last_min=len("5012345000017"))  # a GLN a line
    print_rows(console, title, head, rows, widths)


def diff_cells(old: Finding | None, f: Finding) -> list[str]:
    """The texts of :data:`DIFF_COLUMNS` for one finding; a changed value reads ``a → b``."""

    def pair(name: str) -> str:
        now = getattr(f, name)
        was = getattr(old, name) if old is not None else now
        now_text = "" if now is None else inert(str(now))
        if was == now:
            return now_text
        return f"{'' if was is None else inert(str(was))} → {now_text}"

    subject = "\n".join(f"{inert(k)}={inert(v)}" for k, v in f.subject.items())
    rule = inert(f.rule) + (f" {CAVEAT_MARK}" if f.caveats else "")
    return [pair("severity"), rule, subject, inert(f.period or ""), *map(pair, QUANTITIES)]


def render_diff_table(result: Diff, *, width: int = DEFAULT_WIDTH, color: bool = False) -> str:
    """New, changed and resolved findings, then those out of scope, then the summary line,
    at most ``width`` columns wide.

    Unchanged findings are only counted. A changed cell reads ``old → new``. When the
    reports did not look at the same things, the scope comes first and the findings out of
    scope get a part of their own, each with its report and the reason.
    """
    out = io.StringIO()
    console = text_console(out, width=width, color=color)
    for line in result.scope.lines():
        console.print(Text(inert(line)))
    if result.scope.narrowed:
        console.print()
    sections: list[tuple[str, list[tuple[Finding | None, Finding]]]] = [
        ("NEW", [(None, f) for f in result.new]),
        ("CHANGED", [(c.old, c.new) for c in result.changed]),
        ("RESOLVED", [(None, f) for f in result.resolved]),
    ]
    parts = [(title, [diff_cells(old, f) for old, f in pairs]) for title, pairs in sections]
    every = [row for _, rows in parts for row in rows]
    widths = fit(DIFF_COLUMNS, every, console.width) if every else None
    for title, rows in parts:  # one layout for all, so the tables align
        if rows:
            print_rows(
                console, Text(f"{title} ({len(rows)})", style="bold"), DIFF_COLUMNS, rows, widths
            )
    if result.out_of_scope:
        head = ("report", "severity", "rule", "subject", "period", "why")
        rows = [
            [o.report, *diff_cells(None, o.finding)[:4], inert(o.reason)]
            for o in result.out_of_scope
        ]
        outside = Text(f"OUT OF SCOPE ({len(rows)})", style="bold")
        print_rows(
            console, outside, head, rows, fit(head, rows, console.width, last_min=DETAIL_MIN)
        )
    marked = [f for f in (*result.new, *(c.new for c in result.changed)) if f.caveats]
    if marked:
        console.print(
            Text(
                f"{CAVEAT_MARK} {len(marked)} new or changed finding(s) carry caveats: the "
                "inputs lacked records the load rejected that name their subject "
                "(see the reports)."
            )
        )
    console.print(Text(result.summary() + "."))
    return finish(out.getvalue())


def render_preflight_table(
    result: Preflight, *, width: int = DEFAULT_WIDTH, color: bool = False
) -> str:
    """The verdict, the balances as a small table, then the report's table, at most
    ``width`` columns wide."""
    out = io.StringIO()
    console = text_console(out, width=width, color=color)
    style = "bold green" if result.clear else "bold red"
    console.print(Text(inert(verdict_line(result)), style=style))
    for line in unchecked_lines(result):
        console.print(Text(inert(line), style="yellow"))
    if result.balances:
        console.print()
        rows = [[inert(c) for c in row] for row in balance_rows(result)]
        widths = fit(BALANCE_COLUMNS, rows, console.width)
        print_rows(console, Text("Authorisations quoted"), BALANCE_COLUMNS, rows, widths)
    return finish(out.getvalue()) + render_table(result.report, width=width, color=color)


FORMAT = Format(
    name="table",
    suffix=".txt",
    binary=False,
    report=lambda report, layout: render_table(
        report, width=layout.width, color=layout.color, caveats_shown=layout.caveats_shown
    ),
    diff=lambda result, layout: render_diff_table(result, width=layout.width, color=layout.color),
    preflight=lambda result, layout: render_preflight_table(
        result, width=layout.width, color=layout.color
    ),
)
