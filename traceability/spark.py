"""The rule catalogue on Apache Spark: the same SQL files, transpiled at run time.

``reconcile_spark(data, ...)`` reads a folder of Parquet tables written by
:func:`traceability.export.export` (local, HDFS, object storage: whatever the Spark session
reads), builds the base views of ``rules/_base.sql`` and runs each rule file, every
statement translated from DuckDB's dialect to Spark SQL by sqlglot. The rows go through the
same code as DuckDB's (:func:`traceability.reconcile.findings_from_rows`), so findings,
fingerprints and reports are the same for the same data. A rule's coverage query (what it
could not judge) runs the same way, after the rule, and the export's ``rejects`` table
gives the findings their caveats (:mod:`traceability.caveats`), as on DuckDB. The evidence
records come from the export's tables through the same queries as on DuckDB
(:mod:`traceability.records`), translated the same way.

What is engine-specific stays here and is small:

- a ``CREATE … TABLE … AS`` of the base is materialised (``localCheckpoint``), a
  ``CREATE … VIEW`` registered as a temporary view;
- the statement marked ``-- repeat:`` (an ``INSERT … SELECT``) runs until it adds no row,
  at most ``MAX_REPEATS`` times, as on DuckDB: the fixed point both engines share;
- decimals keep their scale (``spark.sql.decimalOperations.allowPrecisionLoss`` off, as
  DuckDB computes), and the session time zone is UTC.

pyspark is an optional dependency (``pip install 'tracecheck[spark]'``); importing this
module does not import it.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp

from traceability.caveats import REJECTS_SQL, Reject, read_rejects
from traceability.config import Config
from traceability.errors import InputError, TracecheckError
from traceability.export import MANIFEST, PARTITION_COLUMN, parse_manifest
from traceability.model import Finding, InputFile, NotJudged, Report, RuleRun
from traceability.reconcile import (
    INPUTS_SQL,
    LATEST_DATE_SQL,
    RuleFailed,
    bound_parameters,
    build_report,
    coverage_from_rows,
    findings_from_rows,
    input_files,
    longest_first,
    parse_date,
    parse_period,
    rule_parameters,
    scope_from_rows,
    scope_sql,
    selected_rules,
    settings_from,
)
from traceability.records import Query, add_records
from traceability.rules import MAX_REPEATS, BaseFailed, Rule, base_statements, sql_parameters

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

#: Functions sqlglot does not model but that Spark has with the meaning the rules rely on:
#: ``url_decode`` (percent-decoding) and ``hash`` (any hash: the rules use it only to
#: find candidates, which they then compare exactly).
PORTABLE_FUNCTIONS = frozenset({"hash", "url_decode"})

#: Session settings tracecheck needs: DuckDB's decimal arithmetic and UTC.
REQUIRED_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.decimalOperations.allowPrecisionLoss": "false",
}

DEFAULT_MASTER = "local[2]"


class NotPortable(TracecheckError):
    """A rule or base statement uses a construct that does not translate to Spark SQL."""


class SparkMissing(InputError):
    """pyspark is not installed."""


# --- translation ------------------------------------------------------------------------


#: Constructs sqlglot writes out for Spark unchanged although Spark lacks them or means
#: something else by them, with the portable way to say the same.
UNPORTABLE: dict[type[exp.Expression], str] = {
    exp.RegexpFullMatch: "regexp_full_match() (use regexp_matches with ^…$ anchors)",
    exp.TimestampTrunc: "date_trunc() (a timestamp on Spark, a date on DuckDB: use year() "
    "and quarter())",
    exp.DateTrunc: "date_trunc() (a timestamp on Spark, a date on DuckDB: use year() and "
    "quarter())",
}
#: DuckDB's len() (of a list, or a string) is parsed as length(), which on Spark wants a
#: string: refused by name, before parsing (use length() of text, or count the rows).
_LEN = re.compile(r"\blen\s*\(", re.I)
_COMMENTS_AND_STRINGS = re.compile(r"--[^\n]*|'(?:[^']|'')*'")


def _check_portable(tree: exp.Expression, name: str) -> None:
    hint = "rewrite it in the portable subset (see rules/README.md)"
    for node in tree.find_all(exp.Anonymous):
        function = node.name.lower()
        if function not in PORTABLE_FUNCTIONS:
            raise NotPortable(
                f"{name}: function {function}() has no Spark SQL translation", hint=hint
            )
    for agg in tree.find_all(exp.ArrayAgg):
        # Spark's collect_list takes no ORDER BY (sqlglot drops it): an ordered list is
        # allowed only as a rule's evidence, which the runner puts in order itself
        if agg.find(exp.Order) is not None and agg.parent is not None:
            if not (isinstance(agg.parent, exp.Alias) and agg.parent.alias == "evidence"):
                raise NotPortable(
                    f"{name}: an ordered list() other than the evidence loses its order on Spark",
                    hint="sort it as a whole: list_sort(list(x)), or string_agg(x, sep "
                    "ORDER BY x) for text",
                )
    for node_type, what in UNPORTABLE.items():
        if tree.find(node_type) is not None:
            raise NotPortable(f"{name}: {what} does not carry over to Spark SQL", hint=hint)


def translate(sql: str, name: str) -> list[str]:
    """The statements of ``sql`` (DuckDB dialect) in Spark SQL.

    Raises:
        NotPortable: a statement does not parse, uses a function sqlglot cannot map, or a
            construct Spark lacks.
    """
    return [
        statement.sql(dialect="spark", unsupported_level=sqlglot.ErrorLevel.RAISE)
        for statement in _parse(sql, name)
    ]


def _parse(sql: str, name: str) -> list[exp.Expression]:
    if _LEN.search(_COMMENTS_AND_STRINGS.sub("", sql)):
        raise NotPortable(
            f"{name}: len() does not carry over to Spark SQL (its length() wants a string)",
            hint="rewrite it in the portable subset (see rules/README.md)",
        )
    try:
        trees = [t for t in sqlglot.parse(sql, read="duckdb") if isinstance(t, exp.Expression)]
    except sqlglot.errors.SqlglotError as exc:
        raise NotPortable(f"{name}: does not parse as DuckDB SQL: {exc}") from None
    for tree in trees:
        _check_portable(tree, name)
    return trees


def _spark_sql(tree: exp.Expression, name: str) -> str:
    try:
        return tree.sql(dialect="spark", unsupported_level=sqlglot.ErrorLevel.RAISE)
    except sqlglot.errors.UnsupportedError as exc:
        raise NotPortable(f"{name}: {exc}") from None


@dataclass(frozen=True)
class BaseStep:
    """One statement of the base in Spark SQL: a view, a table or a repeated insert."""

    action: str  # "view", "table" or "repeat"
    name: str
    query: str  # the SELECT, in Spark SQL


@cache
def base_steps() -> tuple[BaseStep, ...]:
    """The statements of ``_base.sql`` as Spark steps (translated once per process)."""
    steps = []
    for number, (statement, repeat) in enumerate(base_statements(), start=1):
        where = f"_base.sql statement {number}"
        (tree,) = _parse(statement, where)
        if isinstance(tree, exp.Create) and tree.kind in ("VIEW", "TABLE") and not repeat:
            target = tree.this
            name = target.this.name if isinstance(target, exp.Schema) else target.name
            query = tree.expression
            steps.append(BaseStep(tree.kind.lower(), name, _spark_sql(query, where)))
        elif isinstance(tree, exp.Insert) and repeat:
            target = tree.this
            name = target.this.name if isinstance(target, exp.Schema) else target.name
            steps.append(BaseStep("repeat", name, _spark_sql(tree.expression, where)))
        else:
            raise NotPortable(
                f"{where}: only CREATE VIEW/TABLE … AS SELECT and a repeated INSERT … SELECT "
                "are understood"
            )
    return tuple(steps)


@cache
def rule_sql(rule: Rule) -> str:
    """A rule's SELECT in Spark SQL, its ``$name`` parameters as ``:name``."""
    statements = translate(rule.sql, f"rule {rule.id}")
    if len(statements) != 1:
        raise NotPortable(f"rule {rule.id}: {len(statements)} statements, one SELECT expected")
    return statements[0]


