"""The ``tracecheck`` command: a thin Click layer over the library."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from traceability import __version__
from traceability.errors import StrictLoadAborted, TracecheckError
from traceability.load import LoadResult, load
from traceability.load.kinds import ALL_KINDS

F = TypeVar("F", bound=Callable[..., Any])
MAX_REJECTS_SHOWN = 20


class Tracecheck(click.Group):
    """The one error boundary: library errors become one line on stderr and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StrictLoadAborted as exc:
            result: LoadResult | None = getattr(exc, "result", None)
            if result is not None:
                _print_rejections(result, err=True)
            click.echo(f"error: {exc}", err=True)
            ctx.exit(int(exc.exit_code))
        except TracecheckError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(int(exc.exit_code))


def db_option(f: F) -> F:
    """``--db``, also read from TRACECHECK_DB."""
    return click.option(
        "--db",
        envvar="TRACECHECK_DB",
        required=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="DuckDB database file (or set TRACECHECK_DB).",
    )(f)


@click.group(cls=Tracecheck, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tracecheck")
def cli() -> None:
    """Reconcile pharmaceutical supply-chain declarations and GS1 EPCIS events.

    \b
    Example:
      tracecheck load --db q1.duckdb data/
      tracecheck demo
    """


def _print_summary(result: LoadResult, console: Console) -> None:
    table = Table(title="Load summary", title_justify="left")
    for name in ("file", "kind", "records", "accepted", "duplicates", "conflicts", "rejected"):
        table.add_column(name, justify="left" if name in ("file", "kind") else "right")
    for f in result.files:
        if f.status == "already-loaded":
            table.add_row(f.path, f.kind, "", "already loaded (same SHA-256): skipped", "", "", "")
            continue
        table.add_row(
            f.path,
            f.kind,
            str(f.records),
            str(f.accepted),
            str(f.duplicates),
            str(f.conflicts),
            str(f.rejected),
        )
    console.print(table)
    for f in result.files:
        if f.extra_columns:
            console.print(f"{f.path}: extra columns kept: {', '.join(f.extra_columns)}")
        if f.conflicts:
            console.print(
                f"{f.path}: {f.conflicts} record(s) share a key with a stored record but differ; "
                "both are kept and the reconciliation reports them"
            )


def _print_rejections(result: LoadResult, *, err: bool = False) -> None:
    shown = result.rejections[:MAX_REJECTS_SHOWN]
    for r in shown:
        click.echo(str(r), err=err)
    more = len(result.rejections) - len(shown)
    if more > 0:
        click.echo(f"... and {more} more (all are in the rejects table)", err=err)


@cli.command("load")
@db_option
@click.option(
    "--kind",
    type=click.Choice(ALL_KINDS),
    help="Treat every file as this kind instead of detecting it from its header.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Any rejected record aborts the whole load and leaves the database as it was (exit 3).",
)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
def load_command(db: Path, kind: str | None, strict: bool, paths: tuple[Path, ...]) -> None:
    """Load files or folders of the input contract into the database.

    The kind of each file is detected from its header (or EPCIS document type). Files
    already loaded are skipped; records already stored count once. Rejected records are
    listed with file, line and field, stored in the rejects table, and the rest loads.

    \b
    Example:
      tracecheck load --db q1.duckdb products.csv batches.csv events/
      tracecheck load --db q1.duckdb --strict consignments.csv
      tracecheck load --db q1.duckdb --kind filings returns-2026-q1.xlsx
    """
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
        task = bar.add_task("loading", total=None)

        def progress(path: str, index: int, total: int) -> None:
            bar.update(task, description=f"loading {path}", completed=index, total=total)

        result = load(db, list(paths), kind=kind, strict=strict, progress=progress)
    _print_summary(result, Console(highlight=False))
    _print_rejections(result)


@cli.command("demo")
@click.option(
    "--folder",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the sample quarter and its database here instead of a temporary folder.",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the generated quarter.")
def demo_command(folder: Path | None, seed: int) -> None:
    """Generate a sample quarter, load it and show what was loaded.

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
        console = Console(highlight=False)
        console.print(f"Sample quarter written to {sample.folder}")
        _print_summary(result, console)
        _print_rejections(result)


def main() -> None:
    """Console entry point."""
    cli(prog_name="tracecheck")


