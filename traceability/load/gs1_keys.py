"""GS1 keys: check digits, and the GTIN, GLN and SSCC numbers with their problems.

Everything here exists twice and the two must agree exactly: pure Python functions
for single values (and for the doctests) here, and DuckDB SQL macros for bulk work in
:mod:`traceability.load.identifiers_sql`.
"""

from __future__ import annotations

import re
from typing import Literal
from unicodedata import name as unicode_name

EpcKind = Literal["sgtin", "sscc", "lgtin", "sgln", "other"]

#: Whitespace stripped from both ends of every input (ASCII only, as SQL ``trim``).
WHITESPACE = " \t\n\r\x0b\x0c"

DL_ROOT = "https://id.gs1.org"

# --------------------------------------------------------------------------------------
# Check digits and fixed-length GS1 numbers
# --------------------------------------------------------------------------------------

_DIGITS = re.compile(r"[0-9]+")


def check_digit(payload: str) -> int:
    """Compute the GS1 mod-10 check digit of a digit string.

    Weights 3, 1, 3, ... apply from the rightmost digit of the payload.

    Args:
        payload: the digits the check digit protects (without the check digit).

    Returns:
        The check digit, 0-9.

    Raises:
        ValueError: if ``payload`` is empty or holds anything but ASCII digits.

    Examples:
        >>> check_digit("0614141000005"[:-1])
        5
        >>> check_digit("1061414107346")
        4
    """
    if not _DIGITS.fullmatch(payload):
        raise ValueError(f"not a digit string: {payload!r}")
    total = sum(int(c) * (3 if i % 2 == 0 else 1) for i, c in enumerate(reversed(payload)))
    return -total % 10


def check_ok(digits: str) -> bool:
    return check_digit(digits[:-1]) == int(digits[-1])


def with_check_digit(payload: str) -> str:
    return payload + str(check_digit(payload))


def _number_problem(s: str, lengths: tuple[int, ...]) -> str | None:
    t = s.strip(WHITESPACE)
    if not _DIGITS.fullmatch(t):
        return "not-digits"
    if len(t) not in lengths:
        return "bad-length"
    if not check_ok(t):
        return "bad-check-digit"
    return None


def is_valid_gs1_number(s: str, length: int) -> bool:
    """Tell whether ``s`` is exactly ``length`` ASCII digits with a valid check digit.

    Args:
        s: the candidate number, not stripped.
        length: the required number of digits, check digit included (at least 2).

    Returns:
        True when the digits, the length and the check digit are all right.

    Examples:
        >>> is_valid_gs1_number("4012345000009", 13)
        True
        >>> is_valid_gs1_number("4012345000008", 13)
        False
        >>> is_valid_gs1_number(" 4012345000009", 13)
        False
    """
    return len(s) == length >= 2 and _number_problem(s, (length,)) is None


def gtin_problem(s: str) -> str | None:
    """Say what is wrong with a GTIN, or None when it is a valid GTIN-8/12/13/14.

    Surrounding whitespace is ignored.

    Args:
        s: the candidate GTIN.

    Returns:
        ``"not-digits"``, ``"bad-length"``, ``"bad-check-digit"`` or None.

    Examples:
        >>> gtin_problem("10614141073464") is None
        True
        >>> gtin_problem("1061414107346X")
        'not-digits'
        >>> gtin_problem("106141410734")
        'bad-check-digit'
        >>> gtin_problem("1234567890")
        'bad-length'
    """
    return _number_problem(s, (8, 12, 13, 14))


def gln_problem(s: str) -> str | None:
    """Say what is wrong with a 13-digit GLN, or None when it is valid.

    Args:
        s: the candidate GLN; surrounding whitespace is ignored.

    Returns:
        ``"not-digits"``, ``"bad-length"``, ``"bad-check-digit"`` or None.

    Examples:
        >>> gln_problem("0614141000005") is None
        True
        >>> gln_problem("0614141000006")
        'bad-check-digit'
    """
    return _number_problem(s, (13,))


