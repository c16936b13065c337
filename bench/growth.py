"""Why a stage grows faster than the data: its slowest operators at two sizes, and DuckDB's
own hash join at the same sizes as the anchor.

``bench/reconcile.py --sizes`` names the stages whose time grows faster than the number of
events. This takes two stores of different size (``bench/reconcile.py --keep`` leaves
them), builds the base tables on each, optionally compresses them (``--compress-base``:
``CHECKPOINT temp``, so that the base holds a fraction of the memory and memory pressure is
ruled out as the cause), and runs each named rule with DuckDB's profiler on: its seconds,
and its slowest operators with the rows each produced (the plans of two sizes may join in
another order, so operators are listed at each size, not paired). A rule's growth exponent
is log(t2/t1) / log(n2/n1) over the numbers of events.

The anchor: DuckDB's plain hash join of two tables of N random (INTEGER, BIGINT) keys
against each other, at the row counts given by ``--anchor-rows`` (best of three), the cost
of a join of that size in the engine with nothing of tracecheck in it. Every figure is
printed with the machine it ran on.

    python bench/reconcile.py --sizes 1000000,3000000 --keep    # prints: kept: FOLDER
    python bench/growth.py FOLDER/1000000/store.duckdb FOLDER/3000000/store.duckdb \\
        --rules shipped-not-received,serial-lot-mismatch --memory-limit 8GB --compress-base
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import growth, load_average, machine

from traceability.config import Config
from traceability.engine.findings import bound_parameters
from traceability.engine.report import rule_parameters
from traceability.reconcile import latest_date
from traceability.rules import all_rules, base_needed, run_base
from traceability.store import connect

THREADS = 2
TOP = 4  # operators shown per rule


def walk(node: dict[str, Any], out: list[tuple[float, str, int, str]]) -> None:
    """Every operator of a profile tree: (seconds, name, rows out, what it joins on)."""
    extra = node.get("extra_info") or {}
    on = extra.get("Conditions") or extra.get("Groups") or extra.get("Table") or ""
    name = node.get("operator_name") or node.get("operator_type") or ""
    if name:
        timing = float(node.get("operator_timing") or 0.0)
        out.append((timing, name.strip(), int(node.get("operator_cardinality") or 0), str(on)))
    for child in node.get("children") or []:
        walk(child, out)


def step_profile(store: str, limit: str, rules: str, compress: str) -> dict[str, Any]:
    """In a process of its own: the base, then each rule profiled."""
    con = connect(store, read_only=True, memory_limit=limit, threads=THREADS)
    chosen = [r for r in all_rules() if r.id in rules.split(",")]
    start = time.perf_counter()
    run_base(con, only=base_needed(chosen))
    if compress == "yes":
        con.execute("CHECKPOINT temp")
    base = time.perf_counter() - start
    row = con.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone()
    held = float(row[0] or 0) / 2**20 if row else 0.0
    events = con.execute("SELECT count(*) FROM events").fetchone()
    params = rule_parameters(Config(), None, latest_date(con))
    found: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rule in chosen:
            path = Path(tmp) / f"{rule.id}.json"
            con.execute("PRAGMA enable_profiling = 'json'")
            con.execute(f"PRAGMA profiling_output = '{path}'")
            start = time.perf_counter()
            rows = len(con.execute(rule.sql, bound_parameters(rule, params)).fetchall())
            seconds = time.perf_counter() - start
            con.execute("PRAGMA disable_profiling")
            ops: list[tuple[float, str, int, str]] = []
            walk(json.loads(path.read_text()), ops)
            found[rule.id] = {"seconds": seconds, "findings": rows, "operators": ops}
    return {
        "events": events[0] if events else 0,
        "base_seconds": base,
        "held_mib": held,
        "rules": found,
    }


def step_anchor(rows: str, limit: str) -> dict[str, Any]:
    """DuckDB's own hash join of ``rows`` random keys against as many (best of three)."""
    import duckdb

    n = int(rows)
    con = duckdb.connect(config={"memory_limit": limit, "threads": THREADS})
    keys = "(hash(i) % 50000)::INTEGER AS g, i * 7 + 3 AS s, i AS t"
    con.execute(f"CREATE TABLE a AS SELECT {keys} FROM range({n}) r(i)")
    con.execute(f"CREATE TABLE b AS SELECT {keys} FROM range({n}) r(i) ORDER BY hash(i + 1)")
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        con.execute("SELECT count(*) FROM a JOIN b ON a.g = b.g AND a.s = b.s").fetchone()
        best = min(best, time.perf_counter() - start)
    return {"rows": n, "seconds": best}


