"""The two speed benchmarks run to the end at a tiny size and print what the issue asks.

``bench/ingest.py``: DuckDB's materialised copy as the anchor, the ratio to it, the serials
of both sides compared, peak RSS per side. ``bench/reconcile.py --sizes``: the table of
stages by size with a growth exponent per step. Real runs (no figure is asserted, only
that each is there and consistent); and the two helpers the curve rests on.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
# bench/ is not a package, and its folder on the path would shadow names for other tests
_SPEC = importlib.util.spec_from_file_location("bench_common", BENCH / "_common.py")
assert _SPEC is not None and _SPEC.loader is not None
_COMMON = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_COMMON)
StagePeak, growth = _COMMON.StagePeak, _COMMON.growth


def _bench(script: str, *args: str, tmp: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, str(BENCH / script), "--workdir", str(tmp), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


@pytest.mark.slow
def test_ingest_reports_the_copy_as_its_anchor(tmp_path: Path) -> None:
    out = _bench("ingest.py", "--events", "400", "--no-floor", "--json", tmp=tmp_path)
    assert re.search(r"^copy \(the anchor\): +[\d.]+ s .* peak RSS [\d,]+ MiB$", out, re.M)
    assert re.search(r"^ratio tracecheck / copy: [\d.]+x \(target at most 1\.5x: ", out, re.M)
    assert "the same as the serials copied" in out
    assert re.search(r"tracecheck peak RSS [\d,]+ MiB: (NOT )?under 4 GiB at 400 events", out)
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["copy_serial_rows"] == figures["tracecheck_epc_rows"] == 400 * 25
    assert figures["copy_lists"] == ["epcList", "childEPCs"]
    assert figures["ratio_to_copy"] == pytest.approx(
        figures["tracecheck_seconds"] / figures["copy_seconds"], rel=0.05
    )
    assert set(figures["all_seconds"]) == {"copy", "tracecheck", "raw"}


@pytest.mark.slow
def test_reconcile_draws_the_scale_curve(tmp_path: Path) -> None:
    out = _bench("reconcile.py", "--sizes", "1000,2000", "--json", tmp=tmp_path)
    assert "stage x size (events)" in out
    figures = json.loads(out.strip().splitlines()[-1])
    sizes = [p["events"] for p in figures["points"]]
    assert len(sizes) == 2 and sizes[0] < sizes[1]
    curve = figures["curve"]
    stages = {"load", "reconcile (whole)", "[base] pack_links", "serial-not-commissioned"}
    assert stages <= curve.keys()
    for name, cells in curve.items():
        assert len(cells) == 2 and all(c["seconds"] > 0 and c["peak_mib"] > 0 for c in cells)
        assert len(figures["growth"][name]) == 1
        cell = r" +[\d.]+ s +[\d,]+M"
        row = re.search(rf"^  {re.escape(name)}{cell}{cell} +-?[\d.]+", out, re.M)
        assert row, name
    assert set(figures["faster_than_linear"]) <= curve.keys()


def test_growth_is_one_for_linear_cost_and_two_for_quadratic() -> None:
    sizes = [100.0, 300.0, 1000.0]
    assert growth(sizes, [1.0, 3.0, 10.0]) == pytest.approx([1.0, 1.0])
    assert growth(sizes, [1.0, 9.0, 100.0]) == pytest.approx([2.0, 2.0])
    assert growth(sizes, [1.0, None, 10.0]) == [None, None]
    assert growth([1.0, 10.0], [2.0, 2.0]) == [0.0]
    assert math.isclose(growth([1e5, 3e6], [1.0, 60.0])[0] or 0, math.log(60) / math.log(30))


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="Linux only")
def test_a_stage_peak_sees_the_stage_and_forgets_the_one_before() -> None:
    meter = StagePeak()
    before = meter.start()
    block = b"x" * (200 * 2**20)  # 200 MiB, written, so resident
    first = meter.peak()
    del block
    meter.start()
    second = meter.peak()
    assert meter.reset
    assert first - before > 190
    assert first - second > 150


@pytest.mark.slow
def test_growth_profiles_the_rules_at_two_sizes_and_the_engines_own_join(tmp_path: Path) -> None:
    out = _bench("reconcile.py", "--sizes", "1000,2000", "--keep", "--json", tmp=tmp_path)
    curve = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    stores = sorted(tmp_path.glob("*/*/store.duckdb"), key=lambda p: int(p.parent.name))
    assert [int(p.parent.name) for p in stores] == [1000, 2000]
    rules = "shipped-not-received,serial-not-commissioned"
    command = [sys.executable, str(BENCH / "growth.py"), *map(str, stores), "--rules", rules]
    command += ["--memory-limit", "1GB", "--compress-base", "--anchor-rows", "1000,3000", "--json"]
    run = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    assert figures["events"] == [p["events"] for p in curve["points"]]
    assert set(figures["rules"]) == set(rules.split(","))
    for rule, got in figures["rules"].items():
        # the profiled run finds what the staged run of the benchmark found, at each size
        assert got["findings"] == [p["stages"]["counts"][rule] for p in curve["points"]]
        assert all(s > 0 for s in got["seconds"]) and got["growth"] is not None
        for size, top in got["top"].items():
            assert int(size) in figures["events"] and top, rule
            assert top == sorted(top, key=lambda o: -o["seconds"])
        assert re.search(
            rf"^{re.escape(rule)}: [\d.]+ s -> [\d.]+ s, growth -?[\d.]+", run.stdout, re.M
        )
    assert [a["rows"] for a in figures["anchor"]] == [1000, 3000]
    assert re.search(r"^anchor, DuckDB's own hash join .* growth -?[\d.]+$", run.stdout, re.M)
