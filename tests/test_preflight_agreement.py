"""Preflight and reconcile agree: each rule means the same before and after a shipment leaves.

Every scenario of ``fixtures/preflight/scenarios.toml`` (and a few more written here) is
judged twice: planned, by ``preflight`` against the store; and shipped, by loading the same
consignment lines and the shipping events preflight plans for them (the EPCs listed as one
shipping event under the shipment's ref, or the EPCIS document's own events, and the lines'
lots as one shipping event with a quantity per lot, each naming the lines' parties) into a
copy of the store and running ``reconcile``. The findings about the shipment (their
evidence cites its lines or events, or their subject names it or its declarations) must
come from the same rules, on the same subjects: those the scenario expects. Between them the
situations make every rule preflight runs fire.

A few scenarios rest on what only preflight judges, and are left out (see ``PLANNED_ONLY``).
"""

from __future__ import annotations

import csv
import json
import shutil
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from traceability import preflight, reconcile
from traceability.load import load
from traceability.model import Finding
from traceability.preflight import PREFLIGHT_RULES

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "preflight"
PLANNED = FIXTURE / "planned"
DL_PARTY = "https://id.gs1.org/414/"

Found = set[tuple[str, str]]  # (rule, subject as JSON)

#: Scenarios whose verdict rests on a judgement only preflight makes, by shipment and EPCs.
PLANNED_ONLY = {
    # the minimum remaining shelf life is a preflight setting
    ("short-shelf-life.csv", None, "min-shelf-life.toml"),
    # a lot's headroom net of its destroyed stock is preflight's reading of over-export
    ("net-of-destroyed.csv", None, None),
    # a pack still packed in a case that stays behind: what the case's leaving will give
    ("clean-21.csv", "packed-elsewhere-epcs.txt", None),
}


@dataclass(frozen=True)
class Situation:
    """A planned shipment: its lines (as CSV text), what physically goes, the ship date."""

    name: str
    lines: str
    rules: frozenset[str]  # the rules whose findings block it
    epcs: Path | None = None
    as_of: str | None = None
    rewrite: Mapping[str, str] = field(default_factory=dict)  # column -> value, every line

    def csv_text(self) -> str:
        rows = list(csv.DictReader(self.lines.splitlines()))
        for row in rows:
            row.update(self.rewrite)
            if self.as_of is not None:
                row["declared_date"] = self.as_of
        out = [",".join(rows[0])] + [",".join(r.values()) for r in rows]
        return "\n".join(out) + "\n"


def _from_scenarios() -> list[Situation]:
    text = (FIXTURE / "scenarios.toml").read_text(encoding="utf-8")
    found = []
    for case in tomllib.loads(text)["scenario"]:
        if (case["shipment"], case.get("epcs"), case.get("config")) in PLANNED_ONLY:
            continue
        found.append(
            Situation(
                case["name"],
                (PLANNED / case["shipment"]).read_text(encoding="utf-8"),
                frozenset(b["rule"] for b in case["blockers"]),
                PLANNED / case["epcs"] if "epcs" in case else None,
                case.get("as_of"),
            )
        )
    return found


