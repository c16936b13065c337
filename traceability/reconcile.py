"""Run the rules against a store and turn their rows into a report.

The runner creates the shared base views, skips a rule whose ``needs`` tables are empty
(status ``no-data``, naming the tables that are), binds exactly the parameters a rule's SQL
uses, and turns each row into a :class:`~traceability.model.Finding`: exact decimal
strings, a message, a stable fingerprint (rule + subject) and a deterministic order. A
rule's coverage query, where it has one, says what the rule could not judge and why
(``not_judged``). Last, the findings whose subject a rejected input record names get
caveats (:mod:`traceability.caveats`), and the records in scope are counted (the report's
``scope``): a report that judged no record, of an empty store or an empty ``--period``,
says so, and ``Report.fails`` does not pass it.
"""

from __future__ import annotations

import hashlib
import json
import queue
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from traceability.caveats import REJECTS_SQL, Reject, attach, read_rejects
from traceability.config import Config
from traceability.errors import InputError, TracecheckError
from traceability.model import (
    MAX_SUBJECTS,
    SUBJECT_KEYS,
    Evidence,
    Finding,
    InputFile,
    NotJudged,
    Report,
    RuleRun,
    Severity,
)
from traceability.records import add_records, duckdb_query
from traceability.rules import (
    Rule,
    UnknownRule,
    all_rules,
    run_base,
    select,
    shared_cursor,
    sql_parameters,
)
from traceability.rules.settings import load_config

OUTPUT_COLUMNS = ("period", "expected", "observed", "difference", "unit", "detail", "evidence")
UNIT_WORDS = {"H87": "units", "KGM": "kg", "LTR": "L", "DAY": "days"}
_PERIOD = re.compile(r"^(\d{4})(?:-Q([1-4]))?$")


DEFAULT_WORKERS = 2

#: ``progress(done, total)``: rules done so far, of the rules to run.
RulesProgress = Callable[[int, int], None]
_Ran = tuple[RuleRun, list[Finding]]


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


