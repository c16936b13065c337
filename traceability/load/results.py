"""What a load did: file by file, the records it rejected and the notes it wrote.

The types a load returns (:class:`LoadResult`, :class:`FileResult`, :class:`Rejection`,
:class:`LoadNote`, :class:`FileProblem`, :class:`FileProgress`), and the reading back of
the rejects and notes a load stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from traceability.store import connect


@dataclass(frozen=True)
class Rejection:
    """One rejected record (and field, where one field is to blame)."""

    source: str
    line: int | None
    field: str | None
    code: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class LoadNote:
    """A note or warning about a loaded file (a document skipped, a schema deviation, ...)."""

    source: str
    record: int | None
    location: str | None
    level: str  # "note" or "warning"
    code: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}: {self.location}" if self.location else self.source
        return f"{where}: {self.level}: {self.message}"


#: Notes kept in a LoadResult per file (all of them are in the ``load_notes`` table).
MAX_NOTES_PER_FILE = 100


@dataclass(frozen=True)
class FileProblem:
    """A path a load did not read, and why: a file it could not read, or one it skipped.

    ``code`` is a stable slug. Problems (:attr:`LoadResult.unreadable`): ``missing``,
    ``not-a-file`` (a FIFO, socket or device named), ``empty-file``, ``unknown-type``
    (named), ``unknown-kind``, ``unreadable``. Skips (:attr:`LoadResult.skipped`), found
    under a folder: ``unknown-type``, ``hidden``, ``outside-folder`` (a link whose target
    is not under the folder), ``not-a-file``, ``broken-link``.
    """

    path: str
    code: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


@dataclass(frozen=True)
class FileProgress:
    """How far a load has got: which file, and how far through it.

    ``bytes_done`` is ``None`` while a loader cannot tell (an EPCIS document is parsed
    whole before its events are stored); ``done`` is true on the last call for a file.
    """

    path: str
    index: int  # the file's position in the load, from 0
    files: int  # files the load reads
    records: int  # records of this file done so far
    bytes_done: int | None
    bytes_total: int
    done: bool = False


@dataclass
class FileResult:
    """What happened to one file."""

    path: str
    kind: str
    format: str
    sha256: str
    status: str  # "loaded" or "already-loaded"
    records: int = 0
    accepted: int = 0
    duplicates: int = 0
    conflicts: int = 0
    rejected: int = 0
    extra_columns: tuple[str, ...] = ()
    load_id: int | None = None
    notes: int = 0  # notes and warnings about the file, in ``load_notes``


@dataclass
class LoadResult:
    """What one load did, file by file, with the rejections it stored."""

    files: list[FileResult] = field(default_factory=list)
    #: The first MAX_REJECTIONS rejections, in file and line order (all are in ``rejects``).
    rejections: list[Rejection] = field(default_factory=list)
    #: Rejections stored by the load: rows of ``rejects``, one per record and field.
    rejections_stored: int = 0
    #: The first MAX_NOTES_PER_FILE notes of each file, in file order (see read_notes).
    notes: list[LoadNote] = field(default_factory=list)
    #: Paths named, or found under a folder named, that could not be read.
    unreadable: list[FileProblem] = field(default_factory=list)
    #: Paths under a folder named that were not read, and why (files already loaded
    #: are in ``files``, with the status ``already-loaded``).
    skipped: list[FileProblem] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        """Records rejected across all files."""
        return sum(f.rejected for f in self.files)


_NOTE_COLUMNS = "source_file, record, location, level, code, message"


def add_notes(con: duckdb.DuckDBPyConnection, result: LoadResult) -> None:
    """Count each file's notes and keep the first of them in ``result``."""
    load_ids = [f.load_id for f in result.files if f.load_id]
    if not load_ids:
        return
    counts = dict(
        con.execute(
            "SELECT load_id, count(*) FROM load_notes WHERE list_contains(?, load_id) "
            "GROUP BY load_id",
            [load_ids],
        ).fetchall()
    )
    for f in result.files:
        f.notes = int(counts.get(f.load_id, 0))
    rows = con.execute(
        f"SELECT {_NOTE_COLUMNS} FROM (SELECT *, row_number() OVER (PARTITION BY load_id "
        "ORDER BY record NULLS FIRST) AS n FROM load_notes WHERE list_contains(?, load_id)) "
        "WHERE n <= ? ORDER BY load_id, n",
        [load_ids, MAX_NOTES_PER_FILE],
    ).fetchall()
    result.notes = [LoadNote(*r) for r in rows]


def read_notes(
    db: str | Path | duckdb.DuckDBPyConnection, source: str | None = None
) -> list[LoadNote]:
    """All the notes and warnings stored by loads (of one file, if ``source`` is given)."""
    own = not isinstance(db, duckdb.DuckDBPyConnection)
    con = db if isinstance(db, duckdb.DuckDBPyConnection) else connect(db, read_only=True)
    try:
        rows = con.execute(
            f"SELECT {_NOTE_COLUMNS} FROM load_notes WHERE ? IS NULL OR source_file = ? "
            "ORDER BY load_id, record NULLS FIRST",
            [source, source],
        ).fetchall()
    finally:
        if own:
            con.close()
    return [LoadNote(*r) for r in rows]


def stored_rejections(
    con: duckdb.DuckDBPyConnection, load_ids: list[int], most: int
) -> tuple[list[Rejection], int]:
    """The first ``most`` rejections of the loads, and how many there are."""
    if not load_ids:
        return [], 0
    row = con.execute(
        "SELECT count(*) FROM rejects WHERE list_contains(?, load_id)", [load_ids]
    ).fetchone()
    total = int(row[0]) if row else 0
    rows = con.execute(
        "SELECT source_file, line, field, code, message FROM rejects "
        "WHERE list_contains(?, load_id) ORDER BY load_id, line, field LIMIT ?",
        [load_ids, most],
    ).fetchall()
    return [Rejection(*r) for r in rows], total
