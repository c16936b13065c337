"""Meta-tests on the rule registry: the catalogue, the headers, the case files, the contract."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from traceability.config import Config
from traceability.engine.findings import OUTPUT_COLUMNS
from traceability.model import SUBJECT_KEYS, Severity
from traceability.rules import (
    COVERAGE_COLUMNS,
    HEADER_KEYS,
    OPTIONAL_KEYS,
    Rule,
    RuleFileError,
    _rule_from,
    all_rules,
    parse_header,
    run_base,
)
from traceability.store import connect

CASES = Path(__file__).parent / "rules"
#: The parameters a rule may use: those the settings give, and those of the run.
PARAMETERS = {*Config().parameters(), "as_of", "period_start", "period_end"}
#: Their values on an empty store: the default settings, no date.
DEFAULT_VALUES = {**Config().parameters(), "as_of": None, "period_start": None, "period_end": None}

#: The catalogue of spec/rules.md: fixed ids and default severities.
CATALOGUE: dict[str, Severity] = {
    "over-export": Severity.CRITICAL,
    "over-commission": Severity.HIGH,
    "unknown-lot": Severity.HIGH,
    "batch-conflict": Severity.MEDIUM,
    "mirror-quantity-gap": Severity.HIGH,
    "export-without-import": Severity.HIGH,
    "import-without-export": Severity.HIGH,
    "mirror-party-mismatch": Severity.HIGH,
    "late-arrival": Severity.MEDIUM,
    "serial-not-commissioned": Severity.CRITICAL,
    "serial-duplicate": Severity.CRITICAL,
    "serial-after-decommission": Severity.CRITICAL,
    "serial-lot-mismatch": Severity.HIGH,
    "serial-shipped-twice": Severity.CRITICAL,
    "serial-count-mismatch": Severity.HIGH,
    "shipped-not-received": Severity.HIGH,
    "received-not-shipped": Severity.CRITICAL,
    "expired-shipped": Severity.MEDIUM,
    "filing-mismatch": Severity.MEDIUM,
    "stock-imbalance": Severity.HIGH,
    "filing-mirror-gap": Severity.MEDIUM,
    "missing-filing": Severity.MEDIUM,
    "authorisation-missing": Severity.CRITICAL,
    "authorisation-mismatch": Severity.HIGH,
    "authorisation-expired": Severity.HIGH,
    "authorisation-exceeded": Severity.CRITICAL,
    "estimate-exceeded": Severity.HIGH,
}

RULES = all_rules()
BY_ID = {r.id: r for r in RULES}


@pytest.mark.parametrize("rule_id", sorted(CATALOGUE))
def test_every_catalogue_rule_exists_once_with_its_default_severity(rule_id: str) -> None:
    found = [r for r in RULES if r.id == rule_id]
    assert len(found) == 1, f"{rule_id}: {len(found)} rule files"
    assert found[0].severity is CATALOGUE[rule_id]


def test_rule_ids_are_unique() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_every_header_has_all_keys_and_the_id_is_the_file_stem(rule: Rule) -> None:
    fields = parse_header(rule.sql, rule.id)
    assert set(HEADER_KEYS) <= set(fields) <= set(HEADER_KEYS) | set(OPTIONAL_KEYS)
    assert all(fields[k] for k in HEADER_KEYS)
    assert fields["id"] == rule.id
    assert "estimate-exceeded" != rule.id or rule.group == "authorisations"


def _unordered_aggregates(sql: str) -> list[str]:
    """The string_agg / list / array_agg calls of ``sql`` with no ORDER BY inside them
    (a list sorted as a whole, ``list_sort(list_distinct(list(x)))``, is ordered)."""
    out = []
    for m in re.finditer(r"\b(string_agg|list|array_agg)\(", sql):
        if re.search(r"list_sort\(\s*(list_distinct\(\s*)?$", sql[: m.start()]):
            continue
        end, depth = m.end(), 1
        while depth:
            depth += {"(": 1, ")": -1}.get(sql[end], 0)
            end += 1
        if "ORDER BY" not in sql[m.end() : end]:
            out.append(sql[m.start() : end].splitlines()[0])
    return out


def test_the_unordered_aggregate_check_sees_a_missing_order_by() -> None:
    assert _unordered_aggregates("SELECT string_agg(DISTINCT a, ', ') FROM t") == [
        "string_agg(DISTINCT a, ', ')"
    ]
    assert _unordered_aggregates("SELECT list(f(a) ORDER BY a) FROM t") == []
    assert _unordered_aggregates("SELECT list_sort(list_distinct(list(a))) FROM t") == []
    assert _unordered_aggregates("SELECT list_distinct(list(a)) FROM t") == ["list(a)"]


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.id)
def test_every_text_or_list_a_rule_aggregates_has_an_order(rule: Rule) -> None:
    # without ORDER BY the order of the parts depends on how the engine split the work,
    # so the same data would give findings with other messages or evidence order
    assert _unordered_aggregates(rule.sql) == []
    assert _unordered_aggregates(rule.coverage or "") == []


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_every_parameter_a_rule_uses_is_known_and_named_in_its_tolerance(rule: Rule) -> None:
    unknown = set(rule.parameters) - PARAMETERS
    assert not unknown, f"{rule.id} uses unknown parameters {sorted(unknown)}"
    used = set(rule.parameters) | set(rule.coverage_parameters)
    unknown = used - PARAMETERS
    assert not unknown, f"{rule.id} uses unknown parameters {sorted(unknown)}"
    for name in used - {"as_of", "period_start", "period_end"}:
        assert name in rule.tolerance, f"{rule.id}: ${name} is not named in its tolerance line"


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_every_rule_needs_only_store_tables(rule: Rule, tmp_path: Path) -> None:
    con = connect(tmp_path / "empty.duckdb")
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    con.close()
    assert set(rule.needs) <= tables


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_every_rule_has_a_firing_a_clean_and_an_empty_case(rule: Rule) -> None:
    path = CASES / f"{rule.id}.toml"
    assert path.exists(), f"{rule.id}: no case file {path.name}"
    with path.open("rb") as f:
        cases = tomllib.load(f).get("case", [])
    assert any(c.get("expect") for c in cases), f"{rule.id}: no case where it fires"
    assert any(c.get("expect") == [] and c.get("name") != "empty database" for c in cases), (
        f"{rule.id}: no case where it does not fire"
    )
    empty = [c for c in cases if c.get("name") == "empty database"]
    assert empty and empty[0].get("base") is False and empty[0].get("expect") == [], (
        f"{rule.id}: needs an 'empty database' case with base = false and expect = []"
    )


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_every_rule_runs_on_an_empty_store_with_the_contract_columns(
    rule: Rule, tmp_path: Path
) -> None:
    """Bypassing ``needs``: the SQL itself must cope with empty tables."""
    con = connect(tmp_path / "empty.duckdb")
    try:
        run_base(con)
        cursor = con.execute(rule.sql, {p: DEFAULT_VALUES[p] for p in rule.parameters})
        columns = [d[0] for d in cursor.description or ()]
        assert cursor.fetchall() == []
    finally:
        con.close()
    required = set(OUTPUT_COLUMNS) - {"period", "detail"}
    assert required <= set(columns), f"{rule.id} lacks {sorted(required - set(columns))}"
    allowed = set(SUBJECT_KEYS) | set(OUTPUT_COLUMNS) | {"severity"}
    assert set(columns) <= allowed, f"{rule.id} returns {sorted(set(columns) - allowed)}"
    assert set(columns) & set(SUBJECT_KEYS), f"{rule.id} returns no subject column"


@pytest.mark.parametrize("rule", [r for r in RULES if r.coverage], ids=lambda r: r.id)
def test_every_coverage_query_runs_on_an_empty_store_with_the_coverage_columns(
    rule: Rule, tmp_path: Path
) -> None:
    con = connect(tmp_path / "empty.duckdb")
    try:
        run_base(con)
        assert rule.coverage is not None
        values = {p: DEFAULT_VALUES[p] for p in rule.coverage_parameters}
        cursor = con.execute(rule.coverage, values)
        columns = [d[0] for d in cursor.description or ()]
        assert cursor.fetchall() == []
    finally:
        con.close()
    assert "reason" in columns and set(columns) <= set(COVERAGE_COLUMNS), columns
    assert rule.coverage_about, f"{rule.id}: its coverage section says nothing of itself"


def test_rules_with_coverage_include_those_the_report_relies_on() -> None:
    with_coverage = {r.id for r in RULES if r.coverage}
    assert {"missing-filing", "shipped-not-received", "filing-mismatch", "expired-shipped"} <= (
        with_coverage
    )


HEADER = """-- id:        x-rule
-- severity:  low
-- needs:     none
-- tolerance: none
-- checks:    x.
-- why:       y.
-- evidence:  z
"""


def test_a_coverage_section_is_split_from_the_rule_query(tmp_path: Path) -> None:
    path = tmp_path / "x-rule.sql"
    path.write_text(
        HEADER + "SELECT 1 AS a\n\n-- coverage: what is left out\n--   and why\n"
        "SELECT 'r' AS reason, $as_of AS subject\n",
        encoding="utf-8",
    )
    rule = _rule_from(path, "batch")
    assert "SELECT 1 AS a," in rule.sql and "coverage" not in rule.sql
    assert rule.coverage == "SELECT 'r' AS reason, $as_of AS subject"
    assert rule.coverage_about == "what is left out and why"
    assert rule.parameters == () and rule.coverage_parameters == ("as_of",)


@pytest.mark.parametrize(
    ("tail", "message"),
    [
        ("-- coverage:\nSELECT 'r' AS reason\n", "say after"),
        ("-- coverage: gaps\n", "holds no query"),
        ("-- coverage: a\nSELECT 1\n-- coverage: b\nSELECT 2\n", "more than one"),
    ],
)
def test_a_bad_coverage_section_is_refused(tmp_path: Path, tail: str, message: str) -> None:
    path = tmp_path / "x-rule.sql"
    path.write_text(HEADER + "SELECT 1 AS a\n" + tail, encoding="utf-8")
    with pytest.raises(RuleFileError, match=message):
        _rule_from(path, "batch")


def test_a_header_with_an_unknown_key_is_refused(tmp_path: Path) -> None:
    from traceability.rules import _rule_from

    path = tmp_path / "x-rule.sql"
    header = "\n".join(f"-- {k}: x-rule" if k == "id" else f"-- {k}: high" for k in HEADER_KEYS)
    path.write_text(header + "\n-- owner: someone\nSELECT 1\n", encoding="utf-8")
    with pytest.raises(RuleFileError, match="unknown owner"):
        _rule_from(path, "batch")


def test_an_id_other_than_the_file_stem_is_refused(tmp_path: Path) -> None:
    from traceability.rules import _rule_from

    path = tmp_path / "x-rule.sql"
    header = "\n".join(f"-- {k}: other" if k == "id" else f"-- {k}: high" for k in HEADER_KEYS)
    path.write_text(header + "\nSELECT 1\n", encoding="utf-8")
    with pytest.raises(RuleFileError, match="differs from the file name"):
        _rule_from(path, "batch")


def test_a_severity_outside_the_scale_is_refused(tmp_path: Path) -> None:
    from traceability.rules import _rule_from

    path = tmp_path / "x-rule.sql"
    header = "\n".join(f"-- {k}: x-rule" if k == "id" else f"-- {k}: urgent" for k in HEADER_KEYS)
    path.write_text(header + "\nSELECT 1\n", encoding="utf-8")
    with pytest.raises(RuleFileError, match="unknown severity"):
        _rule_from(path, "batch")


def test_header_continuation_lines_are_joined() -> None:
    text = "-- id: a\n-- checks: first line\n--         second line\n\n-- note: not header\n"
    assert parse_header(text, "a.sql") == {"id": "a", "checks": "first line second line"}
