"""A preflight in every report format: the verdict and balances, then its report.

The blocking reasons are findings of an ordinary report, so each format is the report's
own renderer. The table and Markdown views put the verdict (clear to ship, or blocked with
how many reasons) and the balance of each authorisation quoted above them; JSON, CSV and
HTML carry the same facts in the report's parameters (``verdict``, ``shipment_ref``,
``ship_date``, ``authorisations``, and ``cannot_check`` with ``missing_data_allowed`` when
a check could not be made for want of data). A check not made blocks the shipment as a
finding ``cannot check: ...``; with missing data allowed, the table and Markdown views list
it under the verdict instead.

The table view fits the width it is given as the report's table does
(:mod:`traceability.render.to_table`), and every value from the data is shown inert.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.text import Text

from traceability.inert import inert
from traceability.render.to_csv import render_csv
from traceability.render.to_html import render_html
from traceability.render.to_json import render_json
from traceability.render.to_md import md_text, render_md, table
from traceability.render.to_table import (
    DEFAULT_WIDTH,
    finish,
    fit,
    print_rows,
    render_table,
    text_console,
)

if TYPE_CHECKING:
    from traceability.preflight import Preflight

BALANCE_COLUMNS = ("authorisation", "unit", "authorised", "used before", "this shipment", "left")


def verdict_line(result: Preflight) -> str:
    """One line: the shipment, its day, and whether it may leave."""
    head = f"Shipment {result.shipment_ref} leaving {result.ship_date.isoformat()}: "
    if result.clear and result.unchecked:
        n = len(result.unchecked)
        return head + f"CLEAR TO SHIP, missing data allowed: {n} check(s) not made."
    if result.clear:
        return head + "CLEAR TO SHIP."
    n = len(result.blockers)
    return head + f"BLOCKED by {n} reason{'s' if n != 1 else ''} (each with what to do)."


def unchecked_lines(result: Preflight) -> list[str]:
    """The checks not made that do not block (missing data allowed): rule and reason."""
    if not result.missing_data_allowed:
        return []
    return [f"not checked: {u.rule}: {u.reason}" for u in result.unchecked]


def _balance_rows(result: Preflight) -> list[tuple[str, ...]]:
    return [
        (
            b.authorisation_ref,
            b.unit or "",
            b.authorised or "",
            b.used_before or "",
            b.this_shipment or "",
            b.remaining or "",
        )
        for b in result.balances
    ]


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
        rows = [[inert(c) for c in row] for row in _balance_rows(result)]
        widths = fit(BALANCE_COLUMNS, rows, console.width)
        print_rows(console, Text("Authorisations quoted"), BALANCE_COLUMNS, rows, widths)
    return finish(out.getvalue()) + render_table(result.report, width=width, color=color)


def render_preflight_md(result: Preflight) -> str:
    """A title with the verdict, the balances, then the report's sections."""
    parts = [
        f"# Preflight of shipment {md_text(result.shipment_ref)}",
        f"**{md_text(verdict_line(result))}**",
    ]
    if unchecked_lines(result):
        parts.append("\n".join(f"- {md_text(line)}" for line in unchecked_lines(result)))
    if result.balances:
        rows = [[md_text(c) for c in row] for row in _balance_rows(result)]
        parts.append(table(BALANCE_COLUMNS, rows, BALANCE_COLUMNS[2:]))
    report = render_md(result.report).split("\n", 1)[1].lstrip("\n")  # its own title aside
    return "\n\n".join(parts) + "\n\n" + report


def _report_only(render: Callable[..., str]) -> Callable[[Preflight], str]:
    def view(result: Preflight) -> str:
        text: str = render(result.report)
        return text

    view.__doc__ = f"The preflight's report as {render.__name__} writes it."
    return view


PREFLIGHT_RENDERERS: dict[str, Callable[[Preflight], str]] = {
    "json": _report_only(render_json),
    "table": render_preflight_table,
    "csv": _report_only(render_csv),
    "md": render_preflight_md,
    "html": _report_only(render_html),
}
