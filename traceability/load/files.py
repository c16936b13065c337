"""The files of a load: the paths named walked for files, and each file's kind and format."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from traceability.errors import EmptyFile, UnknownKind, UnreadableFile
from traceability.kinds import ALL_KINDS, EVENT_KIND, TABULAR_KINDS, kind_spec
from traceability.load import limits, read
from traceability.load.epcis.read_xml import looks_like_xml
from traceability.load.epcis.terms import EVENT_TYPES
from traceability.load.results import FileProblem

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


@dataclass
class Found:
    """What a walk over the paths of a load found: files to read, problems, skips."""

    files: list[Path] = field(default_factory=list)
    unreadable: list[FileProblem] = field(default_factory=list)
    skipped: list[FileProblem] = field(default_factory=list)


def node(mode: int) -> str:
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
            found.unreadable.append(cannot_read(p, exc))
            continue
        if stat.S_ISDIR(mode):
            _walk(p, found)
        elif stat.S_ISREG(mode):
            found.files.append(p)
        else:
            found.unreadable.append(
                FileProblem(
                    str(p), "not-a-file", f"{p}: {node(mode)}, not read", "name a regular file"
                )
            )
    return found


def cannot_read(path: Path, exc: OSError) -> FileProblem:
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
            found.unreadable.append(cannot_read(folder, exc))
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
                    found.unreadable.append(cannot_read(path, exc))
                continue
            if stat.S_ISDIR(mode):
                real = real or os.path.realpath(entry.path)
                if real not in seen:  # a link back up the tree is walked once
                    seen.add(real)
                    pending.append(path)
            elif not stat.S_ISREG(mode):
                skip(path, "not-a-file", node(mode))
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
        raise UnreadableFile(f"{path}: {node(st.st_mode)}, not read", hint="name a regular file")
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
            first.get("type") in EVENT_TYPES or "eventTime" in first
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
