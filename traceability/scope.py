"""What two reports have in common: the scope a diff compares them on.

A finding missing from the newer report is *resolved* only if the newer report looked for
it: ran its rule with data, over its period, with the same settings, and judged its
subject. This module works out what both reports looked at, and why a finding falls
outside it.

- **Kind.** A reconcile report and a preflight result (or preflight results of two
  shipments) are not compared at all: :class:`~traceability.errors.NotComparable`.
- **Period** (``parameters.period``) and **settings** (tolerances, ``window_days``,
  severity overrides, a preflight's ``min_shelf_life_days``). Reports that differ are not
  compared unless asked to (``common=True``, ``--common-scope``): then only the period both
  cover is compared (a finding of another period, or of no period, is out of scope) and
  only the rules the differing settings do not affect.
- **Rules** (``rules_run``). Only the rules both reports ran with data are compared; a
  finding of a rule the other report did not run, or ran without data, is out of scope.
- **Subjects not judged** (``rules_run[].not_judged``). A finding found in one report only,
  whose subject the other report's rule could not judge (a subject value listed there, or a
  list too long to be given whole), is out of scope; so is every finding missing from a
  report that judged no record at all (its ``scope.records`` is 0).

Fields an older report lacks are not held against it: no ``rules_run`` means its rules are
not known (the other report's are used), no period or settings mean nothing to compare.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from traceability.errors import NotComparable
from traceability.model import Finding, NotJudged, Report, RuleRun
from traceability.rules import all_rules

_PREFLIGHT_KEYS = ("shipment_ref", "verdict")
_RULE_NAMES_SHOWN = 40


@dataclass(frozen=True)
class Scope:
    """What a diff compared: the rules both reports ran and the period both cover.

    ``narrowed`` says the two reports did not look at the same things, and ``notes`` say
    how, one line each (rules one report did not run, another period, other settings,
    subjects not judged). ``period`` None: every period the reports hold.
    """

    rules: tuple[str, ...] = ()
    period: str | None = None
    narrowed: bool = False
    notes: tuple[str, ...] = ()

    def line(self) -> str:
        """``compared on N rules both reports ran: a, b, …`` (and the period when narrowed).

        >>> Scope(("late-arrival", "over-export")).line()
        'compared on 2 rules both reports ran: late-arrival, over-export'
        """
        names = list(self.rules[:_RULE_NAMES_SHOWN])
        if len(self.rules) > _RULE_NAMES_SHOWN:
            names.append(f"and {len(self.rules) - _RULE_NAMES_SHOWN} more")
        count = f"{len(self.rules)} rule{'' if len(self.rules) == 1 else 's'}"
        text = f"compared on {count} both reports ran"
        if self.period is not None and self.narrowed:
            text += f", in {self.period}"
        return f"{text}: {', '.join(names)}" if names else text

    def lines(self) -> tuple[str, ...]:
        """What every format prints about the scope: nothing when it was not narrowed."""
        return (self.line(), *self.notes) if self.narrowed else ()

    def to_dict(self) -> dict[str, Any]:
        """The ``scope`` entry of the JSON diff."""
        return {
            "rules": list(self.rules),
            "period": self.period,
            "narrowed": self.narrowed,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class OutOfScope:
    """A finding of one report (``"old"`` or ``"new"``) the other did not look for, and why."""

    report: str
    reason: str
    finding: Finding

    def to_dict(self) -> dict[str, Any]:
        """``{"report", "reason", "finding"}`` as the JSON diff writes it."""
        return {"report": self.report, "reason": self.reason, "finding": self.finding.to_dict()}


@dataclass(frozen=True)
class Side:
    """What one report says about what it looked at, read liberally."""

    name: str  # "old" or "new"
    parameters: Mapping[str, Any] | None
    runs: Mapping[str, RuleRun] | None  # None: not known
    findings: tuple[Finding, ...]
    records: int | None = None  # records in scope, when counted

    @property
    def ran(self) -> frozenset[str] | None:
        """The rules it ran with data (and any rule it has findings of); None: not known."""
        if self.runs is None:
            return None
        ran = {r.rule for r in self.runs.values() if r.status == "ran"}
        return frozenset(ran | {f.rule for f in self.findings})

    def kind(self) -> str:
        """``reconcile report`` or ``preflight result of shipment …``."""
        params = self.parameters or {}
        if any(k in params for k in _PREFLIGHT_KEYS):
            ref = params.get("shipment_ref")
            return f"preflight result of shipment {ref}" if ref else "preflight result"
        return "reconcile report"


def side(report: Report | Mapping[str, Any], name: str, findings: tuple[Finding, ...]) -> Side:
    """Read what ``report`` looked at (a report object or a JSON report)."""
    if isinstance(report, Report):
        scope = getattr(report, "scope", None)
        records = sum(scope.values()) if isinstance(scope, Mapping) else None
        runs = {r.rule: r for r in report.rules_run}
        return Side(name, report.parameters, runs, findings, records)
    params = report.get("parameters")
    items = report.get("rules_run")
    counted = report.get("scope")
    records = counted.get("records") if isinstance(counted, Mapping) else None
    return Side(
        name,
        params if isinstance(params, Mapping) else None,
        _runs(items) if isinstance(items, list) else None,
        findings,
        records if isinstance(records, int) else None,
    )


def _runs(items: Iterable[Any]) -> dict[str, RuleRun]:
    runs: dict[str, RuleRun] = {}
    for item in items:
        if not isinstance(item, Mapping) or not isinstance(item.get("rule"), str):
            continue
        gaps = []
        for n in item.get("not_judged") or ():
            if isinstance(n, Mapping):
                subjects = tuple(str(s) for s in n.get("subjects") or ())
                count = n.get("count")
                count = count if isinstance(count, int) else len(subjects)
                gaps.append(NotJudged(str(n.get("reason") or "not judged"), subjects, count))
        status = str(item.get("status") or "ran")
        runs[item["rule"]] = RuleRun(item["rule"], status, not_judged=tuple(gaps))
    return runs


# --- periods --------------------------------------------------------------------------------


def _quarters(period: str) -> tuple[int, int, int] | None:
    """``2026`` as (2026, 1, 4), ``2026-Q2`` as (2026, 2, 2); None for anything else."""
    year, _, quarter = period.partition("-Q")
    if not year.isdigit() or len(year) != 4:
        return None
    if not quarter:
        return int(year), 1, 4
    if quarter in ("1", "2", "3", "4"):
        return int(year), int(quarter), int(quarter)
    return None


def within(period: str | None, scope: str | None) -> bool:
    """Whether a finding's period lies inside ``scope`` (None: every period).

    >>> within("2026-Q1", "2026"), within("2026", "2026-Q1"), within(None, "2026")
    (True, False, False)
    """
    if scope is None:
        return True
    if period is None:
        return False
    inner, outer = _quarters(period), _quarters(scope)
    if inner is None or outer is None:
        return period == scope
    return inner[0] == outer[0] and outer[1] <= inner[1] and inner[2] <= outer[2]


def common_period(a: str | None, b: str | None) -> tuple[bool, str | None]:
    """The period two reports both cover: (whether there is one, which; None: every period).

    >>> common_period(None, "2026-Q1"), common_period("2026", "2026-Q2")
    ((True, '2026-Q1'), (True, '2026-Q2'))
    >>> common_period("2026-Q1", "2026-Q2")
    (False, None)
    """
    if a is None or within(a, b):
        return True, a if a is not None else b
    if b is None or within(b, a):
        return True, b
    return False, None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _covers(period: str | None) -> str:
    return "every period" if period is None else str(period)


# --- settings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """A setting the two reports were made with different values of."""

    name: str
    old: str
    new: str
    rules: frozenset[str] | None = None  # the rules it affects; None: every rule
    parameter: str | None = None  # the rule parameter it sets, if any

    def text(self) -> str:
        """``tol_units 0 (old) and 5 (new)``."""
        return f"{self.name} {self.old} (old) and {self.new} (new)"


def _number(value: Any) -> Decimal | str:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)


def settings(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Setting]:
    """The settings that differ, read from both reports' ``parameters``.

    A setting one report does not record is not compared; severity overrides left out
    mean none.
    """
    out: list[Setting] = []
    tol_old, tol_new = old.get("tolerances"), new.get("tolerances")
    if isinstance(tol_old, Mapping) and isinstance(tol_new, Mapping):
        for key in sorted(set(tol_old) & set(tol_new)):
            if _number(tol_old[key]) != _number(tol_new[key]):
                out.append(Setting(str(key), str(tol_old[key]), str(tol_new[key]), parameter=key))
    for key, parameter in (("window_days", "window_days"), ("min_shelf_life_days", None)):
        if key in old and key in new and _number(old[key]) != _number(new[key]):
            out.append(Setting(key, str(old[key]), str(new[key]), parameter=parameter))
    # The countries whose returns are collected: absent means every country.
    countries_old, countries_new = old.get("collected_countries"), new.get("collected_countries")
    if countries_old != countries_new:
        out.append(
            Setting(
                "collected_countries",
                ",".join(countries_old or ["all"]),
                ",".join(countries_new or ["all"]),
                parameter="collected_countries",
            )
        )
    sev_old, sev_new = old.get("severity") or {}, new.get("severity") or {}
    if isinstance(sev_old, Mapping) and isinstance(sev_new, Mapping):
        for rule in sorted(set(sev_old) | set(sev_new)):
            was, now = sev_old.get(rule), sev_new.get(rule)
            if was != now:
                name = f"severity of {rule}"
                out.append(
                    Setting(name, str(was or "default"), str(now or "default"), frozenset({rule}))
                )
    return [_with_rules(s) for s in out]


def _with_rules(setting: Setting) -> Setting:
    """The setting with the catalogue's rules that use its parameter."""
    if setting.parameter is None:
        return setting
    users = frozenset(
        r.id
        for r in all_rules()
        if setting.parameter in r.parameters or setting.parameter in r.coverage_parameters
    )
    return Setting(setting.name, setting.old, setting.new, users, setting.parameter)


