"""What the views of a preflight share: the verdict line, the checks not made, the balances.

The blocking reasons of a preflight are findings of an ordinary report, so each format
renders a preflight with its report's renderer. The table and Markdown views put the verdict
(clear to ship, or blocked with how many reasons) and the balance of each authorisation
quoted above it; JSON, CSV and HTML carry the same facts in the report's parameters
(``verdict``, ``shipment_ref``, ``ship_date``, ``authorisations``, and ``cannot_check`` with
``missing_data_allowed`` when a check could not be made for want of data). A check not made
blocks the shipment as a finding ``cannot check: ...``; with missing data allowed, the table
and Markdown views list it under the verdict instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from traceability.render.registry import Layout

if TYPE_CHECKING:
    from traceability.model import Report
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


def balance_rows(result: Preflight) -> list[tuple[str, ...]]:
    """One row of :data:`BALANCE_COLUMNS` per authorisation quoted."""
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


def its_report(render: Callable[[Report], str]) -> Callable[[Preflight, Layout], str]:
    """The preflight renderer of a format that shows a preflight as its report alone."""

    def rendered(result: Preflight, layout: Layout) -> str:
        return render(result.report)

    rendered.__doc__ = f"The preflight's report as {render.__name__} writes it."
    return rendered
