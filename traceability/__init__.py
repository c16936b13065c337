"""tracecheck: reconcile pharmaceutical supply-chain declarations and EPCIS events."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

# The public functions below share their names with the submodules that implement them.
# Importing a submodule binds its name on this package, so the submodules are loaded first
# and the functions defined after them: ``traceability.reconcile`` is then the function,
# while ``from traceability.reconcile import ...`` still reaches the module.
from traceability.diff import Diff, diff  # noqa: E402
from traceability.engine import Engine  # noqa: E402
from traceability.preflight import Preflight  # noqa: E402
from traceability.preflight import preflight as _preflight  # noqa: E402
from traceability.reconcile import reconcile as _reconcile  # noqa: E402
from traceability.render import render as _render  # noqa: E402
from traceability.rules import Rule, all_rules  # noqa: E402
from traceability.validate import ValidationResult, validate  # noqa: E402
from traceability.version import __version__  # noqa: E402

if TYPE_CHECKING:
    import duckdb

    from traceability.config import Config
    from traceability.model import Report

__all__ = [
    "Diff",
    "Engine",
    "Preflight",
    "Rule",
    "ValidationResult",
    "__version__",
    "diff",
    "preflight",
    "reconcile",
    "render",
    "rules",
    "validate",
]


def reconcile(
    db: str | Path | duckdb.DuckDBPyConnection,
    *,
    period: str | None = None,
    rules: Sequence[str] | None = None,
    config: Config | str | Path | None = None,
    as_of: date | str | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    engine: str | Engine = "duckdb",
    master: str | None = None,
    spark_conf: Mapping[str, str] | None = None,
    work: str | None = None,
    steps: Callable[[str], None] | None = None,
) -> Report:
    """Run the reconciliation rules over a store (or an export, on Spark); the report.

    Args:
        db: a database path (opened read-only) or an open DuckDB connection; for the
            spark engine, the folder of an export (``tracecheck export``).
        period: ``2026-Q1`` or ``2026``: only findings of that period.
        rules: rule ids or group names (default: all, or the config's selection).
        config: a :class:`~traceability.config.Config` or a TOML file of settings.
        as_of: the date time windows are judged on (default: latest date in the data).
        workers: rules run at once (default: 1 on DuckDB, 2 on Spark; 1 for a DuckDB
            connection).
        progress: called as ``progress(done, total)`` as each rule ends.
        engine: ``"duckdb"`` (default), ``"spark"`` (the ``spark`` extra), or an
            :class:`~traceability.engine.Engine`.
        master, spark_conf, work, steps: the spark engine's options: its master, more
            session settings, a folder for its base tables, and a callback told each step
            as it starts (see :class:`traceability.spark.SparkEngine`).
    """
    return _reconcile(
        db,
        period=period,
        rules=rules,
        config=config,
        as_of=as_of,
        workers=workers,
        progress=progress,
        engine=engine,
        master=master,
        spark_conf=spark_conf,
        work=work,
        steps=steps,
    )


def preflight(
    db: str | Path,
    shipment: str | Path,
    *,
    epcs: str | Path | None = None,
    as_of: date | str | None = None,
    config: Config | str | Path | None = None,
    allow_missing_data: bool = False,
) -> Preflight:
    """Check a planned shipment before it leaves; the store is opened read-only.

    A check the shipment needs that the store cannot support (no authorisations loaded for
    a controlled product, no batches, no events for the EPCs given) blocks it with a reason
    ``cannot check: ...``: the result is not ``clear``, unless ``allow_missing_data``.

    Args:
        db: the database file.
        shipment: a consignments file of export lines sharing one ``shipment_ref``.
        epcs: what will physically go: one EPC (SGTIN or SSCC) a line, or an EPCIS
            document with the planned packing and shipping events.
        as_of: the day the shipment leaves (default: the lines' ``declared_date``).
        config: a :class:`~traceability.config.Config` or a TOML file of settings.
        allow_missing_data: clear the shipment even when a check it needs could not be made
            for want of data (the result's ``unchecked`` still lists them).
    """
    return _preflight(
        db,
        shipment,
        epcs=epcs,
        as_of=as_of,
        config=config,
        allow_missing_data=allow_missing_data,
    )


def rules() -> list[Rule]:
    """Every rule of the catalogue, read from the rule files."""
    return list(all_rules())


def render(obj: Report | Diff | Preflight, fmt: str) -> str:
    """A report, a diff or a preflight as text in a format of ``traceability.render``."""
    return _render(obj, fmt)
