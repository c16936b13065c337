"""The merge of ``load --engine spark``: per-file stores into one, as one DuckDB load would.

Each file was loaded alone into its own store (:mod:`traceability.spark.load_task`), so
what a load of all the files into one store does across files is redone here, on Spark,
against the files before it and the store already at the target:

- **Numbering.** A file's rows carry ``load_id`` 1; the file gets the load's next id
  (a file already loaded takes none), and ``event_row`` (``load_id * 10^10 + record``)
  moves with it. Prefix ids (``epc_prefixes``) are given in order of first appearance,
  file by file, as the loader's sequence gives them (:mod:`traceability.spark.load`).
- **Duplicates across files.** An event whose key and content an earlier file stored,
  and a declaration whose record hash an earlier file stored, are not stored again (nor
  are the event's members); the file counts them as duplicates, as the loader does. A
  declaration whose key was stored before with other content counts as a conflict.
- **Versions across files.** An event whose key an earlier file stored with other
  content gets its note (correction, the same event in another form, conflict) from the
  loader's own code (:func:`traceability.load.epcis.versions.sort_versions`), run on the
  driver over just the events concerned; the version notes a file's own store wrote for
  keys that other loads hold too are replaced by these.

There is no window over all rows: keys are grouped and joined, and the offsets are
per-file numbers collected to the driver.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import reduce
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from traceability.kinds import EVENT_KIND, kind_spec
from traceability.load.epcis.versions import VERSION_CODES, sort_versions
from traceability.spark.load_task import as_text, table_schemas
from traceability.store.layout import create_all

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

#: ``event_row`` is ``load_id * ROW_BASE + record``.
ROW_BASE = 10_000_000_000

#: The event tables keyed by ``event_row`` (besides ``events``).
EVENT_CHILDREN = (
    "epc_rows",
    "event_biz_transactions",
    "event_parties",
    "event_quantities",
    "event_payloads",
)


@dataclass
class Merge:
    """The inputs of a merge, and what it counts per new load id."""

    spark: SparkSession
    #: the tasks' blobs (idx, tbl, data), persisted
    blobs: DataFrame
    #: file index -> the load id it gets (the files loaded now)
    ids: dict[int, int]
    #: table -> the rows already at the target (empty: no store there yet)
    old: Mapping[str, DataFrame]
    #: the store's prefixes after this load (prefix_id, prefix, gtin)
    prefixes: pa.Table
    #: (p_idx, p_local, p_global): a file's prefix id -> the store's
    prefix_map: DataFrame
    #: table -> its rows from the files loaded now
    rows: dict[str, int] = field(default_factory=dict)
    #: table -> how many loads (the store's, and the files loaded now) have rows in it
    spread: dict[str, int] = field(default_factory=dict)
    #: load id -> the kind of its file
    kinds: dict[int, str] = field(default_factory=dict)
    #: table -> rows the merge took out (stored before), or added (version notes)
    taken: dict[str, int] = field(default_factory=dict)
    added: dict[str, int] = field(default_factory=dict)
    #: load id -> notes of the file replaced (taken off) and found across loads (added)
    notes_delta: dict[int, int] = field(default_factory=dict)
    #: load id -> records found stored before (by the store or an earlier file)
    dropped: dict[int, int] = field(default_factory=dict)
    #: load id -> conflicts counted anew (replacing the file's own count)
    conflicts: dict[int, int] = field(default_factory=dict)
    #: load id -> conflicts to add to the file's own count (negative: to take off)
    conflicts_delta: dict[int, int] = field(default_factory=dict)


def functions() -> Any:
    """``pyspark.sql.functions`` (pyspark is imported only once a load runs on Spark)."""
    import pyspark.sql.functions as f

    return f


def spark_schema(arrow: pa.Schema) -> Any:
    """The Spark schema of an Arrow schema."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(arrow)


