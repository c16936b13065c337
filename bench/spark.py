"""Spark benchmark: the whole rule catalogue at 1M events on local Spark against DuckDB.

Builds the quarter of ``bench/reconcile.py`` (N EPCIS events, M declaration lines to match,
a few discrepancies planted) and loads it into a store, or takes an existing store; exports
the store as Parquet tables (``traceability.export``, timed); then runs the whole catalogue
twice, each in a fresh process: ``reconcile`` on DuckDB (the same memory limit, 2 threads
and 2 workers as ``bench/reconcile.py``), and ``reconcile_spark`` over the export on a
local Spark master (``local[2]``: 2 cores; the driver memory is set before the JVM starts).
Prints the wall time and peak memory of each, the ratio of Spark to DuckDB, and whether the
two reports agree: their JSON with ``generated_at`` left out is identical, or so many
fingerprints differ (found by one engine only, or with other figures). The figures are also
written to ``bench/out/spark.json``.

Times: the process's, from start to exit (imports, opening the store, and for Spark
starting the JVM included), and the ``reconcile`` call's within it (for Spark, the call
starts the session, so the JVM start is in both). Peak memory: DuckDB's is the process's own
peak RSS. Spark's work is done in a JVM that pyspark starts as a child process, so its
figure is the peak of the RSS summed over the Python process and all its descendants,
sampled every 0.1 s (a shorter peak can be missed); each process's own high-water mark
(``VmHWM``) is given beside it.

    python bench/spark.py                                        # 1M events, 300k lines
    python bench/spark.py --events 20000 --declarations 6000 --keep
    python bench/spark.py --store quarter.duckdb --master 'local[4]' --driver-memory 8g
    python bench/spark.py --sizes 20000,100000,300000    # the scale curve (spark_curve.py)

``--sizes`` runs the scale curve instead (``bench/spark_curve.py``): loading and reconciling on
both engines at each size, fixed overhead and cost per event fitted, the crossover, local[1]
against local[2], and a rule's task count as the data grows.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
from _common import load_average, machine, workdir
from reconcile import KINDS, THREADS, _open, failed, generate
from reconcile import run as run_reconcile_step
from spark_curve import STEPS as CURVE_STEPS
from spark_curve import curve

OUT = Path(__file__).resolve().parent / "out" / "spark.json"
SAMPLE = 0.1  # seconds between samples of the process tree's memory
MiB = 2**20


def step_export(store: str, to: str) -> dict[str, Any]:
    from traceability.export import export

    start = time.perf_counter()
    result = export(store, to)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "tables": {t.name: t.rows for t in result.tables}}


def step_duckdb(store: str, limit: str, report: str) -> dict[str, Any]:
    from traceability import reconcile
    from traceability.render import render

    con, start = _open(store, limit), time.perf_counter()
    try:
        done = reconcile(con, workers=THREADS)
    except Exception as exc:  # out of memory, above all: report it with the time it took
        return {"seconds": time.perf_counter() - start, "error": failed(exc)}
    seconds = time.perf_counter() - start
    Path(report).write_text(render(done, "json"), "utf-8")
    return {"seconds": seconds, "rules": len(done.rules_run), "findings": len(done.findings)}


def step_spark(data: str, master: str, memory: str, work: str, report: str) -> dict[str, Any]:
    from traceability.render import render
    from traceability.spark import reconcile_spark

    os.environ["SPARK_LOCAL_DIRS"] = f"{work}/local"  # shuffle and spill files
    if master.startswith("local"):  # the JVM talks to itself: no look-up of the host name
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    conf = {
        "spark.driver.memory": memory,  # read when the JVM starts: this process starts it
        "spark.sql.warehouse.dir": f"{work}/warehouse",  # else spark-warehouse/ in the cwd
    }
    marks: list[tuple[float, str]] = []
    start = time.perf_counter()

    def progress(text: str) -> None:
        marks.append((time.perf_counter() - start, text))

    try:
        done = reconcile_spark(
            data, master=master, spark_conf=conf, work=f"{work}/base", progress=progress
        )
    except Exception as exc:  # noqa: BLE001 - Spark raises its own error types
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        return {"seconds": time.perf_counter() - start, "error": "FAILED: " + lines[0][:200]}
    seconds = time.perf_counter() - start
    Path(report).write_text(render(done, "json"), "utf-8")
    # the steps as reconcile_spark announces them: until the first, the session starts
    at = dict((text, t) for t, text in marks)
    rules = [(text[5:], t) for t, text in marks if text.startswith("rule ")]
    ends = [t for _, t in rules[1:]] + [seconds]
    slowest = sorted(((e - t, r) for (r, t), e in zip(rules, ends, strict=True)), reverse=True)
    phases = {
        "session": at.get("reading the export", seconds),
        "read": at.get("building the base views", seconds) - at.get("reading the export", 0),
        "base": (rules[0][1] if rules else seconds) - at.get("building the base views", 0),
        "rules": seconds - rules[0][1] if rules else 0.0,
    }
    return {
        "seconds": seconds,
        "rules": len(done.rules_run),
        "findings": len(done.findings),
        "phases": phases,
        "slowest": [[r, s] for s, r in slowest[:3]],
    }


STEPS: dict[str, Callable[..., dict[str, Any]]] = {
    "export": step_export,
    "duckdb": step_duckdb,
    "spark": step_spark,
    **CURVE_STEPS,
}


def high_water(pid: int) -> int:
    """A process's peak RSS so far, in bytes (``VmHWM``; 0 where /proc has none)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def heap(cmdline: list[str]) -> str | None:
    """The JVM's maximum heap (``-Xmx``) from its command line."""
    return next((a[4:] for a in cmdline if a.startswith("-Xmx")), None)