CLEAN = (PLANNED / "clean.csv").read_text(encoding="utf-8")
SITUATIONS = [
    *_from_scenarios(),
    Situation(
        "a controlled product exported under no authorisation",
        CLEAN,
        frozenset({"authorisation-missing"}),
        PLANNED / "clean-epcs.txt",
        rewrite={"authorisation_ref": ""},
    ),
    Situation(
        "a shipment leaving after its authorisation expired",
        CLEAN,
        frozenset({"authorisation-expired"}),
        PLANNED / "clean-epcs.txt",
        as_of="2027-01-05",
    ),
    Situation(
        "a pack of another lot under lines of two lots",
        CLEAN + "SB/0000201,2,export,8901234000007,0614141000005,IN,US,AWB-NEXT-1,08901234000014,"
        "PSE2603,1,H87,2026-03-16,EA-IN-2026-0001\n",
        frozenset({"serial-lot-mismatch"}),
        PLANNED / "other-lot-epcs.txt",
    ),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("agreement") / "store.duckdb"
    assert load(db, [FIXTURE / "store"]).rejected == 0
    return db


def _projected(f: Finding) -> tuple[str, str]:
    return f.rule, json.dumps(dict(f.subject), sort_keys=True)


def _parties(rows: list[dict[str, str]]) -> dict[str, Any]:
    """The lines' declarant and counterparty as owning parties, where they name one each."""
    named: dict[str, Any] = {}
    for role, column in (("source", "declarant"), ("destination", "counterparty")):
        values = {r[column] for r in rows if r[column]}
        if len(values) == 1:
            named[f"{role}List"] = [{"type": "owning_party", role: DL_PARTY + values.pop()}]
    return named


def _shipping(key: str, day: str, **fields: Any) -> dict[str, Any]:
    """A shipping event at the last moment of ``day`` anywhere, as preflight plans it."""
    return {
        "type": "ObjectEvent",
        "eventID": key,
        "eventTime": f"{day}T23:59:59.999-12:00",
        "eventTimeZoneOffset": "-12:00",
        "action": "OBSERVE",
        "bizStep": "shipping",
        "disposition": "in_transit",
        **fields,
    }


def shipped_events(situation: Situation, rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    """The events of the shipment as it left: those preflight plans for it."""
    ref = rows[0]["shipment_ref"]
    day = rows[0]["declared_date"]
    parties = _parties(rows)
    carries = {"bizTransactionList": [{"type": "bol", "bizTransaction": ref}]}
    events: list[dict[str, Any]] = []
    epcs = situation.epcs
    if epcs is not None and epcs.suffix == ".json":
        document = json.loads(epcs.read_text(encoding="utf-8"))
        for event in document["epcisBody"]["eventList"]:
            if event.get("bizStep") == "shipping":
                event = {**parties, **event}
                event.setdefault("bizTransactionList", carries["bizTransactionList"])
            events.append(event)
    elif epcs is not None:
        listed = [
            line.strip()
            for line in epcs.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")
        ]
        key = "urn:uuid:00000000-0000-4000-8000-100000000001"
        events.append(_shipping(key, day, epcList=listed, **carries, **parties))
    quantities = [
        {
            "epcClass": f"https://id.gs1.org/01/{r['gtin']}/10/{quote(r['lot'], safe='')}",
            "quantity": int(r["quantity"]),
            "uom": r["uom"],
        }
        for r in rows
        if r["lot"]
    ]
    if quantities:
        key = "urn:uuid:00000000-0000-4000-8000-1000000000ff"
        events.append(_shipping(key, day, quantityList=quantities, **parties))
    return events


def _about(findings: Iterable[Finding], lines: set[str], events: set[str], ref: str) -> Found:
    """The findings about the shipment, as preflight keeps them: their evidence cites one of
    its lines or events, or their subject names it or one of its declarations."""
    cited = {("consignment", k) for k in lines} | {("event", k) for k in events}
    declarations = {k.rsplit("/", 1)[0] for k in lines}
    return {
        _projected(f)
        for f in findings
        if f.rule in PREFLIGHT_RULES
        and (
            any((e.kind, e.key) in cited for e in f.evidence)
            or f.subject.get("shipment_ref") == ref
            or f.subject.get("declaration_id") in declarations
        )
    }


def judged(store: Path, situation: Situation, folder: Path) -> tuple[Found, Found]:
    """(planned, shipped): the rules and subjects of the findings about the shipment."""
    folder.mkdir()
    lines = folder / "lines.csv"
    lines.write_text(situation.csv_text(), encoding="utf-8")
    planned = preflight(store, lines, epcs=situation.epcs, as_of=situation.as_of)
    planned_set = {_projected(f) for f in planned.blockers}

    rows = list(csv.DictReader(lines.read_text(encoding="utf-8").splitlines()))
    events = shipped_events(situation, rows)
    (folder / "shipped.jsonl").write_text(
        "".join(json.dumps(e) + "\n" for e in events), encoding="utf-8"
    )
    db = folder / "shipped.duckdb"
    shutil.copy(store, db)
    result = load(db, [lines, folder / "shipped.jsonl"])
    assert result.rejected == 0, [str(r) for r in result.rejections]
    day = date.fromisoformat(rows[0]["declared_date"])
    report = reconcile(db, rules=list(PREFLIGHT_RULES), as_of=day)
    keys = {f"{r['declaration_id']}/{r['line'] or '1'}" for r in rows}
    shipped_set = _about(
        report.findings, keys, {e["eventID"] for e in events}, rows[0]["shipment_ref"]
    )
    return planned_set, shipped_set


@pytest.mark.parametrize("situation", SITUATIONS, ids=[s.name for s in SITUATIONS])
def test_planned_and_shipped_give_the_same_findings(
    store: Path, situation: Situation, tmp_path: Path
) -> None:
    planned, shipped = judged(store, situation, tmp_path / "situation")
    assert {r for r, _ in planned} == situation.rules
    assert {r for r, _ in shipped} == situation.rules
    assert sorted(planned) == sorted(shipped)


def test_every_rule_preflight_uses_is_exercised() -> None:
    fired = {rule for s in SITUATIONS for rule in s.rules}
    assert sorted(set(PREFLIGHT_RULES) - fired) == []