@dataclass(frozen=True)
class RuleStep:
    """A named part of a rule's query in Spark SQL: a CTE as a view, or the final SELECT."""

    name: str | None  # the view's name; None for the final SELECT
    query: str
    materialise: bool  # written out first: read more than once by the parts after it
    parameters: tuple[str, ...]


def _table_refs(tree: exp.Expression) -> list[exp.Table]:
    return [t for t in tree.find_all(exp.Table) if not t.args.get("db")]


@cache
def rule_steps(rule: Rule) -> tuple[RuleStep, ...]:
    """A rule's query as steps: each CTE a temporary view, then the final SELECT.

    Spark inlines a CTE wherever it is read; a rule whose CTEs read each other several
    times then plans (and runs) the same subqueries over and over, which on some rules
    exhausts the driver. Running each CTE as a view, the ones read more than once written
    out first, gives Spark what DuckDB does by itself. The SQL is the rule's, unchanged but
    for the views' names (``tc_<rule>_<cte>``, so rules can run side by side).
    """
    return _query_steps(rule, rule.sql, f"rule {rule.id}", "")


@cache
def coverage_steps(rule: Rule) -> tuple[RuleStep, ...]:
    """A rule's coverage query as steps, as :func:`rule_steps` (none without one).

    Its views are named ``tc_<rule>_cov_<cte>``.
    """
    if rule.coverage is None:
        return ()
    return _query_steps(rule, rule.coverage, f"rule {rule.id} (coverage)", "cov_")


