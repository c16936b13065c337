"""Ingest benchmark: EPCIS JSON Lines into the store, against DuckDB's own copy of the file.

Generates N events with 25 serials each (1M events is about 1.7 GB), then measures, each in
a fresh process with the same DuckDB memory limit and 2 threads, timed end to end (start of
the process to its exit, the commit and the checkpoint included), the sides taking turns:

- copy, the anchor: DuckDB's own materialised copy of the file into a file-backed
  database, ``CREATE TABLE ev AS SELECT * FROM read_json(...)`` with the columns DuckDB
  detects, then every EPC list the file uses (``epcList``, ``childEPCs``,
  ``inputEPCList``, ``outputEPCList``) unnested into a second table, ``serials``, so
  that the copy holds every serial the store holds (the two counts are printed);
- tracecheck: ``traceability.load`` (validation, normalisation, de-duplication, fan-out
  into the event tables) into a new store;
- raw: a streamed read, DuckDB ``read_json`` of a few named columns with ``epcList``
  unnested, stored in a table (the least DuckDB itself does with the file);
- floor: the store's tables written with no check at all (see ``FLOOR``), the least any
  loader of this store could take (``--no-floor`` skips it).

Each side's figure is the best of its runs (``--runs``; every run is printed too), with
the highest peak RSS of its runs. Prints events/s, MB/s, the ratios to the copy (target:
tracecheck at most 1.5 times the copy) and whether tracecheck's peak RSS stayed under
4 GiB (target: 5M events in at most 4 GiB), with the machine it ran on.

    python bench/ingest.py                 # 1M events
    python bench/ingest.py --events 5000000
    python bench/ingest.py --data events.jsonl   # an existing file instead
    python bench/ingest.py --runs 3        # each side three times, taking turns; best of each
    python bench/ingest.py --baseline ../old-checkout   # also the load of another version
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import duckdb
from _common import ensure_folder, load_average, machine, run

from traceability.sample import write_event_lines

#: DuckDB's own materialised copy of the file: every field it detects, then the serials of
#: every EPC list the file uses; one transaction, committed and checkpointed.
COPY = """
import duckdb, sys
con = duckdb.connect(sys.argv[1], config={"memory_limit": sys.argv[3], "threads": 2})
con.execute("BEGIN")
con.execute('''CREATE TABLE ev AS SELECT * FROM read_json(?, format = 'newline_delimited',
    maximum_object_size = 67108864)''', [sys.argv[2]])
names = {row[0] for row in con.execute("DESCRIBE ev").fetchall()}
lists = [n for n in ("epcList", "childEPCs", "inputEPCList", "outputEPCList") if n in names]
parts = [f'SELECT eventID, unnest("{n}") AS epc FROM ev' for n in lists]
con.execute("CREATE TABLE serials AS " + " UNION ALL ".join(parts))
con.execute("COMMIT")
con.close()
print(" ".join(lists))
"""

#: A streamed read: a few named columns, ``epcList`` unnested, stored in a table.
RAW = """
import duckdb, sys
con = duckdb.connect(sys.argv[1], config={"memory_limit": sys.argv[3], "threads": 2})
con.execute('''CREATE TABLE raw AS SELECT eventID, unnest(epcList) AS epc FROM read_json(?,
    format = 'newline_delimited',
    columns = {'eventID': 'VARCHAR', 'type': 'VARCHAR', 'eventTime': 'VARCHAR',
               'eventTimeZoneOffset': 'VARCHAR', 'action': 'VARCHAR', 'bizStep': 'VARCHAR',
               'epcList': 'VARCHAR[]'}, maximum_object_size = 67108864)''', [sys.argv[2]])
