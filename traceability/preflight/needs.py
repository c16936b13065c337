"""What a planned shipment needs from the store, and the checks it cannot make without it.

A rule with no data to run on gives no finding, and no finding is not a clearance: a
shipment is clear only when every check it needs could be made. A check that could not be
made for want of data blocks the shipment with the reason ``cannot check: ...``, naming
what is missing, unless missing data is allowed (``allow_missing_data``). What each check
needs from the store, and when its absence makes the check impossible:

- the manufacture declarations (``batches``): ``unknown-lot``, ``over-export`` and
  ``expired-shipped`` judge every lot shipped against them (its make, its expiry). With no
  batches loaded they cannot check. (Batches loaded that do not cover a lot shipped are a
  finding, ``unknown-lot``, not a gap.)
- the products (``products``): the authorisation rules learn from a product's
  ``control_class`` whether it needs an authorisation at all. With no products loaded, or
  a product shipped that is not among them, they cannot check.
- the ``authorisations``: a controlled product's shipment is judged against them. With a
  controlled product shipped and no authorisations loaded, ``authorisation-missing``,
  ``authorisation-mismatch``, ``authorisation-expired`` and ``authorisation-exceeded``
  cannot check. A shipment of uncontrolled products needs none, and their absence blocks
  nothing.
- the ``events``: with EPCs (``--epcs``), the serials are judged against their history:
  commissioning (``serial-not-commissioned``, ``serial-lot-mismatch``), decommissioning
  (``serial-after-decommission``) and earlier shipping (``serial-shipped-twice``). With no
  events loaded they cannot check. Without EPCs no serial is judged, and events are not
  needed; ``serial-count-mismatch`` compares the EPCs given with the lines and needs no
  stored event.
- earlier ``consignments``: not needed. With none loaded the shipment is the first one:
  what a lot exported and what an authorisation was used for before it is nothing, which
  is a fact rather than a gap.

Only the rules the preflight runs count (``[preflight] rules`` in the config).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb

from traceability.config import Config
from traceability.engine.findings import evidence_order, fingerprint
from traceability.model import Evidence, Finding
from traceability.preflight.planned import PLANNED, STORE, Plan
from traceability.rules import all_rules

#: The rules that judge the lots shipped against their manufacture declarations.
BATCH_RULES = ("unknown-lot", "over-export", "expired-shipped")
#: The rules that judge a controlled product's shipment against its authorisations.
AUTHORISATION_RULES = (
    "authorisation-missing",
    "authorisation-mismatch",
    "authorisation-expired",
    "authorisation-exceeded",
)
#: The rules that judge the serials shipped (``--epcs``) against their stored history.
HISTORY_RULES = (
    "serial-not-commissioned",
    "serial-lot-mismatch",
    "serial-after-decommission",
    "serial-shipped-twice",
)

#: What to do about each missing input.
LOAD = {
    "batches": "the manufacture declarations (batches) of the lots shipped",
    "products": "the products shipped (their control class)",
    "authorisations": "the authorisations the shipment quotes",
    "events": "the EPCIS events of the serials shipped (commissioning, packing, shipping)",
}
#: How many products a reason names (the evidence cites every line concerned).
NAMED = 5


@dataclass(frozen=True)
class Unchecked:
    """A check a planned shipment needs that the store cannot support.

    ``rule``: the rule that could not check; ``missing``: the inputs it lacks
    (``batches``, ``products``, ``authorisations``, ``events``); ``reason``: ``cannot
    check: ...`` in words; ``remedy``: what to load.
    """

    rule: str
    missing: tuple[str, ...]
    reason: str
    remedy: str
    evidence: tuple[Evidence, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The entry of the preflight's ``cannot_check`` parameter."""
        return {
            "rule": self.rule,
            "missing": list(self.missing),
            "reason": self.reason,
            "remedy": self.remedy,
        }


def unchecked(
    con: duckdb.DuckDBPyConnection, plan: Plan, rules: Sequence[str], *, epcs: bool
) -> tuple[Unchecked, ...]:
    """The checks among ``rules`` the shipment needs and the store cannot support.

    ``con`` holds the attached store and planned catalogs and the base views (the
    preflight's rules have run); ``epcs``: whether what will physically go was given.
    """
    chosen = set(rules)
    lines = _lines(con)
    out: list[Unchecked] = []
    if chosen & set(BATCH_RULES) and not _loaded(con, "batches"):
        reason = "cannot check: no batches loaded (the lots' make and expiry)"
        evidence = tuple(e for _, e in lines)
        out += _each(chosen, BATCH_RULES, ("batches",), reason, evidence)
    if chosen & set(AUTHORISATION_RULES):
        found = _authorisations(con, lines)
        if found is not None:
            missing, reason, evidence = found
            out += _each(chosen, AUTHORISATION_RULES, missing, reason, evidence)
    if epcs and chosen & set(HISTORY_RULES) and not _loaded(con, "events"):
        reason = "cannot check: no events loaded (the serials' commissioning and history)"
        out += _each(chosen, HISTORY_RULES, ("events",), reason, _epc_events(con, plan))
    return tuple(out)