def new_rows(merge: Merge, table: str) -> DataFrame:
    """A table's rows from the files loaded now, renumbered (``tc_idx``: the file).

    The tasks' JSON is parsed by Spark, each column then cast to the table's type (see
    :func:`~traceability.spark.load_task.as_text`)."""
    F = functions()
    arrow = table_schemas()[table].append(pa.field("tc_idx", pa.int32()))
    target = spark_schema(arrow)
    if not merge.rows.get(table):
        return merge.spark.createDataFrame([], target)
    travel = []
    columns = []
    for column, field_ in zip(table_schemas()[table], target.fields[:-1], strict=True):
        how = as_text(column.type)
        value = F.col("r").getField(column.name)
        if how == "micros":
            travel.append(f"`{column.name}` BIGINT")
            value = F.timestamp_micros(value)
        elif how == "text":
            travel.append(f"`{column.name}` STRING")
            value = value.cast(field_.dataType)
        else:
            travel.append(f"`{column.name}` {field_.dataType.simpleString()}")
        columns.append(value.alias(column.name))
    parsed = merge.blobs.where(F.col("tbl") == table).select(
        F.col("idx").alias("tc_idx"), F.from_json("data", ", ".join(travel)).alias("r")
    )
    frame = parsed.select(*columns, "tc_idx")
    pairs = sorted(merge.ids.items()) or [(-1, -1)]
    ids = merge.spark.createDataFrame(pairs, "tc_idx INT, tc_load INT")
    frame = frame.join(F.broadcast(ids), "tc_idx")
    if "load_id" in frame.columns:
        frame = frame.withColumn("load_id", F.col("tc_load").cast("int"))
    if "event_row" in frame.columns:
        base = F.lit(ROW_BASE).cast("long")
        frame = frame.withColumn(
            "event_row", F.col("event_row") % base + F.col("tc_load").cast("long") * base
        )
    return frame.drop("tc_load")


def union(frames: Sequence[DataFrame | None]) -> DataFrame:
    """The frames' rows together, columns matched by name."""
    present = [f for f in frames if f is not None]
    return reduce(lambda a, b: a.unionByName(b), present)


def count_by_load(frame: DataFrame) -> dict[int, int]:
    """Rows per ``load_id``."""
    return {int(r[0]): int(r[1]) for r in frame.groupBy("load_id").count().collect()}


def _add(into: dict[int, int], counts: Mapping[int, int], sign: int = 1) -> None:
    for load_id, count in counts.items():
        into[load_id] = into.get(load_id, 0) + sign * count


# --- declarations -------------------------------------------------------------------------


def declarations(merge: Merge, table: str, key: Sequence[str]) -> DataFrame:
    """A declaration table: records stored before dropped, conflicts counted again."""
    F = functions()
    new = new_rows(merge, table).drop("tc_idx")
    old = merge.old.get(table)
    if merge.spread.get(table, 0) <= 1:  # one load has rows: the file's own store is right
        return union([old, new])
    hashes = union(
        [f.select("record_hash", "load_id") if f is not None else None for f in (old, new)]
    )
    first = hashes.groupBy("record_hash").agg(F.min("load_id").alias("tc_first"))
    marked = new.join(first, "record_hash")
    dropped = count_by_load(marked.where(F.col("load_id") > F.col("tc_first")))
    _add(merge.dropped, dropped)
    merge.taken[table] = sum(dropped.values())
    kept = marked.where(F.col("load_id") == F.col("tc_first")).select(*new.columns)
    kept = kept.localCheckpoint()
    # a conflict: a record stored before it (by an earlier load, or earlier in its file)
    # under the same key with other content, as traceability.load.tabular counts it
    n, t = kept.alias("n"), union([old, kept]).alias("t")
    same_key = reduce(
        lambda a, b: a & b, [F.col(f"n.`{k}`").eqNullSafe(F.col(f"t.`{k}`")) for k in key]
    )
    earlier = (F.col("t.load_id") < F.col("n.load_id")) | (
        (F.col("t.load_id") == F.col("n.load_id"))
        & (F.col("t.source_line") < F.col("n.source_line"))
    )
    hits = (
        n.join(t, same_key & (F.col("t.record_hash") != F.col("n.record_hash")) & earlier)
        .select(F.col("n.load_id").alias("load_id"), F.col("n.source_line").alias("line"))
        .distinct()
    )
    counted = count_by_load(hits)
    for load_id, kind in merge.kinds.items():
        if kind != EVENT_KIND and kind_spec(kind).table == table:
            merge.conflicts[load_id] = counted.get(load_id, 0)
    return union([old, kept])