print(con.execute("SELECT count(*) FROM raw").fetchone()[0])
"""

#: The least a loader of this store could do with the file: take its SHA-256 (every load
#: records it and looks it up first), then parse every field the store keeps and write the
#: same tables (events, EPC rows, business transactions, parties) in one transaction, DuckDB
#: reading the file itself, once per table. No check, no content hash, no identifier
#: normalisation, no de-duplication, no line numbers: the part of the load that no tuning
#: of the checks can remove. It prints the seconds of each step.
FLOOR = '''
import json, sys, time
from pathlib import Path
from traceability.load import sha256_of
from traceability.store import connect
con = connect(sys.argv[1], memory_limit=sys.argv[3], threads=2)
lists = ("epcList", "childEPCs", "inputEPCList", "outputEPCList")
src = """read_json(?, format = 'newline_delimited', maximum_object_size = 67108864, columns = {
    'eventID': 'VARCHAR', 'type': 'VARCHAR', 'eventTime': 'VARCHAR',
    'eventTimeZoneOffset': 'VARCHAR', 'recordTime': 'VARCHAR', 'action': 'VARCHAR',
    'bizStep': 'VARCHAR', 'disposition': 'VARCHAR', 'parentID': 'VARCHAR',
    'readPoint': 'STRUCT(id VARCHAR)', 'bizLocation': 'STRUCT(id VARCHAR)',
    'ilmd': 'STRUCT("cbvmda:lotNumber" VARCHAR, "cbvmda:itemExpirationDate" VARCHAR)',
    'bizTransactionList': 'STRUCT(type VARCHAR, bizTransaction VARCHAR)[]',
    'sourceList': 'STRUCT(type VARCHAR, source VARCHAR)[]',
    'destinationList': 'STRUCT(type VARCHAR, destination VARCHAR)[]',
    'epcList': 'VARCHAR[]', 'childEPCs': 'VARCHAR[]', 'inputEPCList': 'VARCHAR[]',
    'outputEPCList': 'VARCHAR[]'})"""
row = "(hash(eventID) >> 1)::BIGINT"  # a number both scans agree on, as cheap as any
names = ", ".join(f"'{n}'" for n in lists)
steps = {
    "events": f"""INSERT INTO events SELECT {row}, eventID, eventID, NULL, type, action,
        bizStep, disposition, CAST(eventTime AS TIMESTAMPTZ), eventTimeZoneOffset,
        CAST(CAST(eventTime AS TIMESTAMPTZ) AS DATE), CAST(recordTime AS TIMESTAMPTZ),
        readPoint.id, bizLocation.id, parentID, parentID, ilmd."cbvmda:lotNumber",
        CAST(ilmd."cbvmda:itemExpirationDate" AS DATE), NULL, NULL, NULL, '', 1, 'floor',
        NULL FROM {src}""",
    "epc_rows": f"""INSERT INTO epc_rows SELECT r, n, 1, CASE WHEN starts_with(x, 'urn:')
        THEN split_part(x, '.', -1) ELSE split_part(x, '/', -1) END, NULL, NULL
        FROM (SELECT r, n, unnest(l) AS x FROM (
            SELECT {row} AS r, unnest([{names}]) AS n, unnest([{", ".join(lists)}]) AS l
            FROM {src}))""",
    "event_biz_transactions": f"""INSERT INTO event_biz_transactions
        SELECT r, b.type, b.bizTransaction, b.bizTransaction
        FROM (SELECT {row} AS r, unnest(bizTransactionList) AS b FROM {src})""",
    **{
        f"event_parties ({role})": f"""INSERT INTO event_parties
            SELECT r, '{role}', p.type, p.{role}, p.{role}, NULL
            FROM (SELECT {row} AS r, unnest({role}List) AS p FROM {src})"""
        for role in ("source", "destination")
    },
}
seconds = {}
start = time.perf_counter()
sha256_of(Path(sys.argv[2]))  # every load records the file's SHA-256 and looks it up first
seconds["sha256"] = round(time.perf_counter() - start, 2)
con.execute("BEGIN")
for name, sql in steps.items():
    start = time.perf_counter()
    con.execute(sql, [sys.argv[2]])
    seconds[name] = round(time.perf_counter() - start, 2)
con.execute("COMMIT")
print(json.dumps(seconds))
'''

OURS = """
import sys
from traceability.load import load
from traceability.store import connect
r = load(sys.argv[1], [sys.argv[2]], memory_limit=sys.argv[3])
f = r.files[0]
print(f.accepted, f.rejected)
"""


def _revision(folder: Path) -> str:
    """The commit a checkout is at, if git can tell."""
    try:
        out = subprocess.run(
            ["git", "-C", str(folder), "log", "-1", "--format=%h %s"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return out[:80]


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--serials", type=int, default=25)
    parser.add_argument("--memory-limit", default="2GB")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--data", type=Path, default=None, help="measure on this JSON Lines file of events"
    )
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    parser.add_argument(
        "--runs", type=int, default=1, help="run each side this many times; report the best"
    )
    parser.add_argument(
        "--no-floor", action="store_true", help="skip the floor (the tables with no checks)"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="a checkout of another version: its load is measured too, as a side taking "
        "turns with the others (this version's load must be no slower)",
    )
    return parser.parse_args()


def _count(db: Path, table: str) -> int:
    """Rows of a table of a database a side wrote (counted outside its timed process)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        row = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()
    finally:
        con.close()
    return int(row[0]) if row else 0


