"""A load is all or nothing wherever its process is killed, inside its commit too.

DuckDB can bring back part of a transaction whose commit was cut short: killed while it
writes its write-ahead log, a load of events came back with its EPC rows and no event, or
its events and no ``loads`` row. The load's journal (``load_journal``) makes the next
open undo such a load. Two ways of killing are tried here: a real SIGKILL at named steps
of a load run in another process (``TRACECHECK_FAULT_AT``), and the write-ahead log of a
load cut short at many places, which is what a kill while DuckDB writes it leaves behind.
After each, the store is exactly as before the load or exactly as after it, and loading
the file again gives the state after it, with no duplicates.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from traceability.load import load
from traceability.sample.bench import write_event_lines
from traceability.store import FAULT_ENV, connect

State = tuple[dict[str, int], list[tuple[object, ...]]]

BAD_EVENT = (
    '{"type":"ObjectEvent","eventID":"urn:uuid:bad-1","eventTime":"not a time",'
    '"eventTimeZoneOffset":"+05:30","action":"ADD","epcList":[]}\n'
)


def _state(db: Path, *, read_only: bool = False) -> State:
    """Row counts of every table (but the journal) and the ``loads`` rows, as the next
    command sees them (an open undoes an unfinished load, a read-only one too)."""
    con = connect(db, read_only=read_only)
    try:
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE table_name <> 'load_journal' "
                "ORDER BY 1"
            ).fetchall()
        ]
        counts = {}
        for table in tables:
            row = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()
            counts[table] = int(row[0]) if row else -1
        loads = con.execute(
            "SELECT path, sha256, records, accepted, duplicates, conflicts, rejected "
            "FROM loads ORDER BY load_id"
        ).fetchall()
    finally:
        con.close()
    return counts, loads


def _journal(db: Path) -> list[tuple[object, ...]]:
    con = connect(db, read_only=True)
    try:
        return con.execute("SELECT state, count(*) FROM load_journal GROUP BY ALL").fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A first file loaded before (the state to come back to) and the file loaded
    under fire: events with EPCs, business transactions, parties and a rejected event."""
    base = tmp_path_factory.mktemp("kill")
    first, second = base / "first.jsonl", base / "second.jsonl"
    write_event_lines(first, events=8, serials_per_event=3, seed=1)
    write_event_lines(second, events=40, serials_per_event=3, seed=2)
    with second.open("a") as f:
        f.write(BAD_EVENT)
    return first, second


@pytest.fixture(scope="module")
def states(files: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, State]:
    """The store before and after the second file, loaded with no fault."""
    db = tmp_path_factory.mktemp("reference") / "store.duckdb"
    load(db, [files[0]])
    shutil.copy(db, db.with_name("before.duckdb"))
    before = _state(db)
    load(db, [files[1]])
    after = _state(db)
    assert before != after and after[1][-1][-1] == 1  # one rejected record
    return {"before": before, "after": after}


@pytest.fixture
def db(states: dict[str, State], tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    """A store holding the first file."""
    made = next(tmp_path_factory.getbasetemp().glob("reference*/before.duckdb"))
    return Path(shutil.copy(made, tmp_path / "store.duckdb"))


def _killed(args: list[str], step: str) -> None:
    env = {**os.environ, FAULT_ENV: step}
    proc = subprocess.run(
        [sys.executable, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]


def _matches(states: dict[str, State], got: State) -> str:
    matched = [name for name, state in states.items() if state == got]
    assert len(matched) == 1, got
    return matched[0]


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ("committed", "before"),  # data committed, its journal row not yet removed
        ("finished", "after"),  # journal row removed: the load is done
    ],
)
def test_a_load_killed_about_its_commit_leaves_the_store_before_or_after(
    files: tuple[Path, Path], states: dict[str, State], db: Path, step: str, expected: str
) -> None:
    _killed(["-m", "traceability", "load", "--db", str(db), str(files[1])], step)
    assert _matches(states, _state(db, read_only=True)) == expected  # as a report finds it
    load(db, [files[1]])  # loading the file again gives the state after it, once
    assert _state(db) == states["after"]


def test_a_load_killed_mid_way_is_undone_even_if_the_undo_is_killed(
    files: tuple[Path, Path], states: dict[str, State], db: Path
) -> None:
    _killed(["-m", "traceability", "load", "--db", str(db), str(files[1])], "records")
    opener = "import sys; from traceability.store import connect; connect(sys.argv[1]).close()"
    _killed(["-c", opener, str(db)], "undo")  # its rows removed, journal row not marked
    assert _state(db) == states["before"]
    assert _journal(db) == [("undone", 1)]  # the note that a load was undone, once
    load(db, [files[1]])
    assert _state(db) == states["after"]


def test_a_commit_cut_short_anywhere_leaves_the_store_before_or_after(
    files: tuple[Path, Path], db: Path, tmp_path: Path
) -> None:
    """What a kill inside the COMMIT leaves is the start of the load's write-ahead log:
    here the log of a load big enough for DuckDB to write its EPC rows to the database
    file ahead of the commit (over 122,880 rows) is cut at many places, each opened as
    the next command would open it."""
    big = tmp_path / "big.jsonl"
    write_event_lines(big, events=5000, serials_per_event=25, seed=3)
    before = _state(db)
    con = connect(db)
    con.execute("PRAGMA disable_checkpoint_on_shutdown")  # keep the load in the log
    con.execute("SET checkpoint_threshold = '1TB'")
    load(con, [big])
    con.close()
    wal = db.with_name(db.name + ".wal").read_bytes()
    assert len(wal) > 1_000_000
    cut = tmp_path / "cut.duckdb"
    seen = []
    for size in [0, 300, *(len(wal) * k // 8 for k in range(1, 8)), len(wal) - 8, len(wal)]:
        shutil.copy(db, cut)  # with the EPC rows written ahead, as the kill left it
        cut.with_name(cut.name + ".wal").write_bytes(wal[:size])
        got = _state(cut)
        counts, loads = got
        if got == before:
            seen.append("before")
        else:
            assert counts["events"] == before[0]["events"] + 5000, size
            assert [row[0] for row in loads] == [str(files[0]), str(big)], size
            seen.append("after")
    assert seen == ["before"] * (len(seen) - 1) + ["after"]
    load(cut, [big])  # loaded again: already there, nothing added
    assert _state(cut)[0] == counts
