"""Loading input files into the store: detection, dispatch and one transaction per load."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import InvalidOperation
from pathlib import Path

import duckdb

from traceability import __version__
from traceability.errors import StoreError, StrictLoadAborted, UnknownKind, UnreadableFile
from traceability.load import events as ev
from traceability.load import limits, read
from traceability.load.epcis_terms import CBV_MACRO
from traceability.load.identifiers_sql import EPC_MACROS, SQL_MACROS
from traceability.load.kinds import ALL_KINDS, EVENT_KIND, TABULAR_KINDS, kind_spec
from traceability.load.tabular import load_tabular
from traceability.store import connect, transaction

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
    rejections: list[Rejection] = field(default_factory=list)
    #: The first MAX_NOTES_PER_FILE notes of each file, in file order (see read_notes).
    notes: list[LoadNote] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        """Records rejected across all files."""
        return sum(f.rejected for f in self.files)


def expand(paths: Iterable[str | Path]) -> list[Path]:
    """Files named, and the loadable files under folders named (recursively, sorted)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(
                f
                for f in p.rglob("*")
                if f.is_file()
                and f.suffix.lower() in SUFFIX_FORMATS
                and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
        elif p.exists():
            out.append(p)
        else:
            raise UnreadableFile(f"{p}: no such file or folder")
    return out


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
        required = {c.name for c in spec.columns if c.required}
        if required <= have and all(set(g) & have for g in spec.one_of_required):
            candidates.append((len(required), kind))
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


def detect(path: Path, forced: str | None = None) -> tuple[str, str]:
    """(kind, format) of a file, from its name and its header or document type."""
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


def load(
    db: str | Path | duckdb.DuckDBPyConnection,
    paths: Sequence[str | Path],
    *,
    kind: str | None = None,
    strict: bool = False,
    progress: Progress | None = None,
    memory_limit: str | None = None,
) -> LoadResult:
    """Load files and folders into the store in one transaction.

    A file already loaded (same SHA-256) is skipped and says so. Rejected records are
    stored in ``rejects`` and the rest of the file loads, unless ``strict``: then any
    rejection rolls the whole load back and raises :class:`StrictLoadAborted`.

    Args:
        db: the database file, or an open connection to it.
        paths: files and folders (walked recursively).
        kind: force the kind of every file instead of detecting it.
        strict: abort the whole load on any rejected record.
        progress: called as ``progress(path, index, total)`` before each file.
        memory_limit: DuckDB memory limit for this load, e.g. ``"4GB"``.
    """
    files = expand(paths)
    plan = [(f, *detect(f, kind)) for f in files]
    own = not isinstance(db, duckdb.DuckDBPyConnection)
    con = (
        db if isinstance(db, duckdb.DuckDBPyConnection) else connect(db, memory_limit=memory_limit)
    )
    try:
        _create_macros(con)
        result = LoadResult()
        with transaction(con):
            for index, (path, file_kind, fmt) in enumerate(plan):
                if progress:
                    progress(str(path), index, len(plan))
                result.files.append(_load_one(con, path, file_kind, fmt))
            result.rejections = _rejections(con, [f.load_id for f in result.files if f.load_id])
            _add_notes(con, result)
            if strict and (result.rejected or result.rejections):
                raise StrictLoadAborted(
                    f"{max(result.rejected, len(result.rejections))} record(s) rejected under "
                    "--strict; nothing was loaded"
                )
        return result
    except StrictLoadAborted as exc:
        exc.result = result  # type: ignore[attr-defined]
        raise
    finally:
        if own:
            con.close()


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


def _rejections(con: duckdb.DuckDBPyConnection, load_ids: list[int]) -> list[Rejection]:
    if not load_ids:
        return []
    rows = con.execute(
        "SELECT source_file, line, field, code, message FROM rejects "
        "WHERE list_contains(?, load_id) ORDER BY load_id, line, field",
        [load_ids],
    ).fetchall()
    return [Rejection(*r) for r in rows]
