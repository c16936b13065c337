"""Per-rule golden cases: ``tests/rules/<rule-id>.toml``, run through the real loader.

Each ``[[case]]`` holds small input tables (CSV text per kind, JSON Lines for events),
optional ``params`` and the expected findings as projections. The case's data is written
as real files, loaded into a real DuckDB file, and only that rule is run. Reference data
(the product master) comes from ``_base.toml`` unless the case sets ``base = false``.
``pytest tests/rules -k <rule-id>`` runs one rule's cases. A case may give ``config``
(settings sections other than tolerances, as in a ``--config`` file) and ``not_judged``
(the rule's coverage entries expected, by reason and subjects).
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from traceability.config import Config
from traceability.kinds import TABULAR_KINDS
from traceability.load import load
from traceability.model import Finding, Report
from traceability.reconcile import reconcile
from traceability.rules.settings import from_mapping
from traceability.store import connect

HERE = Path(__file__).parent
SCHEMA = HERE.parents[1] / "schemas" / "report.schema.json"
TABLE_KINDS = TABULAR_KINDS
CASE_KEYS = {
    *("name", "base", "params", "config", "expect", "not_judged", "status", "events"),
    *TABLE_KINDS,
}
PARAM_KEYS = {"tol_units", "tol_mass_pct", "tol_mass_kg", "tol_mirror_pct", "window_days"}
RUN_KEYS = {"as_of", "period"}
EXPECT_KEYS = {
    "subject",
    "expected",
    "observed",
    "difference",
    "unit",
    "severity",
    "period",
    "detail_contains",
}
NUMERIC = ("expected", "observed", "difference")


@dataclass(frozen=True)
class Case:
    """One case of a rule's case file, merged with the base data."""

    rule: str
    name: str
    data: Mapping[str, str]
    params: Mapping[str, Any]
    expect: Sequence[Mapping[str, Any]]
    status: str | None
    config: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    not_judged: Sequence[Mapping[str, Any]] | None = None


