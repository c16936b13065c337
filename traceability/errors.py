"""Exit codes and the exception hierarchy: the only place exit-code numbers appear."""

from __future__ import annotations

import errno
from enum import IntEnum


class ExitCode(IntEnum):
    """What a ``tracecheck`` exit status means.

    OK: the command ran and found nothing at or above ``--fail-on``.
    FINDINGS: findings at or above ``--fail-on`` (or a blocked preflight).
    BAD_INPUT: bad usage, or input that could not be read at all.
    REJECTED_STRICT: records were rejected under ``--strict``; nothing was written.
    """

    OK = 0
    FINDINGS = 1
    BAD_INPUT = 2
    REJECTED_STRICT = 3


class TracecheckError(Exception):
    """Base of every error the library raises on purpose; the CLI prints one line."""

    exit_code: ExitCode = ExitCode.BAD_INPUT

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class InputError(TracecheckError):
    """Input that cannot be read as a whole: exit 2."""


def spark_extra_missing(exc: ImportError) -> InputError:
    """The error of a Spark command where the optional ``spark`` extra is not installed."""
    return InputError(
        f"the Spark engine needs the 'spark' extra ({exc.name} is not installed)",
        hint="pip install 'tracecheck[spark]' (and Java 17 or newer)",
    )


class UnreadableFile(InputError):
    """A path is missing, unreadable, or not the format it claims to be."""


class UnknownKind(InputError):
    """The kind of a file could not be told from its header or document type."""


class EmptyFile(UnreadableFile):
    """A file holds nothing, or only blanks: there is no record to load."""


class LoadIncomplete(UnreadableFile):
    """Some paths of a load could not be read; every one is listed in ``result``.

    The readable files were loaded, unless the load was strict (then nothing was).
    ``result`` is the load's ``LoadResult``: its ``unreadable`` list names each path
    with the reason.
    """

    result: object = None


class NotComparable(InputError):
    """Two reports that cannot be compared: other kinds, periods or settings."""


class StoreError(TracecheckError):
    """The database cannot be opened or used."""


class DatabaseInUse(StoreError):
    """Another process holds the database open for writing."""


class StoreVersionError(StoreError):
    """The database was written by a version of tracecheck this one cannot use."""


class OutOfResources(TracecheckError):
    """Memory or disk ran out while a command ran; what it was writing was rolled back."""


#: ``errno`` values of a write that found no room: a full disk, a quota, a file size limit.
_NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_NO_ROOM_TEXT = ("no space left", "disk quota", "file too large")
_NO_MEMORY_TEXT = ("out of memory", "could not allocate", "failed to allocate", "bad_alloc")


def resource_error(exc: BaseException, where: str | None = None) -> OutOfResources | None:
    """The one-line error for an exception that says memory or disk ran out, else None.

    ``where`` names what was being written (the database file) for a disk that is full.
    """
    text = str(exc).lower()
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryException":
        memory = True
    elif isinstance(exc, OSError) and exc.errno in _NO_ROOM:
        memory = False
    elif any(t in text for t in _NO_MEMORY_TEXT):
        memory = True
    elif any(t in text for t in _NO_ROOM_TEXT):
        memory = False
    else:
        return None
    if memory:
        return OutOfResources(
            "not enough memory to finish",
            hint="free memory or raise the process's memory limit, or give fewer files at once",
        )
    return OutOfResources(
        f"{where or 'a file'}: the disk is full (or the file size limit was reached)",
        hint="free disk space, or give --db a file on another disk",
    )


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its class name when it has none): what a
    one-line error quotes of a library's error."""
    lines = str(exc).splitlines()
    return lines[0] if lines else type(exc).__name__


class StrictLoadAborted(TracecheckError):
    """Records were rejected under ``--strict``; the load was rolled back."""

    exit_code = ExitCode.REJECTED_STRICT
