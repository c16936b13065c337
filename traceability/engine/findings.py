"""A rule's output rows as findings, whatever engine ran the rule.

The rows go through here on every engine, so findings, fingerprints and messages are the
same for the same data: exact decimal strings, a message made from the facts (no rule
writes prose), a stable fingerprint (rule + subject), a deterministic order. A rule's
coverage rows (what it could not judge, and why) are grouped here too.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from traceability.errors import InputError, TracecheckError
from traceability.model import MAX_SUBJECTS, SUBJECT_KEYS, Evidence, Finding, NotJudged, Severity
from traceability.rules import Rule, sql_parameters

OUTPUT_COLUMNS = ("period", "expected", "observed", "difference", "unit", "detail", "evidence")
UNIT_WORDS = {"H87": "units", "KGM": "kg", "LTR": "L", "DAY": "days"}
_PERIOD = re.compile(r"^(\d{4})(?:-Q([1-4]))?$")


class RuleFailed(TracecheckError):
    """A rule's SQL failed to run or broke the output contract."""


def parse_period(text: str) -> tuple[date, date]:
    """First and last day of a quarter (``2026-Q1``) or a year (``2026``).

    >>> parse_period("2026-Q1")
    (datetime.date(2026, 1, 1), datetime.date(2026, 3, 31))
    >>> parse_period("2026")
    (datetime.date(2026, 1, 1), datetime.date(2026, 12, 31))
    """
    m = _PERIOD.match(text.strip())
    if not m:
        raise InputError(f"period {text!r} is not a quarter or a year", hint="e.g. 2026-Q1")
    year = int(m.group(1))
    if m.group(2) is None:
        return date(year, 1, 1), date(year, 12, 31)
    q = int(m.group(2))
    start = date(year, 3 * q - 2, 1)
    end = date(year + 1, 1, 1) if q == 4 else date(year, 3 * q + 1, 1)
    return start, end - timedelta(days=1)


def parse_date(value: date | str) -> date:
    """An ISO date (``--as-of``)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InputError(f"date {value!r} is not an ISO date", hint="e.g. 2026-03-31") from None


def decimal_text(value: Any) -> str | None:
    """An exact decimal as text without exponent or trailing-zero noise.

    >>> [decimal_text(Decimal(x)) for x in ("400.000000", "0.500", "-0.0", "1E+3")]
    ['400', '0.5', '0', '1000']
    """
    if value is None:
        return None
    if isinstance(value, float):
        value = Decimal(repr(value))
    elif not isinstance(value, Decimal):
        value = Decimal(str(value))
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def fingerprint(rule: str, subject: Mapping[str, str]) -> str:
    """``rule:`` + the first 16 hex digits of the SHA-256 of the canonical subject JSON.

    >>> fingerprint("over-export", {"lot": "L1", "gtin": "1"}) == fingerprint(
    ...     "over-export", {"gtin": "1", "lot": "L1"})
    True
    """
    canonical = json.dumps(dict(subject), sort_keys=True, separators=(",", ":"))
    return f"{rule}:{hashlib.sha256(canonical.encode('utf-8')).hexdigest()[:16]}"


def _subject_text(subject: Mapping[str, str]) -> str:
    if not subject:
        return "(no subject)"
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in subject.items())


def _quantity(value: str | None, unit: str | None) -> str:
    if value is None:
        return "—"
    word = UNIT_WORDS.get(unit or "", unit or "")
    return f"{value} {word}".strip()


def message(
    rule: Rule,
    subject: Mapping[str, str],
    expected: str | None,
    observed: str | None,
    difference: str | None,
    unit: str | None,
    detail: str | None,
) -> str:
    """A one-sentence description of a finding, from its facts (no rule writes prose)."""
    parts = [f"{_subject_text(subject)}:"]
    if expected is not None or observed is not None:
        parts.append(f"observed {_quantity(observed, unit)}, expected {_quantity(expected, unit)}")
        if difference is not None:
            sign = "" if difference.startswith("-") else "+"
            parts[-1] += f" ({sign}{_quantity(difference, unit)})"
    else:
        parts.append(rule.checks.rstrip(".").split(". ")[0].lower())
    text = " ".join(parts)
    if detail:
        text += f"; {detail}"
    return text + "."


def _period_range(period: str) -> tuple[date, date] | None:
    try:
        return parse_period(period)
    except InputError:
        return None


def _overlaps(row_period: str | None, wanted: tuple[date, date] | None) -> bool:
    if wanted is None or row_period is None:
        return True
    span = _period_range(row_period)
    if span is None:
        return True
    return span[0] <= wanted[1] and wanted[0] <= span[1]


def _evidence(value: Any) -> set[Evidence]:
    """A rule's evidence list as distinct items (make_finding puts them in order)."""
    if not value:
        return set()
    return {
        Evidence(str(e["kind"]), str(e["key"]), None if e["source"] is None else str(e["source"]))
        for e in value
        if e is not None
    }


