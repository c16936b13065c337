"""The balance of each authorisation a planned shipment quotes.

``authorisation-exceeded`` itself gives it, run with a tolerance below zero so that it reports
every authorisation's total: once with the planned lines and once without them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import duckdb

from traceability.config import Config
from traceability.engine.findings import decimal_text
from traceability.model import Finding
from traceability.preflight.planned import PLANNED, Plan, one
from traceability.reconcile import run_rule
from traceability.rules import all_rules

__all__ = ["Balance", "balances"]

#: Tolerances below zero: ``authorisation-exceeded`` then reports every total it counts.
_REPORT_EVERY_TOTAL = {
    "tol_units": Decimal(-(10**20)),
    "tol_mass_kg": Decimal(-(10**20)),
    "tol_mass_pct": Decimal("-1000"),
}


@dataclass(frozen=True)
class Balance:
    """What is left of one authorisation the shipment quotes, in its unit of account."""

    authorisation_ref: str
    unit: str | None
    authorised: str | None
    used_before: str | None
    this_shipment: str | None
    remaining: str | None

    def to_dict(self) -> dict[str, str | None]:
        """The balance as the report's parameters hold it."""
        return {
            "authorisation_ref": self.authorisation_ref,
            "unit": self.unit,
            "authorised": self.authorised,
            "used_before": self.used_before,
            "this_shipment": self.this_shipment,
            "remaining": self.remaining,
        }


def balances(con: duckdb.DuckDBPyConnection, plan: Plan, settings: Config) -> tuple[Balance, ...]:
    """The balance of each authorisation the planned lines quote.

    ``authorisation-exceeded`` with a tolerance below zero reports every authorisation's
    total: right after the main run (with the planned lines, on its base views), then once
    more on the store as it stands (without them: the consignment views read the table
    again; the rule reads no event, so the base tables built from the events stay), unless
    no stored line quotes them.
    """
    refs = [
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT c.authorisation_ref FROM {PLANNED}.main.consignments c "
            "JOIN authorisations a USING (authorisation_ref) ORDER BY 1"
        ).fetchall()
    ]
    if not refs:
        return ()
    rule = next(r for r in all_rules() if r.id == "authorisation-exceeded")
    every = settings.with_overrides(tolerances={**settings.tolerances, **_REPORT_EVERY_TOTAL})
    params: dict[str, Any] = {**every.parameters(), "as_of": plan.ship_date}
    params |= {"period_start": None, "period_end": None}
    after = _totals(run_rule(con, rule, params, severity=rule.severity, period=None))
    con.execute(
        "CREATE OR REPLACE TABLE consignments AS SELECT * FROM stored_consignments c "
        f"WHERE (c.declaration_id, coalesce(c.line, '1')) NOT IN (SELECT (declaration_id, "
        f"coalesce(line, '1')) FROM {PLANNED}.main.consignments)"
    )
    quoted = "SELECT count(*) FROM consignments WHERE authorisation_ref IN (SELECT unnest(?))"
    before = (  # no stored line quotes them: nothing used before, no need to ask the rule
        _totals(run_rule(con, rule, params, severity=rule.severity, period=None))
        if one(con, quoted, [refs])
        else {}
    )
    out = []
    for ref in refs:
        known = after.get(ref) or before.get(ref)
        allowed, unit = (known[0], known[2]) if known else (None, None)
        used_after = after[ref][1] if ref in after else Decimal(0)
        used_before = before[ref][1] if ref in before else Decimal(0)
        if allowed is None:  # no line counted against it: as written
            row = con.execute(
                "SELECT max_quantity, uom FROM authorisations WHERE authorisation_ref = ? "
                "ORDER BY load_id DESC, source_line DESC LIMIT 1",
                [ref],
            ).fetchone()
            allowed, unit = (row[0], row[1]) if row else (None, None)
        out.append(
            Balance(
                ref,
                unit,
                decimal_text(allowed),
                decimal_text(used_before),
                decimal_text(used_after - used_before),
                decimal_text(None if allowed is None else allowed - used_after),
            )
        )
    return tuple(out)


def _totals(found: Iterable[Finding]) -> dict[str, tuple[Decimal, Decimal, str | None]]:
    """Authorised and used quantity, and unit, per authorisation_ref."""
    return {
        f.subject["authorisation_ref"]: (Decimal(f.expected), Decimal(f.observed), f.unit)
        for f in found
        if f.expected is not None and f.observed is not None
    }
