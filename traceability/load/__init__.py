"""Loading input files into the store: detection, dispatch and one transaction per load.

The files of a load are found and told apart in :mod:`~traceability.load.files`; what a
load returns is in :mod:`~traceability.load.results`; each record a load rejects or
notes is an :class:`~traceability.load.outcomes.Outcome` of a code in the table of codes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import InvalidOperation
from pathlib import Path

import duckdb

from traceability.errors import (
    EmptyFile,
    InputError,
    LoadIncomplete,
    StoreError,
    StrictLoadAborted,
    UnknownKind,
    UnreadableFile,
)
from traceability.kinds import ALL_KINDS, EVENT_KIND, kind_spec
from traceability.load import read
from traceability.load.epcis.pipeline import KnownIds, known_ids, load_events
from traceability.load.epcis.terms import CBV_MACRO
from traceability.load.files import (
    SUFFIX_FORMATS,
    Found,
    cannot_read,
    detect,
    expand,
    scan,
    sha256_of,
)
from traceability.load.identifiers_sql import EPC_MACROS, SQL_MACROS
from traceability.load.progress import Listener
from traceability.load.results import (
    MAX_NOTES_PER_FILE,
    FileProblem,
    FileProgress,
    FileResult,
    LoadNote,
    LoadResult,
    Rejection,
    add_notes,
    read_notes,
    stored_rejections,
)
from traceability.load.tabular import load_tabular
from traceability.store import connect, fault_point, load_transaction
from traceability.version import __version__

__all__ = [
    "DEFAULT_LOAD_MEMORY",
    "MAX_NOTES_PER_FILE",
    "MAX_REJECTIONS",
    "SUFFIX_FORMATS",
    "FileProblem",
    "FileProgress",
    "FileResult",
    "Found",
    "LoadNote",
    "LoadResult",
    "Rejection",
    "detect",
    "expand",
    "load",
    "read_notes",
    "scan",
    "sha256_of",
]

#: Rejections kept in a LoadResult (all of them are in the ``rejects`` table), so that a
#: load's memory does not grow with the number of records it rejects.
MAX_REJECTIONS = 1000

Progress = Callable[[str, int, int], None]
WithinFile = Callable[[FileProgress], None]

#: One file of a load's plan: its path, kind and format.
_Planned = tuple[Path, str, str]


class _FileFailed(Exception):
    """A file failed while it was being loaded; the transaction is rolled back."""

    def __init__(self, problem: FileProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


#: DuckDB's memory limit for a load unless one is given: what the loader needs to keep
#: its speed (measured in ``bench/ingest.py``), while a file of millions of rejected
#: records stays within it (``bench/rejects.py``).
DEFAULT_LOAD_MEMORY = "512MB"


def load(
    db: str | Path | duckdb.DuckDBPyConnection,
    paths: Sequence[str | Path],
    *,
    kind: str | None = None,
    strict: bool = False,
    progress: Progress | None = None,
    within_file: WithinFile | None = None,
    memory_limit: str | None = DEFAULT_LOAD_MEMORY,
) -> LoadResult:
    """Load files and folders into the store in one transaction.

    Every path is looked at in one pass: the files that can be read are loaded, and
    every one that cannot is listed in ``unreadable`` with the reason (what a folder
    holds that is not read, such as a file of another type, is listed in ``skipped``).
    A file already loaded (same SHA-256) is skipped and says so. Rejected records are
    stored in ``rejects`` and the rest of the file loads, unless ``strict``: then any
    rejection, or any file that cannot be read, rolls the whole load back.

    Args:
        db: the database file, or an open connection to it.
        paths: files and folders (walked recursively; see :func:`scan`).
        kind: force the kind of every file instead of detecting it.
        strict: load nothing if any record is rejected or any file cannot be read.
        progress: called as ``progress(path, index, total)`` before each file.
        within_file: called with a :class:`FileProgress` as each file starts, as its
            loader goes on (after each chunk of events), and once as it ends.
        memory_limit: DuckDB memory limit for this load, e.g. ``"4GB"`` (default
            :data:`DEFAULT_LOAD_MEMORY`; ``None`` for DuckDB's own, 80% of the machine).
            Past it DuckDB spills to a temporary folder, so memory does not grow with the
            number of records, rejected ones included.

    Raises:
        LoadIncomplete: a path could not be read. The readable files were loaded and
            committed (under ``strict``, nothing was); ``exc.result`` is the
            :class:`LoadResult`, whose ``unreadable`` lists every such path.
        StrictLoadAborted: under ``strict``, records were rejected; nothing was loaded.
        UnknownKind: ``kind`` is not a kind of the input contract.
    """
    if kind is not None and kind not in ALL_KINDS:
        raise UnknownKind(f"unknown kind '{kind}'", hint=f"one of {', '.join(ALL_KINDS)}")
    found = scan(paths)
    result = LoadResult(unreadable=found.unreadable, skipped=found.skipped)
    plan: list[_Planned] = []
    for path in found.files:
        try:
            plan.append((path, *detect(path, kind)))
        except (InputError, OSError) as exc:
            result.unreadable.append(_problem(path, exc))
    own = not isinstance(db, duckdb.DuckDBPyConnection)
    con = (
        db if isinstance(db, duckdb.DuckDBPyConnection) else connect(db, memory_limit=memory_limit)
    )
    known = known_ids()  # what one file resolves, the next need not parse again
    try:
        _create_macros(con)
        while True:
            try:
                _load_plan(con, plan, result, strict, progress, within_file, known)
                break
            except _FileFailed as failed:
                # The file may have stored records before it failed, and a transaction
                # cannot be undone in part: the load starts again without it.
                result.unreadable.append(failed.problem)
                plan = [p for p in plan if str(p[0]) != failed.problem.path]
    except StrictLoadAborted as exc:
        exc.result = result  # type: ignore[attr-defined]
        raise
    finally:
        if own:
            con.close()
    if result.unreadable:
        raise incomplete(result, strict=False)
    return result


def _load_plan(
    con: duckdb.DuckDBPyConnection,
    plan: list[_Planned],
    result: LoadResult,
    strict: bool,
    progress: Progress | None,
    within_file: WithinFile | None,
    known: KnownIds,
) -> None:
    """Load the files of ``plan`` in one transaction, into ``result``.

    Raises:
        _FileFailed: a file could not be read (the transaction is rolled back).
    """
    result.files = []
    with load_transaction(con, [str(p[0]) for p in plan]):
        for index, (path, file_kind, fmt) in enumerate(plan):
            if progress:
                progress(str(path), index, len(plan))
            tell = _teller(within_file, path, index, len(plan))
            try:
                loaded = _load_one(con, path, file_kind, fmt, tell, known)
            except (InputError, OSError) as exc:
                raise _FileFailed(_problem(path, exc)) from None
            result.files.append(loaded)
            if tell is not None:
                tell(loaded.records, None, done=True)
        result.rejections, result.rejections_stored = stored_rejections(
            con, [f.load_id for f in result.files if f.load_id], MAX_REJECTIONS
        )
        add_notes(con, result)
        if strict and result.unreadable:
            raise incomplete(result, strict=True)
        if strict and (result.rejected or result.rejections):
            raise StrictLoadAborted(
                f"{max(result.rejected, len(result.rejections))} record(s) rejected under "
                "--strict; nothing was loaded"
            )


class _Teller:
    """Turns a loader's ``advance(records, bytes_done)`` into :class:`FileProgress` calls."""

    def __init__(self, within_file: WithinFile, path: Path, index: int, files: int) -> None:
        self.within_file, self.path, self.index, self.files = within_file, path, index, files
        try:
            self.size = path.stat().st_size
        except OSError:
            self.size = 0
        self(0, 0)

    def __call__(self, records: int, bytes_done: int | None, *, done: bool = False) -> None:
        self.within_file(
            FileProgress(
                str(self.path),
                self.index,
                self.files,
                records,
                self.size if done else bytes_done,
                self.size,
                done,
            )
        )


def _teller(within_file: WithinFile | None, path: Path, index: int, files: int) -> _Teller | None:
    return None if within_file is None else _Teller(within_file, path, index, files)


def _problem(path: Path, exc: InputError | OSError) -> FileProblem:
    """The problem of a file that could not be read, from the error that said so."""
    if isinstance(exc, OSError):
        return cannot_read(path, exc)
    if isinstance(exc, EmptyFile):
        code = "empty-file"
    elif isinstance(exc, UnknownKind):
        unknown_type = path.suffix.lower() not in SUFFIX_FORMATS
        code = "unknown-type" if unknown_type else "unknown-kind"
    else:
        code = "unreadable"
    return FileProblem(str(path), code, exc.message, exc.hint)


def incomplete(result: LoadResult, *, strict: bool) -> LoadIncomplete:
    """The error of a load that could not read every path (one line: the first)."""
    first = result.unreadable[0]
    undone = "; nothing was loaded (--strict)" if strict else ""
    if len(result.unreadable) == 1:
        exc = LoadIncomplete(first.message + undone, hint=first.hint)
    else:
        exc = LoadIncomplete(
            f"{len(result.unreadable)} paths could not be read{undone}; the first: {first}"
        )
    exc.result = result
    return exc


def _create_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Create the loader's SQL macros on a connection, once (they are TEMP: per connection).

    Creating them costs a quarter of a second, which matters to a caller that loads a few
    lines many times on one connection (preflight); the EPC parsers, most of that, are
    left to a load of events (``epcis.identify.create_epc_macros``).
    """
    try:  # a probe costs far less than a look through duckdb_functions()
        con.execute("SELECT tc_cbv(NULL, 'bizStep')")
        return
    except duckdb.CatalogException:
        pass
    for macro in (*(m for m in SQL_MACROS if m not in EPC_MACROS), *CBV_MACRO.split(";\n")):
        con.execute(macro)


def _load_one(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    kind: str,
    fmt: str,
    progress: Listener | None,
    known: KnownIds,
) -> FileResult:
    digest = sha256_of(path)
    source = str(path)
    done = con.execute(
        "SELECT load_id FROM loads WHERE sha256 = ? ORDER BY load_id LIMIT 1", [digest]
    ).fetchone()
    if done:
        return FileResult(source, kind, fmt, digest, "already-loaded", load_id=None)
    row = con.execute("SELECT nextval('load_ids')").fetchone()
    assert row is not None
    load_id = int(row[0])
    result = FileResult(source, kind, fmt, digest, "loaded", load_id=load_id)
    fault_point("file")
    try:
        return _load_records(con, path, kind, fmt, result, progress, known)
    except RecursionError:
        raise UnreadableFile(
            f"{path}: holds {'XML' if fmt == 'xml' else 'JSON'} {read.TOO_DEEP}",
            hint="no EPCIS event or declaration nests more than a few levels",
        ) from None
    except UnicodeEncodeError:  # text can hold anything but a lone UTF-16 surrogate
        raise UnreadableFile(f"{path}: {read.LONE_SURROGATE}") from None
    except (InvalidOperation, ValueError) as exc:
        if isinstance(exc, ValueError) and "integer string conversion" not in str(exc):
            raise
        raise UnreadableFile(f"{path}: {read.HUGE_NUMBER}") from None


def _load_records(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    kind: str,
    fmt: str,
    result: FileResult,
    progress: Listener | None,
    known: KnownIds,
) -> FileResult:
    """Read, check and store one file's records, then its row in ``loads``."""
    source, digest = result.path, result.sha256
    assert result.load_id is not None
    load_id = result.load_id
    if kind == EVENT_KIND:
        try:
            out = load_events(
                con,
                path,
                document=fmt == "json",
                load_id=load_id,
                source=source,
                progress=progress,
                known=known,
            )
        except duckdb.OutOfMemoryException:
            raise StoreError(
                f"{path}: not enough memory to load this file",
                hint="give the load a larger memory limit",
            ) from None
        extra: tuple[str, ...] = ()
    else:
        table = {
            "csv": read.read_csv,
            "jsonl": read.read_jsonl,
            "parquet": read.read_parquet,
        }.get(fmt)
        raw = table(path) if table else read.read_xlsx(path, kind)
        out_t = load_tabular(con, kind_spec(kind), path, raw, load_id=load_id, source=source)
        out, extra = out_t, out_t.extra_columns  # type: ignore[assignment]
    result.records, result.accepted = out.records, out.accepted
    result.duplicates, result.conflicts, result.rejected = (
        out.duplicates,
        out.conflicts,
        out.rejected,
    )
    result.extra_columns = extra
    fault_point("records")
    con.execute(
        "INSERT INTO loads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            load_id,
            source,
            digest,
            kind,
            fmt,
            result.records,
            result.accepted,
            result.duplicates,
            result.conflicts,
            result.rejected,
            list(extra),
            __version__,
            datetime.now(UTC),
        ],
    )
    fault_point("loads-row")
    return result
