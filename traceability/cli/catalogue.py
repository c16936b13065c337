"""``tracecheck rules`` and ``tracecheck config``: the rule catalogue and the settings."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from traceability.config import example_toml, show_toml
from traceability.render.listings import rules_table
from traceability.rules import catalogue_json, catalogue_md, describe, select
from traceability.rules.settings import resolve_config


@click.command("rules")
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
    names = list(id)
    chosen = select(names or None)
    if fmt == "json":
        click.echo(catalogue_json(chosen), nl=False)
    elif fmt == "md":
        click.echo(catalogue_md(chosen), nl=False)
    elif names:
        click.echo("\n".join(describe(r) for r in chosen), nl=False)
    else:
        Console(highlight=False).print(rules_table(chosen))
        click.echo("Show one rule in full: tracecheck rules ID")


@click.command("config")
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
