"""The sender's conformance check: every reject and note of input files, nothing loaded.

An exporter checks its own files before sending them: each file is read by the ordinary
loader into a throwaway in-memory store of its own, and what the loader would reject or
note about it is collected with its location. No database file is opened or written;
DuckDB's spill files, if a large file needs them, go to a temporary folder removed at
the end.

Each file gets a store of its own, so a file is checked in full even when another file
of the same call has the same content (a load skips a file already loaded), and nothing
about one file depends on another.

Whatever the loader stores as a reject (the ``rejects`` table) or as a note or warning
(``load_notes``) is reported; columns that are not in the table of a file's kind, which a
load keeps as extra data, are reported as a note ``extra-columns``.

The JSON form (:meth:`ValidationResult.to_json`)::

    {
      "tool": {"name": "tracecheck", "version": "..."},
      "files": [
        {"path": "events.jsonl", "kind": "events", "format": "jsonl",
         "records": 2, "rejected": 1, "error": null,
         "rejects": [{"level": "reject", "code": "bad-event-time", "line": 1,
                      "location": null, "message": "eventTime: ..."}],
         "notes": [{"level": "warning", "code": "ilmd-without-add", "line": 2,
                    "location": "line 2 ilmd", "message": "ilmd: ..."}]}
      ],
      "summary": {"files": 1, "unreadable": 0, "rejects": 1, "notes": 1, "warnings": 1,
                  "conforms": false}
    }

``error`` says why a file cannot be read at all (its kind and format are then ``null``,
its counts 0 and its lists empty); ``rejected`` counts records, ``rejects`` lists each
reject (a record may have more than one); ``notes`` lists notes and warnings together.

>>> result = validate([])
>>> result.conforms, result.exit_code.name, result.summary()
(True, 'OK', 'no file to check')
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from traceability.errors import ExitCode, InputError, UnknownKind
from traceability.kinds import ALL_KINDS
from traceability.load import expand, load
from traceability.store import connect
from traceability.version import __version__

Level = Literal["reject", "warning", "note"]

#: Formats whose records are numbered by their position in a document, not by a line.
DOCUMENT_FORMATS = ("json", "xml")

#: The code of the note about columns that are not in the table of the file's kind.
EXTRA_COLUMNS = "extra-columns"

#: Files whose header is their first line, where extra columns are found.
_HEADER_ON_LINE_1 = ("csv", "xlsx")


@dataclass(frozen=True)
class Issue:
    """One reject or note about a file, with its location.

    ``line`` is the line of a CSV or JSON Lines file (the row of a worksheet or a Parquet
    file), or the position of the event in an EPCIS document; ``None`` when the issue is
    about the whole file. ``location`` is, for a reject, the field to blame; for a note,
    where it points (event number, XML line, field), as the loader words it.
    """

    level: Level
    code: str
    file: str
    line: int | None
    location: str | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        """The issue as JSON values (the file is the entry it is listed under)."""
        return {
            "level": self.level,
            "code": self.code,
            "line": self.line,
            "location": self.location,
            "message": self.message,
        }


@dataclass
class FileCheck:
    """What the check found in one file; ``error`` when the file cannot be read at all."""

    path: str
    kind: str | None = None
    format: str | None = None
    records: int = 0
    rejected: int = 0  # records that would be rejected (a record may have several rejects)
    rejects: list[Issue] = field(default_factory=list)
    notes: list[Issue] = field(default_factory=list)  # notes and warnings
    error: str | None = None

    @property
    def issues(self) -> list[Issue]:
        """Rejects and notes together, in the order of the file (whole-file issues first)."""
        return sorted(
            [*self.rejects, *self.notes],
            key=lambda i: (i.line is not None, i.line or 0, i.level != "reject"),
        )

    def where(self, issue: Issue) -> str:
        """Where an issue is: ``file.csv:12``, ``doc.xml: event 3 (line 57) ilmd``, ``file``."""
        if issue.line is None:
            if issue.level != "reject" and issue.location:
                return f"{self.path}: {issue.location}"
            return self.path
        if self.format in DOCUMENT_FORMATS:
            if issue.level != "reject" and issue.location:
                return f"{self.path}: {issue.location}"
            return f"{self.path}: event {issue.line}"
        return f"{self.path}:{issue.line}"

    def to_dict(self) -> dict[str, Any]:
        """The file's entry of the JSON form."""
        return {
            "path": self.path,
            "kind": self.kind,
            "format": self.format,
            "records": self.records,
            "rejected": self.rejected,
            "error": self.error,
            "rejects": [i.to_dict() for i in self.rejects],
            "notes": [i.to_dict() for i in self.notes],
        }


