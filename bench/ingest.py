"""Ingest benchmark: EPCIS JSON Lines into the store, against DuckDB's own raw read.

Generates N events with 25 serials each (1M events is about 1.7 GB), then measures, each in
a fresh process with the same DuckDB memory limit:

- raw: DuckDB ``read_json`` of the file with the EPC lists unnested, stored in a table;
- tracecheck: ``traceability.load`` (validation, normalisation, de-duplication, fan-out
  into the event tables) into a new store;
- floor: the same tables written with no check at all (see ``FLOOR``), the least any
  loader of this store could take, per table (``--no-floor`` skips it).

Prints events/s, MB/s, peak RSS of each process and the ratios to the raw read, with the
machine it ran on.

    python bench/ingest.py                 # 1M events
    python bench/ingest.py --events 5000000
    python bench/ingest.py --data events.jsonl   # an existing file instead
    python bench/ingest.py --runs 3        # each side three times, interleaved; medians
    python bench/ingest.py --baseline ../old-checkout   # also the load of another version
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from _common import load_average, machine, run

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
    import subprocess

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


def main() -> None:
    """Run the benchmark and print its figures."""
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
        "--runs", type=int, default=1, help="run each side this many times; report the median"
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
    args = parser.parse_args()

    from traceability.sample import write_event_lines

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
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
        print(f"DuckDB memory_limit: {args.memory_limit}")
        print(f"load average before: {load_average()}")
        sides = [("raw", RAW), ("tracecheck", OURS)] + ([] if args.no_floor else [("floor", FLOOR)])
        if args.baseline is not None:
            sides.append(("baseline", OURS))
            print(f"baseline: the load of {args.baseline} ({_revision(args.baseline)})")
        times: dict[str, list[float]] = {name: [] for name, _ in sides}
        peaks: dict[str, float] = dict.fromkeys(times, 0.0)
        outs: dict[str, list[str]] = {name: [] for name in times}
        for round_ in range(args.runs):  # interleaved, so that a slow spell hits every side
            for name, script in sides:
                db = folder / f"{name}-{round_}.duckdb"
                code = args.baseline if name == "baseline" else None
                seconds, rss, out = run(script, str(db), str(data), args.memory_limit, code=code)
                db.unlink()
                times[name].append(seconds)
                peaks[name] = max(peaks[name], rss)
                outs[name].append(out.splitlines()[-1])
        raw_s, raw_rss = statistics.median(times["raw"]), peaks["raw"]
        ours_s, ours_rss = statistics.median(times["tracecheck"]), peaks["tracecheck"]
        accepted, rejected = (int(x) for x in outs["tracecheck"][-1].split())
        floor: dict[str, float] = {}
        if not args.no_floor:
            per_run = [json.loads(out) for out in outs["floor"]]
            floor = {"total": statistics.median(times["floor"])}
            floor |= {k: statistics.median(r[k] for r in per_run) for k in per_run[0]}
        figures = {
            "events": written,
            "megabytes": round(size_mb, 1),
            "raw_seconds": round(raw_s, 2),
            "raw_serial_rows": int(outs["raw"][-1]),
            "runs": args.runs,
            "all_seconds": {k: [round(t, 2) for t in v] for k, v in times.items()},
            "raw_peak_rss_mib": round(raw_rss),
            "tracecheck_seconds": round(ours_s, 2),
            "tracecheck_events_per_s": round(written / ours_s),
            "tracecheck_mb_per_s": round(size_mb / ours_s, 1),
            "tracecheck_peak_rss_mib": round(ours_rss),
            "accepted": accepted,
            "rejected": rejected,
            "ratio": round(ours_s / raw_s, 2),
        }
        if args.baseline is not None:
            base_s = statistics.median(times["baseline"])
            figures["baseline_seconds"] = round(base_s, 2)
            figures["baseline_peak_rss_mib"] = round(peaks["baseline"])
            figures["baseline_accepted_rejected"] = outs["baseline"][-1]
            figures["tracecheck_to_baseline"] = round(ours_s / base_s, 3)
        if floor:
            figures["floor_seconds"] = round(floor["total"], 2)
            figures["floor_ratio"] = round(floor["total"] / raw_s, 2)
            figures["floor_steps"] = {k: v for k, v in floor.items() if k != "total"}
        print(
            f"raw read_json + unnest: {raw_s:6.1f} s  {written / raw_s:>10,.0f} events/s  "
            f"{size_mb / raw_s:6.1f} MB/s  peak RSS {raw_rss:,.0f} MiB"
        )
        print(
            f"tracecheck load:        {ours_s:6.1f} s  {written / ours_s:>10,.0f} events/s  "
            f"{size_mb / ours_s:6.1f} MB/s  peak RSS {ours_rss:,.0f} MiB "
            f"(accepted {accepted:,}, rejected {rejected:,})"
        )
        if args.runs > 1:
            each = "; ".join(f"{k} {', '.join(f'{t:.1f}' for t in v)}" for k, v in times.items())
            print(f"medians of {args.runs} interleaved runs (seconds of each: {each})")
        print(f"ratio tracecheck / raw: {ours_s / raw_s:.2f}x")
        if args.baseline is not None:
            base_s = statistics.median(times["baseline"])
            print(
                f"baseline load:          {base_s:6.1f} s  {written / base_s:>10,.0f} events/s  "
                f"peak RSS {peaks['baseline']:,.0f} MiB (accepted, rejected: "
                f"{outs['baseline'][-1]}); this version / baseline: {ours_s / base_s:.3f}"
            )
        if floor:
            steps = ", ".join(f"{k} {v:.1f} s" for k, v in floor.items() if k != "total")
            print(
                f"floor, the same tables with no checks: {floor['total']:.1f} s, "
                f"{floor['total'] / raw_s:.2f}x the raw read ({steps})"
            )
        print(f"load average after: {load_average()}")
        if args.json:
            print(json.dumps(figures))


if __name__ == "__main__":
    main()
