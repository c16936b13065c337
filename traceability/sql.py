"""SQL text: string literals, quoted identifiers and the period of a date.

Every piece of SQL tracecheck writes from Python values goes through these few functions,
so that a quote in a lot number, a file name or a column name cannot end the string it
sits in. Single quotes are doubled in a literal and double quotes in an identifier, the
form DuckDB (and standard SQL) reads back as the same text. A NUL character has no place
in either (DuckDB takes it for the end of the statement): it is refused here with a
message rather than passed on to fail in the parser.

The period expression is the one the rules and the export share: the calendar quarter of
a date as ``2026-Q1`` (NULL for a NULL date).
"""

from __future__ import annotations

from datetime import date


class UnsafeSQLText(ValueError):
    """A value cannot be written as SQL text (it holds a NUL character)."""


def _checked(text: str, what: str) -> str:
    if "\x00" in text:
        raise UnsafeSQLText(f"a SQL {what} cannot hold a NUL character: {text!r}")
    return text


def literal(text: str) -> str:
    """A SQL string literal of ``text``: single quotes doubled.

    >>> literal("O'Brien")
    "'O''Brien'"
    """
    return "'" + _checked(text, "string literal").replace("'", "''") + "'"


def identifier(name: str) -> str:
    """A quoted SQL identifier (a table or column name): double quotes doubled.

    >>> print(identifier('a "b" c'))
    "a ""b"" c"
    """
    return '"' + _checked(name, "identifier").replace('"', '""') + '"'


def date_literal(day: date) -> str:
    """A SQL date literal.

    >>> date_literal(date(2026, 3, 31))
    "DATE '2026-03-31'"
    """
    return f"DATE {literal(day.isoformat())}"


def period_of(column: str) -> str:
    """SQL for the calendar quarter of the date ``column`` (an expression), as ``2026-Q1``.

    >>> period_of("e.local_date")
    "CAST(year(e.local_date) AS VARCHAR) || '-Q' || CAST(quarter(e.local_date) AS VARCHAR)"
    """
    return f"CAST(year({column}) AS VARCHAR) || '-Q' || CAST(quarter({column}) AS VARCHAR)"


def quoted_text(column: str) -> str:
    """SQL for the text of ``column`` (an expression) in single quotes, for messages.

    A value that is not text (NULL) reads ``a value that is not text``.

    >>> quoted_text("raw")
    "coalesce('''' || replace(raw, '''', '''''') || '''', 'a value that is not text')"
    """
    return f"coalesce('''' || replace({column}, '''', '''''') || '''', 'a value that is not text')"
