"""The engine interface: where the rules run, and the steps every engine shares.

An :class:`Engine` is a place the rule files run: a DuckDB store
(:class:`traceability.reconcile.DuckDBEngine`) or an export on Apache Spark
(:class:`traceability.spark.SparkEngine`). It knows how to open and close its data, build
the base views, say whether a table holds rows, run a rule's query (or its coverage query)
and any other query both engines understand; told the run's rules and period before it
opens (:meth:`Engine.plan`), it may read less of its data. Everything else is written
once, here, and is the same on every engine:

- a rule whose ``needs`` tables are empty is not run (status ``no-data``, naming them);
- the parameters a rule uses are bound, the config's severity override applied, and its
  rows turned into findings (:mod:`traceability.engine.findings`);
- ``workers`` rules run at once, the longest first, each on a worker of its own;
- the default as-of date, the files loaded, the records in scope and the rejected records
  are read with the same SQL;
- the report is built from the runs, with caveats and the evidence records
  (:mod:`traceability.engine.report`).
"""

from __future__ import annotations

import queue
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from traceability.caveats import REJECTS_SQL, Reject, read_rejects
from traceability.config import Config
from traceability.engine.findings import (
    bound_parameters,
    coverage_from_rows,
    findings_from_rows,
    parse_date,
    parse_period,
)
from traceability.engine.report import (
    INPUTS_SQL,
    LATEST_DATE_SQL,
    build_report,
    input_files,
    longest_first,
    rule_parameters,
    scope_from_rows,
    scope_sql,
    selected_rules,
    settings_from,
)
from traceability.model import Finding, InputFile, NotJudged, Report, RuleRun
from traceability.records import Query, add_records
from traceability.rules import Rule

#: ``progress(done, total)``: rules done so far, of the rules to run.
RulesProgress = Callable[[int, int], None]
#: A query's column names and its rows (each a sequence of values in that order).
Rows = tuple[Sequence[str], Sequence[Sequence[Any]]]
Ran = tuple[RuleRun, list[Finding]]


class Engine(ABC):
    """Where the rules run. Use it as a context manager: opened on entry, closed on exit.

    ``workers`` is how many rules run at once, each on a :meth:`worker` of its own.
    """

    workers: int = 1

    def check(self, rules: Sequence[Rule]) -> None:  # noqa: B027 - nothing to check by default
        """Refuse, before anything is opened, rules this engine cannot run."""

    def plan(  # noqa: B027 - an engine may read all its data whatever the run
        self,
        rules: Sequence[Rule],
        span: tuple[date, date] | None,
        parameters: Mapping[str, Any],
    ) -> None:
        """Before it opens: the rules the run runs, the period it reports (or None) and the
        rules' settings. An engine may then read only what their findings depend on."""

    @abstractmethod
    def open(self) -> None:
        """Open the data (a store, a session over an export)."""

    @abstractmethod
    def close(self) -> None:
        """Release what :meth:`open` took; called after a failed open too."""

    @abstractmethod
    def build_base(self) -> None:
        """Create the base views and tables of ``rules/_base.sql``."""

    @abstractmethod
    def has_rows(self, table: str) -> bool:
        """Whether ``table`` holds a row.

        Raises:
            RuleFailed: there is no such table.
        """

    @abstractmethod
    def rule_rows(self, rule: Rule, bound: Mapping[str, Any]) -> Rows:
        """Run a rule's query with its parameters bound; its columns and rows.

        Raises:
            RuleFailed: the query failed.
        """

    @abstractmethod
    def coverage_rows(self, rule: Rule, bound: Mapping[str, Any]) -> Rows:
        """Run a rule's coverage query (it has one) with its parameters bound.

        Raises:
            RuleFailed: the query failed.
        """

    @abstractmethod
    def rows(self, sql: str) -> Sequence[Sequence[Any]]:
        """The rows of a query both engines run as it is written."""

    @abstractmethod
    def records(self) -> Query:
        """The evidence records' query over this engine's data."""

    def stream(self, sql: str) -> Iterator[Sequence[Any]]:
        """The rows of a query both engines run, read a part at a time."""
        return iter(self.rows(sql))

    def worker(self) -> Engine:
        """A handle on the same data and base that one thread at a time runs rules on."""
        return self

    def interrupt(self) -> None:  # noqa: B027 - an engine may have nothing to stop
        """Stop what this worker is running (another worker failed)."""

    def release(self) -> None:  # noqa: B027 - an engine may have nothing to release
        """Release a worker made by :meth:`worker`."""

    # --- the steps every engine shares --------------------------------------------------

    def __enter__(self) -> Self:
        try:
            self.open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def absent(self, tables: Iterable[str]) -> tuple[str, ...]:
        """Those of ``tables`` that hold no row."""
        return tuple(t for t in tables if not self.has_rows(t))

    def latest_date(self) -> date | None:
        """The latest date in the loaded data: declarations, manufacture, event dates."""
        rows = self.rows(LATEST_DATE_SQL)
        return rows[0][0] if rows and rows[0][0] is not None else None

    def inputs(self) -> tuple[InputFile, ...]:
        """The files loaded, for the report's ``inputs``."""
        return input_files(self.rows(INPUTS_SQL))

    def scope(self, rules: Iterable[Rule], span: tuple[date, date] | None) -> dict[str, int]:
        """How many records ``rules`` had to judge, per table of records they read."""
        sql = scope_sql(rules, span)
        return {} if sql is None else scope_from_rows(self.rows(sql))

    def rejects(self) -> Iterator[Reject]:
        """The records the load rejected."""
        return read_rejects(self.stream(REJECTS_SQL))


