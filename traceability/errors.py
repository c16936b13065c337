"""Exit codes and the exception hierarchy: the only place exit-code numbers appear."""

from __future__ import annotations

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


class UnreadableFile(InputError):
    """A path is missing, unreadable, or not the format it claims to be."""


class UnknownKind(InputError):
    """The kind of a file could not be told from its header or document type."""


class NotComparable(InputError):
    """Two reports that cannot be compared: other kinds, periods or settings."""


class StoreError(TracecheckError):
    """The database cannot be opened or used."""


class DatabaseInUse(StoreError):
    """Another process holds the database open for writing."""


class StoreVersionError(StoreError):
    """The database was written by a version of tracecheck this one cannot use."""


class StrictLoadAborted(TracecheckError):
    """Records were rejected under ``--strict``; the load was rolled back."""

    exit_code = ExitCode.REJECTED_STRICT