def _affected(rule: str, changed: list[Setting]) -> list[str]:
    """The settings that differ and affect ``rule`` (every one, for a rule not catalogued)."""
    known = {r.id for r in all_rules()}
    return [
        s.name
        for s in changed
        if s.rules is None or rule in s.rules or (s.parameter is not None and rule not in known)
    ]


# --- the plan -------------------------------------------------------------------------------


@dataclass
class Plan:
    """The common scope of two reports, and why a finding falls outside it."""

    old: Side
    new: Side
    rules: frozenset[str]
    period: str | None
    narrow_period: bool
    changed: list[Setting]
    notes: list[str] = field(default_factory=list)

    def other(self, s: Side) -> Side:
        """The other report."""
        return self.new if s is self.old else self.old

    def outside(self, f: Finding, s: Side) -> str | None:
        """Why a finding of report ``s`` is out of scope, or None when it is in scope."""
        other = self.other(s)
        if other.ran is not None and f.rule not in other.ran:
            run = other.runs.get(f.rule) if other.runs is not None else None
            if run is not None and run.status != "ran":
                return f"the {other.name} report had no data for rule {f.rule}"
            return f"rule {f.rule} not run by the {other.name} report"
        affected = _affected(f.rule, self.changed)
        if affected:
            return f"judged with other settings ({', '.join(affected)})"
        if f.rule not in self.rules:
            return f"rule {f.rule} not run by the {other.name} report"
        if self.narrow_period and not within(f.period, self.period):
            if f.period is None:
                return "no period, and the reports cover different periods"
            return f"period {f.period} is outside {self.period}, the period both reports cover"
        return None

    def unjudged(self, f: Finding, s: Side) -> str | None:
        """Why the other report may lack ``f`` for want of judging it; None: it judged it."""
        other = self.other(s)
        if other.records == 0:
            return f"the {other.name} report judged no record"
        run = other.runs.get(f.rule) if other.runs is not None else None
        if run is None:
            return None
        values = set(f.subject.values())
        for gap in run.not_judged:
            if values & set(gap.subjects):
                return f"subject not judged by the {other.name} report: {gap.reason}"
        for gap in run.not_judged:
            if gap.count > len(gap.subjects):
                return (
                    f"the {other.name} report could not judge {gap.count} subjects of "
                    f"rule {f.rule}, not all of them listed: {gap.reason}"
                )
        return None

    def scope(self, unjudged: Mapping[str, int], *, left_out: bool = False) -> Scope:
        """The scope to report, with a note for each side's findings left out as unjudged.

        ``left_out``: some finding is out of scope (the scope is narrowed then, notes or not).
        """
        notes = list(self.notes)
        for name, claim in (("old", "resolved"), ("new", "new")):
            n = unjudged.get(name, 0)
            if n:
                by = "new" if name == "old" else "old"
                notes.append(
                    f"{n} finding{'' if n == 1 else 's'} of the {name} report not counted as "
                    f"{claim}: the {by} report did not judge {'its' if n == 1 else 'their'} "
                    "subject"
                )
        narrowed = bool(notes) or left_out
        return Scope(tuple(sorted(self.rules)), self.period, narrowed, tuple(notes))


