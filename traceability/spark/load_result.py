"""What a load on Spark returns: the :class:`~traceability.load.LoadResult` of the DuckDB
loader, made from what the tasks said of each file and what the merge found."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from traceability.errors import StrictLoadAborted
from traceability.load import (
    MAX_NOTES_PER_FILE,
    MAX_REJECTIONS,
    FileProblem,
    FileResult,
    LoadNote,
    LoadResult,
    Rejection,
)
from traceability.spark.load_merge import Merge, functions

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


@dataclass
class FileOutcome:
    """What a task said of one file."""

    source: str
    loaded: dict[str, Any] | None
    problem: FileProblem | None


def file_results(
    outcomes: list[FileOutcome],
    ids: Mapping[int, int],
    loads: list[dict[str, Any]],
    notes: Mapping[int, int],
) -> list[FileResult]:
    """The files of the load as the DuckDB loader lists them."""
    by_id = {int(r["load_id"]): r for r in loads}
    files = []
    for idx, outcome in enumerate(outcomes):
        told = outcome.loaded
        if told is None:
            continue
        if idx not in ids:
            files.append(
                FileResult(
                    outcome.source, told["kind"], told["format"], told["sha256"], "already-loaded"
                )
            )
            continue
        row = by_id[ids[idx]]
        files.append(
            FileResult(
                outcome.source,
                str(row["kind"]),
                str(row["format"]),
                str(row["sha256"]),
                "loaded",
                records=int(row["records"]),
                accepted=int(row["accepted"]),
                duplicates=int(row["duplicates"]),
                conflicts=int(row["conflicts"]),
                rejected=int(row["rejected"]),
                extra_columns=tuple(row["extra_columns"] or ()),
                load_id=ids[idx],
                notes=notes.get(ids[idx], 0),
            )
        )
    return files


def first_rejections_and_notes(
    result: LoadResult,
    merge: Merge,
    tables: Mapping[str, DataFrame],
    outcomes: list[FileOutcome],
) -> None:
    """The first rejections and notes of the load, as the DuckDB loader keeps them: from
    what each task said of its file, unless notes were replaced across files."""
    from pyspark.sql import Window

    F = functions()
    loaded = sorted((load_id, outcomes[idx].loaded or {}) for idx, load_id in merge.ids.items())
    result.rejections_stored = sum(int(t["rows"]["rejects"]) for _, t in loaded)
    result.rejections = [Rejection(*r) for _, t in loaded for r in t["rejects"]][:MAX_REJECTIONS]
    if not merge.notes_delta:
        result.notes = [LoadNote(*r) for _, t in loaded for r in t["notes"]]
        return
    order = Window.partitionBy("load_id").orderBy(F.col("record").asc_nulls_first())
    notes = (
        tables["load_notes"]
        .where(F.col("load_id").isin(*merge.ids.values()))
        .withColumn("n", F.row_number().over(order))
        .where(F.col("n") <= MAX_NOTES_PER_FILE)
        .orderBy("load_id", "n")
        .collect()
    )
    result.notes = [
        LoadNote(r["source_file"], r["record"], r["location"], r["level"], r["code"], r["message"])
        for r in notes
    ]


def refuse_rejections(
    result: LoadResult, ids: Mapping[int, int], outcomes: list[FileOutcome]
) -> None:
    """Under ``--strict``: stop before anything is merged or written if a file of the load
    rejected a record (the merge changes which records are stored, never which are
    rejected).

    Raises:
        StrictLoadAborted: as the DuckDB loader does, with the first rejections.
    """
    loaded = [outcomes[idx].loaded or {} for idx in sorted(ids, key=lambda i: ids[i])]
    rejected = sum(int(t["rejected"]) for t in loaded)
    rejections = [Rejection(*r) for t in loaded for r in t["rejects"]][:MAX_REJECTIONS]
    if not (rejected or rejections):
        return
    result.rejections = rejections
    result.rejections_stored = sum(int(t["rows"]["rejects"]) for t in loaded)
    exc = StrictLoadAborted(
        f"{max(rejected, len(rejections))} record(s) rejected under --strict; nothing was loaded"
    )
    exc.result = result  # type: ignore[attr-defined]
    raise exc