def _query_steps(rule: Rule, sql: str, name: str, infix: str) -> tuple[RuleStep, ...]:
    parameters = sql_parameters(sql)
    trees = _parse(sql, name)
    if len(trees) != 1:
        raise NotPortable(f"{name}: {len(trees)} statements, one SELECT expected")
    (tree,) = trees
    with_ = tree.args.get("with_") or tree.args.get("with")
    if with_ is None or with_.args.get("recursive"):
        return (RuleStep(None, _spark_sql(tree, name), False, parameters),)
    ctes = list(with_.expressions)
    prefix = "tc_" + re.sub(r"[^a-z0-9]+", "_", rule.id) + "_" + infix
    names = {c.alias: prefix + c.alias for c in ctes}
    body = tree.copy()
    body.set("with_" if "with_" in body.args else "with", None)
    parts = [c.this.copy() for c in ctes] + [body]
    reads: dict[str, int] = {}
    for part in parts:
        for table in _table_refs(part):
            reads[table.name] = reads.get(table.name, 0) + 1
    for part in parts:
        for table in _table_refs(part):
            if table.name in names:
                if not table.alias:
                    table.set("alias", exp.TableAlias(this=exp.to_identifier(table.name)))
                table.set("this", exp.to_identifier(names[table.name]))
    steps = []
    for cte, part in zip([*ctes, None], parts, strict=True):
        query = _spark_sql(part, name)
        used = tuple(p for p in parameters if f":{p}" in query)
        if cte is None:
            steps.append(RuleStep(None, query, False, used))
        else:
            steps.append(RuleStep(names[cte.alias], query, reads.get(cte.alias, 0) > 1, used))
    return tuple(steps)


# --- the session -------------------------------------------------------------------------


def _pyspark() -> Any:
    try:
        import pyspark.sql
    except ImportError:
        raise SparkMissing(
            "the Spark engine needs pyspark, which is not installed",
            hint="pip install 'tracecheck[spark]' (and Java 17 or newer)",
        ) from None
    return pyspark.sql