STEPS: dict[str, Callable[..., dict[str, Any]]] = {"profile": step_profile, "anchor": step_anchor}


def run(step: str, *args: str) -> dict[str, Any]:
    """One step in a fresh process, so that neither side inherits the other's memory."""
    out = subprocess.run(
        [sys.executable, __file__, "--step", step, *args], capture_output=True, text=True
    )
    if out.returncode != 0:
        raise SystemExit(f"{step} failed:\n{out.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def show(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def report(small: dict[str, Any], large: dict[str, Any]) -> dict[str, Any]:
    """Each rule's seconds and growth, and its slowest operators at each size."""
    n1, n2 = small["events"], large["events"]
    print(f"events: {n1:,} and {n2:,}")
    for at in (small, large):
        print(
            f"  {at['events']:>11,} events: base {at['base_seconds']:.2f} s, "
            f"DuckDB holds {at['held_mib']:,.0f} MiB after it"
        )
    out: dict[str, Any] = {}
    for rule, big in large["rules"].items():
        little = small["rules"][rule]
        grow = growth([n1, n2], [little["seconds"], big["seconds"]])[0]
        print(
            f"{rule}: {little['seconds']:.2f} s -> {big['seconds']:.2f} s, "
            f"growth {show(grow)} (findings {little['findings']:,} -> {big['findings']:,})"
        )
        ops: dict[str, Any] = {}
        for size, at in ((n1, little), (n2, big)):
            top = sorted(at["operators"], key=lambda o: -o[0])[:TOP]
            print(f"  slowest operators at {size:,} events: seconds, rows out, on")
            for seconds, name, rows, on in top:
                print(f"    {seconds:6.2f} s {name:16} {rows:>12,}  {on[:90]}")
            ops[str(size)] = [{"seconds": t, "name": n, "rows": r, "on": o} for t, n, r, o in top]
        out[rule] = {
            "seconds": [little["seconds"], big["seconds"]],
            "findings": [little["findings"], big["findings"]],
            "growth": grow,
            "top": ops,
        }
    return out


def main() -> None:
    if sys.argv[1:2] == ["--step"]:
        print(json.dumps(STEPS[sys.argv[2]](*sys.argv[3:])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("small", type=Path, help="the smaller store")
    parser.add_argument("large", type=Path, help="the larger store")
    parser.add_argument(
        "--rules",
        default="shipped-not-received,serial-lot-mismatch,expired-shipped",
        help="rule ids, comma-separated",
    )
    parser.add_argument("--memory-limit", default="8GB", help="DuckDB memory_limit (8GB)")
    parser.add_argument(
        "--compress-base", action="store_true", help="CHECKPOINT the base tables (compressed)"
    )
    parser.add_argument(
        "--anchor-rows",
        default="11000000,33000000",
        help="rows of DuckDB's own join, two counts (those of the rules' largest joins)",
    )
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()
    known = {r.id for r in all_rules()}
    if unknown := set(args.rules.split(",")) - known:
        parser.error(f"unknown rule ids: {', '.join(sorted(unknown))}")
    print(f"machine: {machine()}\nload average: {load_average()}")
    print(
        f"DuckDB memory_limit {args.memory_limit}, threads {THREADS}, "
        f"base {'compressed' if args.compress_base else 'as reconcile builds it'}"
    )
    compress = "yes" if args.compress_base else "no"
    small = run("profile", str(args.small), args.memory_limit, args.rules, compress)
    large = run("profile", str(args.large), args.memory_limit, args.rules, compress)
    figures: dict[str, Any] = {
        "events": [small["events"], large["events"]],
        "rules": report(small, large),
    }
    a, b = (run("anchor", n, args.memory_limit) for n in args.anchor_rows.split(","))
    grow = growth([a["rows"], b["rows"]], [a["seconds"], b["seconds"]])[0]
    print(
        f"anchor, DuckDB's own hash join of N random (INTEGER, BIGINT) keys against N: "
        f"{a['rows']:,} rows {a['seconds']:.2f} s, {b['rows']:,} rows {b['seconds']:.2f} s "
        f"(best of 3); growth {show(grow)}"
    )
    print(f"load average: {load_average()}")
    if args.json:
        figures |= {"anchor": [a, b], "anchor_growth": grow, "machine": machine()}
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
