"""Kill sweep: a large load killed inside its commit, at many moments, must leave the store
exactly as before it or exactly as after it.

Writes N events (25 serials each; 300,000 by default, 7.5M EPC rows), then for each delay
runs ``tracecheck load`` in a fresh process on a store holding a small first file, and
kills it (SIGKILL) that many milliseconds after its commit starts: either when the
write-ahead log grows past the journal row (``--poll``, the default) or by the loader's
own timer (``TRACECHECK_FAULT_AT=commit+<ms>``). For each kill it prints what DuckDB
alone brings back (the file opened with no tracecheck code: events, EPC rows, ``loads``
rows and events whose load has no ``loads`` row) and what the next tracecheck command
sees, which must be the state before or after.

    python bench/kill_sweep.py                        # 300,000 events, 0..12 ms
    python bench/kill_sweep.py --events 100000 --delays 0,1,2,5 --timer
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
from _common import ensure_folder, load_average, machine

from traceability.load import load
from traceability.sample.bench import write_event_lines
from traceability.store import FAULT_ENV, connect


def _raw(db: Path) -> tuple[int, int, int, int]:
    """Events, EPC rows, loads rows and orphan events, as DuckDB alone replays the file."""
    con = duckdb.connect(str(db))
    try:
        row = con.execute(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM epc_rows), "
            "(SELECT count(*) FROM loads), (SELECT count(*) FROM events "
            "WHERE load_id NOT IN (SELECT load_id FROM loads))"
        ).fetchone()
    finally:
        con.close()
    assert row is not None
    return (int(row[0]), int(row[1]), int(row[2]), int(row[3]))


def _seen(db: Path) -> tuple[int, int, int]:
    """Events, EPC rows and loads rows as the next tracecheck command sees them."""
    con = connect(db)
    try:
        row = con.execute(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM epc_rows), "
            "(SELECT count(*) FROM loads)"
        ).fetchone()
    finally:
        con.close()
    assert row is not None
    return (int(row[0]), int(row[1]), int(row[2]))


def _kill_after_commit_starts(command: list[str], wal: Path, journal: int, ms: float) -> None:
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def size() -> int:
        try:
            return wal.stat().st_size
        except FileNotFoundError:
            return 0

    while proc.poll() is None and size() <= journal:
        time.sleep(0.0001)
    start = time.perf_counter()
    while time.perf_counter() - start < ms / 1000:
        pass
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000, help="events in the file")
    parser.add_argument("--delays", default="0,1,2,3,4,6,8,12", help="milliseconds, e.g. 0,2,5")
    parser.add_argument("--timer", action="store_true", help="kill by the loader's own timer")
    parser.add_argument("--workdir", type=Path, default=None, help="where to write the files")
    args = parser.parse_args()
    print(machine())
    print(f"load average before: {load_average()}")
    with tempfile.TemporaryDirectory(dir=ensure_folder(args.workdir)) as tmp:
        folder = Path(tmp)
        first, data = folder / "first.jsonl", folder / "events.jsonl"
        write_event_lines(first, events=8, serials_per_event=3, seed=1)
        write_event_lines(data, events=args.events, seed=2)
        base = folder / "base.duckdb"
        load(base, [first])
        before = _seen(base)
        after_db = folder / "after.duckdb"
        shutil.copy(base, after_db)
        load(after_db, [data])
        after = _seen(after_db)
        print(f"before: {before}, after: {after} (events, EPC rows, loads rows)")
        failures = 0
        for ms in (float(d) for d in args.delays.split(",")):
            db = folder / "store.duckdb"
            for leftover in (db, db.with_name(db.name + ".wal")):
                leftover.unlink(missing_ok=True)
            shutil.copy(base, db)
            command = [sys.executable, "-m", "traceability", "load", "--db", str(db), str(data)]
            if args.timer:
                env = {**os.environ, FAULT_ENV: f"commit+{ms:g}"}
                subprocess.run(
                    command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            else:
                _kill_after_commit_starts(command, db.with_name(db.name + ".wal"), 1000, ms)
            raw = _raw(db)
            seen = _seen(db)
            verdict = "before" if seen == before else "after" if seen == after else "NEITHER"
            failures += verdict == "NEITHER"
            print(
                f"{ms:5g} ms: DuckDB alone: events {raw[0]:,}, EPC rows {raw[1]:,}, "
                f"loads {raw[2]}, orphan events {raw[3]:,} -> tracecheck sees {verdict}"
            )
        print(f"kills leaving neither state: {failures}")
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