class Sides:
    """Each side's runs: seconds, peak RSS and last output line of every run."""

    def __init__(self, names: list[str]) -> None:
        self.times: dict[str, list[float]] = {name: [] for name in names}
        self.peaks: dict[str, list[float]] = {name: [] for name in names}
        self.outs: dict[str, list[str]] = {name: [] for name in names}

    def best(self, name: str) -> float:
        return min(self.times[name])

    def peak(self, name: str) -> float:
        return max(self.peaks[name])

    def best_out(self, name: str) -> str:
        """The output of the side's best run."""
        times = self.times[name]
        return self.outs[name][times.index(min(times))]


def _measure(
    args: argparse.Namespace, folder: Path, data: Path, sides: list[tuple[str, str]]
) -> tuple[Sides, dict[str, int]]:
    """Run every side ``args.runs`` times, taking turns; and the serials each side stored."""
    runs, serials = Sides([name for name, _ in sides]), {}
    for round_ in range(args.runs):  # taking turns, so that a slow spell hits every side
        for name, script in sides:
            db = folder / f"{name}-{round_}.duckdb"
            code = args.baseline if name == "baseline" else None
            seconds, rss, out = run(script, str(db), str(data), args.memory_limit, code=code)
            if round_ == 0 and name in ("copy", "tracecheck"):
                serials[name] = _count(db, "serials" if name == "copy" else "epc_rows")
            db.unlink()
            runs.times[name].append(seconds)
            runs.peaks[name].append(rss)
            runs.outs[name].append(out.splitlines()[-1] if out else "")
    return runs, serials


def _line(label: str, seconds: float, events: int, mb: float, rss: float) -> str:
    return (
        f"{label:24}{seconds:7.1f} s  {events / seconds:>10,.0f} events/s  "
        f"{mb / seconds:6.1f} MB/s  peak RSS {rss:,.0f} MiB"
    )


def _report(
    args: argparse.Namespace, written: int, size_mb: float, runs: Sides, serials: dict[str, int]
) -> dict[str, object]:
    """Print the figures; return them for ``--json``."""
    copy_s, ours_s, raw_s = runs.best("copy"), runs.best("tracecheck"), runs.best("raw")
    accepted, rejected = (int(x) for x in runs.best_out("tracecheck").split())
    ours_rss = runs.peak("tracecheck")
    print(_line("copy (the anchor):", copy_s, written, size_mb, runs.peak("copy")))
    print(f"  serials copied {serials['copy']:,} ({runs.best_out('copy')})")
    print(_line("tracecheck load:", ours_s, written, size_mb, ours_rss))
    same = "the same as" if serials["tracecheck"] == serials["copy"] else "DIFFERENT from"
    print(
        f"  accepted {accepted:,}, rejected {rejected:,}; EPC rows stored "
        f"{serials['tracecheck']:,}, {same} the serials copied"
    )
    print(_line("raw streamed read:", raw_s, written, size_mb, runs.peak("raw")))
    ratio = ours_s / copy_s
    met = "met" if ratio <= 1.5 else "NOT met"
    print(f"ratio tracecheck / copy: {ratio:.2f}x (target at most 1.5x: {met})")
    print(f"ratio tracecheck / raw:  {ours_s / raw_s:.2f}x; copy / raw: {copy_s / raw_s:.2f}x")
    under = "under" if ours_rss < 4096 else "NOT under"
    print(
        f"tracecheck peak RSS {ours_rss:,.0f} MiB: {under} 4 GiB at {written:,} events "
        f"(target: 5M events in at most 4 GiB)"
    )
    figures: dict[str, object] = {
        "events": written,
        "megabytes": round(size_mb, 1),
        "memory_limit": args.memory_limit,
        "runs": args.runs,
        "all_seconds": {k: [round(t, 2) for t in v] for k, v in runs.times.items()},
        "all_peak_rss_mib": {k: [round(m) for m in v] for k, v in runs.peaks.items()},
        "copy_seconds": round(copy_s, 2),
        "copy_peak_rss_mib": round(runs.peak("copy")),
        "copy_serial_rows": serials["copy"],
        "copy_lists": runs.best_out("copy").split(),
        "tracecheck_seconds": round(ours_s, 2),
        "tracecheck_events_per_s": round(written / ours_s),
        "tracecheck_mb_per_s": round(size_mb / ours_s, 1),
        "tracecheck_peak_rss_mib": round(ours_rss),
        "tracecheck_epc_rows": serials["tracecheck"],
        "tracecheck_under_4gib": ours_rss < 4096,
        "accepted": accepted,
        "rejected": rejected,
        "ratio_to_copy": round(ratio, 2),
        "ratio_to_copy_met": ratio <= 1.5,
        "raw_seconds": round(raw_s, 2),
        "raw_peak_rss_mib": round(runs.peak("raw")),
        "raw_serial_rows": int(runs.best_out("raw")),
        "ratio_to_raw": round(ours_s / raw_s, 2),
    }
    if args.baseline is not None:
        figures |= _baseline(runs, written)
    if not args.no_floor:
        figures |= _floor(runs, copy_s, raw_s)
    return figures


