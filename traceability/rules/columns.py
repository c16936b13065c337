"""The columns of a rule's SELECT, and the quantity columns the runner fills in.

A rule writes only the finding columns it has. A rule with no quantity leaves out
``expected``, ``observed``, ``difference`` and ``unit``; :func:`fill_quantities` adds them
to its outermost SELECT as typed NULLs, so that every engine receives the full finding
column list from the same SQL text.

This reads just enough of the SQL to find the outermost SELECT's list: comments and string
literals are blanked, parentheses counted, and a clause keyword at depth 0 ends the list.
"""

from __future__ import annotations

import re

#: The quantity columns of a finding with their SQL types, in the order they are added.
QUANTITY_COLUMNS = (
    ("expected", "DECIMAL(38,12)"),
    ("observed", "DECIMAL(38,12)"),
    ("difference", "DECIMAL(38,12)"),
    ("unit", "VARCHAR"),
)

_BLANKED = re.compile(r"--[^\n]*|'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")
_KEYWORD = re.compile(
    r"\b(SELECT|FROM|WHERE|GROUP|HAVING|WINDOW|QUALIFY|ORDER|LIMIT|UNION|EXCEPT|INTERSECT)\b",
    re.I,
)
_ENDS_LIST = {
    "FROM", "WHERE", "GROUP", "HAVING", "WINDOW", "QUALIFY", "ORDER", "LIMIT",
    "UNION", "EXCEPT", "INTERSECT",
}  # fmt: skip
_QUALIFIER = re.compile(r"^\s*(DISTINCT(\s+ON\s*\([^)]*\))?|ALL)\b", re.I)
_ALIAS = re.compile(r"\bAS\s+(\"?)([A-Za-z_][A-Za-z0-9_]*)\1\s*$", re.I)
_NAME = re.compile(r"(?:^|\.)\s*(\"?)([A-Za-z_][A-Za-z0-9_]*)\1\s*$")


class ColumnsUnknown(ValueError):
    """The outermost SELECT's columns cannot be told from the text (``*``, no alias)."""


def _blank(sql: str) -> str:
    """``sql`` with comments, string literals and quoted names blanked (same length)."""

    def spaces(m: re.Match[str]) -> str:
        text = m.group(0)
        if text.startswith('"'):  # a quoted name keeps its letters, for the alias
            return text
        return " " * len(text)

    return _BLANKED.sub(spaces, sql)


def _depths(text: str) -> list[int]:
    """The parenthesis depth at each character of ``text``."""
    out: list[int] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        out.append(depth)
        if ch == ")":
            depth -= 1
    return out


def select_lists(sql: str) -> list[tuple[int, int]]:
    """Where the outermost SELECT lists are: (start, end) of each branch's list in ``sql``.

    >>> sql = "WITH a AS (SELECT 1 AS x) SELECT x, 2 AS y FROM a UNION ALL SELECT 3, 4"
    >>> [sql[s:e] for s, e in select_lists(sql)]
    [' x, 2 AS y ', ' 3, 4']
    """
    text = _blank(sql)
    depths = _depths(text)
    found: list[tuple[int, int]] = []
    start: int | None = None
    for m in _KEYWORD.finditer(text):
        if depths[m.start()] != 0:
            continue
        word = m.group(1).upper()
        if word == "SELECT" and start is None:
            start = m.end()
        elif word in _ENDS_LIST and start is not None:
            found.append((start, m.start()))
            start = None
    if start is not None:
        found.append((start, len(text.rstrip().rstrip(";"))))
    return found


def _items(text: str) -> list[str]:
    """The items of a SELECT list, split at the commas outside parentheses."""
    depths = _depths(text)
    items: list[str] = []
    last = 0
    for i, ch in enumerate(text):
        if ch == "," and depths[i] == 0:
            items.append(text[last:i])
            last = i + 1
    items.append(text[last:])
    return items


def output_columns(sql: str) -> tuple[str, ...]:
    """The names of the columns ``sql``'s outermost SELECT returns (its first branch).

    >>> output_columns("WITH t AS (SELECT 1 AS a) SELECT DISTINCT t.a, 'x' AS b, f(a) AS c FROM t")
    ('a', 'b', 'c')

    Raises:
        ColumnsUnknown: no SELECT, or an item without a name to read (``*``, ``f(x)``).
    """
    lists = select_lists(sql)
    if not lists:
        raise ColumnsUnknown("no SELECT")
    start, end = lists[0]
    body = _blank(sql)[start:end]
    body = _QUALIFIER.sub("", body)
    return tuple(_name(item.strip()) for item in _items(body))


def _name(item: str) -> str:
    """The name of one SELECT item: its alias, or the column it reads (``t.unit``)."""
    found = _ALIAS.search(item) or (None if item.endswith(")") else _NAME.search(item))
    if found is None:
        raise ColumnsUnknown(f"the column {item!r} has no name to read: write AS name")
    return found.group(2).lower()


def fill_quantities(sql: str) -> str:
    """``sql`` with the quantity columns its outermost SELECT lacks added as typed NULLs.

    Each branch of a UNION gets the same columns. A query with all of them is unchanged.

    >>> print(fill_quantities("SELECT a.x AS gtin\\nFROM a"))
    SELECT a.x AS gtin,
        CAST(NULL AS DECIMAL(38,12)) AS expected,
        CAST(NULL AS DECIMAL(38,12)) AS observed,
        CAST(NULL AS DECIMAL(38,12)) AS difference,
        CAST(NULL AS VARCHAR) AS unit
    FROM a

    Raises:
        ColumnsUnknown: the columns cannot be told (see :func:`output_columns`).
    """
    have = set(output_columns(sql))
    absent = [(name, kind) for name, kind in QUANTITY_COLUMNS if name not in have]
    if not absent:
        return sql
    added = "".join(f",\n    CAST(NULL AS {kind}) AS {name}" for name, kind in absent)
    out = sql
    for _, end in reversed(select_lists(sql)):
        cut = len(out[:end].rstrip())
        out = out[:cut] + added + out[cut:]
    return out
