"""Shared test helpers: small valid records of every kind, written as real files."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pytest

from traceability.kinds import TABULAR_KINDS, load_schema
from traceability.store import connect, table_counts


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Start the slow tests (marked ``slow``) first, in their own order.

    Under ``pytest -n 2`` each worker then begins with long tests and ends with short
    ones, so neither sits idle while the other finishes a minute-long test at the tail.
    The sort is stable and every worker collects the same order, as xdist needs.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


EXPORTER = "8901234000007"  # GLN, valid check digit
IMPORTER = "0614141000005"
GTIN_PACK = "08901234000014"
GTIN_BULK = "08901234000021"

VALID: dict[str, dict[str, str]] = {
    "products": {
        "gtin": GTIN_PACK,
        "name": "Pseudoephedrine HCl 60 mg x 30",
        "substance": "pseudoephedrine hydrochloride",
        "substance_base": "pseudoephedrine",
        "base_factor": "0.8192",
        "content_per_unit": "1.8",
        "content_uom": "GRM",
        "trade_uom": "H87",
        "control_class": "INCB-Table-I",
    },
    "batches": {
        "manufacturer": EXPORTER,
        "site": EXPORTER,
        "gtin": GTIN_PACK,
        "lot": "L2401",
        "quantity": "10000",
        "uom": "H87",
        "manufacture_date": "2026-01-05",
        "expiry_date": "2028-01-05",
    },
    "consignments": {
        "declaration_id": "SB-88123",
        "line": "1",
        "direction": "export",
        "declarant": EXPORTER,
        "counterparty": IMPORTER,
        "origin_country": "IN",
        "destination_country": "US",
        "shipment_ref": "BOL-2026-0001",
        "gtin": GTIN_PACK,
        "lot": "L2401",
        "quantity": "300",
        "uom": "H87",
        "declared_date": "2026-02-10",
        "authorisation_ref": "EA-IN-2026-001",
    },
    "authorisations": {
        "authorisation_ref": "EA-IN-2026-001",
        "kind": "export-authorisation",
        "issuing_country": "IN",
        "holder": EXPORTER,
        "counterparty": IMPORTER,
        "gtin": "",
        "substance_base": "pseudoephedrine",
        "max_quantity": "25",
        "uom": "KGM",
        "valid_from": "2026-01-01",
        "valid_to": "2026-06-30",
    },
    "filings": {
        "filing_id": "RET-IN-2026Q1",
        "filer": EXPORTER,
        "country": "IN",
        "period": "2026-Q1",
        "flow": "export",
        "gtin": "",
        "substance_base": "pseudoephedrine",
        "counterparty_country": "US",
        "quantity": "0.442368",
        "uom": "KGM",
    },
    "estimates": {
        "country": "US",
        "substance_base": "pseudoephedrine",
        "year": "2026",
        "quantity": "150000",
        "uom": "KGM",
    },
}
#: A kind without a record above is shown by the first example of its schema.
VALID.update({k: dict(load_schema(k)["examples"][0]) for k in TABULAR_KINDS if k not in VALID})


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Write dict rows as a CSV file with the first row's keys as header."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Write one JSON object per line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def consignment_rows(n: int) -> list[dict[str, str]]:
    """n distinct valid consignment lines."""
    base = VALID["consignments"]
    return [
        {**base, "declaration_id": f"SB-{i // 10:05d}", "line": str(i % 10 + 1)} for i in range(n)
    ]


def event(
    event_id: str | None,
    serials: Sequence[int],
    *,
    biz_step: str = "commissioning",
    action: str = "ADD",
    time: str = "2026-01-12T10:15:00+05:30",
    offset: str = "+05:30",
    **extra: Any,
) -> dict[str, Any]:
    """A small ObjectEvent with SGTINs of the pack product."""
    e: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": time,
        "eventTimeZoneOffset": offset,
        "action": action,
        "bizStep": biz_step,
        "epcList": [f"urn:epc:id:sgtin:8901234.000001.S{s:06d}" for s in serials],
    }
    if event_id is not None:
        e["eventID"] = event_id
    e.update(extra)
    return e


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A path for a new database."""
    return tmp_path / "store.duckdb"


def counts(db_path: Path) -> dict[str, int]:
    """Row counts of every table (opens read-only)."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return table_counts(con)
    finally:
        con.close()


__all__ = ["connect", "counts"]
