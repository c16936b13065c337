"""The exporter's preflight: check a planned shipment before it leaves.

A planned shipment is a consignments file whose export lines share one ``shipment_ref``
and, optionally, what will physically go: EPCs one a line (SGTIN or SSCC, URN or GS1
Digital Link) or an EPCIS document with the planned packing and shipping events.

Nothing here judges anything itself: the catalogue's own rules run, through the same
runner as ``reconcile``, over a picture of the store in which the shipment has already
left. That picture is built on an in-memory DuckDB connection:

- the store is attached read-only (nothing is ever written to it);
- the planned files are loaded by the ordinary loader into a second, in-memory catalog
  (``tc_planned``), so they are checked and normalised exactly as a load would; EPCs given
  as a list become one planned shipping event carrying the ``shipment_ref``, and the lines'
  lots one planned shipping event with a quantity per lot;
- the store's table names (``events``, ``epc_rows``, ``consignments``, ...) are defined on
  the default catalog as the store's rows that concern the shipment plus the planned rows:
  the events that name its serials and containers (down to what is packed in them, up to
  every container that ever held them), the declaration lines of its lots, authorisations
  and shipment, the manufacture declarations of its lots; the store's views are re-created
  over them and every other table is passed through;
- the rules then run and only the findings about the planned shipment are kept: those
  whose evidence cites a planned line or planned event, or whose subject names the
  shipment or one of its declarations.

The minimum remaining shelf life is ``expired-shipped`` on expiry dates brought forward by
that many days; a lot's headroom is ``over-export`` on its make net of its destroyed stock;
a planned pack still packed in a container that does not leave with it is the
``serial-shipped-twice`` that container's leaving will give (see ``stock``). The
authorisation balance is ``authorisation-exceeded`` itself, run with a
tolerance below zero so that it reports every authorisation's total: once with the planned
lines and once without them.

No verdict comes from absent data: a rule with nothing to run on gives no finding, and that
is not a clearance. A check the shipment needs that the store cannot support blocks it with
a reason ``cannot check: ...`` naming what is missing (see ``needs``): no batches loaded
(the lots' make and expiry); no products loaded, or a product shipped not among them
(whether it is controlled); no authorisations loaded when a product shipped is controlled;
no events loaded when EPCs are given (the serials' history). What a shipment does not need
blocks nothing: no authorisations for uncontrolled products, no events without EPCs, no
earlier consignments (the first shipment). ``allow_missing_data`` clears such a shipment
all the same, and the result still lists the checks not made (``unchecked``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from traceability.config import Config
from traceability.engine.findings import decimal_text, message, parse_date, sort_key
from traceability.errors import UnreadableFile
from traceability.model import Finding, Report
from traceability.preflight.balances import Balance
from traceability.preflight.balances import balances as balances_of
from traceability.preflight.narrowed import narrow
from traceability.preflight.needs import Unchecked, blocker, unchecked
from traceability.preflight.planned import Plan, attach, load_plan, one
from traceability.preflight.stock import (
    PACKED_ELSEWHERE,
    merge,
    net_of_destruction,
    packed_elsewhere,
)
from traceability.reconcile import reconcile, run_rule
from traceability.rules import all_rules, select
from traceability.rules.settings import load_config
from traceability.store import connect

__all__ = ["PREFLIGHT_RULES", "REMEDIES", "Balance", "Preflight", "Unchecked", "preflight"]

PREFLIGHT_RULES = (
    "unknown-lot",
    "over-export",
    "expired-shipped",
    "serial-not-commissioned",
    "serial-lot-mismatch",
    "serial-after-decommission",
    "serial-shipped-twice",
    "serial-count-mismatch",
    "authorisation-missing",
    "authorisation-mismatch",
    "authorisation-expired",
    "authorisation-exceeded",
)

#: What to do about each rule's finding: the ``remedy`` of its header, filled from the
#: finding (``{lot}``, ``{epc}``, ...).
REMEDIES = {r.id: r.remedy for r in select(PREFLIGHT_RULES) if r.remedy}

#: What to do about a pack packed in a container that does not leave with it.
PACKED_REMEDY = (
    "ship the container whole, or record this pack's unpacking from it (a DELETE "
    "aggregation) before it leaves"
)


@dataclass(frozen=True)
class Preflight:
    """The verdict on a planned shipment: the report of what blocks it, and balances.

    ``unchecked``: the checks the shipment needs that the store could not support (each
    also a blocker, ``cannot check: ...``, unless ``missing_data_allowed``).
    """

    shipment_ref: str
    ship_date: date
    report: Report
    balances: tuple[Balance, ...]
    unchecked: tuple[Unchecked, ...] = ()
    missing_data_allowed: bool = False

    @property
    def clear(self) -> bool:
        """Clear to ship: nothing blocks it (a check that could not be made blocks it)."""
        return not self.report.findings

    @property
    def checked(self) -> bool:
        """Whether every check the shipment needs could be made."""
        return not self.unchecked

    @property
    def blockers(self) -> tuple[Finding, ...]:
        """Every reason the shipment would be flagged, each with its rule and remedy."""
        return self.report.findings


def preflight(
    db: str | Path,
    shipment: str | Path,
    *,
    epcs: str | Path | None = None,
    as_of: date | str | None = None,
    config: Config | str | Path | None = None,
    allow_missing_data: bool = False,
) -> Preflight:
    """Check a planned shipment against the store, which is opened read-only.

    A check the shipment needs that the store cannot support (no authorisations loaded
    for a controlled product, no batches, ...: see the module's docstring) blocks it with
    a reason ``cannot check: ...``; ``allow_missing_data`` lets it clear without them
    (they stay listed in ``unchecked``).

    Args:
        db: the database file.
        shipment: a consignments file (CSV, JSON Lines, Parquet) of export lines sharing
            one ``shipment_ref``.
        epcs: what will physically go: a text file with one EPC (SGTIN or SSCC, URN or
            Digital Link) a line, or an EPCIS document (``.json``, ``.jsonl``, ``.xml``)
            with the planned packing and shipping events.
        as_of: the day the shipment leaves (default: the lines' ``declared_date``).
        config: settings, or a TOML file of them (``[preflight] min_shelf_life_days``).
        allow_missing_data: clear the shipment even when a check it needs could not be
            made for want of data.

    Raises:
        InputError: a planned file that cannot be read, holds rejected records, or is not
            one shipment's export lines; a bad date or config.
        StoreError: the database cannot be opened.
    """
    settings = _settings(config)
    chosen = select(list(settings.preflight.rules or PREFLIGHT_RULES))
    shipment = Path(shipment)
    epc_path = Path(epcs) if epcs is not None else None
    for path in (shipment, epc_path):
        if path is not None and not path.is_file():
            raise UnreadableFile(f"{path}: no such file")
    leaves = parse_date(as_of) if as_of is not None else None
    connect(db, read_only=True).close()  # the store's own checks: version, owner, lock
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")
        con.execute("SET threads = 1")  # small narrowed tables: a second thread costs more
        attach(con, Path(db))
        plan = load_plan(con, shipment, epc_path, leaves)
        shift = settings.preflight.min_shelf_life_days
        narrow(con, plan, shift)
        report = reconcile(con, rules=[r.id for r in chosen], config=settings, as_of=plan.ship_date)
        destroyed = net_of_destruction(con)
        if destroyed:  # the lots' make is now net of it: over-export judges again
            report = _again(con, report, "over-export", settings, plan.ship_date)
        found = _about_shipment(con, plan, report.findings, shift, destroyed)
        twice = [r for r in chosen if r.id == "serial-shipped-twice"]
        if twice:
            level = settings.severity.get(twice[0].id, twice[0].severity)
            found = merge(found, packed_elsewhere(con, plan, twice[0], level))
        balances = balances_of(con, plan, settings)
        gaps = unchecked(con, plan, [r.id for r in chosen], epcs=epc_path is not None)
        verdict = _verdict(plan, report, found, balances, shift)
        return _unchecked(verdict, plan, gaps, settings, allowed=allow_missing_data)
    finally:
        con.close()


def _again(
    con: duckdb.DuckDBPyConnection, report: Report, rule_id: str, settings: Config, day: date
) -> Report:
    """The report with one rule that ran run again (on the base views already built)."""
    if not any(r.rule == rule_id and r.status == "ran" for r in report.rules_run):
        return report
    rule = next(r for r in all_rules() if r.id == rule_id)
    params: dict[str, Any] = {**settings.parameters(), "as_of": day}
    params |= {"period_start": None, "period_end": None}
    level = settings.severity.get(rule_id, rule.severity)
    found = run_rule(con, rule, params, severity=level, period=None)
    findings = sorted([*(f for f in report.findings if f.rule != rule_id), *found], key=sort_key)
    runs = tuple(
        replace(r, findings=len(found)) if r.rule == rule_id else r for r in report.rules_run
    )
    return replace(report, rules_run=runs, findings=tuple(findings))


def _settings(config: Config | str | Path | None) -> Config:
    if config is None:
        return Config()
    if isinstance(config, Config):
        return config
    return load_config(config)


def _about_shipment(
    con: duckdb.DuckDBPyConnection,
    plan: Plan,
    findings: Iterable[Finding],
    shift: int,
    destroyed: Mapping[tuple[str, str], str],
) -> list[Finding]:
    """The findings about the planned shipment.

    Those whose evidence cites a planned line or event, or whose subject names the
    shipment or one of its declarations. An ``expired-shipped`` finding judged with a
    minimum shelf life gets the lot's true expiry in its detail, an ``over-export`` finding
    on a lot with destroyed stock what was taken off its make.
    """
    planned = {("consignment", k) for k in plan.lines} | {("event", k) for k in plan.events}
    declarations = {k.rsplit("/", 1)[0] for k in plan.lines}
    kept = []
    for f in findings:
        if not (
            any((e.kind, e.key) in planned for e in f.evidence)
            or f.subject.get("shipment_ref") == plan.shipment_ref
            or f.subject.get("declaration_id") in declarations
        ):
            continue
        if f.rule == "expired-shipped" and shift:
            f = replace(f, detail=_shelf_life(con, f, plan.ship_date, shift))
        lot = (f.subject.get("gtin", ""), f.subject.get("lot", ""))
        if f.rule == "over-export" and lot in destroyed:
            net = f"the make counted is net of {destroyed[lot]} destroyed"
            f = replace(f, detail=f"{f.detail}; {net}" if f.detail else net)
        kept.append(f)
    return kept


def _shelf_life(con: duckdb.DuckDBPyConnection, f: Finding, day: date, shift: int) -> str:
    """The detail of an ``expired-shipped`` finding judged with the minimum shelf life.

    The rule ran on expiry dates brought forward by ``shift`` days; the records it cites
    as giving the expiry (the lot's declaration, commissioning events) give it back.
    """
    events = [e.key for e in f.evidence if e.kind == "event"]
    expiry = one(
        con,
        "SELECT min(d) + ? FROM (SELECT expiry_date AS d FROM current_batches "
        "WHERE gtin = ? AND lot = ? UNION ALL SELECT expiry FROM live_events "
        "WHERE event_key IN (SELECT unnest(?)) AND biz_step = 'commissioning')",
        [shift, f.subject.get("gtin"), f.subject.get("lot"), events],
    )
    if expiry is None:
        return f"less remaining shelf life than the minimum of {shift} days"
    if expiry < day:
        return f"expired on {expiry.isoformat()}, before the ship date {day.isoformat()}"
    left = (expiry - day).days
    return (
        f"expires on {expiry.isoformat()}, {left} day(s) after the ship date "
        f"{day.isoformat()}; the minimum remaining shelf life is {shift} days"
    )


def _remedy(f: Finding, balances: Mapping[str, Balance]) -> str:
    """What to do about a finding, in words, from its subject and figures."""
    facts = _Facts({**f.subject, "unit": f.unit or ""})
    for name in ("expected", "observed", "difference"):
        facts[name] = getattr(f, name) or "0"
    balance = balances.get(f.subject.get("authorisation_ref", ""))
    if balance is not None and balance.authorised is not None:
        left = Decimal(balance.authorised) - Decimal(balance.used_before or 0)
        facts["remaining"] = decimal_text(max(left, Decimal(0))) or "0"
    try:
        todo = REMEDIES[f.rule].format_map(facts)
    except (KeyError, ValueError):
        return "resolve this finding before the shipment leaves"
    if f.rule == "serial-shipped-twice" and PACKED_ELSEWHERE in (f.detail or ""):
        shipped_before = "not received in between" in (f.detail or "")
        return f"{todo}; and {PACKED_REMEDY}" if shipped_before else PACKED_REMEDY
    return todo


class _Facts(dict[str, str]):
    """A finding's facts for a remedy's text; a fact it does not have reads '(none)'."""

    def __missing__(self, key: str) -> str:
        return "(none)"


def _verdict(
    plan: Plan,
    report: Report,
    found: Sequence[Finding],
    balances: tuple[Balance, ...],
    shift: int,
) -> Preflight:
    by_ref = {b.authorisation_ref: b for b in balances}
    rules = {r.id: r for r in all_rules()}
    blockers = []
    for f in found:
        todo = f"to clear: {_remedy(f, by_ref)}"
        detail = f"{f.detail}; {todo}" if f.detail else todo
        text = message(
            rules[f.rule], f.subject, f.expected, f.observed, f.difference, f.unit, detail
        )
        blockers.append(replace(f, detail=detail, message=text))
    counts: dict[str, int] = {}
    for f in blockers:
        counts[f.rule] = counts.get(f.rule, 0) + 1
    runs = tuple(
        replace(r, findings=counts.get(r.rule, 0)) if r.status == "ran" else r
        for r in report.rules_run
    )
    parameters = {
        **report.parameters,
        "shipment_ref": plan.shipment_ref,
        "ship_date": plan.ship_date.isoformat(),
        "verdict": "blocked" if blockers else "clear",
        "min_shelf_life_days": shift,
        "authorisations": [b.to_dict() for b in balances],
    }
    checked = replace(
        report, inputs=plan.inputs, parameters=parameters, rules_run=runs, findings=tuple(blockers)
    )
    return Preflight(plan.shipment_ref, plan.ship_date, checked, balances)


def _unchecked(
    verdict: Preflight,
    plan: Plan,
    gaps: tuple[Unchecked, ...],
    settings: Config,
    *,
    allowed: bool,
) -> Preflight:
    """The verdict with the checks that could not be made: blockers, unless ``allowed``.

    The report's parameters list them (``cannot_check``) and say whether missing data was
    allowed (``missing_data_allowed``).
    """
    if not gaps:
        return verdict
    report = verdict.report
    added = [] if allowed else [blocker(g, plan, settings) for g in gaps]
    findings = tuple(sorted([*report.findings, *added], key=sort_key))
    counts = {g.rule: 0 for g in gaps}
    for f in added:
        counts[f.rule] += 1
    runs = tuple(
        replace(r, findings=(r.findings or 0) + counts[r.rule])
        if r.status == "ran" and r.rule in counts
        else r
        for r in report.rules_run
    )
    parameters = {
        **report.parameters,
        "verdict": "blocked" if findings else "clear",
        "cannot_check": [g.to_dict() for g in gaps],
        "missing_data_allowed": allowed,
    }
    checked = replace(report, parameters=parameters, rules_run=runs, findings=findings)
    return replace(verdict, report=checked, unchecked=gaps, missing_data_allowed=allowed)