@contextmanager
def spark_session(
    master: str | None = None, conf: Mapping[str, str] | None = None
) -> Iterator[SparkSession]:
    """A Spark session set up for tracecheck; stopped on exit if this call started it.

    ``master`` defaults to ``$TRACECHECK_SPARK_MASTER``, else ``local[2]``. A session
    already active in this process is reused (its master unchanged) with the settings
    tracecheck needs.
    """
    sql = _pyspark()
    active = sql.SparkSession.getActiveSession()
    if active is not None:
        for key, value in {**REQUIRED_CONF, **(conf or {})}.items():
            active.conf.set(key, value)
        yield active
        return
    master = master or os.environ.get("TRACECHECK_SPARK_MASTER") or DEFAULT_MASTER
    builder = sql.SparkSession.builder.master(master).appName("tracecheck")
    settings = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        **REQUIRED_CONF,
    }
    warehouse = None
    if master.startswith("local"):
        # the default of 200 shuffle partitions is for clusters; adaptive execution
        # merges small ones, but a local run still pays a task for each
        settings["spark.sql.shuffle.partitions"] = "4"
        # no Hive warehouse folder in the working directory
        warehouse = tempfile.mkdtemp(prefix="tracecheck-warehouse-")
        settings["spark.sql.warehouse.dir"] = warehouse
        # one process: talk to itself on loopback, whatever the host name resolves to
        settings["spark.driver.host"] = "127.0.0.1"
        settings["spark.driver.bindAddress"] = "127.0.0.1"
    for key, value in {**settings, **(conf or {})}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()
        if warehouse is not None:
            shutil.rmtree(warehouse, ignore_errors=True)


def _join(root: str, name: str) -> str:
    return root.rstrip("/") + "/" + name


def read_export(spark: SparkSession, data: str) -> dict[str, Any]:
    """Register every table of the export at ``data`` as a temporary view; the manifest."""
    try:
        text = spark.read.text(_join(data, MANIFEST), wholetext=True).first()
    except Exception as exc:  # noqa: BLE001 - Spark raises its own error types
        if "PATH_NOT_FOUND" in str(exc) or "does not exist" in str(exc):
            raise InputError(
                f"{data} is not a tracecheck export (no {MANIFEST})",
                hint="write one with: tracecheck export --db STORE --to FOLDER",
            ) from None
        raise
    manifest = parse_manifest(text[0] if text else "", _join(data, MANIFEST))
    tables = manifest["tables"]
    assert isinstance(tables, dict)
    for table, about in tables.items():
        frame = spark.read.parquet(_join(data, table))
        if about.get("partitioned") and PARTITION_COLUMN in frame.columns:
            frame = frame.drop(PARTITION_COLUMN)
        frame.createOrReplaceTempView(table)
    return manifest


class WorkFolder:
    """Where the base tables are written (Parquet) while the rules run; removed after.

    Materialising a base table as files, rather than caching or checkpointing it, keeps
    each rule's plan short and its memory bounded, and works the same on a cluster (the
    folder must then be on storage every executor reaches).
    """

    def __init__(self, spark: SparkSession, root: str) -> None:
        self.spark = spark
        self.root = root.rstrip("/")
        self.count = 0
        self._lock = threading.Lock()

    def materialise(self, frame: DataFrame, name: str) -> DataFrame:
        """The frame written under the folder and read back."""
        with self._lock:
            self.count += 1
            path = f"{self.root}/{self.count:04d}-{name}"
        frame.write.mode("overwrite").parquet(path)
        return self.spark.read.parquet(path)

    def remove(self) -> None:
        """Delete the folder (through Hadoop's file system API: any storage Spark writes)."""
        jvm = self.spark.sparkContext._jvm
        assert jvm is not None
        path = jvm.org.apache.hadoop.fs.Path(self.root)
        conf = self.spark.sparkContext._jsc.hadoopConfiguration()
        path.getFileSystem(conf).delete(path, True)