def evidence_order(items: Iterable[Evidence]) -> tuple[Evidence, ...]:
    """Evidence in the report's order: by kind, key, then source."""
    return tuple(sorted(items, key=lambda e: (e.kind, e.key, e.source or "")))


def make_finding(
    rule: Rule,
    severity: Severity,
    period: str | None,
    subject: dict[str, str],
    measures: tuple[str | None, str | None, str | None, str | None],
    detail: str | None,
    evidence: Iterable[Evidence],
) -> Finding:
    """A finding of ``rule`` about ``subject``: its fingerprint and message made here.

    ``measures`` is (expected, observed, difference, unit), exact decimal strings or None.
    """
    expected, observed, difference, unit = measures
    return Finding(
        fingerprint=fingerprint(rule.id, subject),
        rule=rule.id,
        severity=severity,
        period=period,
        subject=subject,
        expected=expected,
        observed=observed,
        difference=difference,
        unit=unit,
        message=message(rule, subject, expected, observed, difference, unit, detail),
        detail=detail,
        evidence=evidence_order(evidence),
    )


def bound_parameters(
    rule: Rule, params: Mapping[str, Any], sql: str | None = None
) -> dict[str, Any]:
    """Exactly the parameters ``rule`` (or its query ``sql``) uses, with their values.

    Raises:
        RuleFailed: the rule uses a parameter there is no value for.
    """
    used = rule.parameters if sql is None else sql_parameters(sql)
    missing = [p for p in used if p not in params]
    if missing:
        raise RuleFailed(f"rule {rule.id}: unknown parameter ${missing[0]}")
    return {p: params[p] for p in used}


def coverage_from_rows(
    rule: Rule,
    names: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    period: tuple[date, date] | None,
) -> tuple[NotJudged, ...]:
    """What a rule could not judge, from its coverage query's rows (whatever engine ran it).

    Rows are grouped by ``reason``; each reason lists its distinct subjects, sorted (at most
    :data:`~traceability.model.MAX_SUBJECTS`, ``count`` giving them all). A row whose
    ``period`` does not overlap ``--period`` is left out.
    """
    if "reason" not in names:
        raise RuleFailed(f"rule {rule.id}: its coverage query returns no reason column")
    subjects: dict[str, set[str]] = {}
    for values in rows:
        row = dict(zip(names, values, strict=True))
        if not row["reason"] or not _overlaps(row.get("period"), period):
            continue
        found = subjects.setdefault(str(row["reason"]), set())
        if row.get("subject") not in (None, ""):
            found.add(str(row["subject"]))
    return tuple(
        NotJudged(reason, tuple(sorted(found)[:MAX_SUBJECTS]), len(found))
        for reason, found in sorted(subjects.items())
    )


def findings_from_rows(
    rule: Rule,
    names: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    severity: Severity,
    period: tuple[date, date] | None,
) -> list[Finding]:
    """The findings of a rule's output rows (whatever engine ran it).

    A row is a sequence of values in the order of ``names``; an evidence item is anything
    indexable by ``kind``, ``key`` and ``source`` (a DuckDB struct or a Spark Row).
    """
    absent = [
        c for c in ("expected", "observed", "difference", "unit", "evidence") if c not in names
    ]
    if absent:
        raise RuleFailed(f"rule {rule.id}: output lacks column(s) {', '.join(absent)}")
    subject_cols = [k for k in SUBJECT_KEYS if k in names]
    findings = []
    for values in rows:
        row = dict(zip(names, values, strict=True))
        if not _overlaps(row.get("period"), period):
            continue
        subject = {k: str(row[k]) for k in subject_cols if row[k] is not None and row[k] != ""}
        expected = decimal_text(row["expected"])
        observed = decimal_text(row["observed"])
        difference = decimal_text(row["difference"])
        unit = row["unit"]
        detail = row.get("detail")
        level = severity
        if row.get("severity"):
            try:
                level = Severity(str(row["severity"]))
            except ValueError:
                raise RuleFailed(
                    f"rule {rule.id}: unknown severity {row['severity']!r} in its output"
                ) from None
        measures = (expected, observed, difference, unit)
        evidence = _evidence(row["evidence"])
        findings.append(
            make_finding(rule, level, row.get("period"), subject, measures, detail, evidence)
        )
    return findings


def sort_key(f: Finding) -> tuple[Any, ...]:
    """Severity (most severe first), rule, subject; then the rest for a total order."""
    return (
        f.severity.rank,
        f.rule,
        json.dumps(dict(f.subject), sort_keys=True),
        f.period or "",
        f.difference or "",
        f.fingerprint,
    )
