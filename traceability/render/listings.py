"""Two small tables the command line prints: the rule catalogue and what an export wrote.

Both are rich tables for a console to print; every value comes from the package itself
(rule headers) or is shown inert (a folder's name).
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.markup import escape
from rich.table import Table

from traceability.export import ExportResult
from traceability.inert import inert
from traceability.rules import Rule


def rules_table(rules: Iterable[Rule]) -> Table:
    """The catalogue: each rule's id, group, default severity and the first sentence of
    what it checks."""
    table = Table(title="Reconciliation rules", title_justify="left", expand=True)
    table.add_column("rule", no_wrap=True)
    table.add_column("group", no_wrap=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("checks")
    for rule in rules:
        summary = rule.checks.split(". ")[0].rstrip(".") + "."
        table.add_row(rule.id, rule.group, rule.severity.value, summary)
    return table


def export_table(result: ExportResult) -> Table:
    """The tables an export wrote: each one's rows and whether it is split by period."""
    table = Table(title=f"Exported to {escape(inert(str(result.folder)))}", title_justify="left")
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("split by period")
    for t in result.tables:
        table.add_row(t.name, f"{t.rows:,}", "yes" if t.partitioned else "")
    return table
