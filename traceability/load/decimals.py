"""Whether a quantity written in a file can be stored exactly, or why not.

The store keeps every quantity as ``DECIMAL(38,12)``: at most 12 digits after the point
and 26 before it. A quantity is stored only when that type holds its value exactly, as
written; otherwise the record is rejected with a reason, never stored rounded:

- more (non-zero) decimal places than 12: :data:`PRECISION_CODE` (``1e-400`` and
  ``1.5e-13`` are such values, and are rejected, not stored as 0);
- more than 26 digits before the point: :data:`RANGE_CODE` (``1E+30``).

Exponent spellings are read for the value they write: ``1.5E3`` is 1500 and is stored as
such. Trailing zeros change no value (``2.500000000000000`` is 2.5), so they never reject.

This is the one rule for every syntax that carries a quantity: CSV, .xlsx, JSON Lines and
Parquet declarations, and EPCIS events in JSON and XML. Everything here is exact decimal
arithmetic on the text as written: no binary float and no context rounding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

#: Digits after the point the store keeps.
SCALE = 12
#: Digits before the point the store keeps (38 in all, 12 of them after the point).
INTEGER_DIGITS = 26
#: Reason code: more decimal places than the store keeps.
PRECISION_CODE = "decimal-precision"
#: Reason code: more digits before the point than the store keeps.
RANGE_CODE = "decimal-out-of-range"

#: A decimal number as text: optional sign, digits with an optional point, optional exponent.
NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")


@dataclass(frozen=True)
class Inexact:
    """Why a number cannot be stored exactly: a reason code and a sentence."""

    code: str
    reason: str


def digits(value: Decimal) -> tuple[int, int]:
    """(decimal places, digits before the point) the exact value ``value`` needs.

    Trailing zeros are not counted; neither are leading zeros.

    >>> digits(Decimal("2.500"))
    (1, 1)
    >>> digits(Decimal("1.5E-13"))
    (14, 0)
    >>> digits(Decimal("1E+30"))
    (0, 31)
    >>> digits(Decimal("0E-400"))
    (0, 0)
    """
    sign, numerals, exponent = value.as_tuple()
    if not isinstance(exponent, int):
        raise ValueError(f"{value} is not a finite number")
    numbers = list(numerals)
    while len(numbers) > 1 and numbers[-1] == 0:
        numbers.pop()
        exponent += 1
    while len(numbers) > 1 and numbers[0] == 0:
        numbers.pop(0)
    if numbers == [0]:
        return 0, 0
    return max(0, -exponent), max(0, len(numbers) + exponent)


def exact_quantity(text: str) -> Decimal | Inexact:
    """The exact value of a number written as ``text``, or why the store cannot hold it.

    Raises:
        ValueError: ``text`` is not a decimal number (``twelve``, ``1,5``, ``NaN``); the
            caller words that reject in its own terms.

    >>> exact_quantity("12.50")
    Decimal('12.50')
    >>> exact_quantity("1.5E3")
    Decimal('1.5E+3')
    >>> exact_quantity("0.1234567890123456").code
    'decimal-precision'
    >>> exact_quantity("1.5e-13").code
    'decimal-precision'
    >>> exact_quantity("1E-400").code
    'decimal-precision'
    >>> exact_quantity("0E-400")
    Decimal('0E-400')
    >>> exact_quantity("1E+30").reason
    'has 31 digits before the point; at most 26 can be stored'
    >>> exact_quantity("2.500000000000000000")
    Decimal('2.500000000000000000')
    >>> exact_quantity("-3")
    Decimal('-3')
    """
    text = text.strip()
    if not NUMBER.fullmatch(text):
        raise ValueError(f"{text[:80]!r} is not a decimal number")
    # An exponent of thousands of digits would make Decimal slow; no exact value needs one.
    mantissa, _, power = text.lower().partition("e")
    if len(power.lstrip("+-").lstrip("0")) > 18:
        negative = power.startswith("-")
        if Decimal(mantissa) == 0:
            return Decimal(0)
        code = PRECISION_CODE if negative else RANGE_CODE
        return Inexact(code, "has an exponent far beyond what can be stored")
    value = Decimal(text)
    places, integers = digits(value)
    if places > SCALE:
        return Inexact(
            PRECISION_CODE,
            f"has {places:,} decimal places; at most {SCALE} can be stored without rounding",
        )
    if integers > INTEGER_DIGITS:
        return Inexact(
            RANGE_CODE,
            f"has {integers:,} digits before the point; at most {INTEGER_DIGITS} can be stored",
        )
    return value


def plain(value: Decimal) -> str:
    """``value`` written out without an exponent (exact: no rounding).

    >>> plain(Decimal("1.5E+3"))
    '1500'
    >>> plain(Decimal("1.50E-5"))
    '0.0000150'
    """
    return format(value, "f")


def stored_text(text: str) -> str | None:
    """Plain text of the value of ``text`` when the store holds it exactly, else None.

    >>> stored_text("1.25e1")
    '12.5'
    >>> stored_text("1E-400") is None
    True
    """
    try:
        value = exact_quantity(text)
    except ValueError:
        return None
    return None if isinstance(value, Inexact) else plain(value)


def inexact_code(text: str) -> str | None:
    """The reason code when ``text`` is a number the store cannot hold exactly, else None.

    >>> inexact_code("1E+30")
    'decimal-out-of-range'
    >>> inexact_code("7") is None
    True
    """
    try:
        value = exact_quantity(text)
    except ValueError:
        return None
    return value.code if isinstance(value, Inexact) else None


def _macro(signature: str, body: str) -> str:
    return f"CREATE OR REPLACE TEMP MACRO {signature} AS {body}"


#: SQL macros doing in DuckDB what :func:`exact_quantity` does, for a whole column at once
#: (create them on a connection with :func:`create_macros`). For a text that matches
#: :data:`NUMBER`:
#:
#: - ``tc_decimal_problem(text)``: :data:`PRECISION_CODE`, :data:`RANGE_CODE` or NULL
#:   when the store holds the value exactly;
#: - ``tc_decimal_plain(text)``: the value written out without an exponent (exact), to
#:   cast to ``DECIMAL(38,12)``; only for a text whose problem is NULL.
#:
#: The value is the digits without their point and without leading and trailing zeros
#: (``tc_decimal_sig``), and the place of the point among them (``tc_decimal_point``: how
#: many of them stand before it, from the point as written and the exponent).
SQL_MACROS: tuple[str, ...] = (
    _macro(
        "tc_decimal_digits(v)",
        "replace(regexp_extract(v, '^[+-]?([0-9]*\\.?[0-9]*)', 1), '.', '')",
    ),
    _macro("tc_decimal_sig(v)", "rtrim(ltrim(tc_decimal_digits(v), '0'), '0')"),
    _macro("tc_decimal_exponent(v)", "regexp_extract(v, '[eE]([+-]?[0-9]+)$', 1)"),
    _macro(
        "tc_decimal_point(v)",
        "length(regexp_extract(v, '^[+-]?([0-9]*)', 1)) "
        "- (length(tc_decimal_digits(v)) - length(ltrim(tc_decimal_digits(v), '0'))) "
        "+ coalesce(TRY_CAST(NULLIF(tc_decimal_exponent(v), '') AS BIGINT), 0)",
    ),
    _macro(
        "tc_decimal_problem(v)",
        "CASE WHEN tc_decimal_sig(v) = '' THEN NULL "
        # an exponent of more than 15 digits: far beyond the type whatever the digits
        "WHEN length(ltrim(ltrim(tc_decimal_exponent(v), '+-'), '0')) > 15 THEN "
        f"CASE WHEN starts_with(tc_decimal_exponent(v), '-') THEN '{PRECISION_CODE}' "
        f"ELSE '{RANGE_CODE}' END "
        f"WHEN length(tc_decimal_sig(v)) - tc_decimal_point(v) > {SCALE} "
        f"THEN '{PRECISION_CODE}' "
        f"WHEN tc_decimal_point(v) > {INTEGER_DIGITS} THEN '{RANGE_CODE}' END",
    ),
    _macro(
        "tc_decimal_plain(v)",
        "CASE WHEN tc_decimal_sig(v) = '' THEN '0' ELSE "
        "(CASE WHEN starts_with(v, '-') THEN '-' ELSE '' END) || "
        "CASE WHEN tc_decimal_point(v) <= 0 "
        "THEN '0.' || repeat('0', -tc_decimal_point(v)::INTEGER) || tc_decimal_sig(v) "
        "WHEN tc_decimal_point(v) < length(tc_decimal_sig(v)) "
        "THEN left(tc_decimal_sig(v), tc_decimal_point(v)::INTEGER) || '.' "
        "|| substr(tc_decimal_sig(v), tc_decimal_point(v)::INTEGER + 1) "
        "ELSE tc_decimal_sig(v) "
        "|| repeat('0', (tc_decimal_point(v) - length(tc_decimal_sig(v)))::INTEGER) END END",
    ),
)


def create_macros(con: Any) -> None:
    """Create :data:`SQL_MACROS` on a DuckDB connection (they are TEMP: per connection).

    >>> import duckdb
    >>> con = duckdb.connect()
    >>> create_macros(con)
    >>> con.execute("SELECT tc_decimal_problem('1.5e-13'), tc_decimal_plain('1.25E1')").fetchone()
    ('decimal-precision', '12.5')
    """
    for macro in SQL_MACROS:
        con.execute(macro)
