"""The ``tracecheck`` command: a thin Click layer over the library."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, NoReturn, TypeVar, cast

import click
import duckdb
from rich.console import Console
from rich.filesize import decimal
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

import traceability
from traceability import __version__, reconcile, render
from traceability.config import Config, example_toml, resolve_config, show_toml
from traceability.diff import diff, fails, load_report
from traceability.errors import (
    ExitCode,
    InputError,
    LoadIncomplete,
    StrictLoadAborted,
    TracecheckError,
    resource_error,
)
from traceability.inert import inert
from traceability.kinds import ALL_KINDS
from traceability.load import DEFAULT_LOAD_MEMORY, FileProgress, LoadResult, load
from traceability.model import Report, Severity
from traceability.reconcile import empty_scope_message
from traceability.render import RENDERERS
from traceability.render.to_preflight import render_preflight_table
from traceability.render.to_table import (
    CAVEATS_SHOWN,
    DEFAULT_WIDTH,
    Unpadded,
    render_diff_table,
    render_table,
)
from traceability.validate import validate

F = TypeVar("F", bound=Callable[..., Any])
MAX_REJECTS_SHOWN = 20
MAX_NOTES_SHOWN = 5  # per file
#: Seconds between two progress lines on a standard error that is not a terminal.
PROGRESS_EVERY = 5.0


class Tracecheck(click.Group):
    """The one error boundary: library errors become one line on stderr and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StrictLoadAborted as exc:
            result: LoadResult | None = getattr(exc, "result", None)
            if result is not None:
                _print_rejections(result, err=True)
            click.echo(f"error: {_plain(str(exc))}", err=True)
            ctx.exit(int(exc.exit_code))
        except TracecheckError as exc:
            click.echo(f"error: {_plain(str(exc))}", err=True)
            ctx.exit(int(exc.exit_code))
        except (MemoryError, OSError, duckdb.Error) as exc:  # memory or disk ran out
            short = resource_error(exc, _db_named(ctx))
            if short is None:
                raise
            click.echo(f"error: {_plain(str(short))}", err=True)
            ctx.exit(int(short.exit_code))
        except click.ClickException as exc:  # a usage error may quote an argument as given
            vars(exc)["message"] = _plain(exc.message)  # (``message`` is Final in its types)
            raise


def _db_named(ctx: click.Context) -> str | None:
    """The --db given to the command being run (or TRACECHECK_DB), for an error to name."""
    args = [*ctx.protected_args, *ctx.args]
    for i, arg in enumerate(args):
        if arg == "--db" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--db="):
            return arg[len("--db=") :]
    return os.environ.get("TRACECHECK_DB")


def _plain(text: str) -> str:
    r"""Text that may come from a file (a name, a column, a value) made safe to print.

    Control characters and line breaks are shown escaped, so nothing a file holds can
    recolour the terminal, move its cursor or add a line to the output.

    The one escape every output uses, :func:`traceability.inert.inert`: control, bidi and
    zero-width characters too.

    >>> print(_plain("a\x1b[31mb\nc\u200b"))
    a\x1b[31mb\nc\u200b
    """
    return inert(text)


QUIET, NORMAL, VERBOSE = -1, 0, 1


def verbosity_options(f: F) -> F:
    """``--quiet`` and ``--verbose``: how much a command prints besides its result."""

    def keep(ctx: click.Context, param: click.Parameter, value: bool) -> None:
        if not value:
            return
        level = QUIET if param.name == "quiet" else VERBOSE
        if ctx.meta.get("tracecheck.verbosity", level) != level:
            raise click.UsageError("--quiet and --verbose exclude each other")
        ctx.meta["tracecheck.verbosity"] = level

    f = click.option(
        "--verbose",
        "-v",
        "verbose",
        is_flag=True,
        expose_value=False,
        callback=keep,
        help="Print every note, rejected record and caveat, not only the first ones "
        "(e.g. 'load -v' lists all rejected records, not the first 20).",
    )(f)
    return click.option(
        "--quiet",
        "-q",
        "quiet",
        is_flag=True,
        expose_value=False,
        callback=keep,
        help="Print only the result and errors: no summary tables, progress, notes or "
        "warnings (e.g. 'load -q' prints only the rejected records).",
    )(f)


def _verbosity() -> int:
    """QUIET, NORMAL or VERBOSE, as the command's options say."""
    ctx = click.get_current_context(silent=True)
    level: int = ctx.meta.get("tracecheck.verbosity", NORMAL) if ctx else NORMAL
    return level