def blocker(gap: Unchecked, plan: Plan, settings: Config) -> Finding:
    """The finding that blocks the shipment for a check it could not make."""
    rule = next(r for r in all_rules() if r.id == gap.rule)
    subject = {"shipment_ref": plan.shipment_ref}
    detail = f"{gap.reason}; to clear: {gap.remedy}"
    return Finding(
        fingerprint=fingerprint(rule.id, subject),
        rule=rule.id,
        severity=settings.severity.get(rule.id, rule.severity),
        period=_quarter(plan.ship_date),
        subject=subject,
        expected=None,
        observed=None,
        difference=None,
        unit=None,
        message=f"shipment ref {plan.shipment_ref}: {detail}.",
        detail=detail,
        evidence=evidence_order(gap.evidence),
    )


def _each(
    chosen: set[str],
    rules: Iterable[str],
    missing: tuple[str, ...],
    reason: str,
    evidence: Iterable[Evidence],
) -> list[Unchecked]:
    remedy = "load " + " and ".join(LOAD[m] for m in missing)
    cited = tuple(evidence)
    return [Unchecked(r, missing, reason, remedy, cited) for r in rules if r in chosen]


def _loaded(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether the store holds any row of ``table``."""
    return con.execute(f"SELECT 1 FROM {STORE}.main.{table} LIMIT 1").fetchone() is not None


def _lines(con: duckdb.DuckDBPyConnection) -> list[tuple[str, Evidence]]:
    """The planned lines: each one's GTIN and its evidence item (as the rules cite it)."""
    rows = con.execute(
        f"""
        SELECT DISTINCT gtin, declaration_id || '/' || coalesce(line, '1'), source
        FROM consignment_qty
        WHERE load_id IN (SELECT load_id FROM {PLANNED}.main.consignments)
        ORDER BY 2, 3
        """
    ).fetchall()
    return [(str(g), Evidence("consignment", str(k), s)) for g, k, s in rows]


def _authorisations(
    con: duckdb.DuckDBPyConnection, lines: Sequence[tuple[str, Evidence]]
) -> tuple[tuple[str, ...], str, tuple[Evidence, ...]] | None:
    """What the authorisation rules lack for the shipment: missing inputs, reason, lines.

    None when they can check: every product shipped is known, and the controlled ones
    have authorisations to be judged against.
    """
    gtins = sorted({g for g, _ in lines})
    has_products = _loaded(con, "products")
    classes: dict[str, str | None] = {}  # the controlled products shipped: their class
    unknown = list(gtins) if not has_products else []
    if has_products:
        rows = con.execute(
            "SELECT gtin, controlled, control_class FROM product_mass "
            "WHERE gtin IN (SELECT unnest(?))",
            [gtins],
        ).fetchall()
        classes = {str(g): c for g, controlled, c in rows if controlled}
        unknown = sorted(set(gtins) - {str(r[0]) for r in rows})
    authorised = _loaded(con, "authorisations")
    missing = ["products"] * bool(unknown)
    if not authorised and (unknown or classes):
        missing.append("authorisations")
    if not missing:
        return None
    clauses = []
    if not has_products:
        clauses.append(f"no {' or '.join(missing)} loaded (whether a product is controlled)")
    else:
        if unknown:
            it = "it is" if len(unknown) == 1 else "they are"
            clauses.append(f"{_products(unknown)} not loaded (whether {it} controlled)")
        if not authorised:
            shown = sorted(classes.items())[:NAMED]
            controlled = ", ".join(f"{g} is controlled: {c}" for g, c in shown)
            clauses.append("no authorisations loaded" + (f" ({controlled})" if controlled else ""))
    concerned = set(unknown) | set(classes)
    evidence = tuple(e for g, e in lines if g in concerned)
    return tuple(missing), "cannot check: " + "; ".join(clauses), evidence


def _products(gtins: Sequence[str]) -> str:
    """Products named by GTIN, at most :data:`NAMED` of them."""
    named = ", ".join(gtins[:NAMED])
    more = f" and {len(gtins) - NAMED} more" if len(gtins) > NAMED else ""
    return f"product{'s' if len(gtins) > 1 else ''} {named}{more}"


def _epc_events(con: duckdb.DuckDBPyConnection, plan: Plan) -> tuple[Evidence, ...]:
    """The planned events that carry EPCs (what will physically go)."""
    rows = con.execute(
        f"""
        SELECT DISTINCT x.event_key, x.source
        FROM event_sources x
        JOIN {PLANNED}.main.epc_rows r ON r.event_row = x.event_row
        WHERE x.event_key IN (SELECT unnest(?))
        """,
        [list(plan.events)],
    ).fetchall()
    return tuple(Evidence("event", str(k), s) for k, s in rows)


def _quarter(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
