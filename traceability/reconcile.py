"""Run the rules against a store and turn their rows into a report.

:func:`reconcile` is the library's way in: it runs the chosen rules on an engine, DuckDB
over a store (:class:`DuckDBEngine`, here) or Apache Spark over an export
(:class:`traceability.spark.SparkEngine`), and returns the report. The steps are the
same on either (:mod:`traceability.engine`): the base views are created, a rule whose
``needs`` tables are empty is skipped (status ``no-data``, naming the tables that are),
exactly the parameters a rule's SQL uses are bound, and each row becomes a
:class:`~traceability.model.Finding`: exact decimal strings, a message, a stable
fingerprint (rule + subject) and a deterministic order. A rule's coverage query, where it
has one, says what the rule could not judge and why (``not_judged``). Last, the findings
whose subject a rejected input record names get caveats (:mod:`traceability.caveats`),
and the records in scope are counted (the report's ``scope``): a report that judged no
record, of an empty store or an empty ``--period``, says so, and ``Report.fails`` does not
pass it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from traceability.config import Config
from traceability.engine import Engine, Rows, RulesProgress, run
from traceability.engine.findings import (
    RuleFailed,
    bound_parameters,
    coverage_from_rows,
    findings_from_rows,
)
from traceability.errors import InputError, OutOfResources, first_line, spark_extra_missing
from traceability.model import Finding, NotJudged, Report, Severity
from traceability.records import Query, duckdb_query
from traceability.rules import Rule, base_needed, run_base, shared_cursor
from traceability.sql import identifier
from traceability.store import connect

__all__ = [
    "DEFAULT_WORKERS",
    "SPARK_WORKERS",
    "ENGINES",
    "DuckDBEngine",
    "latest_date",
    "reconcile",
    "run_coverage",
    "run_rule",
]

#: Rules at once on DuckDB over a store it opens. One: each rule already takes every
#: thread, and two at once held 3.8-4.2 GiB at 1M events under a 3 GB limit (one: 3.4-3.5
#: GiB) for no time gained (40.0-42.8 s against 37.2-46.1 s, in turns).
DEFAULT_WORKERS = 1
#: Rules at once on Spark: its tasks leave cores idle that a second rule fills.
SPARK_WORKERS = 2
#: The engines :func:`reconcile` runs on by name.
ENGINES = ("duckdb", "spark")
#: What to do when a rule runs out of DuckDB's memory.
OUT_OF_MEMORY_HINT = (
    "give DuckDB more with --memory-limit; with --workers above 1, go back to one rule at a "
    "time: several at once need more memory than one"
)
#: How many rejected records are read from the store at a time.
REJECTS_BATCH = 10_000


def _query(con: duckdb.DuckDBPyConnection, sql: str, bound: Mapping[str, Any], what: str) -> Rows:
    try:
        cursor = con.execute(sql, dict(bound))
        names = [d[0] for d in cursor.description or ()]
        return names, cursor.fetchall()
    except duckdb.OutOfMemoryException as exc:
        raise RuleFailed(f"{what}: {first_line(exc)}", hint=OUT_OF_MEMORY_HINT) from None
    except duckdb.Error as exc:
        raise RuleFailed(f"{what}: {first_line(exc)}") from None


class DuckDBEngine(Engine):
    """The rules in DuckDB, over a store file (opened read-only) or an open connection.

    ``workers``: how many rules run at once, each on a cursor of its own (default: 1; a
    connection allows 1 only, its temporary tables being out of a cursor's sight). With
    more than one, the base views go to an attached in-memory catalog, which every cursor
    reads. ``memory_limit``: DuckDB's
    limit for a store file it opens (``4GB``; default: DuckDB's own, 80 % of memory); past
    it, DuckDB spills to its temporary directory. A connection keeps its own setting.
    """

    def __init__(
        self,
        db: str | Path | duckdb.DuckDBPyConnection,
        *,
        workers: int | None = None,
        owned: bool = False,
        memory_limit: str | None = None,
    ) -> None:
        given = isinstance(db, duckdb.DuckDBPyConnection)
        if given and memory_limit:
            raise InputError(
                "a memory limit is set when a store file is opened; a connection keeps its own",
                hint="set it on the connection: SET memory_limit = '4GB'",
            )
        self.db = db
        self.memory_limit = memory_limit
        self.workers = workers or (1 if given else DEFAULT_WORKERS)
        #: whether closing the engine closes its connection: one it opened, or one given
        #: to it to own (a worker's cursor)
        self.owned = owned or not given
        self._con = db if isinstance(db, duckdb.DuckDBPyConnection) else None
        #: the base views and tables to build (see :meth:`plan`); None: all of them
        self._base: frozenset[str] | None = None

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The open connection (or a worker's cursor)."""
        if self._con is None:
            raise RuntimeError("the DuckDB engine is not open")
        return self._con

    def open(self) -> None:
        if self._con is None:
            assert not isinstance(self.db, duckdb.DuckDBPyConnection)
            self._con = connect(self.db, read_only=True, memory_limit=self.memory_limit)

    def close(self) -> None:
        if self._con is not None and self.owned:
            self._con.close()
            self._con = None

    def plan(
        self, rules: Sequence[Rule], span: tuple[date, date] | None, parameters: Mapping[str, Any]
    ) -> None:
        """Build, of the base, only what the rules read: on a store this engine opens. On
        a connection given to it, the base stays for the caller to read after the run
        (preflight does), so all of it is built."""
        if not isinstance(self.db, duckdb.DuckDBPyConnection):
            self._base = base_needed(rules)

    def build_base(self) -> None:
        try:
            run_base(self.con, shared=self.workers > 1, only=self._base)
        except duckdb.OutOfMemoryException as exc:
            raise OutOfResources(
                f"the base tables the rules read ran out of memory: {first_line(exc)}",
                hint="give DuckDB more with --memory-limit",
            ) from None

    def has_rows(self, table: str) -> bool:
        try:
            row = self.con.execute(f"SELECT 1 FROM {identifier(table)} LIMIT 1").fetchone()
        except duckdb.CatalogException:
            raise RuleFailed(f"needs names an unknown table {table!r}") from None
        return row is not None

    def rule_rows(self, rule: Rule, bound: Mapping[str, Any]) -> Rows:
        return _query(self.con, rule.sql, bound, f"rule {rule.id} failed")

    def coverage_rows(self, rule: Rule, bound: Mapping[str, Any]) -> Rows:
        assert rule.coverage is not None
        return _query(self.con, rule.coverage, bound, f"rule {rule.id}: its coverage query failed")

    def rows(self, sql: str) -> Sequence[Sequence[Any]]:
        return self.con.execute(sql).fetchall()

    def stream(self, sql: str) -> Iterator[Sequence[Any]]:
        cursor = self.con.execute(sql)
        while rows := cursor.fetchmany(REJECTS_BATCH):
            yield from rows

    def records(self) -> Query:
        return duckdb_query(self.con)

    def worker(self) -> DuckDBEngine:
        return DuckDBEngine(shared_cursor(self.con), workers=1, owned=True)

    def interrupt(self) -> None:
        self.con.interrupt()

    def release(self) -> None:
        self.close()


def latest_date(con: duckdb.DuckDBPyConnection) -> date | None:
    """The latest date in the loaded data: declarations, manufacture and event local dates."""
    return DuckDBEngine(con).latest_date()


def run_rule(
    con: duckdb.DuckDBPyConnection,
    rule: Rule,
    params: Mapping[str, Any],
    *,
    severity: Severity,
    period: tuple[date, date] | None,
) -> list[Finding]:
    """Run one rule (base views already created) and return its findings."""
    names, rows = DuckDBEngine(con).rule_rows(rule, bound_parameters(rule, params))
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
    bound = bound_parameters(rule, params, rule.coverage)
    names, rows = DuckDBEngine(con).coverage_rows(rule, bound)
    return coverage_from_rows(rule, names, rows, period=period)


def reconcile(
    db: str | Path | duckdb.DuckDBPyConnection,
    *,
    period: str | None = None,
    rules: Sequence[str] | None = None,
    config: Config | str | Path | None = None,
    as_of: date | str | None = None,
    workers: int | None = None,
    memory_limit: str | None = None,
    progress: RulesProgress | None = None,
    engine: str | Engine = "duckdb",
    master: str | None = None,
    spark_conf: Mapping[str, str] | None = None,
    work: str | None = None,
    steps: Callable[[str], None] | None = None,
) -> Report:
    """Run the rules and return the report.

    Args:
        db: the data: for the duckdb engine a database path (opened read-only; of the base
            views and tables, only those the rules read are built) or an open DuckDB
            connection (all of them are built, and stay on it after the run); for the
            spark engine the folder of an export (``tracecheck
            export``), a local path or any URI the Spark session reads. Not read when
            ``engine`` is an :class:`~traceability.engine.Engine`, which holds its data.
        period: ``2026-Q1`` or ``2026``: report only findings of that period (matching
            still uses all data).
        rules: rule ids or group names to run (default: the config's, else all).
        config: settings, or a TOML file of them (default: the built-in settings).
        as_of: the date time windows are judged on (default: the latest date in the data).
        workers: how many rules run at once (default: 1 on DuckDB, 2 on Spark; 1 for a DuckDB
            connection, whose temporary tables another cursor would not see).
        memory_limit: the duckdb engine's memory limit for the store it opens (``4GB``;
            default: DuckDB's, 80 % of memory). On a large quarter under a tight limit, one
            worker holds less at a time than two.
        progress: called as ``progress(done, total)`` as each rule ends (from the thread
            that ran it, one call at a time), with the rules done so far and the total.
        engine: ``"duckdb"``, ``"spark"`` or an :class:`~traceability.engine.Engine`.
        master, spark_conf, work, steps: the spark engine's options (see
            :class:`traceability.spark.SparkEngine`).

    Raises:
        InputError: a bad period, date, config, rule name or engine.
        SparkMissing: the spark engine without pyspark installed.
        RuleFailed: a rule's SQL failed.
    """
    if workers is not None and workers < 1:
        raise InputError(f"workers must be at least 1, not {workers}")
    spark = {"master": master, "spark_conf": spark_conf, "work": work, "steps": steps}
    on = _engine(engine, db, workers, memory_limit, spark)
    return run(on, period=period, rules=rules, config=config, as_of=as_of, progress=progress)


def _engine(
    engine: str | Engine,
    db: str | Path | duckdb.DuckDBPyConnection,
    workers: int | None,
    memory_limit: str | None,
    spark: Mapping[str, Any],
) -> Engine:
    """The engine :func:`reconcile` runs on, from its name and options (or as given)."""
    if isinstance(engine, Engine):
        return engine
    if engine == "duckdb":
        given = sorted(k for k, v in spark.items() if v is not None and k != "steps")
        if given:
            raise InputError(f"{', '.join(given)} go with the spark engine")
        return DuckDBEngine(db, workers=workers, memory_limit=memory_limit)
    if engine == "spark":
        if memory_limit:
            raise InputError(
                "a memory limit goes with the duckdb engine",
                hint="give Spark's driver its memory: --conf spark.driver.memory=8g",
            )
        if isinstance(db, duckdb.DuckDBPyConnection):
            raise InputError(
                "the spark engine reads an export, not a DuckDB connection",
                hint="write one with: tracecheck export --db STORE --to FOLDER",
            )
        return _spark_engine()(str(db), workers=workers or SPARK_WORKERS, **spark)
    raise InputError(f"unknown engine {engine!r}", hint=f"one of: {', '.join(ENGINES)}")


def _spark_engine() -> Callable[..., Engine]:
    """The Spark engine's class, imported only when asked for: its libraries (pyspark,
    sqlglot) are the optional ``spark`` extra, which an installation may lack."""
    try:
        from traceability.spark import SparkEngine
    except ImportError as exc:
        raise spark_extra_missing(exc) from None
    return SparkEngine
