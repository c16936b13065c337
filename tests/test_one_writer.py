"""Rejects and notes reach the store through one writer, ``load.outcomes.write_outcomes``.

A module that wrote to ``rejects`` or ``load_notes`` itself would place its columns by
position and could drift from the table of codes; this scan of the package's source
finds any such module.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from traceability.load.epcis.rejects import message_sql
from traceability.load.outcomes import CODES, Code, message

PACKAGE = Path(__file__).resolve().parent.parent / "traceability"
WRITER = PACKAGE / "load" / "outcomes" / "__init__.py"

#: Ways of writing rows into the two tables: SQL, the store's row appender, a relation.
_TABLES = r"""["']?(rejects|load_notes)\b"""
WRITES = [
    re.compile(r"INSERT\s+(OR\s+\w+\s+)?INTO\s+" + _TABLES, re.IGNORECASE),
    re.compile(r"append_rows\(\s*[\w.]+\s*,\s*" + _TABLES),
    re.compile(r"\.insert_into\(\s*" + _TABLES),
    re.compile(r"COPY\s+" + _TABLES + r"\s+FROM", re.IGNORECASE),
]


def writes_outcomes(text: str) -> list[str]:
    """The statements in ``text`` that write to ``rejects`` or ``load_notes``."""
    return [m.group(0) for pattern in WRITES for m in pattern.finditer(text)]


@pytest.mark.parametrize(
    "text",
    [
        "con.execute('INSERT INTO rejects SELECT * FROM x')",
        'chunk.sql("""\n    insert into load_notes\n    SELECT 1""")',
        'append_rows(con, "rejects", rows)',
        "append_rows(chunk.con, 'load_notes', notes)",
        'con.from_arrow(t).insert_into("rejects")',
        'INSERT INTO "load_notes" BY NAME SELECT 1',
    ],
)
def test_the_scan_finds_a_write(text: str) -> None:
    assert writes_outcomes(text)


@pytest.mark.parametrize(
    "text",
    ["SELECT * FROM rejects", "INSERT INTO rejected_events SELECT 1", "table_counts(con)"],
)
def test_the_scan_lets_reads_and_other_tables_be(text: str) -> None:
    assert not writes_outcomes(text)


def test_only_the_writer_writes_rejects_and_notes() -> None:
    found = {
        str(path.relative_to(PACKAGE.parent)): hits
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != WRITER and (hits := writes_outcomes(path.read_text(encoding="utf-8")))
    }
    assert found == {}


def test_a_message_in_sql_is_the_one_python_makes() -> None:
    sql = message_sql("bad-epc", "named", value="v")
    with duckdb.connect() as con:
        row = con.execute(f"SELECT {sql} FROM (SELECT ? AS v)", ["parentID: 'x''y'"]).fetchone()
    assert row == (message("bad-epc", "named", value="parentID: 'x''y'"),)


def test_a_formatted_field_cannot_be_written_in_sql(monkeypatch: pytest.MonkeyPatch) -> None:
    made_up = Code("made-up", "reject", "events", "m", "w", "t", {"v": "{value!r} is odd"})
    monkeypatch.setitem(CODES, "made-up", made_up)
    with pytest.raises(ValueError, match="formatted"):
        message_sql("made-up", "v", value="v")
