"""The engine interface: the steps every engine shares, and choosing an engine by name.

The engines here are DuckDB's, some of them subclassed to watch or break a step: what the
shared steps do (skip a rule without data, apply a severity override, run rules on
workers and stop them all when one fails, close what was opened) is then seen through the
interface any engine implements.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pytest
from test_reconcile import BATCHES, CONSIGNMENTS

import traceability
from traceability.engine import Engine, Rows, run
from traceability.engine.findings import RuleFailed
from traceability.engine.report import longest_first
from traceability.errors import InputError
from traceability.load import load
from traceability.model import Report
from traceability.reconcile import DuckDBEngine
from traceability.render import render
from traceability.rules import (
    MAX_REPEATS,
    BaseFailed,
    Rule,
    all_rules,
    grow_to_fixed_point,
    shared_cursor,
)
from traceability.rules.settings import from_mapping
from traceability.store import connect


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Consignments and batches only: the rules that read events have no data."""
    folder = tmp_path_factory.mktemp("engine")
    (folder / "consignments.csv").write_text(CONSIGNMENTS, encoding="utf-8")
    (folder / "batches.csv").write_text(BATCHES, encoding="utf-8")
    db = folder / "store.duckdb"
    assert not load(db, [folder / "consignments.csv", folder / "batches.csv"]).rejections
    return db


def _json(report: Report) -> str:
    data = json.loads(render(report, "json"))
    data.pop("generated_at")
    return json.dumps(data, sort_keys=True)


@dataclass
class Seen:
    """What the engine and its workers were asked to do."""

    queried: list[str] = field(default_factory=list)
    made: int = 0
    released: int = 0
    interrupted: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Watched(DuckDBEngine):
    """DuckDB, noting which rules reached their query and the workers made and released;
    the rule ``fail`` names fails."""

    def __init__(
        self,
        db: Any,
        *,
        workers: int | None = None,
        owned: bool = False,
        fail: str | None = None,
        seen: Seen | None = None,
    ) -> None:
        super().__init__(db, workers=workers, owned=owned)
        self.fail, self.seen = fail, seen or Seen()

    def rule_rows(self, rule: Rule, bound: Mapping[str, Any]) -> Rows:
        with self.seen.lock:
            self.seen.queried.append(rule.id)
        if rule.id == self.fail:
            raise RuleFailed(f"rule {rule.id} failed: planted")
        return super().rule_rows(rule, bound)

    def worker(self) -> DuckDBEngine:
        with self.seen.lock:
            self.seen.made += 1
        cursor = shared_cursor(self.con)
        return Watched(cursor, workers=1, owned=True, fail=self.fail, seen=self.seen)

    def interrupt(self) -> None:
        with self.seen.lock:
            self.seen.interrupted += 1
        super().interrupt()

    def release(self) -> None:
        with self.seen.lock:
            self.seen.released += 1
        super().release()


def test_an_engine_given_runs_as_the_named_one_does(store: Path) -> None:
    named = traceability.reconcile(store)
    given = traceability.reconcile(store, engine=DuckDBEngine(store, workers=3))
    assert named.findings and _json(given) == _json(named)


def test_a_rule_without_data_never_reaches_its_engine(store: Path) -> None:
    engine = Watched(store, workers=1)
    report = traceability.reconcile(store, engine=engine)
    no_data = {r.rule for r in report.rules_run if r.status == "no-data"}
    ran = {r.rule for r in report.rules_run if r.status == "ran"}
    assert no_data and ran
    assert set(engine.seen.queried) == ran  # every rule that ran, and none without data
    events = [r for r in report.rules_run if r.rule in no_data]
    assert all(r.absent for r in events)


def test_the_severity_override_is_applied_whatever_the_engine(store: Path) -> None:
    plain = traceability.reconcile(store, rules=["over-export"])
    assert plain.findings and plain.findings[0].severity.value != "low"
    config = from_mapping({"severity": {"over-export": "low"}})
    engine = Watched(store)
    lowered = traceability.reconcile(store, rules=["over-export"], config=config, engine=engine)
    assert [f.severity.value for f in lowered.findings] == ["low"] * len(plain.findings)
    assert engine.seen.queried == ["over-export"]


def test_rules_run_on_workers_each_released(store: Path) -> None:
    engine = Watched(store, workers=3)
    report = traceability.reconcile(store, engine=engine)
    assert engine.seen.made == 3 and engine.seen.released == 3 and engine.seen.interrupted == 0
    assert sorted(engine.seen.queried) == sorted(
        r.rule for r in report.rules_run if r.status == "ran"
    )