def _has_rows(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    try:
        row = con.execute(f'SELECT 1 FROM "{table}" LIMIT 1').fetchone()
    except duckdb.CatalogException:
        raise RuleFailed(f"needs names an unknown table {table!r}") from None
    return row is not None


#: The latest date in the loaded data (the default as-of date), in SQL both engines run.
LATEST_DATE_SQL = """
    SELECT max(d) FROM (
        SELECT max(declared_date) AS d FROM consignments
        UNION ALL SELECT max(manufacture_date) FROM batches
        UNION ALL SELECT max(local_date) FROM events
    ) AS latest
"""
#: The files loaded, for the report's ``inputs``, in SQL both engines run.
INPUTS_SQL = "SELECT path, sha256, kind, records, rejected, load_id FROM loads ORDER BY load_id"

#: The tables of records the rules judge, each with the column that dates a record for
#: ``--period`` (a filing carries its quarter or year). The other inputs (products,
#: authorisations, estimates) are what records are judged against, not records to judge.
RECORD_TABLES = {
    "batches": "manufacture_date",
    "consignments": "declared_date",
    "events": "local_date",
    "filings": "period",
}


def _period_labels(span: tuple[date, date]) -> list[str]:
    """The filing periods that overlap ``span``: its year and the quarters it covers.

    >>> _period_labels((date(2026, 1, 1), date(2026, 3, 31)))
    ['2026', '2026-Q1']
    """
    first, last = (span[0].month - 1) // 3 + 1, (span[1].month - 1) // 3 + 1
    return [str(span[0].year), *(f"{span[0].year}-Q{q}" for q in range(first, last + 1))]


def scope_sql(rules: Iterable[Rule], span: tuple[date, date] | None) -> str | None:
    """SQL, in a form both engines run, counting the records in scope that ``rules`` read.

    One row per table of records (:data:`RECORD_TABLES`) one of the rules needs: the
    table's name (``record_table``) and how many records it holds (``records``); with
    ``span``, only those dated in it. None when the rules read no table of records.
    """
    tables = sorted({t for r in rules for t in r.needs if t in RECORD_TABLES})
    parts = []
    for table in tables:
        where = ""
        if span is not None and table == "filings":
            labels = ", ".join(f"'{label}'" for label in _period_labels(span))
            where = f" WHERE period IN ({labels})"
        elif span is not None:
            start, end = (f"DATE '{d.isoformat()}'" for d in span)
            where = f" WHERE {RECORD_TABLES[table]} BETWEEN {start} AND {end}"
        parts.append(f"SELECT '{table}' AS record_table, count(*) AS records FROM {table}{where}")
    return " UNION ALL ".join(parts) if parts else None


def scope_from_rows(rows: Iterable[Sequence[Any]]) -> dict[str, int]:
    """The records in scope per table, from the rows of :func:`scope_sql`."""
    return {str(table): int(n) for table, n in sorted(rows, key=lambda r: str(r[0]))}


def count_scope(
    con: duckdb.DuckDBPyConnection, rules: Iterable[Rule], span: tuple[date, date] | None
) -> dict[str, int]:
    """How many records ``rules`` had to judge, per table of records they read."""
    sql = scope_sql(rules, span)
    return {} if sql is None else scope_from_rows(con.execute(sql).fetchall())


def empty_scope_message(report: Report) -> str | None:
    """What a report that judged no record says about it; None when it judged some.

    >>> from traceability.model import Report
    >>> scope = {"consignments": 0, "events": 0}
    >>> empty_scope_message(Report("0", "", (), {"period": "2025-Q1"}, (), (), scope=scope))
    'no records in scope: no consignments or events dated in 2025-Q1; nothing was judged'
    """
    if not report.empty_scope:
        return None
    names = list(report.scope or ())
    tables = " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
    period = report.parameters.get("period")
    if not tables:
        where = "no rule that reads records was run"
    elif period:
        where = f"no {tables} dated in {period}"
    else:
        where = f"the store holds no {tables}"
    return f"no records in scope: {where}; nothing was judged"


def latest_date(con: duckdb.DuckDBPyConnection) -> date | None:
    """The latest date in the loaded data: declarations, manufacture and event local dates."""
    row = con.execute(LATEST_DATE_SQL).fetchone()
    return row[0] if row and row[0] is not None else None


def input_files(rows: Iterable[Sequence[Any]]) -> tuple[InputFile, ...]:
    """The report's inputs from the rows of ``INPUTS_SQL`` (the load id last, if there)."""
    return tuple(
        InputFile(str(p), str(h), str(k), int(n), int(r), int(rest[0]) if rest else None)
        for p, h, k, n, r, *rest in rows
    )


def _inputs(con: duckdb.DuckDBPyConnection) -> tuple[InputFile, ...]:
    return input_files(con.execute(INPUTS_SQL).fetchall())


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


def longest_first(rules: Iterable[Rule]) -> list[Rule]:
    """The order to start rules in when several run at once.

    The rules that read events take longest, the longer files among them the longest of
    all: a rough measure, but starting them first keeps every worker busy to the end.
    """
    return sorted(rules, key=lambda r: ("events" not in r.needs, -len(r.sql)))


def run_rule(
    con: duckdb.DuckDBPyConnection,
    rule: Rule,
    params: Mapping[str, Any],
    *,
    severity: Severity,
    period: tuple[date, date] | None,
) -> list[Finding]:
    """Run one rule (base views already created) and return its findings."""
    try:
        cursor = con.execute(rule.sql, bound_parameters(rule, params))
        names = [d[0] for d in cursor.description or ()]
        rows = cursor.fetchall()
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0]
        raise RuleFailed(f"rule {rule.id} failed: {first}") from None
    return findings_from_rows(rule, names, rows, severity=severity, period=period)


def run_coverage(
    con: duckdb.DuckDBPyConnection,
    rule: Rule,
    params: Mapping[str, Any],
    *,
    period: tuple[date, date] | None,
) -> tuple[NotJudged, ...]:
    """Run a rule's coverage query (none: nothing to say) and return what it could not judge."""
    if rule.coverage is None:
        return ()
    try:
        cursor = con.execute(rule.coverage, bound_parameters(rule, params, rule.coverage))
        names = [d[0] for d in cursor.description or ()]
        rows = cursor.fetchall()
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0]
        raise RuleFailed(f"rule {rule.id}: its coverage query failed: {first}") from None
    return coverage_from_rows(rule, names, rows, period=period)


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


