"""``tracecheck diff`` and ``tracecheck preflight``: what changed, and may a shipment leave."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from traceability.cli.common import (
    QUIET,
    caveated_option,
    db_option,
    emit,
    format_options,
    plain,
    settings,
    verbosity,
    verbosity_options,
)
from traceability.diff import diff, fails, load_report
from traceability.errors import ExitCode
from traceability.model import Severity
from traceability.preflight import Preflight, preflight


@click.command("diff")
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
    emit(result, fmt, output)
    if fail_on is not None and fails(result, Severity(fail_on), caveated=count_caveated):
        sys.exit(int(ExitCode.FINDINGS))


@click.command("preflight")
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
    result = preflight(
        db,
        shipment,
        epcs=epcs,
        as_of=as_of,
        config=settings(config_path),
        allow_missing_data=allow_missing_data,
    )
    emit(result, fmt, output)
    _say_unchecked(result)
    if not result.clear:
        sys.exit(int(ExitCode.FINDINGS))


def _say_unchecked(result: Preflight) -> None:
    """Name on stderr the checks a preflight could not make, one line per reason."""
    if not result.unchecked:
        return
    by_reason: dict[str, list[str]] = {}
    for gap in result.unchecked:
        by_reason.setdefault(gap.reason, []).append(gap.rule)
    allowed = result.missing_data_allowed
    for reason, rules_named in by_reason.items():
        said = f"{plain(reason)}; rule(s) {', '.join(rules_named)}"
        if allowed and verbosity() != QUIET:
            click.echo(f"warning: {said}; not blocking (--allow-missing-data)", err=True)
        elif not allowed:
            click.echo(f"blocked: {said}", err=True)
    if not allowed:
        click.echo(
            "hint: load what is missing, or pass --allow-missing-data to clear the shipment "
            "without these checks",
            err=True,
        )
