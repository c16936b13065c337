"""Every code the loader can write has a class (reject or note), a meaning and a reason.

The table of docs/input-formats.md is generated from ``traceability.load.checks``; these
tests fail when the loader writes a code that list lacks, when a code is written with the
other class than the one listed, or when an entry has no text.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from traceability.errors import TracecheckError
from traceability.load import load
from traceability.load.checks import CHECKS, CHECKS_IN_ORDER, checks_markdown

ROOT = Path(__file__).resolve().parents[1]
LOADER = ROOT / "traceability" / "load"

#: Quoted words with hyphens in the loader's source that are not check codes.
NOT_CODES = {
    "utf-8",
    "utf-8-sig",
    "utf-16",
    "latin-1",
    "master-data",
    "capture-job",
    "already-loaded",
    "x-tracecheck",
    "tracecheck-read-ahead",
    "tracecheck-check",
    "epcis-event",
    "2026-03-31",
    # what an identifier check finds; the reject's code names the column's kind
    "not-digits",
    "bad-length",
    # an internal mark of the event pipeline, resolved before anything is written
    "check-shape",
    # why a whole file was not loaded or was skipped (LoadResult.unreadable / .skipped):
    # file problems, not codes of a record
    "not-a-file",
    "empty-file",
    "unknown-type",
    "unknown-kind",
    "outside-folder",
    "broken-link",
    # a step of the load at which the fault switch can stop it
    "loads-row",
}


def test_every_check_has_a_class_a_meaning_and_a_reason() -> None:
    assert len(CHECKS) == len(CHECKS_IN_ORDER), "a code is listed twice"
    for c in CHECKS_IN_ORDER:
        assert c.outcome in ("reject", "note"), c
        assert c.applies_to in ("events", "tables", "files", "all"), c
        assert c.meaning.strip() and c.why.strip(), c
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", c.code), c


def test_every_code_in_the_loader_source_is_listed() -> None:
    # Codes are written as quoted hyphenated words (or one word: xsd, schema, conflict,
    # correction); every such word in the loader is a code or named above as not one.
    found: dict[str, str] = {}
    for path in sorted(LOADER.rglob("*.py")):
        for word in re.findall(r"[\"']([a-z0-9]+(?:-[a-z0-9]+)+)[\"']", path.read_text()):
            found.setdefault(word, path.name)
    missing = {w: f for w, f in found.items() if w not in CHECKS and w not in NOT_CODES}
    assert not missing, f"codes with no entry in traceability/load/checks.py: {missing}"


def _codes(db: Path) -> tuple[set[str], set[str]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rejects = {c for (c,) in con.execute("SELECT DISTINCT code FROM rejects").fetchall()}
        notes = {c for (c,) in con.execute("SELECT DISTINCT code FROM load_notes").fetchall()}
    finally:
        con.close()
    return rejects, notes


@pytest.mark.slow
def test_what_the_loader_writes_is_listed_with_its_class(tmp_path: Path) -> None:
    # The broken and sample files of the docs, the fixtures and the hostile inputs: each
    # file loaded on its own (a file refused whole writes no code).
    sources = [
        *(ROOT / "docs" / "data").rglob("*.*"),
        *(ROOT / "fixtures").rglob("*.*"),
    ]
    rejects: set[str] = set()
    notes: set[str] = set()
    for n, path in enumerate(p for p in sorted(sources) if p.suffix in LOADABLE):
        db = tmp_path / f"s{n}.duckdb"
        try:
            load(db, [path])
        except TracecheckError:
            continue
        r, o = _codes(db)
        rejects |= r
        notes |= o
    assert rejects and notes
    for code in rejects:
        assert code in CHECKS and CHECKS[code].outcome == "reject", code
    for code in notes:
        assert code in CHECKS and CHECKS[code].outcome == "note", code


LOADABLE = {".csv", ".jsonl", ".json", ".jsonld", ".xml", ".xlsx", ".parquet"}


def test_the_docs_table_lists_every_check_rejects_first() -> None:
    table = checks_markdown()
    rows = [line for line in table.splitlines()[2:]]
    assert len(rows) == len(CHECKS)
    outcomes = ["rejected" in row.split("|")[2] for row in rows]
    assert outcomes == sorted(outcomes, reverse=True)
    page = (ROOT / "docs" / "input-formats.md").read_text()
    assert table in page


def test_a_code_without_an_entry_is_found_by_the_source_scan() -> None:
    # The scan above can fail: a new quoted code in a copy of a loader module is found.
    text = (LOADER / "epcis" / "rejects.py").read_text() + '\nX = "made-up-code"\n'
    words = set(re.findall(r"[\"']([a-z0-9]+(?:-[a-z0-9]+)+)[\"']", text))
    assert "made-up-code" in words and "made-up-code" not in CHECKS