def measure(step: str, *args: object) -> dict[str, Any]:
    """Run one step in a fresh process, sampling the memory of it and its descendants.

    Returns what the step returned, with ``wall`` (seconds, the process from start to exit),
    ``rss`` (its own peak RSS, MiB), ``tree`` (the peak of the RSS summed over it and its
    descendants, sampled, MiB) and ``processes`` (each process's own peak, MiB, largest
    first, with the JVM's maximum heap where there is a JVM). A child forked but not yet
    running a program of its own (its command line still its parent's) shares its parent's
    memory, so it is not counted.
    """
    result = Path(tempfile.mkstemp(prefix=f"tracecheck-{step}-", suffix=".json")[1])
    command = [sys.executable, __file__, "--step", step, *map(str, args), str(result)]
    start = time.perf_counter()
    proc = subprocess.Popen(command)
    root, tree = psutil.Process(proc.pid), 0
    seen: dict[int, dict[str, Any]] = {}
    try:
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            try:
                family = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                family = []
            lines, total = {}, 0
            for p in family:
                try:
                    lines[p.pid] = line = p.cmdline()
                    if p.pid != root.pid and lines.get(p.ppid()) == line:
                        continue  # forked, not yet exec'd: its parent's memory
                    rss, name = p.memory_info().rss, p.name()
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
                total += rss
                about = seen.setdefault(p.pid, {"peak": 0})
                about |= {"name": name, "heap": heap(line)}  # bash execs java: the latest
                about["peak"] = max(about["peak"], high_water(p.pid), rss)
            tree = max(tree, total)
            time.sleep(SAMPLE)
        wall = time.perf_counter() - start
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise SystemExit(f"benchmark step {step} failed ({code})")
        out = json.loads(result.read_text())
    finally:
        result.unlink(missing_ok=True)
    own = usage.ru_maxrss / 1024
    seen.setdefault(proc.pid, {"name": "python", "heap": None})["peak"] = own * MiB
    processes = [
        {"name": p["name"], "peak": p["peak"] / MiB, "heap": p["heap"]}
        for p in sorted(seen.values(), key=lambda p: -p["peak"])
        if p["peak"] >= 16 * MiB  # leave out the shells
    ]
    return {**out, "wall": wall, "rss": own, "tree": max(tree / MiB, own), "processes": processes}