# --- events -------------------------------------------------------------------------------


@dataclass
class EventTables:
    """The merged event tables, and the changes they bring to ``load_notes``."""

    tables: dict[str, DataFrame]
    #: (load_id, record) of events whose version notes from their own file are replaced
    replaced: DataFrame | None
    #: the version notes found across loads, as rows of ``load_notes``
    notes: list[tuple[Any, ...]]


def events(merge: Merge) -> EventTables:
    """``events`` and its member tables, renumbered, without events stored before."""
    F = functions()
    old = merge.old.get("events")
    if merge.spread.get("events", 0) <= 1:  # one load has events: nothing to do across loads
        tables = {"events": union([old, new_rows(merge, "events").drop("tc_idx")])}
        for child in EVENT_CHILDREN:
            rows = new_rows(merge, child)
            if child == "epc_rows":
                rows = _renumber_prefixes(rows, merge.prefix_map)
            tables[child] = union([merge.old.get(child), rows.drop("tc_idx")])
        return EventTables(tables, None, [])
    new = new_rows(merge, "events").drop("tc_idx").localCheckpoint()
    both = union(
        [
            f.select("event_key", "content_hash", "load_id") if f is not None else None
            for f in (old, new)
        ]
    )
    first = both.groupBy("event_key", "content_hash").agg(F.min("load_id").alias("tc_first"))
    marked = new.join(first, ["event_key", "content_hash"])
    gone = marked.where(F.col("load_id") > F.col("tc_first")).select("event_row", "load_id")
    gone = gone.localCheckpoint()
    dropped = count_by_load(gone)
    _add(merge.dropped, dropped)
    merge.taken["events"] = sum(dropped.values())
    kept = new.join(gone.select("event_row"), "event_row", "left_anti").select(*new.columns)
    tables = {"events": union([old, kept])}
    for child in EVENT_CHILDREN:
        rows = new_rows(merge, child)
        if child == "epc_rows":
            rows = _renumber_prefixes(rows, merge.prefix_map)
        rows = rows.drop("tc_idx").join(gone.select("event_row"), "event_row", "left_anti")
        tables[child] = union([merge.old.get(child), rows])
    # keys that more than one load holds: their versions are sorted across the loads
    spread = (
        union([f.select("event_key", "load_id") if f is not None else None for f in (old, new)])
        .groupBy("event_key")
        .agg(F.countDistinct("load_id").alias("loads"))
        .where(F.col("loads") > 1)
        .select("event_key")
        .localCheckpoint()
    )
    replaced = new.join(spread, "event_key", "left_semi").select(
        "load_id", F.col("source_line").alias("record")
    )
    notes = _versions(merge, tables, spread, kept)
    return EventTables(tables, replaced, notes)


def _renumber_prefixes(rows: DataFrame, prefix_map: DataFrame) -> DataFrame:
    """``epc_rows.prefix_id`` from its file's numbering to the store's."""
    F = functions()
    columns = rows.columns
    mapped = rows.join(
        F.broadcast(prefix_map),
        (rows["tc_idx"] == prefix_map["p_idx"]) & (rows["prefix_id"] == prefix_map["p_local"]),
        "left",
    )
    return mapped.withColumn("prefix_id", F.col("p_global").cast("int")).select(*columns)


