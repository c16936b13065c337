"""Compare two reports: which findings are new, resolved, changed or unchanged.

Findings are matched by ``fingerprint`` (rule + subject, stable across runs and data
corrections). A matched pair is *changed* when its quantities (``expected``, ``observed``,
``difference``, ``unit``) or its severity differ, and *unchanged* otherwise: a reworded
message, a different list of evidence or other caveats alone is not a change, and the newer
finding is kept. :func:`fails` looks at new and changed findings, so a known problem that
has not moved does not fail a pipeline twice; it can leave out the findings that carry
caveats too.

Only what both reports looked at is compared (see :mod:`traceability.scope`): reports of
other kinds are refused, reports of other periods or settings too unless ``common_scope``
is asked for, and a finding of a rule the other report did not run (or ran without data),
of a period it did not cover, or of a subject it could not judge, is neither new nor
resolved but *out of scope*, listed apart with the reason. :func:`fails` counts the newer
report's out-of-scope findings as new ones: nothing says they are known problems.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import best_match

from traceability.errors import InputError, UnreadableFile
from traceability.kinds import load_schema
from traceability.model import (
    Caveat,
    Evidence,
    Finding,
    InputFile,
    NotJudged,
    Report,
    RuleRun,
    Severity,
)
from traceability.scope import OutOfScope, Scope, Side, plan, side

QUANTITIES = ("expected", "observed", "difference", "unit")
_MAX_MESSAGE = 160


@dataclass(frozen=True)
class Change:
    """One finding present in both reports with other quantities or another severity."""

    old: Finding
    new: Finding

    def fields(self) -> tuple[str, ...]:
        """The names of what changed: ``severity`` and/or quantity fields."""
        names = ("severity", *QUANTITIES)
        return tuple(n for n in names if getattr(self.old, n) != getattr(self.new, n))

    def to_dict(self) -> dict[str, Any]:
        """``{"old": finding, "new": finding}`` as the JSON diff writes it."""
        return {"old": self.old.to_dict(), "new": self.new.to_dict()}


@dataclass(frozen=True)
class Diff:
    """The result of comparing an old report with a new one.

    ``old_generated_at`` and ``new_generated_at`` say which reports were compared; they
    appear in the headers of the rendered forms, not in :meth:`to_dict`. ``scope`` says what
    was compared, ``out_of_scope`` lists the findings of either report the other did not
    look for.
    """

    new: tuple[Finding, ...]
    resolved: tuple[Finding, ...]
    changed: tuple[Change, ...]
    unchanged: tuple[Finding, ...]
    old_generated_at: str | None = None
    new_generated_at: str | None = None
    scope: Scope = Scope()
    out_of_scope: tuple[OutOfScope, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"new", "resolved", "changed", "unchanged"}``, then
        ``out_of_scope`` (each ``{"report", "reason", "finding"}``) and ``scope``."""
        return {
            "new": [f.to_dict() for f in self.new],
            "resolved": [f.to_dict() for f in self.resolved],
            "changed": [c.to_dict() for c in self.changed],
            "unchanged": [f.to_dict() for f in self.unchanged],
            "out_of_scope": [o.to_dict() for o in self.out_of_scope],
            "scope": self.scope.to_dict(),
        }

    def summary(self) -> str:
        """One line, e.g. ``3 resolved since the previous report, 1 new (1 critical), ...``.

        >>> Diff(new=(), resolved=(), changed=(), unchanged=()).summary()
        '0 resolved since the previous report, 0 new, 0 changed, 0 unchanged'
        """
        new = f"{len(self.new)} new"
        if self.new:
            new += f" ({_by_severity(self.new)})"
        outside = f", {len(self.out_of_scope)} out of scope" if self.out_of_scope else ""
        return (
            f"{len(self.resolved)} resolved since the previous report, {new}, "
            f"{len(self.changed)} changed, {len(self.unchanged)} unchanged{outside}"
        )


def _by_severity(findings: Iterable[Finding]) -> str:
    counts = {s: 0 for s in Severity}
    for f in findings:
        counts[f.severity] += 1
    return ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)


def order(f: Finding) -> tuple[Any, ...]:
    """The report's order: severity (most severe first), rule, subject, then a tie-break."""
    subject = json.dumps(dict(f.subject), sort_keys=True)
    return (f.severity.rank, f.rule, subject, f.period or "", f.fingerprint)


