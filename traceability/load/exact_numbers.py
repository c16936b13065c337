"""Numbers read from an event exactly as the file wrote them.

JSON numbers and XML quantities are read as :class:`WrittenDecimal` (an exact decimal
that remembers its spelling), never as a binary float; a number beyond the range of a
decimal is kept as its text (:class:`BigNumber`), so that a quantity of ``1e400`` or
``1e999999999999999999999`` is rejected with its reason instead of becoming ``inf`` or
stopping the load. Whether the store can hold a quantity is decided by
:mod:`traceability.load.decimals`.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation


class WrittenDecimal(Decimal):
    """An exact decimal that keeps the text it was written as (``1.5e-13``), for messages
    and for passing an event on as the file wrote it.

    >>> WrittenDecimal("1.50e0").text, WrittenDecimal("1.50e0") == Decimal("1.5")
    ('1.50e0', True)
    """

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str) -> WrittenDecimal:
        self = super().__new__(cls, text)
        self.text = text
        return self


class BigNumber(str):
    """A number too large for an exact decimal (``1e999999999999999999999``), kept as the
    text written."""

    __slots__ = ()


def written_number(text: str) -> WrittenDecimal | BigNumber:
    """The number ``text`` (a JSON number, or an XML quantity without its blanks).

    >>> written_number("2.50"), written_number("1e999999999999999999999")
    (Decimal('2.50'), '1e999999999999999999999')
    """
    try:
        return WrittenDecimal(text)
    except InvalidOperation:
        return BigNumber(text)


def number_text(value: Decimal | BigNumber | int) -> str:
    """A number as the file wrote it (as Python writes it, for one made otherwise).

    >>> number_text(written_number("1.5E-13")), number_text(Decimal("0.10"))
    ('1.5E-13', '0.10')
    """
    if isinstance(value, WrittenDecimal):
        return value.text
    return str(value)


_PARTS = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?([eE][+-]?[0-9]+)?")


def json_spelling(text: str) -> str:
    """A number written in XML (``+012.50``, ``.5``, ``5.``) as JSON writes it, with the
    same digits: no plus sign, no leading zeros, a digit on each side of the point.

    >>> json_spelling("+012.50"), json_spelling(".5E-3"), json_spelling("5."), json_spelling("-0")
    ('12.50', '0.5E-3', '5', '-0')
    """
    parts = _PARTS.fullmatch(text)
    if parts is None:
        return text
    sign, whole, fraction, exponent = parts.groups()
    return (
        ("-" if sign == "-" else "")
        + (whole.lstrip("0") or "0")
        + (f".{fraction}" if fraction else "")
        + (exponent or "")
    )
