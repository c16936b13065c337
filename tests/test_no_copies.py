"""Each of two small helpers has one home, and no module grows a copy of it.

- The loop that runs a base statement until it adds no row (at most ``MAX_REPEATS``
  times) lives in :func:`traceability.rules.grow_to_fixed_point`.
- Quoting a SQL string literal or identifier (quotes doubled), in Python or in generated
  SQL, lives in :mod:`traceability.sql`.

The checks are textual: they look for the shapes such copies take. Each checker is shown to
catch a planted copy, and to find the real one in its home, so that a scan that finds
nothing means something.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "traceability"
LOOP_HOME = PACKAGE / "rules" / "__init__.py"
QUOTING_HOME = PACKAGE / "sql.py"

#: A loop bounded by the repeat limit, or a second definition of the loop.
_LOOP = re.compile(r"\brange\(\s*[\w.]*MAX_REPEATS\b|\bdef\s+grow_to_fixed_point\b")
#: Quotes doubled in Python: ``.replace("'", "''")``, ``.replace('"', '""')`` and the
#: same with escaped quotes.
_PY_QUOTING = re.compile(
    r"""\.replace\(\s*(?:"'"|'\\''|'"'|"\\"")\s*,\s*(?:"''"|'\\'\\''|'""'|"\\"\\"")\s*\)"""
)
#: Quotes doubled by generated SQL: ``replace(x, '''', '''''')``.
_SQL_QUOTING = re.compile(r"replace\([^()]*,\s*''''\s*,\s*''''''\s*\)")


def loop_copies(source: str) -> list[int]:
    """The line numbers of ``source`` that hold a repeat-to-fixed-point loop."""
    return [n for n, line in enumerate(source.splitlines(), 1) if _LOOP.search(line)]


def quoting_copies(source: str) -> list[int]:
    """The line numbers of ``source`` that double quotes to write SQL text."""
    return [
        n
        for n, line in enumerate(source.splitlines(), 1)
        if _PY_QUOTING.search(line) or _SQL_QUOTING.search(line)
    ]


def _sources() -> list[Path]:
    files = [*PACKAGE.rglob("*.py"), *(ROOT / "bench").glob("*.py")]
    return sorted(p for p in files if "__pycache__" not in p.parts)


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize(
    "snippet",
    [
        "    for _ in range(MAX_REPEATS):\n        if not grow():\n            return\n",
        "for attempt in range(rules.MAX_REPEATS if repeat else 1):\n",
        "def grow_to_fixed_point(step):\n",
    ],
)
def test_the_loop_checker_catches_a_copy(snippet: str) -> None:
    assert loop_copies("x = 1\n" + snippet) == [2]


@pytest.mark.parametrize(
    "snippet",
    [
        """    return "'" + value.replace("'", "''") + "'"\n""",
        """    return '"' + name.replace('"', '""') + '"'\n""",
        """    return "'" + value.replace('\\'', '\\'\\'') + "'"\n""",
        """    return '"' + name.replace("\\"", "\\"\\"") + '"'\n""",
        """    sql = f"'''' || replace({column}, '''', '''''') || ''''"\n""",
    ],
)
def test_the_quoting_checker_catches_a_copy(snippet: str) -> None:
    assert quoting_copies("x = 1\n" + snippet) == [2]


def test_the_checkers_pass_code_that_uses_the_homes() -> None:
    clean = (
        "from traceability.rules import MAX_REPEATS, grow_to_fixed_point\n"
        "from traceability.sql import identifier, literal\n"
        "grow_to_fixed_point(step)  # at most MAX_REPEATS runs\n"
        "sql = f'SET search_path = {literal(path)}'\n"
        "text = name.replace('-', '_')\n"
    )
    assert loop_copies(clean) == []
    assert quoting_copies(clean) == []


def test_the_homes_hold_the_one_copy() -> None:
    assert len(loop_copies(LOOP_HOME.read_text(encoding="utf-8"))) == 2  # def and loop
    assert len(quoting_copies(QUOTING_HOME.read_text(encoding="utf-8"))) >= 3


def test_no_module_repeats_the_fixed_point_loop() -> None:
    found = {
        _name(p): loop_copies(p.read_text(encoding="utf-8")) for p in _sources() if p != LOOP_HOME
    }
    assert {name: lines for name, lines in found.items() if lines} == {}


def test_no_module_quotes_sql_text_on_its_own() -> None:
    found = {
        _name(p): quoting_copies(p.read_text(encoding="utf-8"))
        for p in _sources()
        if p != QUOTING_HOME
    }
    assert {name: lines for name, lines in found.items() if lines} == {}