def findings_by_fingerprint(report: dict[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    for f in report["findings"]:
        found[f["fingerprint"]].append(json.dumps(f, sort_keys=True))
    return {k: sorted(v) for k, v in found.items()}


def compare(left: Path, right: Path) -> dict[str, Any]:
    """Whether two JSON reports agree, ``generated_at`` aside; else what differs."""
    one, two = json.loads(left.read_text()), json.loads(right.read_text())
    for report in (one, two):
        report.pop("generated_at", None)
    if one == two:
        return {"identical": True, "differing_fingerprints": 0, "other_parts": []}
    a, b = findings_by_fingerprint(one), findings_by_fingerprint(two)
    differ = sum(a.get(k) != b.get(k) for k in a.keys() | b.keys())
    parts = sorted(
        k for k in one.keys() | two.keys() if k != "findings" and one.get(k) != two.get(k)
    )
    return {"identical": False, "differing_fingerprints": differ, "other_parts": parts}


def size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def memory(run: dict[str, Any]) -> str:
    each = ", ".join(
        f"{p['name']} {p['peak']:,.0f}" + (f" (heap up to {p['heap']})" if p["heap"] else "")
        for p in run["processes"]
    )
    return f"peak RSS {run['tree']:,.0f} MiB [{each}]"


def main() -> None:
    """Build or take the store, export it, run both engines, print and write the figures."""
    if sys.argv[1:2] == ["--step"]:
        *values, result = sys.argv[3:]
        Path(result).write_text(json.dumps(STEPS[sys.argv[2]](*values), default=str))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--declarations", type=int, default=300_000)
    parser.add_argument("--store", type=Path, help="an existing store (nothing is generated)")
    parser.add_argument("--memory-limit", default="3GB", help="DuckDB memory_limit (3GB)")
    parser.add_argument("--master", default="local[2]", help="the Spark master (local[2])")
    parser.add_argument("--driver-memory", default="6g", help="spark.driver.memory (6g)")
    parser.add_argument("--workdir", type=Path, help="where to write (a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the data, store and export")
    parser.add_argument(
        "--sizes",
        help="the scale curve instead: comma-separated event counts (declarations 0.3 each), "
        "load and reconcile on both engines at each, lines fitted, local[1] against local[2]",
    )
    parser.add_argument(
        "--file-events",
        type=int,
        default=100_000,
        help="with --sizes: events per file, the generated events cut into files of at most "
        "this many (100000): a file is one task of the load on Spark",
    )
    parser.add_argument(
        "--scaling-size",
        type=int,
        help="with --sizes: the size at which local[1] runs against local[2] (the largest)",
    )
    args = parser.parse_args()
    if args.scaling_size and str(args.scaling_size) not in (args.sizes or "").split(","):
        parser.error("--scaling-size must be one of --sizes")
    if args.sizes:
        scale_curve(args)
        return
    if args.store and not args.store.is_file():
        raise SystemExit(f"no store at {args.store}")
    folder = workdir("tracecheck-spark-", args.workdir)
    data, limit, exported = folder / "data", args.memory_limit, folder / "export"
    store = args.store or folder / "store.duckdb"
    figures: dict[str, Any] = {"machine": machine(), "load_average_start": load_average()}
    try:
        print(f"machine: {figures['machine']}\nload average: {figures['load_average_start']}")
        if not args.store:
            start = time.perf_counter()
            made = generate(data, args.events, args.declarations)
            print(
                f"generated in {time.perf_counter() - start:.0f} s, {size(data) / 1e6:,.0f} MB: "
                f"{made['shipments']:,} shipments in the events, {made['bulk']:,} bulk "
                f"shipments without"
            )
            rss, out = run_reconcile_step("load", store, data, limit)
            print(f"load: {out['seconds']:.1f} s, peak RSS {rss:,.0f} MiB (not measured here)")
            figures["load"] = {"seconds": out["seconds"], "rss_mib": rss}
        figures["store_mb"] = store.stat().st_size / 1e6

        export = measure("export", store, exported)
        tables = export["tables"]
        figures |= {"events": tables["events"], "declarations": sum(tables[k] for k in KINDS)}
        figures["epc_rows"] = tables["epc_rows"]
        figures["export"] = {
            "seconds": export["seconds"],
            "wall": export["wall"],
            "rss_mib": export["rss"],
            "mb": size(exported) / 1e6,
        }
        lines = ", ".join(f"{k} {tables[k]:,}" for k in KINDS)
        print(
            f"store: {store.name}, {figures['store_mb']:,.0f} MB: {figures['events']:,} events "
            f"({figures['epc_rows']:,} EPC rows), {figures['declarations']:,} declaration "
            f"lines ({lines})"
        )
        print(
            f"export: {export['seconds']:.1f} s (process {export['wall']:.1f} s), peak RSS "
            f"{export['rss']:,.0f} MiB, {figures['export']['mb']:,.0f} MB of Parquet"
        )

        reports = {engine: folder / f"report-{engine}.json" for engine in ("duckdb", "spark")}
        print(f"DuckDB: memory_limit {limit}, threads {THREADS}, workers {THREADS}")
        duck = measure("duckdb", store, limit, reports["duckdb"])
        what = duck.get("error") or f"{duck['rules']} rules, {duck['findings']:,} findings"
        print(
            f"  reconcile: {duck['seconds']:.1f} s (process {duck['wall']:.1f} s), "
            f"peak RSS {duck['rss']:,.0f} MiB, {what}"
        )
        print(f"Spark: master {args.master}, spark.driver.memory {args.driver_memory}")
        work = folder / "spark"
        spark = measure("spark", exported, args.master, args.driver_memory, work, reports["spark"])
        what = spark.get("error") or f"{spark['rules']} rules, {spark['findings']:,} findings"
        print(
            f"  reconcile_spark: {spark['seconds']:.1f} s (process {spark['wall']:.1f} s), "
            f"{memory(spark)}, {what}"
        )
        if "phases" in spark:
            phases = ", ".join(f"{k} {v:.1f} s" for k, v in spark["phases"].items())
            slowest = ", ".join(f"{r} {s:.1f} s" for r, s in spark["slowest"])
            print(f"  of which: {phases}; slowest rules: {slowest}")
        for name, run in (("duckdb", duck), ("spark", spark)):
            figures[name] = {
                "seconds": run["seconds"],
                "wall": run["wall"],
                "rss_mib": run["rss"],
                "tree_rss_mib": run["tree"],
                "processes": run["processes"],
                **{
                    k: run[k]
                    for k in ("rules", "findings", "error", "phases", "slowest")
                    if k in run
                },
            }
        if "error" in duck or "error" in spark:
            print("not compared: a run failed")
        else:
            ratio = {
                "seconds": spark["seconds"] / duck["seconds"],
                "wall": spark["wall"] / duck["wall"],
                "rss": spark["tree"] / duck["tree"],
            }
            figures |= {"ratio": ratio, "findings": duck["findings"]}
            print(
                f"Spark / DuckDB: {ratio['seconds']:.1f}x the time in the call, "
                f"{ratio['wall']:.1f}x the process's, {ratio['rss']:.1f}x the peak RSS"
            )
            same = figures["same"] = compare(reports["duckdb"], reports["spark"])
            if same["identical"]:
                verdict = "identical"
            else:
                others = f", other parts differ: {', '.join(same['other_parts'])}"
                verdict = f"DIFFER: {same['differing_fingerprints']:,} fingerprints differ"
                verdict += others if same["other_parts"] else ""
            print(f"reports ({duck['findings']:,} findings, generated_at aside): {verdict}")
        figures["load_average_end"] = load_average()
        print(f"load average: {figures['load_average_end']}")
        arguments = ("events", "declarations", "memory_limit", "master", "driver_memory")
        figures["arguments"] = {k: getattr(args, k) for k in arguments}
        figures["arguments"]["store"] = str(args.store) if args.store else None
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(figures, indent=2) + "\n", "utf-8")
        print(f"figures: {OUT.relative_to(OUT.parents[2])}")
    finally:
        if args.keep:
            print(f"kept: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def scale_curve(args: argparse.Namespace) -> None:
    """``--sizes``: the curve of :mod:`spark_curve`, printed and written to ``bench/out``."""
    sizes = [int(n) for n in args.sizes.split(",")]
    folder = workdir("tracecheck-spark-curve-", args.workdir)
    figures: dict[str, Any] = {"machine": machine(), "load_average_start": load_average()}
    print(f"machine: {figures['machine']}\nload average: {figures['load_average_start']}")
    print(
        f"DuckDB: memory_limit {args.memory_limit}; Spark: spark.driver.memory {args.driver_memory}"
    )
    try:
        figures |= curve(
            sizes,
            folder,
            generate=generate,
            measure=measure,
            compare=compare,
            limit=args.memory_limit,
            memory=args.driver_memory,
            duckdb_reconcile="duckdb",
            per_file=args.file_events,
            scaling_at=args.scaling_size,
        )
        figures["load_average_end"] = load_average()
        print(f"load average: {figures['load_average_end']}")
        out = OUT.with_name("spark-curve.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(figures, indent=2, default=str) + "\n", "utf-8")
        print(f"figures: {out.relative_to(out.parents[2])}")
    finally:
        if args.keep:
            print(f"kept: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