def diff(
    old: Report | Mapping[str, Any],
    new: Report | Mapping[str, Any],
    *,
    common_scope: bool = False,
) -> Diff:
    """Compare two reports (objects, or JSON reports already read with :func:`load_report`)
    on what both looked at.

    ``common_scope``: compare reports of different periods or settings on the period both
    cover and the rules the differing settings do not affect, rather than refuse them.

    Raises:
        InputError: a mapping that does not hold a report's findings.
        NotComparable: reports of other kinds (a reconcile report and a preflight result,
            preflights of two shipments), with no rule or period in common, or of other
            periods or settings without ``common_scope``.
    """
    was = side(old, "old", _findings(old, "old report"))
    now = side(new, "new", _findings(new, "new report"))
    scope = plan(was, now, common=common_scope)
    outside: list[OutOfScope] = []
    unjudged: dict[str, int] = {}  # per report: findings left out as not judged by the other

    def kept(s: Side) -> list[Finding]:
        inside = []
        for f in s.findings:
            reason = scope.outside(f, s)
            if reason is None:
                inside.append(f)
            else:
                outside.append(OutOfScope(s.name, reason, f))
        return inside

    def judged(found: list[Finding], s: Side) -> list[Finding]:
        claimed = []
        for f in found:
            reason = scope.unjudged(f, s)
            if reason is None:
                claimed.append(f)
            else:
                outside.append(OutOfScope(s.name, reason, f))
                unjudged[s.name] = unjudged.get(s.name, 0) + 1
        return claimed

    olds = _by_fingerprint(kept(was))
    news = _by_fingerprint(kept(now))
    added: list[Finding] = []
    resolved: list[Finding] = []
    changed: list[Change] = []
    unchanged: list[Finding] = []
    for fp, group in news.items():
        pairs, gone, extra = _pair(olds.pop(fp, []), group)
        added += extra
        resolved += gone
        for a, b in pairs:
            if a.severity != b.severity or any(getattr(a, q) != getattr(b, q) for q in QUANTITIES):
                changed.append(Change(a, b))
            else:
                unchanged.append(b)
    for group in olds.values():
        resolved += group
    resolved, added = judged(resolved, was), judged(added, now)
    return Diff(
        new=tuple(sorted(added, key=order)),
        resolved=tuple(sorted(resolved, key=order)),
        changed=tuple(sorted(changed, key=lambda c: order(c.new))),
        unchanged=tuple(sorted(unchanged, key=order)),
        old_generated_at=_generated_at(old),
        new_generated_at=_generated_at(new),
        scope=scope.scope(unjudged, left_out=bool(outside)),
        out_of_scope=tuple(sorted(outside, key=lambda o: (*order(o.finding), o.report))),
    )


def _by_fingerprint(findings: Iterable[Finding]) -> dict[str, list[Finding]]:
    groups: dict[str, list[Finding]] = {}
    for f in findings:
        groups.setdefault(f.fingerprint, []).append(f)
    return groups


def _pair(
    old: Sequence[Finding], new: Sequence[Finding]
) -> tuple[list[tuple[Finding, Finding]], list[Finding], list[Finding]]:
    """Match findings sharing one fingerprint: one each is the usual case.

    A rule that reports one subject in several periods gives several findings with one
    fingerprint; those pair by period first, then in order.
    """
    if len(old) == 1 and len(new) == 1:
        return [(old[0], new[0])], [], []
    rest_old = sorted(old, key=order)
    rest_new = sorted(new, key=order)
    pairs: list[tuple[Finding, Finding]] = []
    for b in list(rest_new):
        a = next((a for a in rest_old if a.period == b.period), None)
        if a is not None:
            pairs.append((a, b))
            rest_old.remove(a)
            rest_new.remove(b)
    while rest_old and rest_new:
        pairs.append((rest_old.pop(0), rest_new.pop(0)))
    return pairs, rest_old, rest_new


def fails(result: Diff, threshold: Severity, *, caveated: bool = True) -> bool:
    """Whether a new or changed finding is at ``threshold`` or more severe (``--fail-on``).

    A changed finding is judged on its new severity; resolved and unchanged ones never fail.
    A finding of the new report that is out of scope counts as a new one: the old report
    did not look for it, so nothing says it is a known problem. ``caveated=False`` leaves
    out the findings that carry caveats.
    """
    unseen = (o.finding for o in result.out_of_scope if o.report == "new")
    current = (*result.new, *(c.new for c in result.changed), *unseen)
    return any(f.severity.at_least(threshold) for f in current if caveated or not f.caveats)


