"""Loading input files into the store: detection, dispatch and one transaction per load."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import InvalidOperation
from pathlib import Path

import duckdb

from traceability import __version__
from traceability.errors import (
    EmptyFile,
    InputError,
    LoadIncomplete,
    StoreError,
    StrictLoadAborted,
    UnknownKind,
    UnreadableFile,
)
from traceability.kinds import ALL_KINDS, EVENT_KIND, TABULAR_KINDS, kind_spec
from traceability.load import events as ev
from traceability.load import limits, read
from traceability.load.epcis_terms import CBV_MACRO
from traceability.load.epcis_xml import looks_like_xml
from traceability.load.identifiers_sql import EPC_MACROS, SQL_MACROS
from traceability.load.progress import reporting
from traceability.load.tabular import load_tabular
from traceability.store import connect, fault_point, load_transaction

SUFFIX_FORMATS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".jsonld": "json",
    ".xml": "xml",
    ".xlsx": "xlsx",
}


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
#: Rejections kept in a LoadResult (all of them are in the ``rejects`` table), so that a
#: load's memory does not grow with the number of records it rejects.
MAX_REJECTIONS = 1000


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


@dataclass
class Found:
    """What a walk over the paths of a load found: files to read, problems, skips."""

    files: list[Path] = field(default_factory=list)
    unreadable: list[FileProblem] = field(default_factory=list)
    skipped: list[FileProblem] = field(default_factory=list)


def _node(mode: int) -> str:
    """What a path that is neither a file nor a folder is, from its ``st_mode``."""
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def scan(paths: Iterable[str | Path]) -> Found:
    """The files a load reads, with each path it cannot read and each one it skips.

    Only what was named is read: the files named, and the regular files of a loadable
    type under the folders named (walked recursively; each folder's files sorted). Under
    a folder, hidden files and folders (a name that starts with '.'), files of other
    types, FIFOs, sockets and devices, and links whose target is not under that folder
    are skipped, each with the reason; a link that stays under the folder is followed.
    A path named that does not exist, or is a FIFO, socket or device, is a problem.
    Nothing is opened: paths are only looked at with ``os.stat``.
    """
    found = Found()
    for p in map(Path, paths):
        try:
            mode = p.stat().st_mode
        except FileNotFoundError:
            found.unreadable.append(FileProblem(str(p), "missing", f"{p}: no such file or folder"))
            continue
        except OSError as exc:
            found.unreadable.append(_cannot_read(p, exc))
            continue
        if stat.S_ISDIR(mode):
            _walk(p, found)
        elif stat.S_ISREG(mode):
            found.files.append(p)
        else:
            found.unreadable.append(
                FileProblem(
                    str(p), "not-a-file", f"{p}: {_node(mode)}, not read", "name a regular file"
                )
            )
    return found


def _cannot_read(path: Path, exc: OSError) -> FileProblem:
    return FileProblem(str(path), "unreadable", f"{path}: cannot be read ({exc.strerror})")


def _walk(root: Path, found: Found) -> None:
    """Add the files under ``root`` to ``found``, and what is skipped there, with why."""
    top = os.path.realpath(root)
    under = top.rstrip(os.sep) + os.sep
    seen = {top}
    files: list[Path] = []
    pending = [root]

    def skip(path: Path, code: str, why: str, hint: str | None = None) -> None:
        found.skipped.append(FileProblem(str(path), code, f"{path}: {why}, not read", hint))

    while pending:
        folder = pending.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            found.unreadable.append(_cannot_read(folder, exc))
            continue
        for entry in entries:
            path = Path(entry.path)
            if entry.name.startswith("."):
                skip(path, "hidden", "hidden")
                continue
            linked = entry.is_symlink()
            real = os.path.realpath(entry.path) if linked else ""
            if linked and real != top and not real.startswith(under):
                skip(path, "outside-folder", f"a link to a path outside {root}")
                continue
            try:
                mode = os.stat(entry.path).st_mode
            except OSError as exc:
                if linked:
                    skip(path, "broken-link", "a link to nothing")
                else:
                    found.unreadable.append(_cannot_read(path, exc))
                continue
            if stat.S_ISDIR(mode):
                real = real or os.path.realpath(entry.path)
                if real not in seen:  # a link back up the tree is walked once
                    seen.add(real)
                    pending.append(path)
            elif not stat.S_ISREG(mode):
                skip(path, "not-a-file", _node(mode))
            elif path.suffix.lower() not in SUFFIX_FORMATS:
                hint = "save it as .xlsx" if path.suffix.lower() == ".xls" else None
                skip(path, "unknown-type", f"unknown file type '{path.suffix or path.name}'", hint)
            else:
                files.append(path)
    found.files += sorted(files)


def expand(paths: Iterable[str | Path]) -> list[Path]:
    """Files named, and the loadable files under folders named (recursively, sorted).

    What :func:`scan` skips under a folder is left out.

    Raises:
        UnreadableFile: the first path named that cannot be read (missing, a FIFO, ...).
    """
    found = scan(paths)
    if found.unreadable:
        first = found.unreadable[0]
        raise UnreadableFile(first.message, hint=first.hint)
    return found.files


def sha256_of(path: Path) -> str:
    """The file's SHA-256, read in chunks."""
    h = hashlib.sha256()
    try:
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError as exc:
        raise UnreadableFile(f"{path}: cannot be read ({exc.strerror})") from None
    return h.hexdigest()


def _first_json_line(path: Path) -> dict[str, object] | None:
    most = limits.current().max_line_bytes
    with path.open("rb") as f:
        number = 0
        while raw := f.readline(most + 1):
            number += 1
            if len(raw) > most and not raw.endswith(b"\n"):
                raise UnreadableFile(
                    f"{path}:{number}: the line is longer than {most:,} bytes",
                    hint=limits.current().hint("max_line_bytes"),
                )
            if raw.strip():
                try:
                    obj = json.loads(raw.decode("utf-8-sig", errors="replace"))
                except (ValueError, ArithmeticError, RecursionError):  # the loader says why
                    return None
                return obj if isinstance(obj, dict) else None
    return None


def _best_kind(path: Path, columns: Iterable[str]) -> str:
    have = {c.strip().lower() for c in columns}
    candidates = []
    for kind in TABULAR_KINDS:
        spec = kind_spec(kind)
        if spec.covers(have):
            candidates.append((len(spec.required_names()), kind))
    if not candidates:
        names = sorted(have)
        listed = ", ".join(
            n if len(n) <= 200 and n.isprintable() else limits.shown(n, 200) for n in names[:20]
        )
        if len(names) > 20:
            listed += f" and {len(names) - 20:,} more"
        raise UnknownKind(
            f"{path}: cannot tell what kind of file this is from its columns ({listed or 'none'})",
            hint=f"give --kind, one of {', '.join(ALL_KINDS)}",
        )
    candidates.sort(reverse=True)
    return candidates[0][1]


_BLANK_BLOCK = 1 << 16


def _regular(path: Path) -> int:
    """The size of a regular file; a FIFO, socket, device or missing path is refused.

    Only ``os.stat`` looks at the path, so nothing is opened (a FIFO would block).
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UnreadableFile(f"{path}: no such file") from None
    except OSError as exc:
        raise UnreadableFile(f"{path}: cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise UnreadableFile(f"{path}: {_node(st.st_mode)}, not read", hint="name a regular file")
    return st.st_size


def _blank(path: Path) -> bool:
    """Whether a file holds nothing but blanks (after a UTF-8 byte-order mark)."""
    try:
        with path.open("rb") as f:
            block = f.read(_BLANK_BLOCK).removeprefix(b"\xef\xbb\xbf")
            while block:
                if block.strip():
                    return False
                block = f.read(_BLANK_BLOCK)
    except OSError as exc:
        raise UnreadableFile(f"{path}: cannot be read ({exc.strerror})") from None
    return True


def detect(path: Path, forced: str | None = None) -> tuple[str, str]:
    """(kind, format) of a file, from its name and its header or document type.

    Raises:
        UnknownKind: the file's type or kind cannot be told (or ``forced`` is unknown).
        EmptyFile: the file holds nothing, or only blanks.
        UnreadableFile: the file is not a regular file, cannot be read, or is not what
            its name says (a ``.xml`` file is read as XML only).
    """
    suffix = path.suffix.lower()
    fmt = SUFFIX_FORMATS.get(suffix)
    if suffix == ".xls":
        raise UnreadableFile(f"{path}: old .xls workbooks are not read", hint="save it as .xlsx")
    if fmt is None:
        raise UnknownKind(
            f"{path}: unknown file type '{suffix or path.name}'",
            hint="CSV, Parquet, JSON Lines, .xlsx or an EPCIS JSON or XML document",
        )
    if forced is not None and forced not in ALL_KINDS:
        raise UnknownKind(f"unknown kind '{forced}'", hint=f"one of {', '.join(ALL_KINDS)}")
    size = _regular(path)  # before anything opens it
    if _blank(path):
        raise EmptyFile(f"{path}: empty file" + (" (only blanks)" if size else ""))
    if fmt == "xml" and not looks_like_xml(path):
        raise UnreadableFile(
            f"{path}: not XML (it does not start with '<')",
            hint="a .xml file is read as an EPCIS XML document only",
        )
    if fmt in ("json", "xml"):
        if forced not in (None, EVENT_KIND):
            raise UnreadableFile(f"{path}: an EPCIS document holds events, not {forced}")
        return EVENT_KIND, fmt
    if fmt == "jsonl":
        first = _first_json_line(path)
        looks_like_event = first is not None and (
            first.get("type") in ev.EVENT_TYPES or "eventTime" in first
        )
        if forced is not None:
            return forced, fmt
        if looks_like_event:
            return EVENT_KIND, fmt
        return _best_kind(path, first or {}), fmt
    if forced == EVENT_KIND:
        raise UnreadableFile(f"{path}: events are read from JSON Lines or EPCIS JSON documents")
    if fmt == "csv":
        header = read.read_csv_header(path)
    elif fmt == "parquet":
        header = read.parquet_columns(path)
    else:
        header = read.xlsx_header(path, forced)
    kind = forced or _best_kind(path, header)
    if fmt not in kind_spec(kind).formats:
        raise UnreadableFile(
            f"{path}: {kind} are not read from {fmt} files",
            hint=f"use one of {', '.join(kind_spec(kind).formats)}",
        )
    return kind, fmt


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
    try:
        _create_macros(con)
        while True:
            try:
                _load_plan(con, plan, result, strict, progress, within_file)
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
        raise _incomplete(result, strict=False)
    return result


def _load_plan(
    con: duckdb.DuckDBPyConnection,
    plan: list[_Planned],
    result: LoadResult,
    strict: bool,
    progress: Progress | None,
    within_file: WithinFile | None,
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
                with reporting(tell):
                    loaded = _load_one(con, path, file_kind, fmt)
            except (InputError, OSError) as exc:
                raise _FileFailed(_problem(path, exc)) from None
            result.files.append(loaded)
            if tell is not None:
                tell(loaded.records, None, done=True)
        result.rejections, result.rejections_stored = _rejections(
            con, [f.load_id for f in result.files if f.load_id]
        )
        _add_notes(con, result)
        if strict and result.unreadable:
            raise _incomplete(result, strict=True)
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
        return _cannot_read(path, exc)
    if isinstance(exc, EmptyFile):
        code = "empty-file"
    elif isinstance(exc, UnknownKind):
        unknown_type = path.suffix.lower() not in SUFFIX_FORMATS
        code = "unknown-type" if unknown_type else "unknown-kind"
    else:
        code = "unreadable"
    return FileProblem(str(path), code, exc.message, exc.hint)


def _incomplete(result: LoadResult, *, strict: bool) -> LoadIncomplete:
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
    left to a load of events (``events.create_epc_macros``).
    """
    try:  # a probe costs far less than a look through duckdb_functions()
        con.execute("SELECT tc_cbv(NULL, 'bizStep')")
        return
    except duckdb.CatalogException:
        pass
    for macro in (*(m for m in SQL_MACROS if m not in EPC_MACROS), *CBV_MACRO.split(";\n")):
        con.execute(macro)


def _load_one(con: duckdb.DuckDBPyConnection, path: Path, kind: str, fmt: str) -> FileResult:
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
        return _load_records(con, path, kind, fmt, result)
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
    con: duckdb.DuckDBPyConnection, path: Path, kind: str, fmt: str, result: FileResult
) -> FileResult:
    """Read, check and store one file's records, then its row in ``loads``."""
    source, digest = result.path, result.sha256
    assert result.load_id is not None
    load_id = result.load_id
    if kind == EVENT_KIND:
        try:
            out = ev.load_events(con, path, document=fmt == "json", load_id=load_id, source=source)
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


_NOTE_COLUMNS = "source_file, record, location, level, code, message"


def _add_notes(con: duckdb.DuckDBPyConnection, result: LoadResult) -> None:
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


def _rejections(con: duckdb.DuckDBPyConnection, load_ids: list[int]) -> tuple[list[Rejection], int]:
    """The first MAX_REJECTIONS rejections of the loads, and how many there are."""
    if not load_ids:
        return [], 0
    row = con.execute(
        "SELECT count(*) FROM rejects WHERE list_contains(?, load_id)", [load_ids]
    ).fetchone()
    total = int(row[0]) if row else 0
    rows = con.execute(
        "SELECT source_file, line, field, code, message FROM rejects "
        "WHERE list_contains(?, load_id) ORDER BY load_id, line, field LIMIT ?",
        [load_ids, MAX_REJECTIONS],
    ).fetchall()
    return [Rejection(*r) for r in rows], total
