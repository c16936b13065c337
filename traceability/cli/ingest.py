"""``tracecheck load`` and ``tracecheck validate``: files into the store, or checked only."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.filesize import decimal
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from traceability.cli.common import (
    QUIET,
    VERBOSE,
    SparkSettings,
    console,
    plain,
    print_rejections,
    spark_options,
    verbosity,
    verbosity_options,
    write,
)
from traceability.cli.progress import Lines, progress
from traceability.errors import ExitCode, InputError, LoadIncomplete, spark_extra_missing
from traceability.kinds import ALL_KINDS
from traceability.load import DEFAULT_LOAD_MEMORY, FileProgress, LoadResult, load
from traceability.render.load_summary import NOTES_SHOWN, print_load_summary
from traceability.validate import validate


def _per_second(count: float) -> str:
    return f"{count / 1000:,.0f}k/s" if count >= 10_000 else f"{count:,.0f}/s"


def _clock(seconds: float) -> str:
    whole = int(seconds + 0.5)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


class LoadLines(Lines):
    """``load: events.jsonl 412.0 MB/1.6 GB, 250,000 records, 48k/s, ETA 0:00:21``."""

    started = 0.0

    def __call__(self, at: FileProgress) -> None:
        now = time.monotonic()
        if at.records == 0 and at.bytes_done == 0 and not at.done:
            self.started = now
            return
        took = max(now - self.started, 1e-6)
        name, rate = plain(Path(at.path).name), _per_second(at.records / took)
        if at.done:
            self.say(
                f"load: {name} {decimal(at.bytes_total)}, {at.records:,} records in "
                f"{_clock(took)} ({rate})",
                last=True,
            )
            return
        done = f"{decimal(at.bytes_done)}/" if at.bytes_done is not None else ""
        eta = ""
        if at.bytes_done:
            eta = f", ETA {_clock((at.bytes_total - at.bytes_done) * took / at.bytes_done)}"
        self.say(
            f"load: {name} {done}{decimal(at.bytes_total)}, {at.records:,} records, {rate}{eta}"
        )


def _load_bar(bar: Progress, task: TaskID, at: FileProgress) -> None:
    """The bar of a load: the file, its bytes read, rate, records and time left."""
    name = escape(plain(Path(at.path).name))
    if at.records == 0 and at.bytes_done == 0 and not at.done:
        bar.reset(task, total=at.bytes_total or None, completed=0, records="0")
    bar.update(
        task,
        description=f"loading {name} ({at.index + 1}/{at.files})",
        completed=at.bytes_done if at.bytes_done is not None else None,
        records=f"{at.records:,}",
    )


def _checking_bar(bar: Progress, task: TaskID, path: str, index: int, total: int) -> None:
    """The bar of a validation: files checked of the total, the current one named."""
    shown = escape(plain(path))
    bar.update(task, description=f"checking {shown}", completed=index, total=total)


#: ``--kind``, for every command that reads input files.
kind_option = click.option(
    "--kind",
    type=click.Choice(ALL_KINDS),
    help="Treat every file as this kind instead of detecting it from its header.",
)


@click.command("load")
@verbosity_options
@click.option(
    "--db",
    envvar="TRACECHECK_DB",
    type=click.Path(dir_okay=False, path_type=Path),
    help="DuckDB database file (or set TRACECHECK_DB); the duckdb engine loads into it.",
)
@click.option(
    "--engine",
    type=click.Choice(["duckdb", "spark"]),
    default="duckdb",
    show_default=True,
    help="Load with DuckDB into --db, or on Apache Spark into --data.",
)
@click.option(
    "--data",
    help="The spark engine's store: a folder of Parquet tables, as 'tracecheck export' "
    "writes it (a local path, or any URI Spark writes: hdfs://, s3a://, ...); created, "
    "or added to. 'reconcile --engine spark --data' reads it.",
)
@spark_options
@kind_option
@click.option(
    "--strict",
    is_flag=True,
    help="Any rejected record (exit 3), or file that cannot be read (exit 2), aborts the "
    "whole load and leaves the database as it was.",
)
@click.option(
    "--memory-limit",
    metavar="SIZE",
    default=DEFAULT_LOAD_MEMORY,
    show_default=True,
    help="Memory the database engine may use for the load (e.g. 512MB, 4GB); past it, "
    "it spills to a temporary folder beside the database, so a file of millions of "
    "rejected records loads in bounded memory.",
)
@click.argument("paths", nargs=-1, required=True, type=click.Path())
def load_command(
    db: Path | None,
    engine: str,
    data: str | None,
    spark: SparkSettings,
    kind: str | None,
    strict: bool,
    memory_limit: str,
    paths: tuple[str, ...],
) -> None:
    """Load PATHS (files, folders) into the database.

    PATHS are files of the input contract, or folders walked recursively. The kind of
    each file is detected from its header (or EPCIS document type). Files already loaded
    are skipped; records already stored count once. Rejected records are listed with
    file, line and field, stored in the rejects table, and the rest loads. Each file that
    cannot be read is named on standard error and the others still load (exit 2); what a
    folder holds that is not read (other types, hidden files, links out of it, FIFOs) is
    listed with the reason. Progress goes to standard error.

    With --engine spark the files are read through Spark (PATHS may be URIs: hdfs://,
    s3a://, ...), each loaded by the same loader in a Spark task, and the store at --data
    is written as Parquet tables split by quarter, in place of the database.

    \b
    Example:
      tracecheck load --db q1.duckdb products.csv batches.csv events/
      tracecheck load --db q1.duckdb --strict consignments.csv
      tracecheck load --db q1.duckdb --kind filings returns-2026-q1.xlsx
      tracecheck load --db q1.duckdb --quiet data/
      tracecheck load --engine spark --data q1-store events/ declarations/
      tracecheck load --engine spark --data s3a://bucket/q1 --packages G:A:V s3a://bucket/in/
    """
    spark.only_with_spark(engine)
    if engine == "spark":
        if not data:
            raise InputError("--engine spark loads into --data, a folder of Parquet tables")
        _load_on_spark(data, spark, kind, strict, memory_limit, paths)
        return
    if data:
        raise InputError("--data goes with --engine spark")
    if db is None:
        raise InputError("--db is required (or set TRACECHECK_DB)")
    columns = (
        TextColumn("{task.description}"),
        BarColumn(bar_width=16),
        DownloadColumn(),
        TransferSpeedColumn(),
        TextColumn("{task.fields[records]} records"),
        TimeRemainingColumn(),
    )
    try:
        with progress(
            columns, _load_bar, LoadLines(), description="loading", records="0"
        ) as within:
            result = load(
                db,
                list(paths),
                kind=kind,
                strict=strict,
                within_file=within,
                memory_limit=memory_limit,
            )
    except LoadIncomplete as exc:
        if not isinstance(exc.result, LoadResult):
            raise
        _say_unreadable(exc.result, strict)
    print_summary(result)
    print_rejections(result)


def _load_on_spark(
    data: str,
    spark: SparkSettings,
    kind: str | None,
    strict: bool,
    memory_limit: str,
    paths: tuple[str, ...],
) -> None:
    """``load --engine spark``: the summary as for DuckDB, once the store is written."""
    if verbosity() != QUIET:
        click.echo("load: on Spark, into " + plain(data), err=True)
    try:
        result = _spark_loader()(
            list(paths),
            data,
            kind=kind,
            strict=strict,
            master=spark.master,
            spark_conf=spark.conf,
            memory_limit=memory_limit,
        )
    except LoadIncomplete as exc:
        if not isinstance(exc.result, LoadResult):
            raise
        _say_unreadable(exc.result, strict)
    print_summary(result)
    print_rejections(result)


def _spark_loader() -> Any:
    """The load on Spark, imported only when asked for: its libraries (pyspark, sqlglot)
    are the optional ``spark`` extra, which an installation may lack."""
    try:
        from traceability.spark.load import load_spark
    except ImportError as exc:
        raise spark_extra_missing(exc) from None
    return load_spark


def print_summary(result: LoadResult, base: Path | None = None) -> None:
    """The load summary on standard output, unless --quiet; every note with --verbose."""
    if verbosity() == QUIET:
        return
    notes = None if verbosity() == VERBOSE else NOTES_SHOWN
    print_load_summary(result, console(), base, notes_shown=notes)


def _say_unreadable(result: LoadResult, strict: bool) -> NoReturn:
    """What a load that could not read every path did: every such path on stderr, exit 2."""
    if strict:
        print_rejections(result, err=True)
    elif result.files or result.skipped:
        print_summary(result)
        print_rejections(result)
    for problem in result.unreadable:
        click.echo(f"error: {plain(str(problem))}", err=True)
    if strict or len(result.unreadable) > 1:
        what = "nothing was loaded (--strict)" if strict else "the other files were loaded"
        count = len(result.unreadable)
        paths = "1 path" if count == 1 else f"{count} paths"
        click.echo(f"error: {paths} could not be read; {what}", err=True)
    sys.exit(int(ExitCode.BAD_INPUT))


@click.command("validate")
@verbosity_options
@kind_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table: one line per reject or note and a summary; json: for pipelines.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the result to this file ('-' for standard output, the default).",
)
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate_command(
    kind: str | None, fmt: str, output: Path | None, files: tuple[Path, ...]
) -> None:
    """Check FILES against the standard and the input contract.

    The sender's check before sending: FILES are files or folders (walked recursively),
    each read as 'load' reads it, and every record it would reject and every note or
    warning about it is listed with file, line (or event) and code. Nothing is loaded and
    no database is written. Exit 0: no reject and no note; 1: any; 2: a file cannot be
    read (one line on standard error each; the other files are still checked).

    \b
    Example:
      tracecheck validate events.jsonl consignments.csv
      tracecheck validate outbox/ --format json --output outbox-check.json
      tracecheck validate --kind filings returns-2026-q1.xlsx
    """
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with progress(columns, _checking_bar, description="checking") as checked:
        result = validate(list(files), kind=kind, progress=checked)
    for f in result.unreadable:
        click.echo(f"error: {plain(f.error or f.path)}", err=True)
    if fmt == "json":
        text = result.to_json()
    else:
        lines = [
            f"{plain(f.where(i))}: [{i.level}] {plain(i.code)}: {plain(i.message)}"
            for f in result.files
            for i in f.issues
        ]
        summary = [] if verbosity() == QUIET else [plain(result.summary())]
        text = "".join(f"{line}\n" for line in [*lines, *summary])
    write(text, output)
    if result.exit_code:
        sys.exit(int(result.exit_code))