def test_a_failing_rule_stops_every_worker_and_closes_the_store(store: Path) -> None:
    engine = Watched(store, workers=2, fail="over-export")
    with pytest.raises(RuleFailed, match="over-export failed: planted"):
        traceability.reconcile(store, engine=engine)
    assert engine.seen.interrupted == 2 and engine.seen.released == 2
    with pytest.raises(RuntimeError, match="not open"):
        _ = engine.con
    with connect(store) as con:  # closed: the store opens for writing again
        assert con.execute("SELECT count(*) FROM consignments").fetchone() == (3,)


def test_a_connection_given_is_left_open(store: Path) -> None:
    with connect(store, read_only=True) as con:
        report = run(DuckDBEngine(con), rules=["over-export"])
        assert report.findings
        assert con.execute("SELECT count(*) FROM batches").fetchone() == (1,)


def test_every_engine_method_of_the_interface_is_abstract_or_shared() -> None:
    required = {
        "open",
        "close",
        "build_base",
        "has_rows",
        "rule_rows",
        "coverage_rows",
        "rows",
        "records",
    }
    assert Engine.__abstractmethods__ == required
    with pytest.raises(TypeError, match="abstract"):
        Engine()  # type: ignore[abstract]


def test_a_base_that_keeps_growing_fails_after_the_limit() -> None:
    runs: list[int] = []

    def grows() -> bool:
        runs.append(1)
        return True

    with pytest.raises(BaseFailed, match=f"deeper than {MAX_REPEATS} levels"):
        grow_to_fixed_point(grows)
    assert len(runs) == MAX_REPEATS
    left = [True, True, False]
    grow_to_fixed_point(lambda: left.pop(0))
    assert left == []


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"engine": "postgres"}, "unknown engine 'postgres'"),
        ({"master": "local[1]"}, "master go with the spark engine"),
        ({"work": "/somewhere", "spark_conf": {"a": "b"}}, "spark_conf, work go with"),
    ],
)
def test_a_bad_engine_choice_is_an_input_error(
    store: Path, options: dict[str, Any], said: str
) -> None:
    with pytest.raises(InputError, match=said):
        traceability.reconcile(store, **options)


def test_the_spark_engine_reads_an_export_not_a_connection() -> None:
    with duckdb.connect() as con, pytest.raises(InputError, match="reads an export"):
        traceability.reconcile(con, engine="spark")


def test_the_rules_that_read_events_start_first() -> None:
    """The shared runner starts the rules that read events first (the longest)."""
    order = longest_first(all_rules())
    reads = ["events" in r.needs for r in order]
    assert reads == sorted(reads, reverse=True)


class Overlaps(DuckDBEngine):
    """DuckDB, noting the most rules that read events it ran at one time."""

    def __init__(self, db: Any, *, workers: int | None = None, shared: Seen | None = None) -> None:
        super().__init__(db, workers=workers, owned=shared is not None)
        self.seen = shared or Seen()
        self.running: list[Rule] = []
        self.most_heavy = 0
        self.parent = self

    def rule_rows(self, rule: Rule, bound: Mapping[str, Any]) -> Rows:
        top = self.parent
        with top.seen.lock:
            top.running.append(rule)
            top.most_heavy = max(top.most_heavy, sum("events" in r.needs for r in top.running))
        try:
            return super().rule_rows(rule, bound)
        finally:
            with top.seen.lock:
                top.running.remove(rule)

    def worker(self) -> DuckDBEngine:
        child = Overlaps(shared_cursor(self.con), workers=1, shared=self.seen)
        child.parent = self
        return child


@pytest.fixture(scope="module")
def quarter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("quarter") / "store.duckdb"
    load(db, [Path(__file__).parent.parent / "fixtures" / "demo-quarter" / "data"])
    return db


def test_rules_that_read_events_run_one_at_a_time_beside_the_others(quarter: Path) -> None:
    # Two rules that join millions of serials at once fight over the cores and memory;
    # the rules on declarations alone run beside them, and the report is the same.
    engine = Overlaps(quarter, workers=2)
    report = traceability.reconcile(quarter, engine=engine)
    assert engine.most_heavy == 1
    ran = [r for r in report.rules_run if r.status == "ran"]
    needs = {r.id: r.needs for r in all_rules()}
    assert sum("events" in needs[r.rule] for r in ran) > 1
    assert _json(report) == _json(traceability.reconcile(quarter, workers=1))