@dataclass
class ValidationResult:
    """The check of every file given, in the order given (folders walked, sorted)."""

    files: list[FileCheck] = field(default_factory=list)

    @property
    def rejects(self) -> int:
        """Rejects across all files."""
        return sum(len(f.rejects) for f in self.files)

    @property
    def notes(self) -> int:
        """Notes across all files, warnings included."""
        return sum(len(f.notes) for f in self.files)

    @property
    def warnings(self) -> int:
        """The notes whose level is ``warning``."""
        return sum(1 for f in self.files for n in f.notes if n.level == "warning")

    @property
    def unreadable(self) -> list[FileCheck]:
        """The files that could not be read at all."""
        return [f for f in self.files if f.error is not None]

    @property
    def conforms(self) -> bool:
        """Every file was read, with no reject and no note."""
        return not (self.unreadable or self.rejects or self.notes)

    @property
    def exit_code(self) -> ExitCode:
        """2 when a file cannot be read, 1 when there is a reject or a note, else 0."""
        if self.unreadable:
            return ExitCode.BAD_INPUT
        return ExitCode.OK if self.conforms else ExitCode.FINDINGS

    def summary(self) -> str:
        """One line: ``2 file(s): 1 reject, 3 notes (2 warnings)``, or that they conform."""
        if not self.files:
            return "no file to check"
        files = f"{len(self.files)} file(s)"
        if self.conforms:
            return f"{files} conform: no notes, no rejects"
        parts = []
        if self.unreadable:
            parts.append(f"{len(self.unreadable)} cannot be read")
        parts.append(_count(self.rejects, "reject"))
        notes = _count(self.notes, "note")
        if self.warnings:
            notes += f" ({_count(self.warnings, 'warning')})"
        parts.append(notes)
        return f"{files}: {', '.join(parts)}"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"tool", "files": [...], "summary": {...}}``."""
        return {
            "tool": {"name": "tracecheck", "version": __version__},
            "files": [f.to_dict() for f in self.files],
            "summary": {
                "files": len(self.files),
                "unreadable": len(self.unreadable),
                "rejects": self.rejects,
                "notes": self.notes,
                "warnings": self.warnings,
                "conforms": self.conforms,
            },
        }

    def to_json(self) -> str:
        r"""The JSON form as text, with every character that is not printable escaped.

        >>> print(ValidationResult([FileCheck("a\x1bb\u2028.csv")]).to_json().splitlines()[7])
              "path": "a\u001bb\u2028.csv",
        """
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False)
        return _printable(text) + "\n"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _printable(text: str) -> str:
    """JSON text with each non-printable character but the line breaks of the layout escaped.

    Only string contents can hold such characters (the layout has line breaks and spaces
    alone), so the text parses to the same values.
    """
    if text.replace("\n", "").isprintable():
        return text
    out = []
    for c in text:
        if c == "\n" or c.isprintable():
            out.append(c)
        elif ord(c) > 0xFFFF:
            high, low = divmod(ord(c) - 0x10000, 0x400)
            out.append(f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04x}")
        else:
            out.append(f"\\u{ord(c):04x}")
    return "".join(out)


Progress = Callable[[str, int, int], None]


def validate(
    paths: Sequence[str | Path],
    kind: str | None = None,
    *,
    progress: Progress | None = None,
    memory_limit: str | None = None,
) -> ValidationResult:
    """Check files against the input contract and the EPCIS standard; load nothing.

    Every file is checked, even after one that cannot be read; such a file is listed
    with ``error`` set, and a path that does not exist is listed the same way.

    Args:
        paths: files and folders (walked recursively, as ``load`` walks them).
        kind: treat every file as this kind instead of detecting it.
        progress: called as ``progress(path, index, total)`` before each file.
        memory_limit: DuckDB memory limit of each file's store, e.g. ``"4GB"``.

    Raises:
        UnknownKind: ``kind`` is not a kind of the input contract.
    """
    if kind is not None and kind not in ALL_KINDS:
        raise UnknownKind(f"unknown kind '{kind}'", hint=f"one of {', '.join(ALL_KINDS)}")
    plan: list[Path | FileCheck] = []
    for given in paths:
        try:
            plan.extend(expand([given]))
        except InputError as exc:
            plan.append(_unreadable(str(given), exc))
    result = ValidationResult()
    with tempfile.TemporaryDirectory(prefix="tracecheck-validate-") as spill:
        for index, item in enumerate(plan):
            if isinstance(item, FileCheck):
                result.files.append(item)
                continue
            if progress:
                progress(str(item), index, len(plan))
            result.files.append(_check(item, kind, spill, memory_limit))
    return result


def _unreadable(path: str, exc: InputError) -> FileCheck:
    text = str(exc)
    return FileCheck(path, error=text if text.startswith(path) else f"{path}: {text}")


def _check(path: Path, kind: str | None, spill: str, memory_limit: str | None) -> FileCheck:
    """Load one file into a store of its own and read back what was rejected and noted."""
    con = connect(":memory:", memory_limit=memory_limit)
    try:
        con.execute("SET temp_directory = ?", [spill])
        try:
            loaded = load(con, [path], kind=kind)
        except InputError as exc:
            return _unreadable(str(path), exc)
        (f,) = loaded.files
        check = FileCheck(f.path, f.kind, f.format, f.records, f.rejected)
        check.rejects = [
            Issue("reject", code, f.path, line, column, message)
            for line, column, code, message in con.execute(
                "SELECT line, field, code, message FROM rejects WHERE load_id = ? "
                "ORDER BY line NULLS FIRST, field NULLS FIRST, code, message",
                [f.load_id],
            ).fetchall()
        ]
        check.notes = [
            Issue(_level(level), code, f.path, record, location, message)
            for record, location, level, code, message in con.execute(
                "SELECT record, location, level, code, message FROM load_notes "
                "WHERE load_id = ? ORDER BY record NULLS FIRST, location, code, message",
                [f.load_id],
            ).fetchall()
        ]
        if f.extra_columns and not any(n.code == EXTRA_COLUMNS for n in check.notes):
            check.notes.insert(0, _extra_columns(f.path, f.kind, f.format, f.extra_columns))
        return check
    finally:
        con.close()


def _level(stored: str) -> Level:
    return "warning" if stored == "warning" else "note"


def _extra_columns(path: str, kind: str, fmt: str, columns: Iterable[str]) -> Issue:
    """The note about columns that are not in the table of the file's kind (kept as extra)."""
    return Issue(
        "note",
        EXTRA_COLUMNS,
        path,
        1 if fmt in _HEADER_ON_LINE_1 else None,
        None,
        f"extra columns kept: {', '.join(columns)} (not in the table of {kind})",
    )