def _width(terminal: bool) -> int:
    """Columns for a table: $COLUMNS when set, else the terminal's width; DEFAULT_WIDTH for
    a file or a pipe."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns if terminal else DEFAULT_WIDTH


def _silent(*_: object) -> None:
    """A progress callback that shows nothing (--quiet)."""


def db_option(f: F) -> F:
    """``--db``, also read from TRACECHECK_DB."""
    return click.option(
        "--db",
        envvar="TRACECHECK_DB",
        required=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="DuckDB database file (or set TRACECHECK_DB).",
    )(f)


def _formats(what: str) -> list[str]:
    """The --format choices: the text formats, and the binary ones for reports and diffs."""
    from traceability.render import BINARY_RENDERERS

    return sorted({*RENDERERS, *(BINARY_RENDERERS if what in ("report", "diff") else ())})


def format_options(what: str) -> Callable[[F], F]:
    """The --format and --output options of a command that writes a report, diff or result."""

    def add(command: F) -> F:
        command = click.option(
            "--output",
            type=click.Path(dir_okay=False, path_type=Path),
            help=f"Write the {what} to this file ('-' for standard output, the default).",
        )(command)
        return click.option(
            "--format",
            "fmt",
            type=click.Choice(_formats(what)),
            help="Report format (default: table on a terminal, json otherwise; xlsx needs "
            "--output FILE)."
            if what == "report"
            else "Output format (default: table on a terminal, json otherwise)."
            + (" xlsx needs --output FILE." if what == "diff" else ""),
        )(command)

    return add


@click.group(cls=Tracecheck, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tracecheck")
def cli() -> None:
    """Reconcile pharmaceutical supply-chain declarations and GS1 EPCIS events.

    \b
    Example:
      tracecheck load --db q1.duckdb data/
      tracecheck reconcile --db q1.duckdb --period 2026-Q1
      tracecheck demo
    """


def _console() -> Console:
    """Standard output as wide as the terminal (DEFAULT_WIDTH for a file or a pipe), with
    no line padded with spaces."""
    width = _width(sys.stdout.isatty())
    return Console(file=cast(IO[str], Unpadded(lambda: sys.stdout)), highlight=False, width=width)


def _shown(path: str, base: Path | None) -> str:
    if base is not None:
        try:
            return _plain(str(Path(path).relative_to(base)))
        except ValueError:
            pass
    return _plain(path)


def _print_summary(result: LoadResult, console: Console, base: Path | None = None) -> None:
    longest = max((len(_shown(f.path, base)) for f in result.files), default=0)
    kind = max((len(f.kind) for f in result.files), default=4)
    # Beside the file's name: the kind, five counts (their headers are the widest), the
    # notes when there are some, two spaces of padding a column and the rules between.
    beside = kind + 42 + 8 * any(f.notes for f in result.files) + 3 * 7 + 1
    if result.files and longest + beside > console.width:
        _print_summary_stacked(result, console, base)
    else:
        _print_summary_table(result, console, base)
    _print_load_lines(result, console, base)


def _print_summary_stacked(result: LoadResult, console: Console, base: Path | None) -> None:
    """The load summary as a block per file, for a terminal too narrow for the table."""
    console.print("Load summary", markup=False)
    for f in result.files:
        console.print(_shown(f.path, base), markup=False, soft_wrap=True)
        if f.status == "already-loaded":
            console.print(f"  {f.kind}: already loaded, skipped", markup=False)
            continue
        counts = [
            f"{f.records} records",
            f"{f.accepted} accepted",
            f"{f.duplicates} duplicates",
            f"{f.conflicts} conflicts",
            f"{f.rejected} rejected",
        ]
        if f.notes:
            counts.append(f"{f.notes} notes")
        console.print(f"  {f.kind}: {', '.join(counts)}", markup=False)


def _print_summary_table(result: LoadResult, console: Console, base: Path | None) -> None:
    table = Table(title="Load summary", title_justify="left")
    columns = ["file", "kind", "records", "accepted", "duplicates", "conflicts", "rejected"]
    noted = any(f.notes for f in result.files)  # the notes column, when there are notes
    for name in columns + ["notes"] * noted:
        left = name in ("file", "kind")
        table.add_column(
            name, justify="left" if left else "right", no_wrap=not left, overflow="fold"
        )
    for f in result.files:
        if f.status == "already-loaded":
            table.add_row(
                escape(_shown(f.path, base)), f.kind, "-", "skipped", "-", "-", "-", *["-"] * noted
            )
            continue
        table.add_row(
            escape(_shown(f.path, base)),
            f.kind,
            str(f.records),
            str(f.accepted),
            str(f.duplicates),
            str(f.conflicts),
            str(f.rejected),
            *[str(f.notes)] * noted,
        )
    console.print(table)


def _print_load_lines(result: LoadResult, console: Console, base: Path | None) -> None:
    """What follows the summary: notes, skipped paths, files already loaded, conflicts."""
    _print_notes(result, console, base)
    for skipped in result.skipped:
        console.print(f"skipped: {_plain(str(skipped))}", markup=False, soft_wrap=True)
    for f in result.files:
        if f.status == "already-loaded":
            console.print(
                f"{_shown(f.path, base)}: already loaded (same SHA-256), skipped", markup=False
            )
        if f.extra_columns:
            extra = _plain(", ".join(f.extra_columns))
            console.print(f"{_plain(f.path)}: extra columns kept: {extra}", markup=False)
        if f.conflicts:
            console.print(
                f"{_plain(f.path)}: {f.conflicts} record(s) share a key with a stored record but "
                "differ; both are kept and the reconciliation reports them",
                markup=False,
            )


def _print_notes(result: LoadResult, console: Console, base: Path | None) -> None:
    """The first notes of each file (documents skipped, schema deviations, ...)."""
    for f in result.files:
        notes = [n for n in result.notes if n.source == f.path]
        notes = notes if _verbosity() == VERBOSE else notes[:MAX_NOTES_SHOWN]
        for n in notes:
            where = f"{_shown(f.path, base)}: {n.location}" if n.location else _shown(f.path, base)
            console.print(
                f"{where}: {n.level}: {n.message}", markup=False, highlight=False, soft_wrap=True
            )
        if f.notes > len(notes):
            console.print(
                f"{_shown(f.path, base)}: ... and {f.notes - len(notes)} more "
                "(all are in the load_notes table)",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )


def _print_rejections(result: LoadResult, *, err: bool = False) -> None:
    shown = result.rejections[: None if _verbosity() == VERBOSE else MAX_REJECTS_SHOWN]
    for r in shown:
        click.echo(_plain(str(r)), err=err)
    more = max(result.rejections_stored, len(result.rejections)) - len(shown)
    if more > 0:
        click.echo(f"... and {more} more (all are in the rejects table)", err=err)


@contextmanager
def _file_progress(verb: str) -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar over files on a terminal's stderr (none when it is not a terminal),
    and the callback the library calls with each file; the file's name is shown escaped."""
    if _verbosity() == QUIET:
        yield _silent
        return
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task(verb, total=None)

        def progress(path: str, index: int, total: int) -> None:
            shown = escape(_plain(path))
            bar.update(task, description=f"{verb} {shown}", completed=index, total=total)

        yield progress