def _baseline(runs: Sides, written: int) -> dict[str, object]:
    base_s, ours_s = runs.best("baseline"), runs.best("tracecheck")
    print(
        f"baseline load:          {base_s:7.1f} s  {written / base_s:>10,.0f} events/s  "
        f"peak RSS {runs.peak('baseline'):,.0f} MiB (accepted, rejected: "
        f"{runs.best_out('baseline')}); this version / baseline: {ours_s / base_s:.3f}"
    )
    return {
        "baseline_seconds": round(base_s, 2),
        "baseline_peak_rss_mib": round(runs.peak("baseline")),
        "baseline_accepted_rejected": runs.best_out("baseline"),
        "tracecheck_to_baseline": round(ours_s / base_s, 3),
    }


def _floor(runs: Sides, copy_s: float, raw_s: float) -> dict[str, object]:
    total, steps = runs.best("floor"), json.loads(runs.best_out("floor"))
    each = ", ".join(f"{k} {v:.1f} s" for k, v in steps.items())
    print(
        f"floor, the same tables with no checks: {total:.1f} s, {total / copy_s:.2f}x the "
        f"copy, {total / raw_s:.2f}x the raw read; peak RSS {runs.peak('floor'):,.0f} MiB "
        f"({each})"
    )
    return {
        "floor_seconds": round(total, 2),
        "floor_peak_rss_mib": round(runs.peak("floor")),
        "floor_to_copy": round(total / copy_s, 2),
        "floor_to_raw": round(total / raw_s, 2),
        "floor_steps": steps,
    }


def main() -> None:
    """Run the benchmark and print its figures."""
    args = _arguments()
    with tempfile.TemporaryDirectory(dir=ensure_folder(args.workdir)) as tmp:
        folder = Path(tmp)
        if args.data is None:
            data = folder / "events.jsonl"
            t0 = time.perf_counter()
            written = write_event_lines(data, events=args.events, serials_per_event=args.serials)
            made = f"generated in {time.perf_counter() - t0:.1f} s"
        else:
            data = args.data
            with data.open("rb") as f:
                written = sum(1 for line in f if line.strip())
            made = f"from {data}"
        size_mb = data.stat().st_size / 1e6
        print(f"machine: {machine()}")
        print(f"data: {written:,} events, {size_mb:,.0f} MB JSON Lines ({made})")
        print(f"DuckDB memory_limit: {args.memory_limit}, 2 threads")
        print(f"load average before: {load_average()}")
        sides = [("copy", COPY), ("tracecheck", OURS), ("raw", RAW)]
        sides += [] if args.no_floor else [("floor", FLOOR)]
        if args.baseline is not None:
            sides.append(("baseline", OURS))
            print(f"baseline: the load of {args.baseline} ({_revision(args.baseline)})")
        runs, serials = _measure(args, folder, data, sides)
        print(f"best of {args.runs} run(s) each, the sides taking turns; seconds of every run:")
        for name, times in runs.times.items():
            peaks = ", ".join(f"{m:,.0f}" for m in runs.peaks[name])
            print(f"  {name:11} {', '.join(f'{t:.1f}' for t in times)} (peak RSS MiB {peaks})")
        figures = _report(args, written, size_mb, runs, serials)
        print(f"load average after: {load_average()}")
        if args.json:
            print(json.dumps(figures))


if __name__ == "__main__":
    main()
