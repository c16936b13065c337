"""Rejections and notes as data: the table of codes, its message templates, the one writer.

Every code the loader emits must be in ``CODES`` with the kind it is written as, every
message made from a template must find the values its template names, every entry is
documented, and :func:`write_outcomes` stores by column name what it is given.
"""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from test_checks import NOT_CODES

from traceability.errors import LoadIncomplete
from traceability.load import load
from traceability.load.outcomes import (
    CODES,
    CODES_IN_ORDER,
    Outcome,
    codes_markdown,
    message,
    note,
    reject,
    write_outcomes,
)
from traceability.store import connect

ROOT = Path(__file__).resolve().parents[1]
LOADABLE = {".csv", ".jsonl", ".json", ".xml", ".xlsx"}
LOADER = ROOT / "traceability" / "load"


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_entry_is_documented_and_its_templates_parse() -> None:
    assert len(CODES) == len(CODES_IN_ORDER), "a code is listed twice"
    for c in CODES_IN_ORDER:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", c.code), c.code
        assert c.kind in ("reject", "note"), c.code
        assert c.applies_to in ("events", "tables", "files", "all"), c.code
        assert c.meaning.strip() and c.why.strip() and c.template.strip(), c.code
        for name, template in c.variants.items():
            # a variant's name never reads as a code to the scans of the loader's source
            assert re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)*", name), (c.code, name)
            assert template.strip(), (c.code, name)
    table = codes_markdown()
    for c in CODES_IN_ORDER:
        assert f"| `{c.code}` |" in table, c.code
    assert table in (ROOT / "docs" / "input-formats.md").read_text(encoding="utf-8")


def _calls(tree: ast.AST) -> list[tuple[str, str, str | None, set[str], int]]:
    """(function, code, variant, keywords, line) of each reject/note/message call with a
    literal code in a module of the loader."""
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        name = node.func.id
        if name not in ("reject", "note", "message") or not node.args:
            continue
        literals = [a.value if isinstance(a, ast.Constant) else None for a in node.args]
        if not isinstance(literals[0], str):
            continue
        at = 1 if name == "message" else 2  # message(code, variant); reject(code, line, variant)
        variant = literals[at] if len(literals) > at and isinstance(literals[at], str) else None
        keywords = {k.arg for k in node.keywords if k.arg}
        found.append((name, literals[0], variant, keywords, node.lineno))
    return found


def test_every_code_the_loader_writes_from_the_table_is_there_with_its_kind() -> None:
    calls = []
    for path in sorted(LOADER.rglob("*.py")):
        if "outcomes" in path.parts:
            continue
        for call in _calls(ast.parse(path.read_text(encoding="utf-8"))):
            calls.append((path.name, *call))
    assert len(calls) >= 15, calls  # the readers and the tabular loader use the table
    for where, function, code, variant, keywords, line in calls:
        at = f"{where}:{line}"
        assert code in CODES, f"{at}: {code} is not in the table of codes"
        entry = CODES[code]
        if function in ("reject", "note"):
            assert entry.kind == function, f"{at}: {code} is a {entry.kind}"
        template = entry.template if variant is None else entry.variants.get(variant)
        assert template is not None, f"{at}: {code} has no variant {variant!r}"
        if function != "message" or keywords:
            # every value the template names is given (reject passes its field along)
            given = keywords | ({"field"} if function == "reject" else set())
            missing = _fields(template) - given
            assert not missing, f"{at}: {code} needs {sorted(missing)}"


def test_every_quoted_code_anywhere_in_the_loader_is_in_the_table() -> None:
    # Codes are quoted hyphenated words; the loader's subpackages (the event pipeline's
    # stages, the table of codes itself) are read too.
    found: dict[str, str] = {}
    for path in sorted(LOADER.rglob("*.py")):
        for word in re.findall(r"[\"']([a-z0-9]+(?:-[a-z0-9]+)+)[\"']", path.read_text()):
            found.setdefault(word, str(path.relative_to(LOADER)))
    assert "duplicate-key-conflict" in found and "hidden-sheet" in found
    missing = {w: f for w, f in found.items() if w not in CODES and w not in NOT_CODES}
    assert not missing, f"codes with no entry in the table of codes: {missing}"


def test_the_scan_finds_a_call_with_a_code_not_in_the_table() -> None:
    source = 'reject("made-up-code", 3, field="lot")\nmessage("bad-json", "no_such_variant")\n'
    calls = _calls(ast.parse(source))
    assert [c[1] for c in calls] == ["made-up-code", "bad-json"]
    assert "made-up-code" not in CODES
    assert "no_such_variant" not in CODES["bad-json"].variants


