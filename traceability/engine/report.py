"""What a run of the rules needs and makes, whatever engine runs them.

The settings and the rules chosen, the values the rules' parameters are bound to, the SQL
both engines run for the default as-of date, the files loaded and the records in scope,
and the report built from the rules' runs and findings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from traceability.caveats import Reject, attach
from traceability.config import Config
from traceability.engine.findings import decimal_text, sort_key
from traceability.model import Finding, InputFile, Report, RuleRun
from traceability.rules import Rule, UnknownRule, all_rules, select
from traceability.rules.settings import load_config
from traceability.sql import date_literal, literal
from traceability.version import __version__

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
            labels = ", ".join(literal(label) for label in _period_labels(span))
            where = f" WHERE period IN ({labels})"
        elif span is not None:
            start, end = (date_literal(d) for d in span)
            where = f" WHERE {RECORD_TABLES[table]} BETWEEN {start} AND {end}"
        parts.append(
            f"SELECT {literal(table)} AS record_table, count(*) AS records FROM {table}{where}"
        )
    return " UNION ALL ".join(parts) if parts else None


def scope_from_rows(rows: Iterable[Sequence[Any]]) -> dict[str, int]:
    """The records in scope per table, from the rows of :func:`scope_sql`."""
    return {str(table): int(n) for table, n in sorted(rows, key=lambda r: str(r[0]))}


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


def input_files(rows: Iterable[Sequence[Any]]) -> tuple[InputFile, ...]:
    """The report's inputs from the rows of ``INPUTS_SQL`` (the load id last, if there)."""
    return tuple(
        InputFile(str(p), str(h), str(k), int(n), int(r), int(rest[0]) if rest else None)
        for p, h, k, n, r, *rest in rows
    )


def longest_first(rules: Iterable[Rule]) -> list[Rule]:
    """The order to start rules in when several run at once.

    The rules that read events take longest, the longer files among them the longest of
    all: a rough measure, but starting them first keeps every worker busy to the end.
    """
    return sorted(rules, key=lambda r: ("events" not in r.needs, -len(r.sql)))


def settings_from(config: Config | str | Path | None) -> Config:
    """The settings: built in (None), given, or read from a TOML file."""
    if config is None:
        return Config()
    if isinstance(config, Config):
        return config
    return load_config(config)


def selected_rules(names: Sequence[str] | None, config: Config) -> tuple[Rule, ...]:
    """The rules to run: those named (else the config's, else all) less those it skips."""
    chosen = select(list(names) if names else list(config.run) or None)
    select(list(config.skip))  # unknown names in skip are errors too
    unknown = sorted(set(config.severity) - {r.id for r in all_rules()})
    if unknown:
        raise UnknownRule(f"config severity names unknown rule {unknown[0]!r}")
    skip = set(config.skip)
    return tuple(r for r in chosen if r.id not in skip and r.group not in skip)


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
    ``scope``: the records in scope per table (:meth:`~traceability.engine.Engine.scope`).
    """
    runs: list[RuleRun] = []
    findings: list[Finding] = []
    for run, found in results:
        runs.append(run)
        findings.extend(found)
    findings, rejected = attach(findings, rejects)
    findings.sort(key=sort_key)

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
