"""``tracecheck demo``: a sample quarter generated, loaded and reconciled."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click

from traceability.cli.common import (
    QUIET,
    console,
    plain,
    print_rejections,
    verbosity,
    verbosity_options,
    width,
)
from traceability.cli.ingest import print_summary
from traceability.load import load
from traceability.reconcile import reconcile
from traceability.render.to_table import render_table
from traceability.sample import DEMO_PLANTS, generate_quarter


@click.command("demo")
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
    with tempfile.TemporaryDirectory(prefix="tracecheck-demo-") as tmp:
        base = folder or Path(tmp)
        sample = generate_quarter(base / "data", seed=seed, plant=DEMO_PLANTS)
        db = base / "demo.duckdb"
        if db.exists():
            db.unlink()
        result = load(db, [sample.folder])
        out = console()
        quiet = verbosity() == QUIET
        if folder and not quiet:
            out.print(
                f"Sample quarter generated in {plain(str(sample.folder))}, loaded into "
                f"{plain(str(db))}:",
                markup=False,
            )
        elif not quiet:
            out.print("Sample quarter generated and loaded in a temporary folder:")
        print_summary(result, base=sample.folder)
        print_rejections(result)
        report = reconcile(db)
        terminal = sys.stdout.isatty()
        click.echo(render_table(report, width=width(terminal), color=terminal), nl=False)
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
        f"Kept in {plain(str(folder))}: the sample quarter ({plain(str(folder / 'data'))}) "
        f"and its database ({plain(str(db))}). Look again with: tracecheck reconcile "
        f"--db {plain(str(db))}"
    )