def test_what_a_load_of_the_hostile_fixtures_writes_is_in_the_table(tmp_path: Path) -> None:
    # Each attack loaded on its own, on one connection: a file refused whole writes no code
    # (and a load of them all together would start again at each one refused). The seeds
    # are the well-formed data the attacks are loaded over.
    hostile = ROOT / "fixtures" / "hostile"
    files = [
        p for p in sorted(hostile.rglob("*.*")) if p.suffix in LOADABLE and p.parent.name != "seeds"
    ]
    con = connect(tmp_path / "store.duckdb")
    loaded = 0
    try:
        for path in files:
            try:
                load(con, [path])
                loaded += 1
            except LoadIncomplete:
                continue
        rejects = {c for (c,) in con.execute("SELECT DISTINCT code FROM rejects").fetchall()}
        notes = {c for (c,) in con.execute("SELECT DISTINCT code FROM load_notes").fetchall()}
    finally:
        con.close()
    assert loaded >= 15, loaded
    assert rejects and notes
    for code in rejects:
        assert code in CODES and CODES[code].kind == "reject", code
    for code in notes:
        assert code in CODES and CODES[code].kind == "note", code


def test_messages_come_from_the_templates() -> None:
    assert message("bad-field-count", count=3, width=4) == "3 fields where the header has 4"
    assert message("bad-json", "not_an_object") == "not a JSON object"
    assert (
        message("line-too-long", most=1048576, hint="see --help")
        == "the line is longer than 1,048,576 bytes (see --help)"
    )
    with pytest.raises(KeyError):
        message("bad-field-count", count=3)  # the template needs the width too
    with pytest.raises(KeyError):
        message("no-such-code")
    made = reject("duplicate-key-conflict", 7, field="lot", raw="{}", name="'lot'")
    assert made == Outcome(
        "reject",
        "duplicate-key-conflict",
        7,
        "'lot': given more than once with different values",
        "lot",
        "{}",
    )
    with pytest.raises(ValueError, match="note"):
        reject("duplicate-key", 7, name="'lot'")
    with pytest.raises(ValueError, match="rejection"):
        note("bad-csv", 7, detail="x")


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    return connect(tmp_path / "store.duckdb")


def _stored(con: duckdb.DuckDBPyConnection) -> tuple[list[tuple[object, ...]], ...]:
    rejects = con.execute(
        "SELECT load_id, source_file, line, field, code, message, raw FROM rejects"
    ).fetchall()
    notes = con.execute(
        "SELECT load_id, source_file, record, location, level, code, message FROM load_notes"
    ).fetchall()
    return rejects, notes


def test_the_writer_stores_rejects_and_notes_in_their_tables_in_order(
    con: duckdb.DuckDBPyConnection,
) -> None:
    outcomes = [
        Outcome("reject", "bad-date", 4, "date: '31/03' is not...", "date", "a,b"),
        Outcome("note", "formula-cell", 5, "'qty': formula cell(s)...", "sheet row 5"),
        Outcome("reject", "bad-csv", 2, "cannot split into fields: x"),
        Outcome("note", "hidden-sheet", None, "the sheet 'x' is hidden: not read"),
        Outcome("note", "unknown-field", 1, "x: not an EPCIS field", "event 1 x", level="warning"),
    ]
    assert write_outcomes(con, 9, "f.csv", outcomes) == 2
    rejects, notes = _stored(con)
    assert rejects == [
        (9, "f.csv", 4, "date", "bad-date", "date: '31/03' is not...", "a,b"),
        (9, "f.csv", 2, None, "bad-csv", "cannot split into fields: x", None),
    ]
    assert notes == [
        (9, "f.csv", 5, "sheet row 5", "note", "formula-cell", "'qty': formula cell(s)..."),
        (9, "f.csv", None, None, "note", "hidden-sheet", "the sheet 'x' is hidden: not read"),
        (9, "f.csv", 1, "event 1 x", "warning", "unknown-field", "x: not an EPCIS field"),
    ]
    assert write_outcomes(con, 9, "f.csv", []) == 0


def test_the_writer_reads_an_arrow_batch_by_column_name(con: duckdb.DuckDBPyConnection) -> None:
    # columns in another order than the store's, optional ones left out, a quote in the name
    batch = pa.table(
        {
            "message": ["a quantity is not a non-negative number", "kept"],
            "line": pa.array([3, 8], pa.int32()),
            "code": ["bad-quantity", "unknown-unit"],
            "kind": ["reject", "note"],
        }
    )
    assert write_outcomes(con, 2, "o'brien.jsonl", batch) == 1
    rejects, notes = _stored(con)
    assert rejects == [
        (
            2,
            "o'brien.jsonl",
            3,
            None,
            "bad-quantity",
            "a quantity is not a non-negative number",
            None,
        )
    ]
    assert notes == [(2, "o'brien.jsonl", 8, None, "note", "unknown-unit", "kept")]
    with pytest.raises(ValueError, match="code"):
        write_outcomes(con, 2, "x", pa.table({"kind": ["note"], "message": ["m"]}))
    with pytest.raises(ValueError, match="reject or a note"):
        write_outcomes(con, 2, "x", pa.table({"kind": ["oops"], "code": ["c"], "message": ["m"]}))