def _read(path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        return tomllib.load(f)


def _check_case(rule: str, raw: Mapping[str, Any]) -> None:
    where = f"{rule}.toml case {raw.get('name', '?')!r}"
    unknown = set(raw) - CASE_KEYS
    assert not unknown, f"{where}: unknown keys {sorted(unknown)}"
    assert isinstance(raw.get("name"), str) and raw["name"], f"{where}: needs a name"
    assert isinstance(raw.get("expect"), list), f"{where}: needs expect = [...]"
    bad = set(raw.get("params", {})) - PARAM_KEYS - RUN_KEYS
    assert not bad, f"{where}: unknown params {sorted(bad)}"
    for item in raw["expect"]:
        extra = set(item) - EXPECT_KEYS
        assert not extra, f"{where}: unknown expect keys {sorted(extra)}"
    assert "tolerances" not in raw.get("config", {}), f"{where}: tolerances go in params"
    for item in raw.get("not_judged", []):
        assert set(item) == {"reason", "subjects"}, f"{where}: not_judged: reason, subjects"
    for kind in (*TABLE_KINDS, "events"):
        assert isinstance(raw.get(kind, ""), str), f"{where}: {kind} must be a string"


def case_files() -> list[Path]:
    """Every rule's case file."""
    return sorted(p for p in HERE.glob("*.toml") if not p.name.startswith("_"))


def cases() -> Iterator[Case]:
    """Every case of every case file, merged with the base data."""
    base = _read(HERE / "_base.toml")
    for path in case_files():
        rule = path.stem
        for raw in _read(path).get("case", []):
            _check_case(rule, raw)
            data = (
                {k: v for k, v in base.items() if k in TABLE_KINDS} if raw.get("base", True) else {}
            )
            data.update({k: raw[k] for k in (*TABLE_KINDS, "events") if k in raw})
            yield Case(
                rule=rule,
                name=raw["name"],
                data=data,
                params=raw.get("params", {}),
                expect=raw["expect"],
                status=raw.get("status"),
                config=raw.get("config", {}),
                not_judged=raw.get("not_judged"),
            )


def _clean(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines()]
    return "\n".join(line for line in lines if line) + "\n"


def build_db(case: Case, folder: Path) -> Path:
    """Write the case's tables as files and load them into a new database."""
    db = folder / "case.duckdb"
    paths = []
    for kind, text in case.data.items():
        if not text.strip():
            continue
        suffix = "jsonl" if kind == "events" else "csv"
        path = folder / f"{kind}.{suffix}"
        path.write_text(_clean(text), encoding="utf-8")
        paths.append(path)
    if paths:
        result = load(db, paths)
        rejected = [str(r) for r in result.rejections]
        assert not rejected, "case data was rejected by the loader:\n" + "\n".join(rejected)
    else:
        connect(db).close()
    return db


def run_case(case: Case, folder: Path) -> Report:
    """Load the case and run its rule alone."""
    db = build_db(case, folder)
    settings: Config = from_mapping(
        {
            **case.config,
            "tolerances": {k: v for k, v in case.params.items() if k in PARAM_KEYS},
        }
    )
    return reconcile(
        db,
        rules=[case.rule],
        config=settings,
        as_of=case.params.get("as_of"),
        period=case.params.get("period"),
    )


def _matches(want: Mapping[str, Any], got: Finding) -> bool:
    if "subject" in want and dict(got.subject) != {k: str(v) for k, v in want["subject"].items()}:
        return False
    for key in NUMERIC:
        if key in want:
            value = getattr(got, key)
            if value is None or Decimal(str(want[key])) != Decimal(value):
                return False
    if "unit" in want and got.unit != want["unit"]:
        return False
    if "severity" in want and got.severity.value != want["severity"]:
        return False
    if "period" in want and got.period != want["period"]:
        return False
    if "detail_contains" in want and want["detail_contains"] not in (got.detail or ""):
        return False
    return True


def pair_up(expect: Sequence[Mapping[str, Any]], findings: Sequence[Finding]) -> list[int] | None:
    """Assign each expectation a distinct finding it matches (one to one), or None."""
    if len(expect) != len(findings):
        return None
    chosen: list[int] = []

    def place(i: int) -> bool:
        if i == len(expect):
            return True
        for j, f in enumerate(findings):
            if j not in chosen and _matches(expect[i], f):
                chosen.append(j)
                if place(i + 1):
                    return True
                chosen.pop()
        return False

    return chosen if place(0) else None


def _describe(findings: Sequence[Finding]) -> str:
    keys = ("subject", "expected", "observed", "difference", "unit", "severity", "period")
    rows = []
    for f in findings:
        d = f.to_dict()
        rows.append(json.dumps({k: d[k] for k in keys} | {"detail": f.detail}))
    return "\n".join(rows) or "(no findings)"


ALL_CASES = list(cases())


@pytest.mark.parametrize("case", ALL_CASES, ids=[f"{c.rule}: {c.name}" for c in ALL_CASES])
def test_rule_case(case: Case, tmp_path: Path) -> None:
    report = run_case(case, tmp_path)
    findings = [f for f in report.findings if f.rule == case.rule]
    assert pair_up(case.expect, findings) is not None, (
        f"findings do not match the expectations of {case.rule}: {case.name!r}\n"
        f"expected: {json.dumps(list(case.expect))}\ngot:\n{_describe(findings)}"
    )
    fingerprints = [f.fingerprint for f in findings]
    assert len(set(fingerprints)) == len(fingerprints), "two findings share a subject"
    (run,) = [r for r in report.rules_run if r.rule == case.rule]
    if case.status is not None:
        assert run.status == case.status
    if case.not_judged is not None:
        got = sorted((n.reason, list(n.subjects)) for n in run.not_judged)
        want = sorted((n["reason"], sorted(n["subjects"])) for n in case.not_judged)
        assert got == want, f"{case.name!r}: not judged {got}, expected {want}"
    if case.name == "empty database":
        assert run.status == "no-data"
    Draft202012Validator(json.loads(SCHEMA.read_text(encoding="utf-8"))).validate(report.to_dict())
