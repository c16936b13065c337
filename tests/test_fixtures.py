"""Every fixture folder gives exactly what its expectation file says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from traceability import reconcile
from traceability.load import load

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _project(report: object) -> list[dict[str, object]]:
    return [
        {
            "rule": f.rule,
            "severity": f.severity.value,
            "period": f.period,
            "subject": dict(f.subject),
            "expected": f.expected,
            "observed": f.observed,
            "difference": f.difference,
            "unit": f.unit,
        }
        for f in report.findings  # type: ignore[attr-defined]
    ]


@pytest.mark.parametrize(
    "folder", sorted(p.parent for p in FIXTURES.glob("*/expected-findings.json")), ids=str
)
def test_fixture_gives_its_expected_findings(tmp_path: Path, folder: Path) -> None:
    db = tmp_path / "store.duckdb"
    result = load(db, [folder / "data"])
    assert result.rejected == 0
    expected = json.loads((folder / "expected-findings.json").read_text())
    assert _project(reconcile(db)) == expected


@pytest.mark.parametrize(
    "folder", sorted(p.parent for p in FIXTURES.glob("*/expected-rejects.json")), ids=str
)
def test_fixture_gives_its_expected_rejects(tmp_path: Path, folder: Path) -> None:
    result = load(tmp_path / "store.duckdb", [folder / "data"])
    expected = json.loads((folder / "expected-rejects.json").read_text())
    assert sum(f.accepted for f in result.files) == expected["accepted"]
    got = [{"line": r.line, "field": r.field, "code": r.code} for r in result.rejections]
    assert got == expected["rejects"]