def _generated_at(report: Report | Mapping[str, Any]) -> str | None:
    if isinstance(report, Report):
        return report.generated_at
    value = report.get("generated_at")
    return value if isinstance(value, str) else None


def _findings(report: Report | Mapping[str, Any], name: str) -> tuple[Finding, ...]:
    if isinstance(report, Report):
        return report.findings
    items = report.get("findings")
    if not isinstance(items, list):
        raise InputError(f"{name}: has no list of findings")
    return tuple(finding_from_dict(item, f"{name}: findings[{i}]") for i, item in enumerate(items))


def finding_from_dict(data: Mapping[str, Any], where: str = "finding") -> Finding:
    """A :class:`Finding` from its JSON form.

    Raises:
        InputError: a missing field or an unknown severity.
    """
    try:
        return Finding(
            fingerprint=str(data["fingerprint"]),
            rule=str(data["rule"]),
            severity=Severity(data["severity"]),
            period=data.get("period"),
            subject={str(k): str(v) for k, v in dict(data.get("subject") or {}).items()},
            expected=data.get("expected"),
            observed=data.get("observed"),
            difference=data.get("difference"),
            unit=data.get("unit"),
            message=str(data.get("message") or ""),
            detail=data.get("detail"),
            evidence=tuple(Evidence.from_dict(e) for e in data.get("evidence") or ()),
            caveats=tuple(
                Caveat(str(c["source"]), str(c["code"]), str(c["reason"]))
                for c in data.get("caveats") or ()
            ),
            records_left_out=int(data.get("records_left_out") or 0),
        )
    except KeyError as exc:
        raise InputError(f"{where}: missing {exc.args[0]!r}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"{where}: {_one_line(str(exc))}") from None


def report_from_dict(data: Mapping[str, Any]) -> Report:
    """A :class:`Report` from a JSON report (validate it first with :func:`load_report`)."""
    tool = data.get("tool") or {}
    return Report(
        tool_version=str(tool.get("version", "")),
        tool_name=str(tool.get("name", "tracecheck")),
        generated_at=str(data.get("generated_at", "")),
        inputs=tuple(
            InputFile(i["path"], i["sha256"], i["kind"], i["records"], i["rejected"])
            for i in data.get("inputs") or ()
        ),
        parameters=dict(data.get("parameters") or {}),
        rules_run=tuple(_rule_run(r) for r in data.get("rules_run") or ()),
        findings=_findings(data, "report"),
        rejected_records=int((data.get("summary") or {}).get("rejected_records") or 0),
        scope=Report.scope_from_dict(data),
        config=dict(data["config"]) if isinstance(data.get("config"), Mapping) else None,
    )


def _rule_run(data: Mapping[str, Any]) -> RuleRun:
    return RuleRun(
        data["rule"],
        data["status"],
        data.get("findings"),
        not_judged=tuple(
            NotJudged(str(n["reason"]), tuple(str(s) for s in n["subjects"]), int(n["count"]))
            for n in data.get("not_judged") or ()
        ),
        absent=tuple(str(a) for a in data.get("absent") or ()),
    )


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MAX_MESSAGE else line[: _MAX_MESSAGE - 1] + "…"


def load_report(path: str | Path) -> dict[str, Any]:
    """Read a JSON report and check it against ``schemas/report.schema.json``.

    Raises:
        UnreadableFile: the file is missing or unreadable.
        InputError: the file is not JSON, or not a report: the message names the file, what
            is wrong and where (a JSON path such as ``$.findings[0].severity``).
    """
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UnreadableFile(f"{where}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise UnreadableFile(f"{where}: cannot read report ({reason})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{where}: not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise InputError(f"{where}: not a report: JSON nested too deep to read") from None
    if isinstance(data, dict) and "findings" not in data and {"new", "resolved"} <= set(data):
        raise InputError(
            f"{where}: a diff of two reports, not a report",
            hint="diff compares reports written by 'reconcile --format json'",
        )
    validator = Draft202012Validator(load_schema("report"), format_checker=FormatChecker())
    error = best_match(validator.iter_errors(data))
    if error is not None:
        raise InputError(
            f"{where}: not a tracecheck report: {_one_line(error.message)} at {error.json_path}"
        )
    report: dict[str, Any] = data
    return report
