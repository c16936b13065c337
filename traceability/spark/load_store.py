"""The storage side of ``load --engine spark``: the files to read, and the store written.

Paths go through Hadoop's ``FileSystem`` (through the Spark session's JVM), so any scheme
the session can reach works the same: ``file://``, ``hdfs://``, ``s3a://``, ``abfs://``.
A local path names its files as :func:`traceability.load.scan` does (the same files, in
the same order, with the same paths skipped and the same problems), so that a load on
Spark stores the same paths as a DuckDB load.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq

from traceability.export import MANIFEST, PARTITION_COLUMN, manifest_text
from traceability.load import SUFFIX_FORMATS, FileProblem, scan
from traceability.spark.load_task import table_schemas
from traceability.spark.read import literal

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_SCHEME = ("://", "file:")
#: The dates ``LATEST_DATE_SQL`` (traceability.engine.report) takes the latest of.
LATEST_DATE_COLUMNS = (
    ("consignments", "declared_date"),
    ("batches", "manufacture_date"),
    ("events", "local_date"),
)


def join(root: str, name: str) -> str:
    """``root/name`` for a path or URI."""
    return root.rstrip("/") + "/" + name


def is_uri(path: str) -> bool:
    """Whether ``path`` names a scheme (``s3a://…``, ``file:/…``) rather than a local path."""
    return "://" in path or path.startswith("file:")


class FileSystem:
    """Hadoop's file system API, through the session's JVM: any storage Spark reaches."""

    def __init__(self, spark: SparkSession) -> None:
        jvm = spark.sparkContext._jvm
        assert jvm is not None
        self.jvm = jvm
        self.conf = spark.sparkContext._jsc.hadoopConfiguration()

    def _path(self, path: str) -> Any:
        return self.jvm.org.apache.hadoop.fs.Path(path)

    def _fs(self, path: str) -> Any:
        return self._path(path).getFileSystem(self.conf)

    def qualified(self, path: str) -> str:
        """The path as Spark's ``binaryFile`` source names it."""
        p = self._path(path)
        return str(p.getFileSystem(self.conf).makeQualified(p).toString())

    def exists(self, path: str) -> bool:
        return bool(self._fs(path).exists(self._path(path)))

    def state(self, path: str) -> str:
        """``missing``, ``file``, ``empty`` (a folder) or ``full`` (a folder)."""
        fs, p = self._fs(path), self._path(path)
        if not fs.exists(p):
            return "missing"
        if not fs.getFileStatus(p).isDirectory():
            return "file"
        return "full" if len(fs.listStatus(p)) else "empty"

    def read_text(self, path: str) -> str:
        stream = self._fs(path).open(self._path(path))
        try:
            out = self.jvm.java.io.ByteArrayOutputStream()
            self.jvm.org.apache.hadoop.io.IOUtils.copyBytes(stream, out, 65536, False)
            return str(out.toString("UTF-8"))
        finally:
            stream.close()

    def write_bytes(self, path: str, data: bytes) -> None:
        stream = self._fs(path).create(self._path(path), False)
        try:
            stream.write(bytearray(data))
        finally:
            stream.close()

    def write_text(self, path: str, text: str) -> None:
        self.write_bytes(path, text.encode("utf-8"))

    def rename(self, source: str, target: str) -> None:
        if not self._fs(source).rename(self._path(source), self._path(target)):
            raise OSError(f"cannot rename {source} to {target}")

    def delete(self, path: str) -> None:
        self._fs(path).delete(self._path(path), True)

    def files_under(self, folder: str) -> list[str]:
        """Every file under a folder (recursively), qualified, sorted by path."""
        found = self._fs(folder).listFiles(self._path(folder), True)
        out = []
        while found.hasNext():
            out.append(str(found.next().getPath().toString()))
        return sorted(out)


# --- the files of a load ------------------------------------------------------------------


@dataclass
class Inputs:
    """The files of a load as (the path the store names, the URI Spark reads), and the
    paths not read."""

    files: list[tuple[str, str]] = field(default_factory=list)
    unreadable: list[FileProblem] = field(default_factory=list)
    skipped: list[FileProblem] = field(default_factory=list)


def list_inputs(fs: FileSystem, paths: Sequence[str]) -> Inputs:
    """The files ``paths`` name: local paths as the DuckDB loader walks them, URIs
    through Hadoop (a folder's files of a loadable type, hidden ones skipped)."""
    inputs = Inputs()
    for path in paths:
        if not is_uri(path):
            found = scan([path])
            inputs.files += [(str(p), fs.qualified(str(Path(p).absolute()))) for p in found.files]
            inputs.unreadable += found.unreadable
            inputs.skipped += found.skipped
            continue
        state = fs.state(path)
        if state == "missing":
            inputs.unreadable.append(
                FileProblem(path, "missing", f"{path}: no such file or folder")
            )
        elif state == "file":
            inputs.files.append((path, fs.qualified(path)))
        else:
            _walk(fs, path, inputs)
    return inputs


def _walk(fs: FileSystem, folder: str, inputs: Inputs) -> None:
    root = fs.qualified(folder).rstrip("/") + "/"
    for uri in fs.files_under(folder):
        inside = uri[len(root) :] if uri.startswith(root) else uri.rsplit("/", 1)[-1]
        if any(part.startswith((".", "_")) for part in inside.split("/")):
            inputs.skipped.append(FileProblem(uri, "hidden", f"{uri}: hidden: skipped"))
        elif Path(inside).suffix.lower() not in SUFFIX_FORMATS:
            why = f"{uri}: not a type tracecheck reads: skipped"
            inputs.skipped.append(FileProblem(uri, "unknown-type", why))
        else:
            inputs.files.append((uri, uri))


# --- the store written ------------------------------------------------------------------


def _empty_parquet(table: str) -> bytes:
    """A Parquet file of the table's columns and no row (as an export writes it)."""
    sink = pa.BufferOutputStream()
    pq.write_table(table_schemas()[table].empty_table(), sink)
    return bytes(sink.getvalue().to_pybytes())


def _periods(files: Sequence[str]) -> list[str]:
    """The periods of a table split by period: its ``tc_period=`` folders, as the export
    lists them."""
    mark = f"/{PARTITION_COLUMN}="
    return sorted({unquote(f.split(mark, 1)[1].split("/", 1)[0]) for f in files if mark in f})


def _latest_date(tables: Mapping[str, DataFrame], rows: Mapping[str, int]) -> str | None:
    """The latest date in the store, as the export records it (``LATEST_DATE_SQL``: the
    latest declared, manufacture or event date)."""
    from pyspark.sql import functions

    found = []
    for table, column in LATEST_DATE_COLUMNS:
        if rows.get(table):
            row = tables[table].agg(functions.max(column)).first()
            if row is not None and row[0] is not None:
                found.append(row[0])
    return max(found).isoformat() if found else None


def write_store(
    fs: FileSystem,
    store: str,
    tables: Mapping[str, DataFrame],
    partitioned: frozenset[str],
    counts: Mapping[str, int],
    replace: bool,
) -> dict[str, int]:
    """Write the tables as the store at ``store``, atomically; each table's row count.

    Written to a folder beside the target, the manifest last, then renamed into place
    (an existing store is renamed aside first, and deleted once the new one is in
    place); if anything fails, the folder written is deleted and the target is as it was.
    ``counts`` gives the rows of the tables whose count is known (the others are counted
    once written); a table known to hold no row is written as one Parquet file of its
    columns, without a Spark job.
    """
    parent, name = store.rstrip("/").rsplit("/", 1) if "/" in store.rstrip("/") else (".", store)
    mark = uuid.uuid4().hex[:12]
    staging = join(parent, f".{name}.partial-{mark}")
    aside = join(parent, f".{name}.previous-{mark}")
    try:
        rows = dict(counts)
        for table, frame in sorted(tables.items()):
            folder = join(staging, table)
            if rows.get(table) == 0:
                fs.write_bytes(join(folder, "part-0.parquet"), _empty_parquet(table))
                continue
            writer = frame.write.mode("errorifexists")
            if table in partitioned:
                writer = writer.partitionBy(PARTITION_COLUMN)
            writer.parquet(folder)
            if table not in rows:
                if any(f.endswith(".parquet") for f in fs.files_under(folder)):
                    rows[table] = frame.sparkSession.read.parquet(literal(folder)).count()
                else:  # no row, so no partition: one file without rows keeps the columns
                    fs.write_bytes(join(folder, "part-0.parquet"), _empty_parquet(table))
                    rows[table] = 0
        about: dict[str, dict[str, Any]] = {}
        for t in sorted(rows):
            about[t] = {"rows": rows[t], "partitioned": t in partitioned}
            if t in partitioned:
                about[t]["periods"] = _periods(fs.files_under(join(staging, t)))
        text = manifest_text(about, _latest_date(tables, rows))
        fs.write_text(join(staging, MANIFEST), text)
    except BaseException:
        fs.delete(staging)
        raise
    if replace:
        fs.rename(store, aside)
    elif fs.exists(store):
        fs.delete(store)  # an empty folder
    try:
        fs.rename(staging, store)
    except BaseException:
        if replace:
            fs.rename(aside, store)
        fs.delete(staging)
        raise
    if replace:
        fs.delete(aside)
    return rows
