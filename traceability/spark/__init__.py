"""The rule catalogue on Apache Spark: the same SQL files, transpiled at run time.

``traceability.reconcile(data, engine="spark", ...)`` (:class:`SparkEngine`) reads a folder
of Parquet tables written by
:func:`traceability.export.export` (local, HDFS, object storage: whatever the Spark session
reads), builds the base views of ``rules/_base.sql`` and runs each rule file, every
statement translated from DuckDB's dialect to Spark SQL by sqlglot. The rows go through the
same code as DuckDB's (:mod:`traceability.engine`), so findings,
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

Starting Spark (the master, settings, the JVM's own output kept off the terminal) and
turning what Spark or the storage raises into one line (:class:`SparkFailed`, exit 2) is
:mod:`traceability.spark.session`.

pyspark is an optional dependency (``pip install 'tracecheck[spark]'``); importing this
module does not import it.
"""

from __future__ import annotations

import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from datetime import date
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from traceability.config import Config
from traceability.engine import Engine, Rows, run
from traceability.engine.findings import RuleFailed
from traceability.model import Report
from traceability.records import Query
from traceability.rules import Rule, grow_to_fixed_point
from traceability.spark.read import Export, left_out, literal, reach_end, read_export
from traceability.spark.session import (
    DEFAULT_MASTER,
    REQUIRED_CONF,
    SparkFailed,
    SparkMissing,
    first_line,
    spark_errors,
    spark_session,
)
from traceability.spark.translate import (
    PORTABLE_FUNCTIONS,
    UNPORTABLE,
    BaseStep,
    NotPortable,
    RuleStep,
    base_steps,
    coverage_steps,
    rule_sql,
    rule_steps,
    translate,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "PORTABLE_FUNCTIONS",
    "UNPORTABLE",
    "BaseStep",
    "NotPortable",
    "RuleStep",
    "DEFAULT_MASTER",
    "REQUIRED_CONF",
    "SparkEngine",
    "SparkFailed",
    "SparkMissing",
    "base_steps",
    "coverage_steps",
    "reconcile_spark",
    "rule_sql",
    "rule_steps",
    "spark_session",
    "translate",
]


def _join(root: str, name: str) -> str:
    return root.rstrip("/") + "/" + name


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
        return self.spark.read.parquet(literal(path))

    def remove(self) -> None:
        """Delete the folder (through Hadoop's file system API: any storage Spark writes)."""
        jvm = self.spark.sparkContext._jvm
        assert jvm is not None
        path = jvm.org.apache.hadoop.fs.Path(self.root)
        conf = self.spark.sparkContext._jsc.hadoopConfiguration()
        path.getFileSystem(conf).delete(path, True)


def _default_work(spark: SparkSession, data: str) -> str:
    if (spark.sparkContext.master or "").startswith("local"):
        return tempfile.mkdtemp(prefix="tracecheck-spark-")
    return _join(data, f"_tracecheck-work-{uuid.uuid4().hex[:12]}")


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
        raise RuleFailed(f"{what} failed on Spark: {first_line(exc)}") from None
    finally:
        for step in steps:
            if step.name is not None:
                spark.catalog.dropTempView(step.name)


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
            raise RuleFailed(f"reading the evidence records failed: {first_line(exc)}") from None
        finally:
            spark.catalog.dropTempView("tc_keys")

    return run