class _Lines:
    """Progress as lines on standard error when it is not a terminal: at most one every
    ``every`` seconds (the first after ``first``), and one whenever ``last`` is set."""

    def __init__(self, every: float = PROGRESS_EVERY, first: float | None = None) -> None:
        self.every = every
        self.due = time.monotonic() + (every if first is None else first)
        self.spoken = False

    def say(self, text: str, *, last: bool = False) -> None:
        now = time.monotonic()
        if last or now >= self.due:
            click.echo(text, err=True)
            self.due, self.spoken = now + self.every, True


def _per_second(count: float) -> str:
    return f"{count / 1000:,.0f}k/s" if count >= 10_000 else f"{count:,.0f}/s"


class _LoadLines(_Lines):
    """``load: events.jsonl 412.0 MB/1.6 GB, 250,000 records, 48k/s, ETA 0:00:21``."""

    started = 0.0

    def __call__(self, at: FileProgress) -> None:
        now = time.monotonic()
        if at.records == 0 and at.bytes_done == 0 and not at.done:
            self.started = now
            return
        took = max(now - self.started, 1e-6)
        name, rate = _plain(Path(at.path).name), _per_second(at.records / took)
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


def _clock(seconds: float) -> str:
    whole = int(seconds + 0.5)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


@contextmanager
def _load_progress() -> Iterator[Callable[[FileProgress], None]]:
    """The progress of a load within each file, on standard error: a bar with bytes, rate
    and time left on a terminal, else a line now and then and one at each file's end."""
    if _verbosity() == QUIET:
        yield _silent
        return
    console = Console(stderr=True)
    if not console.is_terminal:
        yield _LoadLines()
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(bar_width=16),
        DownloadColumn(),
        TransferSpeedColumn(),
        TextColumn("{task.fields[records]} records"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("loading", total=None, records="0")

        def within(at: FileProgress) -> None:
            name = escape(_plain(Path(at.path).name))
            if at.records == 0 and at.bytes_done == 0 and not at.done:
                bar.reset(task, total=at.bytes_total or None, completed=0, records="0")
            bar.update(
                task,
                description=f"loading {name} ({at.index + 1}/{at.files})",
                completed=at.bytes_done if at.bytes_done is not None else None,
                records=f"{at.records:,}",
            )

        yield within


@contextmanager
def _rules_progress() -> Iterator[Callable[[int, int], None]]:
    """Rules done of the total, on standard error: a bar on a terminal, else a line
    now and then (a run that ends within twice PROGRESS_EVERY seconds prints none)."""
    if _verbosity() == QUIET:
        yield _silent
        return
    console = Console(stderr=True)
    if not console.is_terminal:
        lines = _Lines(first=2 * PROGRESS_EVERY)

        def say(done: int, total: int) -> None:
            lines.say(f"reconcile: {done}/{total} rules", last=lines.spoken and done == total)

        yield say
        return
    with Progress(
        TextColumn("reconcile"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rules"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("reconcile", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


@cli.command("load")
@verbosity_options
@db_option
@click.option(
    "--kind",
    type=click.Choice(ALL_KINDS),
    help="Treat every file as this kind instead of detecting it from its header.",
)
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
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
def load_command(
    db: Path, kind: str | None, strict: bool, memory_limit: str, paths: tuple[Path, ...]
) -> None:
    """Load PATHS (files, folders) into the database.

    PATHS are files of the input contract, or folders walked recursively. The kind of
    each file is detected from its header (or EPCIS document type). Files already loaded
    are skipped; records already stored count once. Rejected records are listed with
    file, line and field, stored in the rejects table, and the rest loads. Each file that
    cannot be read is named on standard error and the others still load (exit 2); what a
    folder holds that is not read (other types, hidden files, links out of it, FIFOs) is
    listed with the reason. Progress goes to standard error.

    \b
    Example:
      tracecheck load --db q1.duckdb products.csv batches.csv events/
      tracecheck load --db q1.duckdb --strict consignments.csv
      tracecheck load --db q1.duckdb --kind filings returns-2026-q1.xlsx
      tracecheck load --db q1.duckdb --quiet data/
    """
    try:
        with _load_progress() as within:
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
    if _verbosity() != QUIET:
        _print_summary(result, _console())
    _print_rejections(result)


def _say_unreadable(result: LoadResult, strict: bool) -> NoReturn:
    """What a load that could not read every path did: every such path on stderr, exit 2."""
    if strict:
        _print_rejections(result, err=True)
    elif result.files or result.skipped:
        if _verbosity() != QUIET:
            _print_summary(result, _console())
        _print_rejections(result)
    for problem in result.unreadable:
        click.echo(f"error: {_plain(str(problem))}", err=True)
    if strict or len(result.unreadable) > 1:
        what = "nothing was loaded (--strict)" if strict else "the other files were loaded"
        count = len(result.unreadable)
        paths = "1 path" if count == 1 else f"{count} paths"
        click.echo(f"error: {paths} could not be read; {what}", err=True)
    sys.exit(int(ExitCode.BAD_INPUT))


@cli.command("validate")
@verbosity_options
@click.option(
    "--kind",
    type=click.Choice(ALL_KINDS),
    help="Treat every file as this kind instead of detecting it from its header.",
)
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
    with _file_progress("checking") as progress:
        result = validate(list(files), kind=kind, progress=progress)
    for f in result.unreadable:
        click.echo(f"error: {_plain(f.error or f.path)}", err=True)
    if fmt == "json":
        text = result.to_json()
    else:
        lines = [
            f"{_plain(f.where(i))}: [{i.level}] {_plain(i.code)}: {_plain(i.message)}"
            for f in result.files
            for i in f.issues
        ]
        summary = [] if _verbosity() == QUIET else [_plain(result.summary())]
        text = "".join(f"{line}\n" for line in [*lines, *summary])
    _write(text, output)
    if result.exit_code:
        sys.exit(int(result.exit_code))


@cli.command("demo")
@verbosity_options
@click.option(
    "--folder",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the sample quarter and its database here instead of a temporary folder.",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the generated quarter.")
def demo_command(folder: Path | None, seed: int) -> None:
    """Generate a sample quarter, load it and reconcile it.

    The report lists exactly the discrepancies planted in the sample: the main job of
    tracecheck, with no set-up.

    \b
    Example:
      tracecheck demo
      tracecheck demo --folder demo-q1 --seed 7
    """
    from traceability.sample import DEMO_PLANTS, generate_quarter

    with tempfile.TemporaryDirectory(prefix="tracecheck-demo-") as tmp:
        base = folder or Path(tmp)
        sample = generate_quarter(base / "data", seed=seed, plant=DEMO_PLANTS)
        db = base / "demo.duckdb"
        if db.exists():
            db.unlink()
        result = load(db, [sample.folder])
        console = _console()
        quiet = _verbosity() == QUIET
        if folder and not quiet:
            console.print(
                f"Sample quarter generated in {_plain(str(sample.folder))}, loaded into "
                f"{_plain(str(db))}:",
                markup=False,
            )
        elif not quiet:
            console.print("Sample quarter generated and loaded in a temporary folder:")
        if not quiet:
            _print_summary(result, console, base=sample.folder)
        _print_rejections(result)
        report = reconcile(db)
        terminal = sys.stdout.isatty()
        click.echo(render_table(report, width=_width(terminal), color=terminal), nl=False)
        if not quiet:
            click.echo(demo_epilogue(folder, db))


def demo_epilogue(folder: Path | None, db: Path) -> str:
    """What the demo leaves on disk and how to look at it again."""
    if folder is None:
        return (
            "The sample quarter and its database are in a temporary folder removed as the "
            "demo ends: nothing is left on disk. To keep them: tracecheck demo --folder DIR"
        )
    return (
        f"Kept in {_plain(str(folder))}: the sample quarter ({_plain(str(folder / 'data'))}) "
        f"and its database ({_plain(str(db))}). Look again with: tracecheck reconcile "
        f"--db {_plain(str(db))}"
    )


def _write(text: str, output: Path | None) -> None:
    if output is None or str(output) == "-":
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise TracecheckError(f"{output}: cannot write report ({exc.strerror})") from None


def _emit(obj: Report | traceability.Diff, fmt: str, output: Path | None) -> None:
    """Write a report or a diff in ``fmt``: a text format as :func:`_write` does; a binary
    one (xlsx) to ``--output FILE``, or to standard output when that is not a terminal."""
    from traceability.render import is_binary, render_bytes

    if not is_binary(fmt):
        _write(render(obj, fmt), output)
        return
    if output is None:
        raise InputError(
            f"--format {fmt} writes a binary file: give --output FILE", hint=f"e.g. report.{fmt}"
        )
    stream = sys.stdout.buffer if str(output) == "-" else None
    if stream is not None and stream.isatty():
        raise InputError(
            f"refusing to write {fmt} (binary) to a terminal",
            hint="give --output FILE, or redirect standard output to a file",
        )
    data = render_bytes(obj, fmt)
    if stream is not None:
        stream.write(data)
        stream.flush()
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise TracecheckError(f"{output}: cannot write report ({exc.strerror})") from None


def _settings(given: Path | None) -> Config:
    """The settings in effect: ``--config``, else $TRACECHECK_CONFIG, else ./tracecheck.toml,
    else the defaults; a file found without ``--config`` is named on standard error."""
    config = resolve_config(given)
    if config.file and config.found_by != "--config" and _verbosity() != QUIET:
        how = "named by" if config.found_by.isupper() else "found as"
        click.echo(f"note: settings from {_plain(config.file)} ({how} {config.found_by})", err=True)
    return config


def _exit_for(report: Report, fail_on: str | None, count_caveated: bool = True) -> None:
    if fail_on is None:
        return
    if report.fails(Severity(fail_on), caveated=count_caveated, allow_empty=True):
        sys.exit(int(ExitCode.FINDINGS))


def caveated_option(f: F) -> F:
    """``--count-caveated/--ignore-caveated``: whether --fail-on counts caveated findings."""
    return click.option(
        "--count-caveated/--ignore-caveated",
        "count_caveated",
        default=True,
        help="Whether --fail-on counts the findings that carry caveats (a record the load "
        "rejected names their subject, so they may be wrong for want of it). Default: count "
        "them; --ignore-caveated leaves them out of --fail-on (they stay in the report).",
    )(f)


@cli.command("reconcile")
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
@click.option(
    "--master",
    help="Spark master for --engine spark (default: $TRACECHECK_SPARK_MASTER, else local[2]).",
)
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
def reconcile_command(
    db: Path | None,
    engine: str,
    data: str | None,
    master: str | None,
    period: str | None,
    rule_ids: tuple[str, ...],
    fmt: str | None,
    output: Path | None,
    fail_on: str | None,
    count_caveated: bool,
    allow_empty: bool,
    config_path: Path | None,
    as_of: str | None,
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
      tracecheck reconcile --db q1.duckdb --format xlsx --output q1.xlsx
      tracecheck reconcile --db q1.duckdb --config strict.toml
      tracecheck reconcile --db q1.duckdb --format csv --quiet --output q1.csv
    """
    selection = list(rule_ids) or None
    if engine == "spark":
        if not data:
            raise InputError(
                "--engine spark reads --data, a folder written by 'tracecheck export'",
                hint="tracecheck export --db STORE --to FOLDER, then --data FOLDER",
            )
        try:
            from traceability.spark import reconcile_spark
        except ImportError as exc:
            raise InputError(
                f"the Spark engine needs the 'spark' extra ({exc.name} is not installed)",
                hint="pip install 'tracecheck[spark]' (and Java 17 or newer)",
            ) from None

        report = reconcile_spark(
            data,
            period=period,
            rules=selection,
            config=_settings(config_path),
            as_of=as_of,
            master=master,
            progress=_spark_progress,
        )
    else:
        if db is None:
            raise InputError("--db is required (or set TRACECHECK_DB)")
        if data or master:
            raise InputError("--data and --master go with --engine spark")
        with _rules_progress() as progress:
            report = reconcile(
                db,
                period=period,
                rules=selection,
                config=_settings(config_path),
                as_of=as_of,
                progress=progress,
            )
    to_terminal = (output is None or str(output) == "-") and sys.stdout.isatty()
    fmt = fmt or ("table" if to_terminal else "json")
    if fmt == "table":
        every = None if _verbosity() == VERBOSE else CAVEATS_SHOWN  # caveats per finding
        table = render_table(
            report, width=_width(to_terminal), color=to_terminal, caveats_shown=every
        )
        _write(table, output)
    else:
        _emit(report, fmt, output)
    _check_scope(report, fail_on, allow_empty)
    _exit_for(report, fail_on, count_caveated)


def _check_scope(report: Report, fail_on: str | None, allow_empty: bool) -> None:
    """Say on stderr that a report judged no record; with --fail-on, fail unless allowed."""
    said = empty_scope_message(report)
    if said is None:
        return
    if fail_on is not None and not allow_empty:
        click.echo(
            f"error: {_plain(said)}, and --fail-on {fail_on} does not pass on nothing "
            "(--allow-empty lets it)",
            err=True,
        )
        sys.exit(int(ExitCode.FINDINGS))
    allowed = "; passing anyway (--allow-empty)" if allow_empty else ""
    if _verbosity() != QUIET:
        click.echo(f"warning: {_plain(said)}{allowed}", err=True)


def _spark_progress(step: str) -> None:
    if sys.stderr.isatty():
        click.echo(f"spark: {step}", err=True)


@cli.command("export")
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
    from traceability.export import export

    result = export(db, target, overwrite=overwrite)
    if _verbosity() == QUIET:
        return
    table = Table(title=f"Exported to {escape(_plain(str(result.folder)))}", title_justify="left")
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("split by period")
    for t in result.tables:
        table.add_row(t.name, f"{t.rows:,}", "yes" if t.partitioned else "")
    _console().print(table)


@cli.command("diff")
@verbosity_options
@click.argument("old", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("new", type=click.Path(dir_okay=False, path_type=Path))
@format_options("diff")
@click.option(
    "--fail-on",
    type=click.Choice([s.value for s in Severity]),
    help="Exit 1 when a new or changed finding, or a finding of NEW out of scope, is at or "
    "above this severity.",
)
@caveated_option
@click.option(
    "--common-scope",
    is_flag=True,
    help="Compare reports of other periods or settings on what they share (the period both "
    "cover, the rules the settings do not affect) instead of refusing them.",
)
def diff_command(
    old: Path,
    new: Path,
    fmt: str | None,
    output: Path | None,
    fail_on: str | None,
    count_caveated: bool,
    common_scope: bool,
) -> None:
    """Compare two JSON reports: what is new, resolved or changed.

    OLD and NEW are reports written by 'reconcile --format json' (or two preflight results
    of one shipment). Findings are matched by fingerprint (rule and subject): each is new,
    resolved, changed (other quantities or another severity) or unchanged. A change of
    caveats alone does not make a finding changed.

    Only what both reports looked at is compared. A finding of a rule the other report did
    not run (or ran with no data), or whose subject it could not judge, is out of scope:
    neither new nor resolved, listed apart with the reason, and the scope compared is
    printed. Reports of other kinds are refused; so are reports of other periods or
    settings (tolerances, window, severity overrides) unless --common-scope is given.

    --fail-on looks at new and changed findings, and at NEW's findings out of scope, which
    nothing shows to be known (with --ignore-caveated, only at those without caveats).
    Exit 0: nothing at or above --fail-on; 1: something is; 2: bad input, or reports that
    cannot be compared (one line saying why).

    \b
    Example:
      tracecheck diff monday.json friday.json
      tracecheck diff monday.json friday.json --format html --output changes.html
      tracecheck diff last.json this.json --fail-on high
      tracecheck diff last.json this.json --fail-on high --ignore-caveated
      tracecheck diff full.json mirror-only.json --format json
      tracecheck diff q1-2026.json year-2026.json --common-scope --fail-on high
    """
    result = diff(load_report(old), load_report(new), common_scope=common_scope)
    to_terminal = (output is None or str(output) == "-") and sys.stdout.isatty()
    fmt = fmt or ("table" if to_terminal else "json")
    if fmt == "table":
        _write(render_diff_table(result, width=_width(to_terminal), color=to_terminal), output)
    else:
        _emit(result, fmt, output)
    if fail_on is not None and fails(result, Severity(fail_on), caveated=count_caveated):
        sys.exit(int(ExitCode.FINDINGS))


@cli.command("preflight")
@verbosity_options
@db_option
@click.argument("shipment", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--epcs",
    type=click.Path(dir_okay=False, path_type=Path),
    help="What will physically go: one EPC (SGTIN or SSCC, URN or Digital Link) a line, or "
    "an EPCIS document (.json, .jsonl, .xml) with the planned packing and shipping events.",
)
@click.option("--as-of", help="The day the shipment leaves (default: the lines' declared_date).")
@format_options("result")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML settings file; [preflight] min_shelf_life_days, rules (default: the file "
    "$TRACECHECK_CONFIG names, else ./tracecheck.toml; 'tracecheck config --example').",
)
@click.option(
    "--allow-missing-data",
    is_flag=True,
    help="Clear the shipment even when a check it needs cannot be made for want of data "
    "(default: blocked, exit 1, 'cannot check: ...'); standard error names the checks "
    "not made.",
)
def preflight_command(
    db: Path,
    shipment: Path,
    epcs: Path | None,
    as_of: str | None,
    fmt: str | None,
    output: Path | None,
    config_path: Path | None,
    allow_missing_data: bool,
) -> None:
    """Check a planned SHIPMENT before it leaves.

    SHIPMENT is a consignments file (CSV, JSON Lines) whose export lines share one
    shipment_ref. The catalogue's rules run as if the shipment had left, and only what
    concerns it is reported: each blocking reason with its rule id, the entity and what
    to do. The balance of each authorisation quoted is shown. Nothing is written to the
    database. Exit 0: clear to ship; 1: blocked; 2: bad input.

    A check the shipment needs that the database cannot support blocks it too (exit 1),
    its reason 'cannot check: ...' naming what is missing: no batches loaded; no products
    loaded, or a product shipped not among them; no authorisations loaded when a product
    shipped is controlled; no events loaded when --epcs is given. What the shipment does
    not need blocks nothing (authorisations for uncontrolled products, events without
    --epcs, earlier consignments). --allow-missing-data clears it without those checks.

    \b
    Example:
      tracecheck preflight --db q1.duckdb shipment.csv --epcs scanned.txt
      tracecheck preflight --db q1.duckdb shipment.csv --epcs packing.json --format md
      tracecheck preflight --db q1.duckdb shipment.csv --as-of 2026-04-02 --config pf.toml
      tracecheck preflight --db new.duckdb shipment.csv --allow-missing-data
    """
    result = traceability.preflight(
        db,
        shipment,
        epcs=epcs,
        as_of=as_of,
        config=_settings(config_path),
        allow_missing_data=allow_missing_data,
    )
    to_terminal = (output is None or str(output) == "-") and sys.stdout.isatty()
    fmt = fmt or ("table" if to_terminal else "json")
    if fmt == "table":
        width = _width(to_terminal)
        _write(render_preflight_table(result, width=width, color=to_terminal), output)
    else:
        _write(render(result, fmt), output)
    _say_unchecked(result)
    if not result.clear:
        sys.exit(int(ExitCode.FINDINGS))


def _say_unchecked(result: traceability.Preflight) -> None:
    """Name on stderr the checks a preflight could not make, one line per reason."""
    if not result.unchecked:
        return
    by_reason: dict[str, list[str]] = {}
    for gap in result.unchecked:
        by_reason.setdefault(gap.reason, []).append(gap.rule)
    allowed = result.missing_data_allowed
    for reason, rules_named in by_reason.items():
        said = f"{_plain(reason)}; rule(s) {', '.join(rules_named)}"
        if allowed and _verbosity() != QUIET:
            click.echo(f"warning: {said}; not blocking (--allow-missing-data)", err=True)
        elif not allowed:
            click.echo(f"blocked: {said}", err=True)
    if not allowed:
        click.echo(
            "hint: load what is missing, or pass --allow-missing-data to clear the shipment "
            "without these checks",
            err=True,
        )


@cli.command("rules")
@click.argument("id", nargs=-1)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "md"]),
    default="table",
    show_default=True,
    help="table: the catalogue, or with IDs each rule's full header, as text; json: every "
    "header field of each rule, for tools; md: Markdown.",
)
def rules_command(id: tuple[str, ...], fmt: str) -> None:
    """List the reconciliation rules, or show what one checks and why.

    Without an ID: the catalogue, each rule's id, group, default severity and what it
    checks. With one ID or more (or groups: batch, mirror, serial, filings, authorisations),
    all that each rule's header says: what it checks, why it matters, its severity, its
    tolerance, the inputs it needs, the evidence it lists and what it may report as not
    judged. An unknown ID is an error naming the closest ids (exit 2).

    \b
    Example:
      tracecheck rules
      tracecheck rules over-export
      tracecheck rules mirror --format md
      tracecheck rules --format json
    """
    from traceability.rules import catalogue_json, catalogue_md, describe, select

    names = list(id)
    chosen = select(names or None)
    if fmt == "json":
        click.echo(catalogue_json(chosen), nl=False)
    elif fmt == "md":
        click.echo(catalogue_md(chosen), nl=False)
    elif names:
        click.echo("\n".join(describe(r) for r in chosen), nl=False)
    else:
        table = Table(title="Reconciliation rules", title_justify="left", expand=True)
        table.add_column("rule", no_wrap=True)
        table.add_column("group", no_wrap=True)
        table.add_column("severity", no_wrap=True)
        table.add_column("checks")
        for rule in chosen:
            summary = rule.checks.split(". ")[0].rstrip(".") + "."
            table.add_row(rule.id, rule.group, rule.severity.value, summary)
        Console(highlight=False).print(table)
        click.echo("Show one rule in full: tracecheck rules ID")


@cli.command("config")
@click.option(
    "--example",
    "action",
    flag_value="example",
    help="Print a settings file with every key, its default and its meaning.",
)
@click.option(
    "--show",
    "action",
    flag_value="show",
    default=True,
    help="Print the settings in effect and where each value comes from (the default).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The settings file to show (default: the file $TRACECHECK_CONFIG names, else "
    "./tracecheck.toml).",
)
def config_command(action: str, config_path: Path | None) -> None:
    """Show the settings in effect, or an example settings file.

    reconcile and preflight read their settings from --config FILE, else from the file the
    environment variable TRACECHECK_CONFIG names, else from tracecheck.toml in the current
    directory, else use the built-in defaults. A file sets only the keys it names; the
    others keep their defaults. A bad file is an error naming the file, the line and the
    key (exit 2). Start a settings file from the example: tracecheck config --example >
    tracecheck.toml, then delete what you keep at its default.

    \b
    Example:
      tracecheck config --example
      tracecheck config --show
      tracecheck config --show --config strict.toml
    """
    if action == "example":
        click.echo(example_toml(), nl=False)
    else:
        click.echo(show_toml(resolve_config(config_path)), nl=False)


def main() -> None:
    """Console entry point."""
    cli(prog_name="tracecheck")
