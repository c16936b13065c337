"""Mutation fuzzing of the loaders, with a small fixed budget (``make fuzz`` runs long).

Every generated input (see ``tests/fuzzing.py``) goes through the real ``load()`` into a
real DuckDB database; it must be accepted, have records rejected, or be refused as a file
with a clear error leaving the database as it was. Anything else is a crash, and an input
still running after ``TIMEOUT`` seconds stops the test run with the stack where it hung.
The examples are derandomised, so each run tries the same inputs.
"""

from __future__ import annotations

import faulthandler
from pathlib import Path

import pytest
from fuzzing import LOADERS, SEEDS, Harness, inputs, silent_mutations
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

REGRESSIONS = SEEDS.parent / "regressions"
#: Inputs per loader: the event loaders cost several times more per file.
BUDGET = {"csv": 40, "jsonl": 40, "events-jsonl": 10, "epcis-json": 10, "epcis-xml": 12}
TIMEOUT = 120


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_mutated_inputs_never_crash_a_loader(tmp_path: Path, loader: str) -> None:
    harness = Harness(tmp_path)

    @settings(
        max_examples=BUDGET[loader],
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(inputs(loader))
    def check(case: tuple[bytes, str | None]) -> None:
        faulthandler.dump_traceback_later(TIMEOUT, exit=True)
        try:
            outcome = harness.run(loader, *case)
        finally:
            faulthandler.cancel_dump_traceback_later()
        assert outcome != "crash", harness.crashes[-1]

    try:
        check()
    finally:
        harness.close()
    assert sum(harness.counts.values()) >= BUDGET[loader]


@pytest.mark.parametrize(
    ("loader", "seed"),
    [
        ("events-jsonl", "events.jsonl"),
        ("epcis-json", "document.json"),
        ("epcis-xml", "document-2.0.xml"),
    ],
)
def test_values_changed_in_silence_are_loaded_or_rejected_with_a_reason(
    tmp_path: Path, loader: str, seed: str
) -> None:
    """Respelt numbers, keys given twice, invisible characters, DTD defaults: no crash,
    and every rejected record has its code and reason."""
    harness = Harness(tmp_path)

    @settings(
        max_examples=1,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.just((SEEDS / seed).read_bytes()).flatmap(silent_mutations))
    def check(data: bytes) -> None:
        outcome = harness.run(loader, data, None)
        assert outcome != "crash", harness.crashes[-1]
        unexplained = harness.connection().execute(
            "SELECT count(*) FROM rejects WHERE code = '' OR coalesce(message, '') = ''"
        )
        assert unexplained.fetchone() == (0,)

    try:
        check()
    finally:
        harness.close()


@pytest.mark.parametrize("path", sorted(SEEDS.iterdir()), ids=lambda p: p.name)
def test_every_seed_loads_whole(tmp_path: Path, path: Path) -> None:
    harness = Harness(tmp_path)
    loader = next(name for name, (seeds, _, _) in LOADERS.items() if path.name in seeds)
    assert harness.run(loader, path.read_bytes(), None) == "accepted"
    harness.close()


@pytest.mark.parametrize("path", sorted(REGRESSIONS.iterdir()), ids=lambda p: p.name)
def test_crashes_found_before_stay_fixed(tmp_path: Path, path: Path) -> None:
    harness = Harness(tmp_path)
    loader = {".csv": "csv", ".json": "epcis-json", ".xml": "epcis-xml"}.get(path.suffix)
    if loader is None:  # JSON Lines: events or declarations, as their first line says
        loader = "events-jsonl" if b'"ObjectEvent"' in path.read_bytes()[:200] else "jsonl"
    assert harness.run(loader, path.read_bytes(), None) != "crash", harness.crashes
    harness.close()
