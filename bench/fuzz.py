"""Mutation fuzzing of the loaders at length: ``make fuzz``.

Runs generated inputs (100,000 by default) through the real ``load()`` into real DuckDB
databases, on a few worker processes, with the strategies and the harness of
``tests/fuzzing.py`` (among them the changes that could alter a value unseen: numbers
respelt with exponents or many decimals, keys given twice, invisible and control
characters in values, a DOCTYPE declaring attribute defaults), and prints for each
loader how many inputs ran and how they ended: accepted, rejected (loaded with some
records rejected), refused (a clear error for the whole file), crashes (any other
exception, or a refusal that changed the database) and hangs (an input still running
after ``--timeout`` seconds). Each crash or hang is saved
under ``bench/out/fuzz/`` with its traceback, to become a regression fixture in
``fixtures/hostile/regressions/``. The exit status is 1 when there was any.

The inputs are shared out by loader in proportion to ``--weights``: the event loaders
cost several times more per file than the declaration loaders (each EPCIS file pays a
fixed cost of query planning for the identifier checks), so by default they get fewer.

    python bench/fuzz.py                       # 100,000 inputs on 2 workers
    python bench/fuzz.py --inputs 2000 --workers 1
"""

from __future__ import annotations

import argparse
import faulthandler
import hashlib
import shutil
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "bench")]

from _common import load_average, machine  # noqa: E402
from fuzzing import LOADERS, OUTCOMES, Harness, inputs  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import seed as hypothesis_seed  # noqa: E402

OUT = ROOT / "bench" / "out" / "fuzz"
SHARD = 500  # inputs per task given to a worker
Task = tuple[str, int, int, Path]  # loader, inputs, seed, folder
DEFAULT_WEIGHTS = "csv=30,jsonl=30,events-jsonl=14,epcis-json=13,epcis-xml=13"


def run_shard(
    loader: str, count: int, seed: int, folder: str, timeout: float
) -> tuple[Counter[str], str | None]:
    """Run ``count`` generated inputs of one loader in a worker.

    Returns the outcome counts, and the error that stopped the shard early if one did (a
    fault of the fuzzing itself, such as a strategy that cannot build its input: loader
    crashes are counted, never raised).

    A crash is saved under ``OUT`` with its traceback. An input still running after
    ``timeout`` seconds makes the worker write its stack to ``hang.txt`` in ``folder``
    and exit; the parent finds that file and reports the hang.
    """
    harness = Harness(Path(folder))
    stacks = (Path(folder) / "hang.txt").open("w")

    @hypothesis_seed(seed)
    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(inputs(loader))
    def one(case: tuple[bytes, str | None]) -> None:
        data, kind = case
        crashes = len(harness.crashes)
        faulthandler.dump_traceback_later(timeout, exit=True, file=stacks)
        try:
            harness.run(loader, data, kind)
        finally:
            faulthandler.cancel_dump_traceback_later()
        if len(harness.crashes) > crashes:
            _save(loader, data, kind, harness.crashes[-1])

    error = None
    try:
        one()
    except Exception as exc:  # noqa: BLE001 - reported by the parent, which goes on
        error = f"{loader} shard {seed}: {type(exc).__name__}: {str(exc)[:500]}"
    finally:
        harness.close()
        stacks.close()
    return harness.counts, error


