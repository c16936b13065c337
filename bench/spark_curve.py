"""The Spark benchmark's scale curve: load and reconcile at several sizes, on both engines.

For each size the quarter of ``bench/reconcile.py`` is generated once and then, each step in a
fresh process (sides taking turns: DuckDB, Spark, DuckDB, Spark at every size):

- DuckDB: ``load`` into a store, ``reconcile`` of the whole catalogue;
- Spark: ``load --engine spark`` into a Parquet store, ``reconcile --engine spark`` on it.

From the seconds at every size, a straight line ``t = fixed + per_event * n`` is fitted (least
squares) for each engine and step: the fixed overhead (session start, planning, one task per
file) and the cost per million events. Where Spark's line starts higher and rises less steeply
the two cross, and the crossover is where they meet; where it rises more steeply on these
cores, there is none on this machine, and the figure given is how many cores Spark would need
for its per-event cost to fall to DuckDB's, if it scales as the next measurement shows. A line
is a fair summary only where cost grows linearly: each step's growth exponent from one size to
the next, log(t2/t1) / log(n2/n1), is printed beside it (1 linear, above 1 faster).

The scaling claim, measured: at the largest size (or the size chosen) the Spark reconcile runs
with ``local[1]`` and ``local[2]`` in turn (the time ratio), and one rule runs at every size with
Spark's task count read back from its status tracker: the number of tasks that rule's jobs ran,
which grows with the data where the work is split by it.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _common import growth

PROBE_RULE = "serial-not-commissioned"  # a serial rule: joins every EPC row
SPLIT = "8m"  # spark.sql.files.maxPartitionBytes for the curve: a cluster's 128m at 16x the data


def spark_conf(work: str, memory: str) -> dict[str, str]:
    """The settings of every Spark step of the curve."""
    return {
        "spark.driver.memory": memory,  # read when the JVM starts: this process starts it
        "spark.sql.warehouse.dir": f"{work}/warehouse",
        "spark.sql.files.maxPartitionBytes": SPLIT,
        "spark.sql.adaptive.advisoryPartitionSizeInBytes": SPLIT,
        "spark.sql.shuffle.partitions": "64",  # adaptive execution merges the small ones
        "spark.ui.retainedJobs": "100000",  # the status tracker keeps every job and stage
        "spark.ui.retainedStages": "100000",
    }


def _local_dirs(work: str, master: str) -> None:
    os.environ["SPARK_LOCAL_DIRS"] = f"{work}/local"  # shuffle and spill files
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


def step_duckdb_load(data: str, store: str, limit: str) -> dict[str, Any]:
    from traceability.load import load

    start = time.perf_counter()
    result = load(store, [data], memory_limit=limit)
    return {"seconds": time.perf_counter() - start, "rejected": result.rejected}


def step_spark_load(data: str, store: str, master: str, memory: str, work: str) -> dict[str, Any]:
    from traceability.spark.load import load_spark

    _local_dirs(work, master)
    start = time.perf_counter()
    result = load_spark([data], store, master=master, spark_conf=spark_conf(work, memory))
    return {"seconds": time.perf_counter() - start, "rejected": result.rejected}


def step_spark_reconcile(
    data: str, master: str, memory: str, work: str, report: str
) -> dict[str, Any]:
    """The whole catalogue on Spark, with the task count of each rule's jobs."""
    from traceability.render import render
    from traceability.spark import reconcile_spark, spark_session

    _local_dirs(work, master)
    with spark_session(master, spark_conf(work, memory)) as spark:
        context = spark.sparkContext

        def mark(text: str) -> None:
            # each rule runs in a thread of its own and announces itself there first: the
            # jobs that thread starts from now on belong to the rule's group
            if text.startswith("rule "):
                context.setJobGroup(text[5:], text)

        start = time.perf_counter()
        done = reconcile_spark(data, work=f"{work}/base", progress=mark)
        seconds = time.perf_counter() - start
        tracker = context.statusTracker()
        tasks = {}
        for rule in done.rules_run:
            stages = [
                s
                for job in tracker.getJobIdsForGroup(rule.rule)
                if (info := tracker.getJobInfo(job)) is not None
                for s in info.stageIds
            ]
            tasks[rule.rule] = sum(
                stage.numTasks for s in stages if (stage := tracker.getStageInfo(s)) is not None
            )
    Path(report).write_text(render(done, "json"), "utf-8")
    return {"seconds": seconds, "findings": len(done.findings), "tasks": tasks}


STEPS: dict[str, Callable[..., dict[str, Any]]] = {
    "duckdb_load": step_duckdb_load,
    "spark_load": step_spark_load,
    "spark_reconcile": step_spark_reconcile,
}


def split_events(folder: Path, per_file: int) -> int:
    """Cut ``folder/events.jsonl`` into files of at most ``per_file`` events; the file count.

    A file is one Spark task of the load, and its rows are held by that task: files of about
    100,000 events (150 MB) load with a 3 GB driver, where one file of a million does not
    fit. Both engines load the same files.
    """
    whole = folder / "events.jsonl"
    files = 0
    with whole.open("rb") as lines:
        while chunk := [line for _, line in zip(range(per_file), lines, strict=False)]:
            files += 1
            (folder / f"events-{files:04d}.jsonl").write_bytes(b"".join(chunk))
    whole.unlink()
    return files