def settings_from(config: Config | str | Path | None) -> Config:
    """The settings: built in (None), given, or read from a TOML file."""
    if config is None:
        return Config()
    if isinstance(config, Config):
        return config
    return load_config(config)


def selected_rules(names: Sequence[str] | None, config: Config) -> tuple[Rule, ...]:
    chosen = select(list(names) if names else list(config.run) or None)
    select(list(config.skip))  # unknown names in skip are errors too
    unknown = sorted(set(config.severity) - {r.id for r in all_rules()})
    if unknown:
        raise UnknownRule(f"config severity names unknown rule {unknown[0]!r}")
    skip = set(config.skip)
    return tuple(r for r in chosen if r.id not in skip and r.group not in skip)


def reconcile(
    db: str | Path | duckdb.DuckDBPyConnection,
    *,
    period: str | None = None,
    rules: Sequence[str] | None = None,
    config: Config | str | Path | None = None,
    as_of: date | str | None = None,
    workers: int | None = None,
    progress: RulesProgress | None = None,
) -> Report:
    """Run the rules over a store and return the report.

    Args:
        db: a database path (opened read-only) or an open DuckDB connection.
        period: ``2026-Q1`` or ``2026``: report only findings of that period (matching
            still uses all data).
        rules: rule ids or group names to run (default: the config's, else all).
        config: settings, or a TOML file of them (default: the built-in settings).
        as_of: the date time windows are judged on (default: the latest date in the data).
        workers: how many rules run at once, each on a cursor of its own (default: 2 when
            ``db`` is a path; 1 for a connection, whose temporary tables a cursor would not
            see). With more than one, the base views go to an attached in-memory catalog.
        progress: called as ``progress(done, total)`` as each rule ends (from the thread
            that ran it, one call at a time), with the rules done so far and the total.

    Raises:
        InputError: a bad period, date, config or rule name.
        RuleFailed: a rule's SQL failed.
    """
    settings = settings_from(config)
    span = parse_period(period) if period else None
    chosen = selected_rules(rules, settings)
    as_of_date = parse_date(as_of) if as_of is not None else None
    if workers is not None and workers < 1:
        raise InputError(f"workers must be at least 1, not {workers}")
    if isinstance(db, duckdb.DuckDBPyConnection):
        return _run(db, chosen, settings, period, span, as_of_date, workers or 1, progress)
    from traceability.store import connect

    con = connect(db, read_only=True)
    try:
        workers = workers or DEFAULT_WORKERS
        return _run(con, chosen, settings, period, span, as_of_date, workers, progress)
    finally:
        con.close()


def _run_one(
    con: duckdb.DuckDBPyConnection,
    rule: Rule,
    settings: Config,
    params: Mapping[str, Any],
    span: tuple[date, date] | None,
) -> tuple[RuleRun, list[Finding]]:
    absent = tuple(t for t in rule.needs if not _has_rows(con, t))
    if absent:
        return RuleRun(rule.id, "no-data", absent=absent), []
    level = settings.severity.get(rule.id, rule.severity)
    found = run_rule(con, rule, params, severity=level, period=span)
    gaps = run_coverage(con, rule, params, period=span)
    return RuleRun(rule.id, "ran", len(found), not_judged=gaps), found