def run_base_spark(spark: SparkSession, work: WorkFolder) -> None:
    """Create the base views and tables, repeating the marked statement to its fixed point."""
    for step in base_steps():
        if step.action == "view":
            spark.sql(step.query).createOrReplaceTempView(step.name)
        elif step.action == "table":
            work.materialise(spark.sql(step.query), step.name).createOrReplaceTempView(step.name)
        else:
            for _ in range(MAX_REPEATS):
                added = work.materialise(spark.sql(step.query), step.name + "-added")
                if added.isEmpty():
                    break
                added.createOrReplaceTempView("tc_repeat_added")
                grown = spark.sql(
                    f"SELECT * FROM {step.name} UNION ALL SELECT * FROM tc_repeat_added"
                )
                work.materialise(grown, step.name).createOrReplaceTempView(step.name)
                spark.catalog.dropTempView("tc_repeat_added")
            else:
                raise BaseFailed(
                    f"packing nested deeper than {MAX_REPEATS} levels: the aggregation events "
                    "hold a cycle (a container packed, directly or not, inside itself)"
                )


def _first_line(exc: BaseException) -> str:
    """The first line of what went wrong, from the JVM's exception where there is one."""
    java = getattr(exc, "java_exception", None)
    text = str(java.toString()) if java is not None else str(exc)
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _default_work(spark: SparkSession, data: str) -> str:
    if (spark.sparkContext.master or "").startswith("local"):
        return tempfile.mkdtemp(prefix="tracecheck-spark-")
    return _join(data, f"_tracecheck-work-{uuid.uuid4().hex[:12]}")


def _has_rows(spark: SparkSession, table: str) -> bool:
    return not spark.table(table).isEmpty()


def _latest_date(spark: SparkSession) -> date | None:
    row = spark.sql(LATEST_DATE_SQL).first()
    return row[0] if row and row[0] is not None else None


def _inputs(spark: SparkSession) -> tuple[InputFile, ...]:
    return input_files(spark.sql(INPUTS_SQL).collect())


def _run_steps(
    spark: SparkSession,
    work: WorkFolder,
    steps: Sequence[RuleStep],
    bound: Mapping[str, Any],
    what: str,
) -> tuple[list[str], list[Any]]:
    """Run a query's steps; the column names and rows of its final SELECT."""
    try:
        frame = None
        for step in steps:
            frame = spark.sql(step.query, args={p: bound[p] for p in step.parameters})
            if step.name is not None:
                if step.materialise:
                    frame = work.materialise(frame, step.name)
                frame.createOrReplaceTempView(step.name)
        assert frame is not None
        return list(frame.columns), frame.collect()
    except NotPortable:
        raise
    except Exception as exc:  # noqa: BLE001 - Spark raises its own error types
        raise RuleFailed(f"{what} failed on Spark: {_first_line(exc)}") from None
    finally:
        for step in steps:
            if step.name is not None:
                spark.catalog.dropTempView(step.name)


def _run_rule(
    spark: SparkSession,
    work: WorkFolder,
    rule: Rule,
    settings: Config,
    params: Mapping[str, Any],
    span: tuple[date, date] | None,
) -> tuple[RuleRun, list[Finding]]:
    absent = tuple(t for t in rule.needs if not _has_rows(spark, t))
    if absent:
        return RuleRun(rule.id, "no-data", absent=absent), []
    bound = bound_parameters(rule, params)
    names, rows = _run_steps(spark, work, rule_steps(rule), bound, f"rule {rule.id}")
    level = settings.severity.get(rule.id, rule.severity)
    found = findings_from_rows(rule, names, rows, severity=level, period=span)
    gaps: tuple[NotJudged, ...] = ()
    if rule.coverage is not None:
        bound = bound_parameters(rule, params, rule.coverage)
        what = f"rule {rule.id}: its coverage query"
        names, rows = _run_steps(spark, work, coverage_steps(rule), bound, what)
        gaps = coverage_from_rows(rule, names, rows, period=span)
    return RuleRun(rule.id, "ran", len(found), not_judged=gaps), found