def sscc_problem(s: str) -> str | None:
    """Say what is wrong with an 18-digit SSCC, or None when it is valid.

    Args:
        s: the candidate SSCC; surrounding whitespace is ignored.

    Returns:
        ``"not-digits"``, ``"bad-length"``, ``"bad-check-digit"`` or None.

    Examples:
        >>> sscc_problem("106141412345678908") is None
        True
        >>> sscc_problem("10614141234567890")
        'bad-length'
    """
    return _number_problem(s, (18,))


def normalise_gtin(s: str) -> str | None:
    """Return a valid GTIN-8/12/13/14 as 14 digits, left-padded with zeros, else None.

    Args:
        s: the candidate GTIN; surrounding whitespace is ignored.

    Returns:
        The GTIN-14, or None when ``gtin_problem(s)`` reports a problem.

    Examples:
        >>> normalise_gtin(" 9780345418913 ")
        '09780345418913'
        >>> normalise_gtin("96385074")
        '00000096385074'
        >>> normalise_gtin("9780345418914") is None
        True
    """
    if gtin_problem(s) is not None:
        return None
    return s.strip(WHITESPACE).zfill(14)


def normalise_gln(s: str) -> str | None:
    """Return a valid GLN (13 digits, stripped), else None.

    Args:
        s: the candidate GLN.

    Returns:
        The GLN or None.

    Examples:
        >>> normalise_gln("4012345000009 ")
        '4012345000009'
    """
    return None if gln_problem(s) is not None else s.strip(WHITESPACE)


def normalise_sscc(s: str) -> str | None:
    """Return a valid SSCC (18 digits, stripped), else None.

    Args:
        s: the candidate SSCC.

    Returns:
        The SSCC or None.

    Examples:
        >>> normalise_sscc("340123451111111111")
        '340123451111111111'
        >>> normalise_sscc("340123451111111112") is None
        True
    """
    return None if sscc_problem(s) is not None else s.strip(WHITESPACE)


# --------------------------------------------------------------------------------------
# Values inside EPCs: percent-decoding, validation, canonical re-encoding
# --------------------------------------------------------------------------------------
#
# A serial, lot or extension is percent-decoded (only ASCII escapes are accepted, so the
# result is ASCII), then must consist of characters of the AI's character set (GS1 CSET
# 82 for most, CSET 39 for a CPI, digits for an SGCN serial) and fit the AI's maximum
# length. The canonical URI re-encodes it: everything but letters, digits and - . _ ' ; =
# is escaped, which is what the EPCIS 2.0 event-hash reference vectors show ("!" becomes


#: Characters that change an identifier without showing: C0 and C1 controls, the
#: zero-width space, joiners and word joiner, the byte-order mark, and the bidirectional
#: embeddings, overrides and isolates. ``L2401\u200b`` looks like ``L2401`` and is not it.
INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200d\u2060\ufeff\u202a-\u202e\u2066-\u2069]")

#: The same characters as a DuckDB (RE2) character class, for the bulk checks.
INVISIBLE_SQL = (
    r"[\x00-\x1f\x7f-\x9f\x{200b}-\x{200d}\x{2060}\x{feff}\x{202a}-\x{202e}"
    r"\x{2066}-\x{2069}]"
)


def invisible_chars(text: str) -> list[str]:
    r"""The invisible characters an identifier holds, each named once, in order.

    An identifier holding one is rejected (check ``invisible-character``): it would
    match or miss another that looks the same.

    >>> invisible_chars("L2401\u200b")
    ['U+200B ZERO WIDTH SPACE']
    >>> invisible_chars("L2401\tA\x85")
    ['U+0009 control character', 'U+0085 control character']
    >>> invisible_chars("urn:epc:id:sgtin:8901234.000001.Z1")
    []
    """
    found: list[str] = []
    for char in dict.fromkeys(m.group() for m in INVISIBLE.finditer(text)):
        found.append(f"U+{ord(char):04X} {unicode_name(char, 'control character')}")
    return found