class SparkEngine(Engine):
    """The rules on Spark over an export (``tracecheck export``).

    Args:
        data: the export's folder: a local path or any URI the Spark session reads.
        master: the Spark master (default ``$TRACECHECK_SPARK_MASTER``, else ``local[2]``);
            an already active session is used as it is.
        spark_conf: more Spark settings for a session started here.
        work: a folder for the base tables while the rules run, removed after (default:
            a temporary folder for a local master, else ``_tracecheck-work-<id>`` inside
            ``data``); on a cluster it must be on storage every executor reaches.
        workers: how many rules run at once (Spark jobs side by side; default 2).
        steps: called with a short text as each step starts.
    """

    def __init__(
        self,
        data: str | Path,
        *,
        master: str | None = None,
        spark_conf: Mapping[str, str] | None = None,
        work: str | None = None,
        workers: int = 2,
        steps: Callable[[str], None] | None = None,
    ) -> None:
        self.data = str(data)
        self.master, self.spark_conf, self.work = master, spark_conf, work
        self.workers = max(1, workers)
        self.say = steps or (lambda _text: None)
        self._stack = ExitStack()
        self._spark: SparkSession | None = None
        self._folder: WorkFolder | None = None
        self._through: date | None = None
        self._export: Export | None = None

    @property
    def spark(self) -> SparkSession:
        """The session (while open)."""
        if self._spark is None:
            raise RuntimeError("the Spark engine is not open")
        return self._spark

    @property
    def folder(self) -> WorkFolder:
        """Where the base tables are written (while open)."""
        if self._folder is None:
            raise RuntimeError("the Spark engine is not open")
        return self._folder

    def check(self, rules: Sequence[Rule]) -> None:
        """Translate every rule and the base before a session starts."""
        for rule in rules:
            rule_steps(rule)
            coverage_steps(rule)
        base_steps()

    def plan(
        self, rules: Sequence[Rule], span: tuple[date, date] | None, parameters: Mapping[str, Any]
    ) -> None:
        """Read, of a period run, only the partitions its findings can depend on."""
        self._through = reach_end(rules, span, parameters)

    def open(self) -> None:
        self._spark = self._stack.enter_context(spark_session(self.master, self.spark_conf))
        self.say("reading the export")
        with spark_errors(f"reading {self.data} failed", path=self.data):
            self._export = read_export(self.spark, self.data, self._through)
        if self._export.narrowed:
            self.say(f"not read: {len(left_out(self._export))} partitions after {self._through}")
        self._folder = WorkFolder(self.spark, self.work or _default_work(self.spark, self.data))
        self._stack.callback(self._folder.remove)

    def close(self) -> None:
        self._folder = self._spark = None
        with spark_errors("stopping Spark failed", path=self.work or self.data):
            self._stack.close()

    def build_base(self) -> None:
        """Create the base views and tables, repeating the marked statement to its fixed point."""
        self.say("building the base views")
        spark, work = self.spark, self.folder
        for step in base_steps():
            with spark_errors(f"building the base table {step.name} failed", path=work.root):
                if step.action == "view":
                    spark.sql(step.query).createOrReplaceTempView(step.name)
                elif step.action == "table":
                    frame = work.materialise(spark.sql(step.query), step.name)
                    frame.createOrReplaceTempView(step.name)
                else:
                    grow_to_fixed_point(partial(self._grow, step))

    def _grow(self, step: BaseStep) -> bool:
        """One run of a repeated insert: whether it added rows."""
        spark, work = self.spark, self.folder
        added = work.materialise(spark.sql(step.query), step.name + "-added")
        if added.isEmpty():
            return False
        added.createOrReplaceTempView("tc_repeat_added")
        grown = spark.sql(f"SELECT * FROM {step.name} UNION ALL SELECT * FROM tc_repeat_added")
        work.materialise(grown, step.name).createOrReplaceTempView(step.name)
        spark.catalog.dropTempView("tc_repeat_added")
        return True

    def latest_date(self) -> date | None:
        if self._export is not None and self._export.narrowed:
            return self._export.latest_date  # of every partition, read or not
        return super().latest_date()

    def has_rows(self, table: str) -> bool:
        rows = self._export.rows(table) if self._export is not None else None
        if rows is not None and self._export is not None and self._export.narrowed:
            return rows > 0  # in every partition, read or not
        with spark_errors(f"reading the table {table} failed", path=self.data):
            return not self.spark.table(table).isEmpty()

    def rule_rows(self, rule: Rule, bound: Mapping[str, Any]) -> Rows:
        self.say(f"rule {rule.id}")
        return _run_steps(self.spark, self.folder, rule_steps(rule), bound, f"rule {rule.id}")

    def coverage_rows(self, rule: Rule, bound: Mapping[str, Any]) -> Rows:
        what = f"rule {rule.id}: its coverage query"
        return _run_steps(self.spark, self.folder, coverage_steps(rule), bound, what)

    def rows(self, sql: str) -> Sequence[Sequence[Any]]:
        with spark_errors("a query failed on Spark", path=self.data):
            rows: list[Any] = self.spark.sql(sql).collect()
            return rows

    def stream(self, sql: str) -> Iterator[Sequence[Any]]:
        with spark_errors("a query failed on Spark", path=self.data):
            yield from self.spark.sql(sql).toLocalIterator()

    def records(self) -> Query:
        self.say("reading the evidence records")
        return _record_query(self.spark)


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
    """Run the rules on Spark over an export and return the report.

    The same as ``traceability.reconcile(data, engine="spark", ..., steps=progress)``;
    the options are :class:`SparkEngine`'s.

    Raises:
        SparkMissing: pyspark is not installed.
        NotPortable: a rule does not translate to Spark SQL.
        InputError: ``data`` is not an export, or a bad period, date, config or rule name.
        RuleFailed: a rule failed on Spark.
        SparkFailed: Spark did not start, or it or the storage failed (one line).
    """
    engine = SparkEngine(
        data, master=master, spark_conf=spark_conf, work=work, workers=workers, steps=progress
    )
    return run(engine, period=period, rules=rules, config=config, as_of=as_of)