def _run_rules(
    con: duckdb.DuckDBPyConnection,
    chosen: tuple[Rule, ...],
    settings: Config,
    params: Mapping[str, Any],
    span: tuple[date, date] | None,
    workers: int,
    progress: RulesProgress | None = None,
) -> list[tuple[RuleRun, list[Finding]]]:
    """Each rule's run and findings, in the order given; ``workers`` rules at a time."""
    counted = _Counter(len(chosen), progress)
    if workers <= 1 or len(chosen) <= 1:
        return [counted(_run_one(con, rule, settings, params, span)) for rule in chosen]
    cursors = [shared_cursor(con) for _ in range(min(workers, len(chosen)))]
    free: queue.SimpleQueue[duckdb.DuckDBPyConnection] = queue.SimpleQueue()
    for cursor in cursors:
        free.put(cursor)

    def task(rule: Rule) -> tuple[RuleRun, list[Finding]]:
        cursor = free.get()
        try:
            return counted(_run_one(cursor, rule, settings, params, span))
        finally:
            free.put(cursor)

    order = longest_first(chosen)
    try:
        with ThreadPoolExecutor(len(cursors), thread_name_prefix="rule") as pool:
            done = dict(zip((r.id for r in order), pool.map(task, order), strict=True))
    except BaseException:
        for cursor in cursors:
            cursor.interrupt()
        raise
    finally:
        for cursor in cursors:
            cursor.close()
    return [done[r.id] for r in chosen]


class _Counter:
    """Counts the rules done and tells ``progress``, one call at a time."""

    def __init__(self, total: int, progress: RulesProgress | None) -> None:
        self.total, self.progress, self.done = total, progress, 0
        self.lock = threading.Lock()

    def __call__(self, ran: _Ran) -> _Ran:
        if self.progress is not None:
            with self.lock:
                self.done += 1
                self.progress(self.done, self.total)
        return ran


def rule_parameters(
    settings: Config, span: tuple[date, date] | None, as_of: date | None
) -> dict[str, Any]:
    """The values a rule's ``$name`` parameters are bound to."""
    return {
        **settings.parameters(),
        "as_of": as_of,
        "period_start": span[0] if span else None,
        "period_end": span[1] if span else None,
    }


def build_report(
    results: Iterable[tuple[RuleRun, list[Finding]]],
    settings: Config,
    period: str | None,
    as_of: date | None,
    inputs: tuple[InputFile, ...],
    rejects: Iterable[Reject] = (),
    scope: Mapping[str, int] | None = None,
) -> Report:
    """The report of the rules' runs and findings (whatever engine ran them).

    ``rejects``: the records the load rejected; the findings they name get caveats.
    ``scope``: the records in scope per table (:func:`count_scope`).
    """
    runs: list[RuleRun] = []
    findings: list[Finding] = []
    for run, found in results:
        runs.append(run)
        findings.extend(found)
    findings, rejected = attach(findings, rejects)
    findings.sort(key=sort_key)
    from traceability import __version__

    parameters: dict[str, Any] = {
        "period": period,
        "as_of": as_of.isoformat() if as_of else None,
        "tolerances": {k: decimal_text(v) for k, v in settings.tolerances.items()},
        "window_days": settings.window_days,
    }
    if settings.severity:
        parameters["severity"] = {k: v.value for k, v in sorted(settings.severity.items())}
    if settings.collected_countries is not None:
        parameters["collected_countries"] = list(settings.collected_countries)
    return Report(
        tool_version=__version__,
        generated_at=datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        inputs=inputs,
        parameters=parameters,
        rules_run=tuple(runs),
        findings=tuple(findings),
        rejected_records=rejected,
        scope=None if scope is None else dict(scope),
        config=settings.report_entry(),
    )


def _run(
    con: duckdb.DuckDBPyConnection,
    chosen: Iterable[Rule],
    settings: Config,
    period: str | None,
    span: tuple[date, date] | None,
    as_of: date | None,
    workers: int,
    progress: RulesProgress | None = None,
) -> Report:
    run_base(con, shared=workers > 1)
    when = as_of or latest_date(con)
    params = rule_parameters(settings, span, when)
    rules = tuple(chosen)
    results = _run_rules(con, rules, settings, params, span, workers, progress)
    scope = count_scope(con, rules, span)
    report = build_report(results, settings, period, when, _inputs(con), _rejects(con), scope)
    return add_records(report, duckdb_query(con))


def _rejects(con: duckdb.DuckDBPyConnection, batch: int = 10_000) -> Iterator[Reject]:
    """The rejected records of the store, read a batch at a time."""
    cursor = con.execute(REJECTS_SQL)
    while rows := cursor.fetchmany(batch):
        yield from read_rejects(rows)
