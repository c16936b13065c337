"""``load --engine spark``: input files into a store of Parquet tables, on Spark.

The store is the folder ``tracecheck export`` writes (one folder per table, split by
period, and the manifest), so ``reconcile --engine spark --data STORE`` reads it as it is.

How: Spark reads the files (``binaryFile``: any Hadoop path, ``file://``, ``hdfs://``,
``s3a://``, ``abfs://``), and each task runs tracecheck's own DuckDB loader on its files,
one at a time, into a temporary store (:mod:`traceability.spark.load_task`). Running the
same code, rather than a translation of it, gives the same checks, normalisation,
identifiers, rejects and notes, byte for byte: the loader is a staged pipeline of DuckDB
SQL, macros and Python checks. What one load into one store does across its files
(numbering, duplicates, versions) is then redone on Spark
(:mod:`traceability.spark.load_merge`), against the store at the target too, so that the
store holds what one DuckDB ``load`` of the same files in the same order, exported,
holds; ``loaded_at`` (the time each file was loaded) is the one column that differs.

A load is atomic: the new store is written beside the target and renamed into place, the
manifest written last, and a store without a manifest is not read. It is idempotent: a
file already in the store (same SHA-256) is not loaded again, and a load that adds no
file leaves the store untouched.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from traceability.errors import (
    InputError,
    TracecheckError,
    UnknownKind,
)
from traceability.export import MANIFEST, parse_manifest
from traceability.kinds import ALL_KINDS, EVENT_KIND, TABULAR_KINDS, kind_spec
from traceability.load import (
    DEFAULT_LOAD_MEMORY,
    FileProblem,
    LoadResult,
    incomplete,
)
from traceability.spark.load_merge import (
    EVENT_CHILDREN,
    EventTables,
    Merge,
    declarations,
    events,
    functions,
    load_notes,
    new_rows,
    spark_schema,
    union,
)
from traceability.spark.load_result import (
    FileOutcome,
    file_results,
    first_rejections_and_notes,
    refuse_rejections,
)
from traceability.spark.load_store import FileSystem, Inputs, join, list_inputs, write_store
from traceability.spark.load_task import (
    OUTCOME,
    ROW_SCHEMA,
    load_files,
    partitioned_tables,
    table_schemas,
)
from traceability.spark.read import literal
from traceability.spark.session import (
    first_line,
    is_spark_error,
    logged_reason,
    lost_jvm,
    missing_connector,
    spark_session,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["SparkLoadFailed", "load_spark"]


class SparkLoadFailed(InputError):
    """Spark, or the storage it reads or writes, failed during a load: nothing was written."""


def load_spark(
    paths: Sequence[str | Path],
    store: str | Path,
    *,
    kind: str | None = None,
    strict: bool = False,
    master: str | None = None,
    spark_conf: Mapping[str, str] | None = None,
    memory_limit: str | None = DEFAULT_LOAD_MEMORY,
) -> LoadResult:
    """Load files and folders into the Parquet store ``store``, on Spark.

    The files are those :func:`traceability.load.load` would read for the same
    ``paths``, in the same order (a URI names a file, or a folder whose files of a
    loadable type are read in the order of their paths), and the result is what it
    returns, except that each task's DuckDB uses ``memory_limit``.

    Args:
        paths: files and folders: local paths or any URI Spark reads.
        store: the store's folder (created; a local path or any URI Spark writes).
        kind, strict: as for :func:`traceability.load.load`.
        master, spark_conf: the Spark master and more settings for a session started
            here (see :func:`traceability.spark.spark_session`).
        memory_limit: DuckDB's memory limit in each task.

    Raises:
        LoadIncomplete, StrictLoadAborted, UnknownKind: as :func:`traceability.load.load`.
        InputError: ``store`` is not a folder, or one holding something else than a store.
        SparkLoadFailed: Spark or the storage failed; the store is as it was.
    """
    if kind is not None and kind not in ALL_KINDS:
        raise UnknownKind(f"unknown kind '{kind}'", hint=f"one of {', '.join(ALL_KINDS)}")
    conf = {"spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS", **(spark_conf or {})}
    chosen = master or os.environ.get("TRACECHECK_SPARK_MASTER") or "local"
    if chosen.startswith("local") and "PYSPARK_PYTHON" not in os.environ:
        # the tasks run tracecheck's loader: on this machine, with this interpreter (pyspark
        # reads it from the environment as the session starts)
        os.environ["PYSPARK_PYTHON"] = sys.executable
    try:
        with spark_session(master, conf) as spark:
            result = _Load(spark, str(store), kind, memory_limit).run(paths, strict)
    except TracecheckError:
        raise
    except Exception as exc:
        if not (isinstance(exc, OSError) or is_spark_error(exc)):  # else a bug: its traceback
            raise
        for path in (str(store), *map(str, paths)):  # an object store without its connector
            if (connector := missing_connector(exc, path)) is not None:
                raise connector from None
        said = first_line(exc)
        if lost_jvm(said):  # the JVM ended (out of memory, above all): its log says why
            said = logged_reason() or said
        raise SparkLoadFailed(f"the load on Spark failed, the store is as it was: {said}") from None
    if result.unreadable:
        raise incomplete(result, strict=False)
    return result


class _Load:
    """One load on Spark, step by step."""

    def __init__(
        self, spark: SparkSession, store: str, kind: str | None, memory_limit: str | None
    ) -> None:
        self.spark, self.store, self.kind, self.memory_limit = spark, store, kind, memory_limit
        self.fs = FileSystem(spark)
        #: table -> rows of the store at the target (from its manifest)
        self.old_rows: dict[str, int] = {}

    def run(self, paths: Sequence[str | Path], strict: bool) -> LoadResult:
        old = self._old_store()
        inputs = list_inputs(self.fs, [str(p) for p in paths])
        result = LoadResult(unreadable=list(inputs.unreadable), skipped=list(inputs.skipped))
        rows = self._rows(inputs)
        try:
            outcomes = self._outcomes(rows, inputs)
            ids = self._number(outcomes, old, result)
            if strict and result.unreadable:
                raise incomplete(result, strict=True)
            if strict:
                refuse_rejections(result, ids, outcomes)
            if not ids and old:  # nothing new: the store is left as it is
                result.files = file_results(outcomes, ids, [], {})
                return result
            merge = self._merge(rows, ids, old, outcomes)
            tables, counts = _tables(merge, self.old_rows)
            loads = _loads(merge)
            schema = table_schemas()["loads"]
            values = [tuple(r[c] for c in schema.names) for r in loads]
            new_loads = self.spark.createDataFrame(values, spark_schema(schema))
            tables["loads"] = union([old.get("loads"), new_loads])
            counts["loads"] = self.old_rows.get("loads", 0) + len(loads)
            notes = {
                load_id: int(outcomes[idx].loaded["rows"]["load_notes"])  # type: ignore[index]
                + merge.notes_delta.get(load_id, 0)
                for idx, load_id in ids.items()
            }
            result.files = file_results(outcomes, ids, loads, notes)
            first_rejections_and_notes(result, merge, tables, outcomes)
            write_store(self.fs, self.store, tables, partitioned_tables(), counts, bool(old))
        finally:
            rows.unpersist()
        return result

    def _merge(
        self,
        rows: DataFrame,
        ids: dict[int, int],
        old: Mapping[str, DataFrame],
        outcomes: list[FileOutcome],
    ) -> Merge:
        """What the merge starts from: the files' rows, ids, kinds and row counts."""
        merge = Merge(self.spark, rows, ids, old, pa.table({}), self.spark.range(0))
        told = {ids[i]: o.loaded for i, o in enumerate(outcomes) if i in ids and o.loaded}
        merge.kinds = {load_id: str(t["kind"]) for load_id, t in told.items()}
        for table in table_schemas():
            counts = [int(t["rows"].get(table, 0)) for t in told.values()]
            merge.rows[table] = sum(counts)
            merge.spread[table] = sum(1 for c in counts if c) + bool(self.old_rows.get(table))
        self._number_prefixes(merge)
        return merge

    # --- the store at the target ---

    def _old_store(self) -> dict[str, DataFrame]:
        """The store already at the target, table by table (none: an empty dict)."""
        state = self.fs.state(self.store)
        parent = self.store.rstrip("/").rsplit("/", 1)[0] if "/" in self.store else "."
        if state == "missing" and self.fs.state(parent) == "file":
            raise InputError(f"{self.store}: {parent} is a file, so no store can be written there")
        if state in ("missing", "empty"):
            return {}
        manifest_path = join(self.store, MANIFEST)
        if state == "file" or not self.fs.exists(manifest_path):
            raise InputError(
                f"{self.store} exists and is not a tracecheck store, so nothing is written into it",
                hint="name a new folder, or a store a load on Spark (or an export) wrote",
            )
        manifest = parse_manifest(self.fs.read_text(manifest_path), manifest_path)
        tables = manifest["tables"]
        assert isinstance(tables, dict)
        self.old_rows = {str(t): int(about.get("rows", 0)) for t, about in tables.items()}
        missing = sorted(set(table_schemas()) - set(tables))
        if missing:
            raise InputError(
                f"{self.store}: the store has no table {missing[0]}; another version of "
                "tracecheck wrote it",
                hint="load the source files into a new folder",
            )
        return {
            table: self.spark.read.schema(spark_schema(schema)).parquet(
                literal(join(self.store, table))
            )
            for table, schema in table_schemas().items()
        }

    # --- the tasks ---

    def _rows(self, inputs: Inputs) -> DataFrame:
        """The tasks' output, persisted so that each file is loaded once."""
        from pyspark import StorageLevel

        F = functions()
        if not inputs.files:
            return self.spark.createDataFrame([], ROW_SCHEMA)
        listed = self.spark.createDataFrame(
            [(uri, idx, source) for idx, (source, uri) in enumerate(inputs.files)],
            "path STRING, idx INT, source STRING",
        )
        # each path matches its one file, whatever characters its name holds
        paths = sorted({literal(uri) for _, uri in inputs.files})
        content = self.spark.read.format("binaryFile").load(paths)
        rows = content.join(F.broadcast(listed), "path").select("idx", "source", "content")
        task = partial(load_files, kind=self.kind, memory_limit=self.memory_limit)
        out = self.spark.createDataFrame(rows.rdd.mapPartitions(task), ROW_SCHEMA)
        return out.persist(StorageLevel.MEMORY_AND_DISK)

    def _outcomes(self, rows: DataFrame, inputs: Inputs) -> list[FileOutcome]:
        """What the tasks said of each file, in the order of the load."""
        F = functions()
        said = {
            int(r["idx"]): json.loads(r["data"])
            for r in rows.where(F.col("tbl") == OUTCOME).select("idx", "data").collect()
        }
        out = []
        for idx, (source, _uri) in enumerate(inputs.files):
            told = said.get(idx)
            if told is None:
                problem = FileProblem(source, "unreadable", f"{source}: Spark did not read it")
                out.append(FileOutcome(source, None, problem))
            elif "problem" in told:
                p = told["problem"]
                problem = FileProblem(source, p["code"], p["message"], p.get("hint"))
                out.append(FileOutcome(source, None, problem))
            else:
                out.append(FileOutcome(source, told, None))
        return out

    def _number(
        self, outcomes: list[FileOutcome], old: Mapping[str, DataFrame], result: LoadResult
    ) -> dict[int, int]:
        """Each file's load id, in order; a file already stored (its SHA-256) takes none."""
        known: set[str] = set()
        next_id = 1
        if old:
            F = functions()
            row = old["loads"].agg(F.max("load_id"), F.collect_set("sha256")).first()
            assert row is not None
            next_id, known = int(row[0] or 0) + 1, set(row[1] or [])
        ids = {}
        for idx, outcome in enumerate(outcomes):
            if outcome.problem is not None:
                result.unreadable.append(outcome.problem)
            elif outcome.loaded is not None and outcome.loaded["sha256"] not in known:
                known.add(outcome.loaded["sha256"])
                ids[idx] = next_id
                next_id += 1
        return ids

    # --- the merge ---

    def _number_prefixes(self, merge: Merge) -> None:
        """The store's prefixes, numbered in order of first appearance (file by file, in
        each file's own order), and the map of each file's prefix ids to the store's."""
        schema = table_schemas()["epc_prefixes"]
        old = merge.old
        stored = old["epc_prefixes"].toArrow() if old else schema.empty_table()
        known = dict(
            zip(stored["prefix"].to_pylist(), stored["prefix_id"].to_pylist(), strict=True)
        )
        gtins = dict(zip(stored["prefix"].to_pylist(), stored["gtin"].to_pylist(), strict=True))
        next_id = max(known.values(), default=0) + 1
        mapping = []
        rows = new_rows(merge, "epc_prefixes").toArrow().to_pylist()
        for row in sorted(rows, key=lambda r: (r["tc_idx"], r["prefix_id"])):
            if row["prefix"] not in known:
                known[row["prefix"]], gtins[row["prefix"]] = next_id, row["gtin"]
                next_id += 1
            mapping.append((row["tc_idx"], row["prefix_id"], known[row["prefix"]]))
        merge.prefixes = pa.table(
            [
                pa.array(list(known.values()), pa.int32()),
                pa.array(list(known), pa.string()),
                pa.array([gtins[p] for p in known], pa.string()),
            ],
            schema=schema,
        )
        merge.prefix_map = self.spark.createDataFrame(
            mapping or [(-1, -1, -1)], "p_idx INT, p_local INT, p_global INT"
        )


