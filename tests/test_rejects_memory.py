"""Rejects go to the store as they are found; a load keeps a count and the first of them.

So memory does not grow with the number of records rejected (``bench/rejects.py``
measures it over millions); every reject is still in the ``rejects`` table.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

import traceability.load as loader
from traceability.cli import MAX_REJECTS_SHOWN, cli
from traceability.load import load

GOOD = {
    "type": "ObjectEvent",
    "eventTimeZoneOffset": "+05:30",
    "eventTime": "2026-01-12T10:15:00+05:30",
    "action": "ADD",
    "bizStep": "commissioning",
}


def _events(path: Path, bad: int, good: int) -> Path:
    with path.open("w") as f:
        for i in range(bad + good):
            event = {**GOOD, "eventID": f"urn:uuid:r-{i}"}
            event["epcList"] = [f"urn:epc:id:sgtin:8901234.000001.{i}"]
            if i < bad:
                event["eventTime"] = f"not a time {i}"
            f.write(json.dumps(event) + "\n")
    return path


def _stored(db: Path) -> list[tuple[int, str, str]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT line, code, raw FROM rejects ORDER BY line").fetchall()
    finally:
        con.close()
    return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]


def test_a_load_keeps_the_first_rejections_and_stores_them_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loader, "MAX_REJECTIONS", 5)
    path = _events(tmp_path / "events.jsonl", bad=40, good=3)
    db = tmp_path / "store.duckdb"
    result = load(db, [path])
    assert [(r.line, r.code) for r in result.rejections] == [
        (n, "bad-event-time") for n in range(1, 6)
    ]
    assert result.rejections_stored == 40 and result.rejected == 40
    assert result.files[0].accepted == 3
    stored = _stored(db)
    assert [(line, code) for line, code, _ in stored] == [
        (n, "bad-event-time") for n in range(1, 41)
    ]
    assert all(f"not a time {line - 1}" in raw for line, _, raw in stored)  # the line as given


def test_the_command_counts_every_reject_beyond_those_it_shows(tmp_path: Path) -> None:
    path = _events(tmp_path / "events.jsonl", bad=30, good=1)
    db = tmp_path / "store.duckdb"
    out = CliRunner().invoke(cli, ["load", "--db", str(db), str(path)])
    assert out.exit_code == 0, out.output
    assert f"... and {30 - MAX_REJECTS_SHOWN} more" in out.stdout
