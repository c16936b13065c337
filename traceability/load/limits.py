"""The limits on what one input file may hold, and how to raise them.

tracecheck reads files that other companies send, so every reader stops at a limit
instead of at the end of the machine's memory or patience. Each limit is an environment
variable; the defaults are far above what any real declaration file or EPCIS document
needs:

============================  ===========  ==============================================
variable                      default      what it bounds
============================  ===========  ==============================================
TRACECHECK_MAX_FIELD_CHARS    1,048,576    characters in one field of a declaration file
                                           (CSV, JSON Lines, Parquet, .xlsx cell); a
                                           longer field rejects its record
TRACECHECK_MAX_COLUMNS        1,000        columns of a declaration file (CSV header,
                                           distinct JSON Lines keys, Parquet columns,
                                           .xlsx header); more refuses the file
TRACECHECK_MAX_LINE_BYTES     67,108,864   one line of a JSON Lines file (64 MiB); a
                                           longer line rejects that record (declarations)
                                           or refuses the file (events)
TRACECHECK_MAX_XLSX_BYTES     268,435,456  the unpacked size of an .xlsx workbook, all its
                                           parts together (256 MiB), read from the zip
                                           directory before anything is unpacked
TRACECHECK_MAX_XLSX_ROWS      1,048,576    rows of the sheet read (Excel's own maximum),
                                           counting empty rows a sheet jumps over
============================  ===========  ==============================================

Some limits are fixed and belong to the formats' readers:

- XML (EPCIS documents): a DOCTYPE with an internal subset (entity declarations) or an
  external DTD refuses the document; no entity is ever expanded and no DTD or URL is
  ever fetched. libxml2's own limits stay on (``huge_tree`` off): 10,000,000 bytes of
  text in one node, 256 levels of nesting, and its entity-amplification guard.
- CSV: the header row must end within its first 1 MiB.
- JSON: values nested more deeply than Python can follow (about a thousand levels when
  read; an event nested some hundreds of levels cannot have its event hash computed)
  reject the record where the reader can name it, and refuse the file otherwise; so does
  a ``\\ud800`` escape (half a surrogate pair, which is not a character).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import NoReturn

import pyarrow as pa
import pyarrow.compute as pc

from traceability.errors import InputError, UnreadableFile

MIB = 1 << 20

#: Environment variable of each limit.
VARIABLES = {
    "max_field_chars": "TRACECHECK_MAX_FIELD_CHARS",
    "max_columns": "TRACECHECK_MAX_COLUMNS",
    "max_line_bytes": "TRACECHECK_MAX_LINE_BYTES",
    "max_xlsx_bytes": "TRACECHECK_MAX_XLSX_BYTES",
    "max_xlsx_rows": "TRACECHECK_MAX_XLSX_ROWS",
}

#: The first bytes of a CSV file in which its header row must end.
CSV_HEADER_BYTES = MIB


@dataclass(frozen=True)
class Limits:
    """The limits in force for one read (see the module's documentation)."""

    max_field_chars: int = MIB
    max_columns: int = 1_000
    max_line_bytes: int = 64 * MIB
    max_xlsx_bytes: int = 256 * MIB
    max_xlsx_rows: int = 1_048_576

    def hint(self, name: str) -> str:
        """How to raise the limit ``name`` (a field name of this class).

        >>> Limits().hint("max_columns")
        'set TRACECHECK_MAX_COLUMNS to raise the limit of 1,000'
        """
        return f"set {VARIABLES[name]} to raise the limit of {getattr(self, name):,}"


def current() -> Limits:
    """The limits in force: the defaults, each replaced by its environment variable if set.

    Raises:
        InputError: a variable is set to something other than a whole number above 0.

    >>> current().max_xlsx_rows >= 1
    True
    """
    values: dict[str, int] = {}
    for f in fields(Limits):
        variable = VARIABLES[f.name]
        text = os.environ.get(variable)
        if text is None or not text.strip():
            continue
        try:
            number = int(text.strip().replace("_", ""))
        except ValueError:
            number = 0
        if number < 1:
            raise InputError(
                f"{variable}={text!r}: not a whole number above 0",
                hint="give the limit as a number, e.g. 2000000",
            )
        values[f.name] = number
    return Limits(**values)


def shown(text: str, width: int = 60) -> str:
    """``text`` quoted for a message, cut to ``width`` characters when it is longer.

    Names and values from a file can be megabytes long; a message quotes their start.

    >>> shown("gtin")
    "'gtin'"
    >>> shown("x" * 100, 10)
    "'xxxxxxxxxx'... (100 characters)"
    """
    if len(text) <= width:
        return repr(text)
    return f"{text[:width]!r}... ({len(text):,} characters)"


def check_lines(path: object, first: int, lengths: pa.Array, limit: Limits) -> None:
    """Refuse a file when a line is over the line limit.

    ``lengths`` holds the length in bytes of each line, numbered from ``first``.

    Raises:
        UnreadableFile: a line is longer than the limit.
    """
    most = limit.max_line_bytes
    if len(lengths) and pc.max(lengths).as_py() > most:
        refuse_line(path, first + pc.index(pc.greater(lengths, most), True).as_py(), limit)


def refuse_line(path: object, number: int, limit: Limits) -> NoReturn:
    """Refuse a file for its line ``number``, longer than the line limit."""
    raise UnreadableFile(
        f"{path}:{number}: the line is longer than {limit.max_line_bytes:,} bytes",
        hint=limit.hint("max_line_bytes"),
    )