def _versions(
    merge: Merge, tables: Mapping[str, DataFrame], spread: DataFrame, kept: DataFrame
) -> list[tuple[Any, ...]]:
    """The version notes of the new events whose key other loads hold too."""
    F = functions()
    n = kept.join(spread, "event_key", "left_semi").alias("n")
    x = tables["events"].join(spread, "event_key", "left_semi").alias("x")
    pairs = (
        n.join(
            x,
            (F.col("x.event_key") == F.col("n.event_key"))
            & (F.col("x.content_hash") != F.col("n.content_hash"))
            & (F.col("x.event_row") < F.col("n.event_row")),
        )
        .groupBy(
            F.col("n.load_id").alias("load_id"),
            F.col("n.source_file").alias("source"),
            F.col("n.event_row").alias("new"),
            F.col("n.source_line").alias("record"),
        )
        .agg(F.min("x.event_row").alias("old"))
        .collect()
    )
    if not pairs:
        return []
    rows = sorted({int(r["new"]) for r in pairs} | {int(r["old"]) for r in pairs})
    by_load: dict[tuple[int, str], list[tuple[int, int, int]]] = {}
    for r in pairs:
        found = (int(r["new"]), int(r["record"]), int(r["old"]))
        by_load.setdefault((int(r["load_id"]), str(r["source"])), []).append(found)
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET TimeZone = 'UTC'")
        create_all(con)
        _copy_events(merge, con, tables, rows)
        for (load_id, source), found_pairs in sorted(by_load.items()):
            conflicts = sort_versions(con, load_id, source, sorted(found_pairs))
            _add(merge.conflicts_delta, {load_id: conflicts})
        return [tuple(r) for r in con.execute("SELECT * FROM load_notes").fetchall()]
    finally:
        con.close()


def _copy_events(
    merge: Merge, con: duckdb.DuckDBPyConnection, tables: Mapping[str, DataFrame], rows: list[int]
) -> None:
    """The events ``rows`` with their members into a DuckDB store, to compare versions."""
    F = functions()
    wanted = F.broadcast(merge.spark.createDataFrame([(r,) for r in rows], "event_row BIGINT"))
    for table in ("events", *EVENT_CHILDREN):
        if not merge.rows.get(table) and not merge.old:
            continue
        columns = [c for c in table_schemas()[table].names if c != "tc_period"]
        frame = tables[table].join(wanted, "event_row", "left_semi").select(*columns)
        data = frame.toArrow()  # noqa: F841 (read by the SQL below)
        con.execute(f"INSERT INTO {table} SELECT * FROM data")
    used = con.execute("SELECT DISTINCT prefix_id FROM epc_rows WHERE prefix_id IS NOT NULL")
    ids = pa.array([r[0] for r in used.fetchall()], pa.int32())
    prefixes = merge.prefixes.filter(pc.is_in(merge.prefixes["prefix_id"], ids))  # noqa: F841
    con.execute("INSERT INTO epc_prefixes SELECT * FROM prefixes")


def load_notes(merge: Merge, found: EventTables | None) -> DataFrame:
    """``load_notes``: the files' notes, their version notes replaced by those found
    across loads."""
    F = functions()
    notes = new_rows(merge, "load_notes").drop("tc_idx")
    if found is not None and found.replaced is not None:
        version = F.col("code").isin(*VERSION_CODES)
        out = notes.where(version).join(found.replaced, ["load_id", "record"], "left_semi")
        for load_id, code, count in out.groupBy("load_id", "code").count().collect():
            _add(merge.notes_delta, {int(load_id): int(count)}, -1)
            merge.taken["load_notes"] = merge.taken.get("load_notes", 0) + int(count)
            if code == "conflict":
                _add(merge.conflicts_delta, {int(load_id): int(count)}, -1)
        notes = _without(notes, found.replaced, version)
        if found.notes:
            schema = spark_schema(table_schemas()["load_notes"])
            notes = notes.unionByName(merge.spark.createDataFrame(found.notes, schema))
            merge.added["load_notes"] = len(found.notes)
            for row in found.notes:
                _add(merge.notes_delta, {int(row[0]): 1})
    return union([merge.old.get("load_notes"), notes])


def _without(notes: DataFrame, replaced: DataFrame, version: Any) -> DataFrame:
    """The notes, less the version notes of the events ``replaced`` names."""
    F = functions()
    marked = notes.join(
        replaced.distinct().withColumn("tc_replaced", F.lit(True)), ["load_id", "record"], "left"
    )
    keep = ~(version & F.coalesce(F.col("tc_replaced"), F.lit(False)))
    return marked.where(keep).select(*notes.columns)