def fit(points: Sequence[tuple[int, float]]) -> tuple[float, float]:
    """Least squares ``t = fixed + per_event * n``: (fixed seconds, seconds per event)."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0
    return my - slope * mx, slope


def crossover(duck: tuple[float, float], spark: tuple[float, float]) -> dict[str, Any]:
    """Where Spark's line meets DuckDB's, or the cores it would need for that.

    >>> crossover((1.0, 2e-5), (10.0, 1e-5))["events"]
    900000
    >>> crossover((1.0, 1e-5), (10.0, 4e-5))["cores_for_duckdb_per_event"]
    8.0
    """
    (a_duck, b_duck), (a_spark, b_spark) = duck, spark
    if b_spark < b_duck:
        return {"events": max(0, round((a_spark - a_duck) / (b_duck - b_spark)))}
    # Spark's per-event cost is higher on these two cores; on 2k cores, scaling perfectly,
    # it is b_spark * 2 / (2k): equal to DuckDB's at 2 * b_spark / b_duck cores
    cores = 2 * b_spark / b_duck if b_duck > 0 else math.inf
    return {"events": None, "cores_for_duckdb_per_event": round(cores, 1)}


def _line(name: str, fixed: float, per: float) -> str:
    return f"{name}: fixed {fixed:.1f} s, {per * 1e6:.1f} s per million events"


def curve(
    sizes: Sequence[int],
    folder: Path,
    *,
    generate: Callable[[Path, int, int], dict[str, int]],
    measure: Callable[..., dict[str, Any]],
    compare: Callable[[Path, Path], dict[str, Any]],
    limit: str,
    memory: str,
    duckdb_reconcile: str,
    per_file: int,
    scaling_at: int | None = None,
) -> dict[str, Any]:
    """Every step at every size, the fitted lines, the crossover and the scaling figures."""
    runs: dict[str, list[tuple[int, float]]] = {}
    at: dict[int, dict[str, Any]] = {}
    for n in sizes:
        data, here = folder / f"data-{n}", folder / str(n)
        here.mkdir(parents=True)
        made = generate(data, n, round(n * 0.3))
        made["event_files"] = split_events(data, per_file)
        store, parquet = here / "store.duckdb", here / "parquet"
        reports = {e: here / f"report-{e}.json" for e in ("duckdb", "spark")}
        row: dict[str, Any] = {"generated": made}
        row["duckdb_load"] = measure("duckdb_load", data, store, limit)
        row["spark_load"] = measure("spark_load", data, parquet, "local[2]", memory, here / "w1")
        row["duckdb_reconcile"] = measure(duckdb_reconcile, store, limit, reports["duckdb"])
        row["spark_reconcile"] = measure(
            "spark_reconcile", parquet, "local[2]", memory, here / "w2", reports["spark"]
        )
        row["same"] = compare(reports["duckdb"], reports["spark"])
        for step in ("duckdb_load", "spark_load", "duckdb_reconcile", "spark_reconcile"):
            runs.setdefault(step, []).append((n, row[step]["seconds"]))
        print(
            f"{n:>9,} events: load DuckDB {row['duckdb_load']['seconds']:.1f} s, Spark "
            f"{row['spark_load']['seconds']:.1f} s ({row['spark_load']['tree']:,.0f} MiB); "
            f"reconcile DuckDB {row['duckdb_reconcile']['seconds']:.1f} s, Spark "
            f"{row['spark_reconcile']['seconds']:.1f} s ({row['spark_reconcile']['tree']:,.0f} "
            f"MiB); reports {'identical' if row['same']['identical'] else 'DIFFER'}",
            flush=True,
        )
        at[n] = row
    lines = {step: fit(points) for step, points in runs.items()}
    exponents = {
        step: growth([float(n) for n, _ in points], [t for _, t in points])
        for step, points in runs.items()
    }
    for step, (fixed, per) in lines.items():
        bends = ", ".join("?" if e is None else f"{e:.2f}" for e in exponents[step])
        print(f"{_line(step, fixed, per)}; growth from size to size {bends}")
    cross = {
        kind: crossover(lines[f"duckdb_{kind}"], lines[f"spark_{kind}"])
        for kind in ("load", "reconcile")
    }
    print(f"crossover: {cross}")
    largest = scaling_at or max(sizes)
    here = folder / str(largest)
    one = measure(
        "spark_reconcile", here / "parquet", "local[1]", memory, here / "w3", here / "r1.json"
    )
    two = at[largest]["spark_reconcile"]
    print(
        f"local[1] against local[2] at {largest:,} events: {one['seconds']:.1f} s / "
        f"{two['seconds']:.1f} s = {one['seconds'] / two['seconds']:.2f}"
    )
    tasks = {n: at[n]["spark_reconcile"]["tasks"].get(PROBE_RULE) for n in sizes}
    print(f"tasks run by {PROBE_RULE}: " + ", ".join(f"{n:,}: {t}" for n, t in tasks.items()))
    return {
        "sizes": {str(n): row for n, row in at.items()},
        "lines": {k: {"fixed_s": a, "per_million_s": b * 1e6} for k, (a, b) in lines.items()},
        "growth": exponents,
        "crossover": cross,
        "local1_over_local2": {
            "events": largest,
            "local1_s": one["seconds"],
            "local2_s": two["seconds"],
            "ratio": one["seconds"] / two["seconds"],
        },
        "probe_tasks": {"rule": PROBE_RULE, "split": SPLIT, "tasks": tasks},
    }
