"""Preflight benchmark: one planned shipment of 10,000 packs against a large store.

Writes the quarter of ``bench/reconcile.py`` (N EPCIS events, pallets of cases of packs,
shipped and received, with the declarations to match), plus the exporter's warehouse stock
that has not left yet: 10,000 packs of one lot, commissioned, packed 25 to a case and 10
cases to a pallet, with the lot's manufacture declaration and an export authorisation. It
loads them (timed, not part of the target), then checks the planned shipment of that stock,
each time in a fresh process (preflight runs DuckDB on one thread: on the narrowed store
a second one costs more than it brings):

- ``preflight()`` with the 10,000 packs listed one SGTIN a line, after their 40 pallets (a
  pack listed without the pallet that holds it would be packed elsewhere: blocked);
- ``preflight()`` with the 40 pallet SSCCs listed (expanded through the stored packing);
- ``preflight()`` on the declaration lines alone;
- the whole command, ``tracecheck preflight ... --format json``, as a user runs it.

Target: under 1 s for the 10,000-pack shipment against 1M events on 2 cores.

    python bench/preflight.py                                  # 1M events, 300k lines
    python bench/preflight.py --events 50000 --declarations 15000 --keep
    python bench/preflight.py --reuse KEPT_FOLDER   # the folder a --keep run printed
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from _common import load_average, machine, workdir
from reconcile import CASES, HOUR, PACKS, START, Events, at, generate, importers

from traceability.sample import gs1
from traceability.sample.scenario import build

REF, LOT, DAY = "AWB-PLANNED-0001", "W0000001", date(2026, 3, 28)
AUTH = "EA-IN-PLANNED-0001"
FIRST_CASE = 90_000_000  # case numbers far above the quarter's
EVENT_IDS = 0xF00000000000  # event ids apart from the quarter's


def warehouse(data: Path, planned: Path, packs: int) -> dict[str, int]:
    """The unshipped stock (events, batch, authorisation) and the planned shipment's files."""
    sc = build(0, 120, 1)
    pse, deccan = sc.products["pse"], sc.parties["exporter"]
    buyer = importers(3)[0]
    site = gs1.sgln_urn(deccan.site, 7)
    ev = Events(data / "warehouse.jsonl")
    ev.count = EVENT_IDS
    ilmd = f'"ilmd":{{"cbvmda:lotNumber":"{LOT}","cbvmda:itemExpirationDate":"2029-01-31"}}'
    head = gs1.sgtin_urn(pse.gtin, 7, "")
    serials, pallets = [], []
    cases = -(-packs // PACKS)
    when = START + timedelta(days=60)
    for pallet_no in range(-(-cases // CASES)):
        children = []
        for c in range(pallet_no * CASES, min(cases, (pallet_no + 1) * CASES)):
            g = FIRST_CASE + c
            batch = [f"{head}{g:08d}{n:02d}" for n in range(min(PACKS, packs - c * PACKS))]
            epcs = ",".join(f'"{s}"' for s in batch)
            t = when + timedelta(seconds=20 * c)
            ev.observe(t, "IN", epcs, "commissioning", f"{at(site)},{ilmd}")
            case = gs1.sscc_urn(gs1.sscc("8901234", g, extension=3), 7)
            ev.pack(t + HOUR, "IN", f'"{case}"', epcs, site)
            children.append(f'"{case}"')
            serials += batch
        pallet = gs1.sscc_urn(gs1.sscc("8901234", FIRST_CASE + pallet_no, extension=4), 7)
        ev.pack(when + 3 * HOUR, "IN", f'"{pallet}"', ",".join(children), site)
        pallets.append(pallet)
    ev.out.close()
    made = f"{deccan.id},{deccan.site},{pse.gtin},{LOT},{packs},H87,{START.date()},2029-01-31"
    (data / "warehouse-batches.csv").write_text(
        "manufacturer,site,gtin,lot,quantity,uom,manufacture_date,expiry_date\n" + made + "\n"
    )
    auth = f"{AUTH},export-authorisation,IN,{deccan.id},{buyer.id},{pse.gtin},,"
    (data / "warehouse-authorisations.csv").write_text(
        "authorisation_ref,kind,issuing_country,holder,counterparty,gtin,substance_base,"
        "max_quantity,uom,valid_from,valid_to\n"
        f"{auth}{packs + packs // 5},H87,2026-01-01,2026-12-31\n"
    )
    planned.mkdir(parents=True, exist_ok=True)
    (planned / "shipment.csv").write_text(
        "declaration_id,line,direction,declarant,counterparty,origin_country,"
        "destination_country,shipment_ref,gtin,lot,quantity,uom,declared_date,authorisation_ref\n"
        f"SB/PLANNED/1,1,export,{deccan.id},{buyer.id},IN,{buyer.country},{REF},{pse.gtin},"
        f"{LOT},{packs},H87,{DAY},{AUTH}\n"
    )
    (planned / "packs.txt").write_text("\n".join(pallets + serials) + "\n")
    (planned / "pallets.txt").write_text("\n".join(pallets) + "\n")
    return {"packs": len(serials), "pallets": len(pallets), "events": ev.count - EVENT_IDS}


STEP = """
import json, sys, time
from traceability.preflight import preflight
store, shipment, epcs = sys.argv[1], sys.argv[2], sys.argv[3] or None
times, cpu = [], []
for _ in range(int(sys.argv[4])):
    start, busy = time.perf_counter(), time.process_time()
    result = preflight(store, shipment, epcs=epcs)
    times.append(time.perf_counter() - start)
    cpu.append(time.process_time() - busy)
print(json.dumps({"times": times, "cpu": cpu, "clear": result.clear,
                  "blockers": [f.rule for f in result.blockers],
                  "balances": [b.to_dict() for b in result.balances]}))
"""


def step(store: Path, shipment: Path, epcs: Path | None, runs: int) -> dict[str, Any]:
    """``preflight()`` ``runs`` times in one fresh process: the times, the verdict."""
    args = [str(store), str(shipment), str(epcs or ""), str(runs)]
    out = subprocess.run(
        [sys.executable, "-c", STEP, *args], capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def command(store: Path, shipment: Path, epcs: Path) -> tuple[float, int]:
    """The whole command in a fresh process: (wall seconds, exit code)."""
    tracecheck = Path(sys.executable).with_name("tracecheck")
    args = [str(tracecheck), "preflight", "--db", str(store), str(shipment), "--epcs", str(epcs)]
    start = time.perf_counter()
    proc = subprocess.run(
        [*args, "--format", "json", "--output", os.devnull], capture_output=True, check=False
    )
    return time.perf_counter() - start, proc.returncode


def main() -> None:
    """Generate and load (or reuse), then measure and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--declarations", type=int, default=300_000)
    parser.add_argument("--packs", type=int, default=10_000, help="packs in the shipment")
    parser.add_argument("--runs", type=int, default=3, help="preflight calls per process")
    parser.add_argument("--memory-limit", default="3GB", help="DuckDB memory_limit of the load")
    parser.add_argument("--workdir", type=Path, help="where to write (a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the data and the store")
    parser.add_argument("--reuse", type=Path, help="a folder kept by an earlier run")
    args = parser.parse_args()
    print(f"machine: {machine()}\nload average: {load_average()}")
    if args.reuse:
        folder = args.reuse
    else:
        folder = workdir("tracecheck-preflight-", args.workdir)
    data, planned, store = folder / "data", folder / "planned", folder / "store.duckdb"
    try:
        if not args.reuse:
            start = time.perf_counter()
            made = generate(data, args.events, args.declarations)
            stock = warehouse(data, planned, args.packs)
            print(
                f"generated in {time.perf_counter() - start:.0f} s: {made['shipments']:,} "
                f"shipments in the events, {made['bulk']:,} bulk; warehouse stock "
                f"{stock['packs']:,} packs on {stock['pallets']} pallets ({stock['events']} events)"
            )
            from traceability.load import load
            from traceability.store import connect, table_counts

            start = time.perf_counter()
            result = load(store, [data], memory_limit=args.memory_limit)
            seconds = time.perf_counter() - start
            con = connect(store, read_only=True)
            t = table_counts(con)
            con.close()
            print(
                f"load: {seconds:.0f} s (not part of the target): {t['events']:,} events, "
                f"{t['epc_rows']:,} EPC rows, {t['consignments']:,} consignment lines, "
                f"{result.rejected} rejected, store {store.stat().st_size / 1e6:,.0f} MB"
            )
        shipment = planned / "shipment.csv"
        print(f"preflight() {args.runs} times in a fresh process (wall, and CPU of all threads):")
        best = None
        for name, epcs in (
            (f"{args.packs:,} packs listed", planned / "packs.txt"),  # and their pallets
            ("pallet SSCCs listed", planned / "pallets.txt"),
            ("declaration lines only", None),
        ):
            out = step(store, shipment, epcs, args.runs)
            times = ", ".join(f"{t:.2f}" for t in out["times"])
            cpu = ", ".join(f"{t:.2f}" for t in out["cpu"])
            verdict = "clear" if out["clear"] else f"blocked by {', '.join(out['blockers'])}"
            print(f"  {name:26} {times} s (CPU {cpu} s); {verdict}")
            if epcs is not None and epcs.name == "packs.txt":
                best = min(out["times"])
                print(f"  authorisation balance: {out['balances']}")
        seconds, code = command(store, shipment, planned / "packs.txt")
        print(
            f"tracecheck preflight (whole command, {args.packs:,} packs): "
            f"{seconds:.2f} s, exit {code}"
        )
        met = "met" if best is not None and best < 1 else "NOT met"
        print(f"target (preflight() under 1 s for {args.packs:,} packs on 2 cores): {met}")
        print(f"load average: {load_average()}")
    finally:
        if args.keep or args.reuse:
            print(f"kept: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
