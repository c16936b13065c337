"""The vectorised SQL checks and the JSON Schemas agree on which fields are wrong.

The loader checks whole files in SQL; the schemas are the documented contract and what
jsonschema checks record by record. Generated records, valid and broken, must be flagged
on the same fields by both. Check digits and decimal precision are checked in SQL only
(JSON Schema cannot compute a check digit), so generated values never hit those two.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from conftest import VALID, write_csv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from traceability.kinds import TABULAR_KINDS, kind_spec, validator
from traceability.load import load

SQL_ONLY = {"bad-check-digit", "decimal-out-of-range"}

BROKEN = {
    "gtin": ["12345", "0890123400001x", "abc"],
    "gln": ["123", "89012340000x7"],
    "party": [],
    "decimal": ["twelve", "-5", "1,5", "1.2.3", "0x10"],
    "date": ["2026-02-30", "2026-3-1", "31/03/2026", "2026-13-01"],
    "period": ["2026Q1", "Q1-2026", "2026-Q5"],
    "year": ["26", "twenty"],
    "country": ["IND", "I", "1N"],
    "uom": ["pounds", "KGS", "box"],
    "mass_uom": ["LTR", "H87", "pounds"],
    "trade_uom": ["LTR", "box"],
    "enum": ["Export", "other", "x"],
    "text": [],
    "pattern": ["?", "0"],
}


def _jsonschema_fields(kind: str, record: dict[str, str]) -> set[str]:
    fields: set[str] = set()
    for error in validator(kind).iter_errors(record):
        if error.path:
            fields.add(str(error.path[0]))
        elif error.validator == "required":
            fields |= {f for f in error.validator_value if f not in record}
        elif error.validator == "anyOf":
            groups = [alt["required"] for alt in error.validator_value]
            fields.add(" or ".join(f for g in groups for f in g))
        elif error.validator == "dependentRequired":
            for key, needed in error.validator_value.items():
                if key in record:
                    fields |= {f for f in needed if f not in record}
    return fields


@st.composite
def records(draw: st.DrawFn, kind: str) -> dict[str, str]:
    record = dict(VALID[kind])
    for column in kind_spec(kind).columns:
        choice = draw(st.sampled_from(["keep", "keep", "break", "drop"]))
        if choice == "drop":
            record[column.name] = ""
        elif choice == "break" and BROKEN[column.logical]:
            record[column.name] = draw(st.sampled_from(BROKEN[column.logical]))
    return record


@settings(
    max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_sql_checks_and_json_schema_flag_the_same_fields(
    tmp_path: Path, data: st.DataObject
) -> None:
    for kind in TABULAR_KINDS:
        rows = data.draw(st.lists(records(kind), min_size=1, max_size=25), label=kind)
        folder = Path(tempfile.mkdtemp(dir=tmp_path))  # a new store for every example
        path = write_csv(folder / f"{kind}.csv", rows)
        result = load(folder / "store.duckdb", [path], kind=kind)
        by_line: dict[int, set[str]] = {}
        for r in result.rejections:
            if r.code not in SQL_ONLY and r.line is not None and r.field is not None:
                by_line.setdefault(r.line, set()).add(r.field)
        for line, row in enumerate(rows, start=2):
            record = {k: v for k, v in row.items() if v != ""}
            if not record:  # a line of separators only carries nothing: it is skipped
                assert line not in by_line
                continue
            assert by_line.get(line, set()) == _jsonschema_fields(kind, record), (kind, record)
