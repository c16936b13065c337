"""Rejects benchmark: a declaration file in which every record is bad.

Writes a consignments CSV of N lines, each with one bad value (a quantity of ``1e-400``,
which cannot be stored without rounding), loads it with ``tracecheck load`` in a fresh
process, and prints the wall time, the peak RSS of that process (``RUSAGE_CHILDREN``), the
rejects stored, and the machine it ran on. Target: 10M bad lines under 1 GiB peak.

    python bench/rejects.py                    # 10,000,000 lines
    python bench/rejects.py --rows 1000000
    python bench/rejects.py --events --rows 1000000   # EPCIS events, each a bad eventTime
"""

from __future__ import annotations

import argparse
import csv
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
from _common import ensure_folder, load_average, machine

HEADER = ("declaration_id", "line", "direction", "declarant", "counterparty", "origin_country",
          "destination_country", "shipment_ref", "gtin", "lot", "quantity", "uom",
          "declared_date", "authorisation_ref")  # fmt: skip
ROW = ("SB-{n}", "1", "export", "8901234000007", "0614141000005", "IN", "US", "BOL-{n}",
       "08901234000014", "L2401", "1e-400", "H87", "2026-02-10", "EA-IN-2026-001")  # fmt: skip


def write(path: Path, rows: int) -> None:
    """A consignments CSV of ``rows`` lines, each rejected for its quantity."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        template = ",".join(ROW)
        block: list[str] = []
        for n in range(rows):
            block.append(template.replace("{n}", str(n)))
            if len(block) == 100_000:
                f.write("\n".join(block) + "\n")
                block.clear()
        if block:
            f.write("\n".join(block) + "\n")


EVENT = (
    '{{"type":"ObjectEvent","eventID":"urn:uuid:bad-{n}","eventTime":"2026-02-10 at noon",'
    '"eventTimeZoneOffset":"+05:30","action":"OBSERVE","bizStep":"shipping",'
    '"epcList":["urn:epc:id:sgtin:8901234.000001.{n}"]}}'
)


def write_events(path: Path, rows: int) -> None:
    """JSON Lines of ``rows`` events, each rejected for its eventTime."""
    with path.open("w", encoding="utf-8") as f:
        for start in range(0, rows, 100_000):
            stop = min(rows, start + 100_000)
            f.write("\n".join(EVENT.format(n=n) for n in range(start, stop)) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="bad lines, e.g. 1000000")
    parser.add_argument("--workdir", type=Path, default=None, help="where to write the file")
    parser.add_argument("--events", action="store_true", help="EPCIS events instead of a CSV")
    parser.add_argument(
        "--memory-limit", default=None, help="passed to tracecheck load (default: its own)"
    )
    args = parser.parse_args()
    print(machine())
    print(f"load average before: {load_average()}")
    with tempfile.TemporaryDirectory(dir=ensure_folder(args.workdir)) as tmp:
        folder = Path(tmp)
        data, db = folder / "consignments.csv", folder / "store.duckdb"
        if args.events:
            data = folder / "events.jsonl"
            write_events(data, args.rows)
        else:
            write(data, args.rows)
        print(f"{args.rows:,} lines, {data.stat().st_size / 2**20:,.0f} MiB, each one bad value")
        command = [sys.executable, "-m", "traceability", "load", "--db", str(db), str(data)]
        if args.memory_limit:
            command += ["--memory-limit", args.memory_limit]
        start = time.perf_counter()
        proc = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        con = duckdb.connect(str(db), read_only=True)
        try:
            row = con.execute("SELECT count(*) FROM rejects").fetchone()
        finally:
            con.close()
        stored = int(row[0]) if row else 0
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        print(
            f"tracecheck load: exit {proc.returncode}, {seconds:,.1f} s, peak RSS {peak:,.0f} MiB"
        )
        print(
            f"rejects stored: {stored:,} ({stored / seconds:,.0f}/s); "
            f"last stderr line: {tail[0][:120]}"
        )
        verdict = "under" if peak < 1024 else "OVER"
        print(f"target 1 GiB peak: {verdict}")
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