def _empty(spark: SparkSession, table: str) -> DataFrame:
    return spark.createDataFrame([], spark_schema(table_schemas()[table]))


def _tables(
    merge: Merge, old_rows: Mapping[str, int]
) -> tuple[dict[str, DataFrame], dict[str, int]]:
    """Every table of the store after the load, but ``loads``; and the rows of those
    whose count is known without counting them."""
    spark, old = merge.spark, merge.old
    tables: dict[str, DataFrame] = {}
    found: EventTables | None = None
    kinds = set(merge.kinds.values())
    if EVENT_KIND in kinds:
        found = events(merge)
        tables.update(found.tables)
    for kind in TABULAR_KINDS:
        spec = kind_spec(kind)
        if kind in kinds:
            tables[spec.table] = declarations(merge, spec.table, spec.key)
    tables["load_notes"] = load_notes(merge, found)
    prefixes = [tuple(r.values()) for r in merge.prefixes.to_pylist()]
    schema = spark_schema(table_schemas()["epc_prefixes"])
    tables["epc_prefixes"] = spark.createDataFrame(prefixes, schema)
    for table in ("rejects", "load_journal", "tracecheck_meta"):
        new = new_rows(merge, table).drop("tc_idx")
        tables[table] = union([old.get(table), new])
    tables["tracecheck_meta"] = tables["tracecheck_meta"].distinct()
    for table in table_schemas():
        if table not in tables and table != "loads":
            stored = old.get(table)
            tables[table] = stored if stored is not None else _empty(spark, table)
    counts = {
        t: old_rows.get(t, 0) + merge.rows.get(t, 0) - merge.taken.get(t, 0) + merge.added.get(t, 0)
        for t in tables
        if t != "tracecheck_meta" and (t not in EVENT_CHILDREN or "events" not in merge.taken)
    }
    counts["epc_prefixes"] = merge.prefixes.num_rows
    return tables, counts


def _loads(merge: Merge) -> list[dict[str, Any]]:
    """The rows of ``loads`` for the files loaded now, their counts made across files."""
    rows = new_rows(merge, "loads").drop("tc_idx").toArrow().to_pylist()
    for row in rows:
        load_id = int(row["load_id"])
        dropped = merge.dropped.get(load_id, 0)
        row["accepted"] -= dropped
        row["duplicates"] += dropped
        if row["kind"] == EVENT_KIND:
            row["conflicts"] += merge.conflicts_delta.get(load_id, 0)
        else:
            row["conflicts"] = merge.conflicts.get(load_id, row["conflicts"])
    return sorted(rows, key=lambda r: int(r["load_id"]))
