"""``tracecheck reconcile`` and ``tracecheck export``: run the rules, on DuckDB or Spark."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from traceability.cli.common import (
    QUIET,
    VERBOSE,
    SparkSettings,
    caveated_option,
    console,
    db_option,
    emit,
    exit_for,
    format_options,
    plain,
    settings,
    spark_options,
    verbosity,
    verbosity_options,
)
from traceability.cli.progress import PROGRESS_EVERY, Lines, progress
from traceability.engine.report import empty_scope_message
from traceability.errors import ExitCode, InputError
from traceability.export import export
from traceability.model import Report, Severity
from traceability.reconcile import reconcile
from traceability.render.listings import export_table
from traceability.render.registry import CAVEATS_SHOWN


class RuleLines(Lines):
    """``reconcile: 12/31 rules`` now and then; none for a run that ends within twice
    PROGRESS_EVERY seconds."""

    def __init__(self) -> None:
        super().__init__(first=2 * PROGRESS_EVERY)

    def __call__(self, done: int, total: int) -> None:
        self.say(f"reconcile: {done}/{total} rules", last=self.spoken and done == total)


def _rules_bar(bar: Progress, task: TaskID, done: int, total: int) -> None:
    bar.update(task, completed=done, total=total)


def _spark_progress(step: str) -> None:
    if sys.stderr.isatty():
        click.echo(f"spark: {step}", err=True)


def run_engine(
    engine: str,
    db: Path | None,
    data: str | None,
    spark: SparkSettings,
    *,
    period: str | None,
    rules: list[str] | None,
    config_path: Path | None,
    as_of: str | None,
    workers: int | None = None,
    memory_limit: str | None = None,
) -> Report:
    """The report of the rules run by ``engine``: DuckDB over ``db``, or Spark over
    ``data`` (a folder written by ``export``) with the ``spark`` options; the settings are
    read once the engine's own options are known to be right."""
    source = data if engine == "spark" else db
    if not source and engine == "spark":
        raise InputError(
            "--engine spark reads --data, a folder written by 'tracecheck export'",
            hint="tracecheck export --db STORE --to FOLDER, then --data FOLDER",
        )
    if not source:
        raise InputError("--db is required (or set TRACECHECK_DB)")
    if engine == "duckdb" and data:
        raise InputError("--data goes with --engine spark")
    spark.only_with_spark(engine)
    config = settings(config_path)
    if engine == "spark":  # Spark says each of its steps; DuckDB counts the rules done
        return reconcile(
            source,
            engine=engine,
            master=spark.master,
            spark_conf=spark.conf,
            period=period,
            rules=rules,
            config=config,
            as_of=as_of,
            workers=workers,
            memory_limit=memory_limit,
            steps=_spark_progress,
        )
    columns = (
        TextColumn("reconcile"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rules"),
        TimeElapsedColumn(),
    )
    with progress(columns, _rules_bar, RuleLines(), description="reconcile") as done:
        return reconcile(
            source,
            engine=engine,
            period=period,
            rules=rules,
            config=config,
            as_of=as_of,
            workers=workers,
            memory_limit=memory_limit,
            progress=done,
        )


@click.command("reconcile")
@verbosity_options
@click.option(
    "--db",
    envvar="TRACECHECK_DB",
    type=click.Path(dir_okay=False, path_type=Path),
    help="DuckDB database file (or set TRACECHECK_DB); the duckdb engine reads it.",
)
@click.option(
    "--engine",
    type=click.Choice(["duckdb", "spark"]),
    default="duckdb",
    show_default=True,
    help="Run the rules in DuckDB (over --db) or on Apache Spark (over --data).",
)
@click.option(
    "--data",
    help="The spark engine's input: a folder of Parquet tables written by 'tracecheck "
    "export' (a local path, or any URI Spark reads: hdfs://, s3a://, ...).",
)
@spark_options
@click.option("--period", help="Only findings of this quarter (2026-Q1) or year (2026).")
@click.option(
    "--rule",
    "rule_ids",
    multiple=True,
    help="Run only this rule id or group (batch, mirror, serial, filings, authorisations); "
    "repeatable.",
)
@format_options("report")
@click.option(
    "--fail-on",
    type=click.Choice([s.value for s in Severity]),
    help="Exit 1 when a finding is at or above this severity (default: never), or when "
    "there is no record to judge (an empty store or --period).",
)
@caveated_option
@click.option(
    "--allow-empty",
    is_flag=True,
    help="Let --fail-on pass when the store, or the --period, holds no records to judge "
    "(default: it fails, exit 1); standard error still says nothing was judged.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML settings file: tolerances, windows, severity overrides, rules to run "
    "(default: the file $TRACECHECK_CONFIG names, else ./tracecheck.toml, else the built-in "
    "settings; 'tracecheck config --example' shows every key).",
)
@click.option("--as-of", help="Judge time windows on this date (default: latest date in the data).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="How many rules run at once (default: 1 on duckdb, 2 on spark). Each rule "
    "already takes every DuckDB thread; more than 1 holds more in memory at a time.",
)
@click.option(
    "--memory-limit",
    metavar="SIZE",
    help="The duckdb engine's memory limit, e.g. 4GB (default: DuckDB's, 80% of memory); "
    "past it DuckDB spills to disk. On Spark: --conf spark.driver.memory=8g.",
)
def reconcile_command(
    db: Path | None,
    engine: str,
    data: str | None,
    spark: SparkSettings,
    period: str | None,
    rule_ids: tuple[str, ...],
    fmt: str | None,
    output: Path | None,
    fail_on: str | None,
    count_caveated: bool,
    allow_empty: bool,
    config_path: Path | None,
    as_of: str | None,
    workers: int | None,
    memory_limit: str | None,
) -> None:
    """Run the reconciliation rules and write the discrepancy report.

    A finding whose subject a rejected input record names carries caveats (marked ⚠);
    each rule says what it could not judge, and why. When the store, or the --period,
    holds no record the rules read (batches, consignments, events, filings), nothing was
    judged: standard error says so, and --fail-on exits 1 rather than pass on nothing
    (--allow-empty lets it pass). Exit 0: nothing at or above --fail-on; 1: a finding at
    or above it, or nothing to judge with --fail-on; 2: bad input.

    \b
    Example:
      tracecheck reconcile --db q1.duckdb
      tracecheck reconcile --db q1.duckdb --period 2026-Q1 --format json --output q1.json
      tracecheck reconcile --db q1.duckdb --rule mirror --fail-on high
      tracecheck reconcile --db q1.duckdb --fail-on high --ignore-caveated
      tracecheck reconcile --db q1.duckdb --period 2026-Q2 --fail-on high --allow-empty
      tracecheck reconcile --engine spark --data q1-parquet --format json
      tracecheck reconcile --engine spark --data q1-parquet --conf spark.driver.memory=8g
      tracecheck reconcile --engine spark --master spark://head:7077 --data hdfs:///q1
      tracecheck reconcile --engine spark --data s3a://bucket/q1 --packages G:A:V
      tracecheck reconcile --db q1.duckdb --format xlsx --output q1.xlsx
      tracecheck reconcile --db q1.duckdb --config strict.toml
      tracecheck reconcile --db q1.duckdb --format csv --quiet --output q1.csv
      tracecheck reconcile --db big.duckdb --memory-limit 3GB
    """
    report = run_engine(
        engine,
        db,
        data,
        spark,
        period=period,
        rules=list(rule_ids) or None,
        config_path=config_path,
        as_of=as_of,
        workers=workers,
        memory_limit=memory_limit,
    )
    every = None if verbosity() == VERBOSE else CAVEATS_SHOWN  # caveats per finding
    emit(report, fmt, output, caveats_shown=every)
    _check_scope(report, fail_on, allow_empty)
    exit_for(report, fail_on, count_caveated)


def _check_scope(report: Report, fail_on: str | None, allow_empty: bool) -> None:
    """Say on stderr that a report judged no record; with --fail-on, fail unless allowed."""
    said = empty_scope_message(report)
    if said is None:
        return
    if fail_on is not None and not allow_empty:
        click.echo(
            f"error: {plain(said)}, and --fail-on {fail_on} does not pass on nothing "
            "(--allow-empty lets it)",
            err=True,
        )
        sys.exit(int(ExitCode.FINDINGS))
    allowed = "; passing anyway (--allow-empty)" if allow_empty else ""
    if verbosity() != QUIET:
        click.echo(f"warning: {plain(said)}{allowed}", err=True)


@click.command("export")
@verbosity_options
@db_option
@click.option(
    "--to",
    "target",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The folder to write (new or empty).",
)
@click.option("--overwrite", is_flag=True, help="Replace an earlier export in that folder.")
def export_command(db: Path, target: Path, overwrite: bool) -> None:
    """Write the store as Parquet tables split by quarter, for Spark.

    One folder per table and a manifest; events, their EPC rows and details, and the
    declarations are split by calendar quarter (tc_period=2026-Q1), so a cluster reads a
    quarter at a time. 'tracecheck reconcile --engine spark --data FOLDER' reads it; copy
    the folder to HDFS or object storage to run it on a cluster.

    \b
    Example:
      tracecheck export --db q1.duckdb --to q1-parquet
      tracecheck export --db q1.duckdb --to q1-parquet --overwrite
    """
    result = export(db, target, overwrite=overwrite)
    if verbosity() == QUIET:
        return
    console().print(export_table(result))
