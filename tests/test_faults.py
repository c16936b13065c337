"""Faults end in one line: memory or disk running out, a store altered by hand, a report
nested too deep. Each exits 2 with one line on standard error naming what ran out or
what is wrong, with no traceback, and leaves the store as it was."""

from __future__ import annotations

import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from conftest import counts

from traceability.cli import cli
from traceability.load import load
from traceability.sample.bench import write_event_lines


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A small file, a bigger one, and a store holding the small one."""
    base = tmp_path_factory.mktemp("faults")
    small, big = base / "small.jsonl", base / "big.jsonl"
    write_event_lines(small, events=8, serials_per_event=3, seed=1)
    write_event_lines(big, events=3000, serials_per_event=25, seed=2)
    load(base / "store.duckdb", [small])
    return small, big, base / "store.duckdb"


@pytest.fixture
def store(files: tuple[Path, Path, Path], tmp_path: Path) -> Path:
    return Path(shutil.copy(files[2], tmp_path / "store.duckdb"))


def _one_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr[-3000:]
    assert "Traceback" not in stderr and lines[0].startswith("error: ")
    return lines[0]


def _load_limited(db: Path, path: Path, limit: Callable[[], None]) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "traceability", "load", "-q", "--db", str(db), str(path)],
        preexec_fn=limit,
        capture_output=True,
        text=True,
    )
    return proc.returncode, proc.stderr


def test_a_full_disk_is_one_line_naming_the_database(
    files: tuple[Path, Path, Path], store: Path
) -> None:
    before = counts(store)
    room = store.stat().st_size  # not a byte more for the database or its log

    def no_room() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails: EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (room, room))

    code, stderr = _load_limited(store, files[1], no_room)
    assert code == 2
    line = _one_line(stderr)
    assert str(store) in line and "disk is full" in line
    assert counts(store) == before


@pytest.mark.skipif(not hasattr(resource, "RLIMIT_AS"), reason="no address-space limit here")
def test_running_out_of_memory_is_one_line_naming_memory(
    files: tuple[Path, Path, Path], store: Path
) -> None:
    before = counts(store)
    limit = 1000 * 2**20

    def little_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    code, stderr = _load_limited(store, files[1], little_memory)
    if code == 0:
        pytest.skip("the load fitted in 1,000 MB of address space here")
    assert code == 2
    assert "memory" in _one_line(stderr)
    assert counts(store) == before


def test_a_store_whose_events_table_was_replaced_is_refused(store: Path) -> None:
    con = duckdb.connect(str(store))
    loads = con.execute("SELECT count(*) FROM loads").fetchone()
    con.execute("DROP VIEW aggregations")
    con.execute("DROP VIEW event_epcs")
    con.execute("DROP TABLE events")
    con.execute("CREATE TABLE events (event_row BIGINT, note VARCHAR)")
    con.close()
    for args in (["reconcile", "--db", str(store)], ["load", "--db", str(store), str(store)]):
        out = CliRunner().invoke(cli, args)
        assert out.exit_code == 2, out.output
        line = _one_line(out.stderr)
        assert str(store) in line and "events" in line
    con = duckdb.connect(str(store), read_only=True)
    assert con.execute("SELECT count(*) FROM loads").fetchone() == loads
    con.close()


def test_a_duckdb_file_of_another_program_is_refused(
    tmp_path: Path, files: tuple[Path, Path, Path]
) -> None:
    other = tmp_path / "other.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE events (x INTEGER)")
    con.close()
    out = CliRunner().invoke(cli, ["load", "--db", str(other), str(files[0])])
    assert out.exit_code == 2
    assert str(other) in _one_line(out.stderr)
    con = duckdb.connect(str(other), read_only=True)
    tables = con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
    con.close()
    assert tables == [("events",)]


def test_a_report_nested_100000_deep_is_one_line_naming_it(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    out = CliRunner().invoke(cli, ["diff", str(deep), str(deep)])
    assert out.exit_code == 2
    assert str(deep) in _one_line(out.stderr)