@cache
def _spark_text(sql: str) -> str:
    (statement,) = translate(sql, "the evidence records query")
    return statement


def _record_query(spark: SparkSession) -> Query:
    """The evidence records' :data:`~traceability.records.Query` over the export's tables."""

    def run(sql: str, columns: Sequence[str], rows: Sequence[tuple[int, ...]]) -> list[Any]:
        text = _spark_text(sql)
        schema = ", ".join(f"{c} BIGINT" for c in columns)
        spark.createDataFrame(list(rows), schema).createOrReplaceTempView("tc_keys")
        try:
            return spark.sql(text).collect()
        except Exception as exc:  # noqa: BLE001 - Spark raises its own error types
            raise RuleFailed(f"reading the evidence records failed: {_first_line(exc)}") from None
        finally:
            spark.catalog.dropTempView("tc_keys")

    return run


def _rejects(spark: SparkSession) -> Iterator[Reject]:
    """The rejected records of the export, streamed to the driver."""
    return read_rejects(spark.sql(REJECTS_SQL).toLocalIterator())


def reconcile_spark(
    data: str | Path,
    *,
    period: str | None = None,
    rules: Sequence[str] | None = None,
    config: Config | str | Path | None = None,
    as_of: date | str | None = None,
    master: str | None = None,
    spark_conf: Mapping[str, str] | None = None,
    work: str | None = None,
    workers: int = 2,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Run the rules on Spark over an export (``tracecheck export``) and return the report.

    Args:
        data: the export's folder: a local path or any URI the Spark session reads.
        period, rules, config, as_of: as for :func:`traceability.reconcile.reconcile`.
        master: the Spark master (default ``$TRACECHECK_SPARK_MASTER``, else ``local[2]``);
            an already active session is used as it is.
        spark_conf: more Spark settings for a session started here.
        work: a folder for the base tables while the rules run, removed after (default:
            a temporary folder for a local master, else ``_tracecheck-work-<id>`` inside
            ``data``); on a cluster it must be on storage every executor reaches.
        workers: how many rules run at once (Spark jobs side by side; default 2).
        progress: called with a short text as each step starts.

    Raises:
        SparkMissing: pyspark is not installed.
        NotPortable: a rule does not translate to Spark SQL.
        InputError: ``data`` is not an export, or a bad period, date, config or rule name.
        RuleFailed: a rule failed on Spark.
    """
    settings = settings_from(config)
    span = parse_period(period) if period else None
    chosen = selected_rules(rules, settings)
    as_of_date = parse_date(as_of) if as_of is not None else None
    for rule in chosen:  # translate everything before starting a session
        rule_steps(rule)
        coverage_steps(rule)
    base_steps()
    say = progress or (lambda _text: None)
    with spark_session(master, spark_conf) as spark:
        say("reading the export")
        read_export(spark, str(data))
        say("building the base views")
        folder = WorkFolder(spark, work or _default_work(spark, str(data)))
        try:
            run_base_spark(spark, folder)
            when = as_of_date or _latest_date(spark)
            params = rule_parameters(settings, span, when)
            order = longest_first(chosen)

            def task(rule: Rule) -> tuple[RuleRun, list[Finding]]:
                say(f"rule {rule.id}")
                return _run_rule(spark, folder, rule, settings, params, span)

            with ThreadPoolExecutor(max(1, workers), thread_name_prefix="rule") as pool:
                done = dict(zip((r.id for r in order), pool.map(task, order), strict=True))
            results = [done[r.id] for r in chosen]
            inputs = _inputs(spark)
            sql = scope_sql(chosen, span)
            scope = {} if sql is None else scope_from_rows(spark.sql(sql).collect())
            rejects = _rejects(spark)
            report = build_report(results, settings, period, when, inputs, rejects, scope)
            say("reading the evidence records")
            return add_records(report, _record_query(spark))
        finally:
            folder.remove()
