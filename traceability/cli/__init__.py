"""The ``tracecheck`` command: a thin Click layer over the library.

The group and its entry point are here; each module of this package holds a group of
commands (:mod:`~traceability.cli.ingest`, :mod:`~traceability.cli.run`,
:mod:`~traceability.cli.compare`, :mod:`~traceability.cli.catalogue`,
:mod:`~traceability.cli.demo`), :mod:`~traceability.cli.common` what they share and
:mod:`~traceability.cli.progress` their progress on standard error.
"""

from __future__ import annotations

import click

from traceability.cli.catalogue import config_command, rules_command
from traceability.cli.common import MAX_REJECTS_SHOWN, Tracecheck
from traceability.cli.compare import diff_command, preflight_command
from traceability.cli.demo import demo_command
from traceability.cli.ingest import load_command, validate_command
from traceability.cli.run import export_command, reconcile_command
from traceability.version import __version__

__all__ = ["MAX_REJECTS_SHOWN", "cli", "main"]


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


for command in (
    load_command,
    validate_command,
    demo_command,
    reconcile_command,
    export_command,
    diff_command,
    preflight_command,
    rules_command,
    config_command,
):
    cli.add_command(command)


def main() -> None:
    """Console entry point."""
    cli(prog_name="tracecheck")