def run_one(
    engine: Engine,
    rule: Rule,
    settings: Config,
    params: Mapping[str, Any],
    span: tuple[date, date] | None,
) -> Ran:
    """One rule's run and findings (``no-data`` when a table it needs is empty)."""
    absent = engine.absent(rule.needs)
    if absent:
        return RuleRun(rule.id, "no-data", absent=absent), []
    level = settings.severity.get(rule.id, rule.severity)
    names, rows = engine.rule_rows(rule, bound_parameters(rule, params))
    found = findings_from_rows(rule, names, rows, severity=level, period=span)
    gaps: tuple[NotJudged, ...] = ()
    if rule.coverage is not None:
        bound = bound_parameters(rule, params, rule.coverage)
        names, rows = engine.coverage_rows(rule, bound)
        gaps = coverage_from_rows(rule, names, rows, period=span)
    return RuleRun(rule.id, "ran", len(found), not_judged=gaps), found


def run_rules(
    engine: Engine,
    chosen: Sequence[Rule],
    settings: Config,
    params: Mapping[str, Any],
    span: tuple[date, date] | None,
    progress: RulesProgress | None = None,
) -> list[Ran]:
    """Each rule's run and findings, in the order given; ``engine.workers`` at a time.

    The rules that read events run one at a time, on one worker, while the others share
    the rest: each of them joins and groups millions of serials with all of the engine's
    threads, and two at once only fought over the cores and the memory (the catalogue at
    1M events: 46-48 s two at a time, 40-41 s one at a time). The rules on declarations
    alone are small, and run beside them.
    """
    counted = _Counter(len(chosen), progress)
    if engine.workers <= 1 or len(chosen) <= 1:
        return [counted(run_one(engine, rule, settings, params, span)) for rule in chosen]
    order = longest_first(chosen)
    heavy = [r for r in order if "events" in r.needs]
    light: queue.SimpleQueue[Rule] = queue.SimpleQueue()
    for rule in order:
        if "events" not in rule.needs:
            light.put(rule)
    lanes = min(engine.workers, len(chosen))
    workers = [engine.worker() for _ in range(lanes)]
    done: dict[str, Ran] = {}

    def lane(worker: Engine, first: list[Rule]) -> None:
        for rule in first:
            done[rule.id] = counted(run_one(worker, rule, settings, params, span))
        while True:
            try:
                rule = light.get_nowait()
            except queue.Empty:
                return
            done[rule.id] = counted(run_one(worker, rule, settings, params, span))

    try:
        with ThreadPoolExecutor(lanes, thread_name_prefix="rule") as pool:
            futures = [
                pool.submit(lane, worker, heavy if k == 0 else [])
                for k, worker in enumerate(workers)
            ]
            for future in futures:
                future.result()
    except BaseException:
        for worker in workers:
            worker.interrupt()
        raise
    finally:
        for worker in workers:
            worker.release()
    return [done[r.id] for r in chosen]


class _Counter:
    """Counts the rules done and tells ``progress``, one call at a time."""

    def __init__(self, total: int, progress: RulesProgress | None) -> None:
        self.total, self.progress, self.done = total, progress, 0
        self.lock = threading.Lock()

    def __call__(self, ran: Ran) -> Ran:
        if self.progress is not None:
            with self.lock:
                self.done += 1
                self.progress(self.done, self.total)
        return ran


def run(
    engine: Engine,
    *,
    period: str | None = None,
    rules: Sequence[str] | None = None,
    config: Config | str | Path | None = None,
    as_of: date | str | None = None,
    progress: RulesProgress | None = None,
) -> Report:
    """Run the rules on ``engine`` (opened and closed here) and return the report.

    The arguments are :func:`traceability.reconcile.reconcile`'s.
    """
    settings = settings_from(config)
    span = parse_period(period) if period else None
    chosen = selected_rules(rules, settings)
    when = parse_date(as_of) if as_of is not None else None
    engine.check(chosen)
    engine.plan(chosen, span, settings.parameters())
    with engine:
        engine.build_base()
        when = when or engine.latest_date()
        params = rule_parameters(settings, span, when)
        results = run_rules(engine, chosen, settings, params, span, progress)
        scope = engine.scope(chosen, span)
        inputs = engine.inputs()
        report = build_report(results, settings, period, when, inputs, engine.rejects(), scope)
        return add_records(report, engine.records())
