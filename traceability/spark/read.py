"""Reading an export on Spark: its tables as views, and for a period only the partitions needed.

The tables that carry a date are split by period (``tc_period``, see
:mod:`traceability.export`). A run over every period reads every partition. A run for one
period (``--period 2026-Q1``) reports the findings of that period, and those must be the
findings DuckDB reports for it over the whole store: so it reads every partition a finding
of the period can depend on, and it may leave out only the partitions after the last date
any of its rules can reach (:func:`reach_end`).

Nothing before the period is ever left out: the rules need history (a serial commissioned
years before it is shipped, a lot made long before its export, the versions of a record
loaded before). Only serial state carried from quarter to quarter (what each serial's last
event was, what each lot has left) would remove that need; it is not built.

What a rule's findings of period P can depend on after P (its reach, :data:`REACH`):

- ``stock-imbalance``: the return lines of the periods that overlap P (a return's period
  is its partition; a corrected line has the same period): nothing after P's end.
- ``missing-filing``: the records and returns of P's year (a finding for a year in which
  annual returns are filed overlaps every quarter of it), while every country's returns
  are collected; with ``[missing_filing] countries`` set, a party's country comes from
  all its records, so its reach has no end.
- Every other rule: no end. A line or lot declared again in a later load supersedes the
  earlier version whatever date it carries (``current_consignments``, ``current_batches``
  and the rules' own versions of them); a ``void_shipping`` event cancels an earlier
  shipping however much later it comes; a shipment's late receipts (``shipped-not-received``),
  its late import (``late-arrival``, ``filing-mirror-gap``), the later shipments of a
  shipment_ref and a lot's later exports all change a finding dated earlier. A window
  in days bounds what a rule matches, not what it reads, so no rule's reach is a window.

A rule not listed has no end (a new rule reads everything until its reach is worked out).
A period run whose rules all have an end reads, of every table split by period, the
partitions whose period starts on or before that end, and the undated ones; the filter is
on the partition column, so Spark reads only those folders' files (``PartitionFilters`` in
the plan, and the scan's "number of partitions read"). The default date a run judges on
(``as_of``) and whether a rule's tables hold rows are then taken from the export's
manifest, which covers every partition, so that they are what DuckDB sees.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from traceability.errors import InputError
from traceability.export import MANIFEST, PARTITION_COLUMN, parse_manifest
from traceability.rules import Rule

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = [
    "PERIOD",
    "REACH",
    "REACH_UNLESS",
    "YEAR",
    "Export",
    "label_start",
    "left_out",
    "partitions_through",
    "reach_end",
    "read_export",
]

#: A rule whose findings of a period depend on nothing dated after the period's end.
PERIOD = "period"
#: A rule whose findings of a period depend on nothing dated after the end of its year.
YEAR = "year"
#: Each rule's reach past the end of the period (see the module's text for why); a rule
#: not listed here has none that ends, and a period run with it reads every partition.
REACH: dict[str, str] = {
    "stock-imbalance": PERIOD,
    "missing-filing": YEAR,
}
#: The parameters that, when set (not NULL), take a rule's reach away.
REACH_UNLESS: dict[str, tuple[str, ...]] = {
    "missing-filing": ("collected_countries",),
}

_YEAR = re.compile(r"(\d{4})")
_QUARTER = re.compile(r"(\d{4})-Q([1-4])")
_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")


def reach_end(
    rules: Iterable[Rule], span: tuple[date, date] | None, parameters: Mapping[str, Any]
) -> date | None:
    """The last date the findings of ``span`` can depend on, under these rules and settings.

    None when there is no such date (no period, or a rule whose reach has no end): every
    partition is read.

    >>> from traceability.rules import select
    >>> q1 = (date(2026, 1, 1), date(2026, 3, 31))
    >>> reach_end(select(["stock-imbalance"]), q1, {})
    datetime.date(2026, 3, 31)
    >>> reach_end(select(["filings"]), q1, {}) is None  # filing-mismatch, filing-mirror-gap
    True
    >>> reach_end(select(["missing-filing"]), q1, {"collected_countries": None})
    datetime.date(2026, 12, 31)
    >>> reach_end(select(["missing-filing"]), q1, {"collected_countries": "IN"}) is None
    True
    """
    if span is None:
        return None
    end = span[1]
    for rule in rules:
        reach = REACH.get(rule.id)
        if reach is None or any(
            parameters.get(p) is not None for p in REACH_UNLESS.get(rule.id, ())
        ):
            return None
        if reach == YEAR:
            end = max(end, date(span[1].year, 12, 31))
    return end


def label_start(label: str) -> date | None:
    """The first day of a partition's period (a year, quarter or month); None for another.

    >>> label_start("2026-Q2"), label_start("2026"), label_start("2026-11")
    (datetime.date(2026, 4, 1), datetime.date(2026, 1, 1), datetime.date(2026, 11, 1))
    >>> label_start("undated") is None
    True
    """
    if m := _QUARTER.fullmatch(label):
        return date(int(m[1]), 3 * int(m[2]) - 2, 1)
    if m := _MONTH.fullmatch(label):
        return date(int(m[1]), int(m[2]), 1)
    if m := _YEAR.fullmatch(label):
        return date(int(m[1]), 1, 1)
    return None


def partitions_through(labels: Iterable[str], end: date) -> tuple[str, ...]:
    """The partitions whose period starts on or before ``end``, and every one not dated.

    >>> partitions_through(["2025-Q4", "2026", "2026-Q1", "2026-Q2", "undated"], date(2026, 3, 31))
    ('2025-Q4', '2026', '2026-Q1', 'undated')
    """
    return tuple(label for label in labels if (start := label_start(label)) is None or start <= end)


@dataclass(frozen=True)
class Export:
    """An export as read: its manifest and, per table split by period, what was read.

    ``read`` maps each table split by period to the partitions read, or None where every
    partition was read.
    """

    manifest: Mapping[str, Any]
    read: Mapping[str, tuple[str, ...] | None]

    @property
    def narrowed(self) -> bool:
        """Whether some partition was left out."""
        return any(labels is not None for labels in self.read.values())

    @property
    def latest_date(self) -> date | None:
        """The latest date in the whole export (as DuckDB computes it on the store)."""
        text = self.manifest.get("latest_date")
        return date.fromisoformat(text) if isinstance(text, str) else None

    def rows(self, table: str) -> int | None:
        """How many rows the whole table holds; None for a table the export does not have."""
        about = self.manifest["tables"].get(table)
        return int(about["rows"]) if isinstance(about, dict) else None


_GLOB_CHARACTERS = re.compile(r"([\\*?\[\]{}])")


def literal(uri: str) -> str:
    """``uri`` as a Hadoop path pattern that matches that one file: Spark's readers take each
    path as a glob, so a file named with ``[``, ``{``, ``*`` or ``?`` would otherwise match
    other files, or none.

    >>> print(literal("file:/inbox/events [Q1] {v2}.jsonl"))
    file:/inbox/events \\[Q1\\] \\{v2\\}.jsonl
    """
    return _GLOB_CHARACTERS.sub(r"\\\1", uri)


def _join(root: str, name: str) -> str:
    return root.rstrip("/") + "/" + name


def _manifest(spark: SparkSession, data: str) -> dict[str, Any]:
    try:
        text = spark.read.text(literal(_join(data, MANIFEST)), wholetext=True).first()
    except Exception as exc:  # noqa: BLE001 - Spark raises its own error types
        if "PATH_NOT_FOUND" in str(exc) or "does not exist" in str(exc):
            raise InputError(
                f"{data} is not a tracecheck export (no {MANIFEST})",
                hint="write one with: tracecheck export --db STORE --to FOLDER",
            ) from None
        raise
    return parse_manifest(text[0] if text else "", _join(data, MANIFEST))


def _narrowable(manifest: Mapping[str, Any]) -> bool:
    """Whether the manifest says enough to leave partitions out (an export written before
    it listed each table's periods and the latest date does not)."""
    tables = manifest["tables"]
    listed = all(
        isinstance(about.get("periods"), list)
        for about in tables.values()
        if about.get("partitioned")
    )
    return listed and "latest_date" in manifest


def read_export(spark: SparkSession, data: str, through: date | None = None) -> Export:
    """Register every table of the export at ``data`` as a temporary view.

    ``through``: the last date the run's findings can depend on (:func:`reach_end`); the
    tables split by period are then read only up to it. None reads every partition, as
    does an export whose manifest does not list its periods.
    """
    manifest = _manifest(spark, data)
    narrow = through is not None and _narrowable(manifest)
    read: dict[str, tuple[str, ...] | None] = {}
    for table, about in manifest["tables"].items():
        frame = spark.read.parquet(literal(_join(data, table)))
        if about.get("partitioned") and PARTITION_COLUMN in frame.columns:
            labels = None
            if narrow:
                assert through is not None
                labels = partitions_through(about["periods"], through)
                # compared as text: Spark types a partition column of years as a number
                column = frame[PARTITION_COLUMN].cast("string")
                frame = frame.where(column.isin(list(labels)))
            read[table] = labels
            frame = frame.drop(PARTITION_COLUMN)
        frame.createOrReplaceTempView(table)
    return Export(manifest, read)


def left_out(export: Export) -> Sequence[str]:
    """The partitions not read, as ``table/label`` (for what a run says it reads)."""
    out: list[str] = []
    for table, labels in export.read.items():
        if labels is not None:
            every = export.manifest["tables"][table].get("periods", [])
            out.extend(f"{table}/{label}" for label in every if label not in labels)
    return out