def plan(old: Side, new: Side, *, common: bool = False) -> Plan:
    """The common scope of ``old`` and ``new``.

    Raises:
        NotComparable: reports of different kinds (or preflights of different shipments);
            reports of different periods or settings unless ``common``; reports with no
            period or no rule in common.
    """
    kinds = old.kind(), new.kind()
    if kinds[0] != kinds[1]:
        raise NotComparable(
            f"not comparable: the old report is a {kinds[0]}, the new one a {kinds[1]}",
            hint="diff compares two reconcile reports, or two preflight results of a shipment",
        )
    old_params, new_params = old.parameters or {}, new.parameters or {}
    differences: list[str] = []
    notes: list[str] = []
    period: str | None = None
    narrow = False
    if "period" in old_params and "period" in new_params:
        a, b = _text(old_params["period"]), _text(new_params["period"])
        period = a
        if a != b:
            shared, period = common_period(a, b)
            covers = f"the old report covers {_covers(a)}, the new one {_covers(b)}"
            if not shared:
                raise NotComparable(f"not comparable: {covers}, and no period is in both")
            differences.append(covers)
            notes.append(f"{covers}: compared on {_covers(period)}")
            narrow = True
    else:
        period = _text(old_params.get("period", new_params.get("period")))
    changed = settings(old_params, new_params)
    if changed:
        differences.append("other settings: " + ", ".join(s.text() for s in changed))
        for s in changed:
            left = "every rule" if s.rules is None else ", ".join(sorted(s.rules)) or "no rule"
            notes.append(f"other settings: {s.text()}; left out: {left}")
    if differences and not common:
        raise NotComparable(
            "not comparable: " + "; ".join(differences),
            hint="--common-scope compares them on what they have in common",
        )
    ran_old, ran_new = old.ran, new.ran
    if ran_old is not None and ran_new is not None:
        rules = ran_old & ran_new
        if ran_old and ran_new and not rules:
            raise NotComparable("not comparable: no rule ran with data in both reports")
    else:
        everything = frozenset(f.rule for f in (*old.findings, *new.findings))
        rules = ran_old if ran_old is not None else ran_new if ran_new is not None else everything
    for this, other in ((old, new), (new, old)):
        if other.runs is None or other.ran is None:
            continue
        looked = this.ran if this.ran is not None else frozenset(f.rule for f in this.findings)
        mine = looked - other.ran
        idle = sorted(r for r in mine if r in other.runs)
        unrun = sorted(r for r in mine if r not in other.runs)
        if unrun:
            notes.append(f"not run by the {other.name} report: {', '.join(unrun)}")
        if idle:
            notes.append(f"no data in the {other.name} report: {', '.join(idle)}")
    kept = frozenset(r for r in rules if not _affected(r, changed))
    return Plan(old, new, kept, period, narrow, changed, notes)
