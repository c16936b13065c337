"""Every check the loader makes, by its code, under the names the table of checks had.

The table itself is :data:`traceability.load.outcomes.CODES`: each code's kind (reject or
note), what it means, why, and the message template written with it. A test fails when
the loader can write a code that is not there.
"""

from __future__ import annotations

from traceability.load.outcomes import CODES, CODES_IN_ORDER, Code, Kind, codes_markdown

#: A check is the entry of its code.
Check = Code
#: What a check does to its record.
Outcome = Kind

#: Every check, in the order of the table.
CHECKS_IN_ORDER: tuple[Code, ...] = CODES_IN_ORDER

#: The checks by code.
CHECKS: dict[str, Code] = CODES


def check(code: str) -> Code:
    """The check of a code.

    >>> check("ilmd-bare-name").outcome
    'note'

    Raises:
        KeyError: a code that is not registered.
    """
    return CODES[code]


def checks_markdown() -> str:
    """The table of every check, rejects first, for docs/input-formats.md."""
    return codes_markdown()