def _save(loader: str, data: bytes, kind: str | None, report: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    name = f"{loader}-{hashlib.sha256(data).hexdigest()[:12]}{LOADERS[loader][1]}"
    (OUT / name).write_bytes(data)
    (OUT / f"{name}.txt").write_text(f"kind: {kind}\n{report}", encoding="utf-8")


def _plan(total: int, weights: dict[str, int], seed: int) -> list[tuple[str, int, int]]:
    """(loader, inputs, seed) tasks: each loader's share of ``total``, in shards."""
    tasks = []
    weight_sum = sum(weights.values())
    shares = {loader: total * w // weight_sum for loader, w in weights.items()}
    first = next(iter(shares))
    shares[first] += total - sum(shares.values())
    for loader, share in shares.items():
        for start in range(0, share, SHARD):
            tasks.append((loader, min(SHARD, share - start), seed + len(tasks)))
    # Interleave the loaders so that a short run still covers all of them.
    return sorted(tasks, key=lambda t: (t[2] - seed) % 7)


def main() -> int:
    """Run the campaign and print the counts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per input")
    parser.add_argument("--seed", type=int, default=20260401)
    parser.add_argument("--weights", default=DEFAULT_WEIGHTS, help=DEFAULT_WEIGHTS)
    args = parser.parse_args()
    weights = {k: int(v) for k, v in (p.split("=") for p in args.weights.split(","))}
    unknown = set(weights) - set(LOADERS)
    if unknown:
        parser.error(f"unknown loader(s) {', '.join(sorted(unknown))}; known: {', '.join(LOADERS)}")
    tasks = _plan(args.inputs, weights, args.seed)
    print(f"fuzzing the loaders: {args.inputs:,} inputs, {args.workers} worker(s)")
    print(f"machine: {machine()}; load average {load_average()}", flush=True)
    counts: Counter[str] = Counter()
    hangs: Counter[str] = Counter()
    errors: list[str] = []
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="tracecheck-fuzz-"))
    pending = list(reversed(tasks))
    done_inputs = 0
    try:
        while pending:
            with ProcessPoolExecutor(max_workers=args.workers) as pool:
                running: dict[Future[tuple[Counter[str], str | None]], Task] = {}
                broken = False
                while (pending or running) and not broken:
                    while pending and len(running) < args.workers * 2:
                        loader, count, seed = pending.pop()
                        folder = work / f"shard-{seed}"
                        folder.mkdir()
                        future = pool.submit(
                            run_shard, loader, count, seed, str(folder), args.timeout
                        )
                        running[future] = (loader, count, seed, folder)
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in finished:
                        loader, count, seed, folder = running.pop(future)
                        try:
                            shard, error = future.result()
                            counts.update(shard)
                            done_inputs += sum(shard.values())
                            if error:
                                errors.append(error)
                                print(f"  fuzzing error (not a loader crash): {error}", flush=True)
                        except BrokenProcessPool:
                            broken = True
                            if _hung(loader, seed, folder):
                                hangs[loader] += 1
                            else:  # lost with the pool: run it again
                                pending.append((loader, count, seed))
                    if done_inputs and finished:
                        rate = (time.perf_counter() - started) / done_inputs * 1000
                        print(f"  {done_inputs:,} inputs, {rate:.0f} ms each", flush=True)
                if broken:  # the pool is lost with the hung worker: run the rest anew
                    for loader, count, seed, folder in running.values():
                        if _hung(loader, seed, folder):
                            hangs[loader] += 1
                        else:
                            pending.append((loader, count, seed))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    elapsed = time.perf_counter() - started
    _report(counts, hangs, elapsed)
    if errors:
        print(f"{len(errors)} shard(s) stopped early on an error of the fuzzing itself")
    return 1 if counts_of(counts, "crash") or sum(hangs.values()) or errors else 0


def _hung(loader: str, seed: int, folder: Path) -> bool:
    """Whether the shard in ``folder`` stopped on a hang; if so, keep its input and stack."""
    stacks = folder / "hang.txt"
    if not stacks.exists() or not stacks.stat().st_size:
        return False
    OUT.mkdir(parents=True, exist_ok=True)
    for left in folder.glob("input*"):
        shutil.copy(left, OUT / f"hang-{loader}-{seed}{left.suffix}")
    shutil.copy(stacks, OUT / f"hang-{loader}-{seed}.txt")
    return True


def counts_of(counts: Counter[str], outcome: str) -> int:
    """How many inputs of any loader had ``outcome``."""
    return sum(n for key, n in counts.items() if key.endswith(" " + outcome))


def _report(counts: Counter[str], hangs: Counter[str], elapsed: float) -> None:
    header = f"{'loader':<14}{'inputs':>9}" + "".join(f"{o:>10}" for o in OUTCOMES)
    print(header + f"{'hangs':>8}")
    total = 0
    for loader in LOADERS:
        row = [counts[f"{loader} {o}"] for o in OUTCOMES]
        total += sum(row)
        cells = "".join(f"{n:>10,}" for n in row)
        print(f"{loader:<14}{sum(row):>9,}{cells}{hangs[loader]:>8}")
    cells = "".join(f"{counts_of(counts, o):>10,}" for o in OUTCOMES)
    print(f"{'all':<14}{total:>9,}{cells}{sum(hangs.values()):>8}")
    print(f"time: {elapsed:,.0f} s ({elapsed / max(total, 1) * 1000:.1f} ms per input)")
    if counts_of(counts, "crash") or sum(hangs.values()):
        print(f"crashes and hangs are saved in {OUT.relative_to(ROOT)}/")


if __name__ == "__main__":
    sys.exit(main())
