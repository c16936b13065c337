"""A rule is one SQL file plus its cases: what the base views and the runner provide, a rule
does not write again.

- the line key of a consignment line is the base views' ``line_key``;
- a period is the base views' ``period`` where the rule reports a row's own date;
- the quantity columns a rule does not have are filled by the runner (``rules.columns``);
- the preflight's advice for a rule is the ``remedy`` of its header.
"""

from __future__ import annotations

import re
import string
from pathlib import Path

import duckdb
import pytest

from traceability.model import SUBJECT_KEYS
from traceability.preflight import PREFLIGHT_RULES
from traceability.rules import (
    Rule,
    RuleFileError,
    _rule_from,
    all_rules,
    base_sql,
    describe,
    run_base,
    select,
)
from traceability.rules.columns import QUANTITY_COLUMNS, fill_quantities, output_columns
from traceability.store import connect

RULES = all_rules()
COMMENT = re.compile(r"--[^\n]*")

#: The line key written out: a declaration id joined to its line.
LINE_KEY = re.compile(r"declaration_id\s*\|\|\s*'/'")
#: The period written out: a year joined to a quarter.
PERIOD = re.compile(r"\|\|\s*'-Q'\s*\|\|")
#: A quantity column written as a typed NULL.
NULL_QUANTITY = re.compile(
    r"CAST\s*\(\s*NULL\s+AS\s+[^)]*\)+\s+AS\s+(expected|observed|difference|unit)\b", re.I
)

#: The rules whose period is of a date they derive (the first export of a shipment, the
#: day a lot's exports crossed its make, ...), not of a row's own date: the base views
#: cannot carry it; or, for customs-trade-unlicensed, the year, quarter and month of a
#: declaration, which it matches against a statistic's period of any of those grains. Each
#: still writes the period expression; no other rule may.
PERIOD_OF_DERIVED_DATE = frozenset(
    {
        "unknown-lot",
        "over-export",
        "customs-trade-unlicensed",
        "export-without-import",
        "import-without-export",
        "late-arrival",
        "mirror-party-mismatch",
        "mirror-quantity-gap",
        "expired-shipped",
        "received-not-shipped",
        "serial-after-decommission",
        "serial-count-mismatch",
        "serial-duplicate",
        "serial-lot-mismatch",
        "serial-not-commissioned",
        "serial-shipped-twice",
        "shipped-not-received",
    }
)


def _file_text(rule: Rule) -> str:
    path = Path(__file__).parents[1] / "traceability" / "rules" / rule.group / f"{rule.id}.sql"
    return COMMENT.sub("", path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_no_rule_writes_the_line_key(rule: Rule) -> None:
    assert not LINE_KEY.search(_file_text(rule)), f"{rule.id}: read line_key from the base"


def test_the_base_writes_the_line_key_once() -> None:
    assert len(LINE_KEY.findall(COMMENT.sub("", base_sql()))) == 1


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_no_rule_writes_the_period_of_a_row_the_base_dates(rule: Rule) -> None:
    written = bool(PERIOD.search(_file_text(rule)))
    if rule.id in PERIOD_OF_DERIVED_DATE:
        assert written, f"{rule.id}: no longer derives a period; take it off the list"
    else:
        assert not written, f"{rule.id}: read period from the base views"


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_no_rule_writes_a_null_quantity_column(rule: Rule) -> None:
    found = NULL_QUANTITY.findall(_file_text(rule))
    assert not found, f"{rule.id}: leave {found} out, the runner fills it"


def test_the_pattern_sees_a_null_quantity_column() -> None:
    assert NULL_QUANTITY.findall("SELECT CAST(NULL AS DECIMAL(38,12)) AS observed") == ["observed"]
    assert PERIOD.search("CAST(year(d) AS VARCHAR) || '-Q' || CAST(quarter(d) AS VARCHAR)")
    assert LINE_KEY.search("c.declaration_id || '/' || coalesce(c.line, '1')")


@pytest.mark.parametrize("rule_id", PREFLIGHT_RULES)
def test_every_rule_the_preflight_runs_has_a_remedy(rule_id: str) -> None:
    (rule,) = select([rule_id])
    assert rule.remedy, f"{rule_id}: give its header a '-- remedy:' line"
    facts = {*SUBJECT_KEYS, "expected", "observed", "difference", "unit", "remaining"}
    named = {f for _, f, _, _ in string.Formatter().parse(rule.remedy) if f}
    assert named <= facts, f"{rule_id}: its remedy names {sorted(named - facts)}"
    assert "Remedy before shipping:" in describe(rule)


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    con = connect(tmp_path_factory.mktemp("hygiene") / "empty.duckdb")
    run_base(con)
    yield con
    con.close()


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_every_rule_returns_the_quantity_columns_it_is_read_to_have(
    rule: Rule, empty_store: duckdb.DuckDBPyConnection
) -> None:
    values = {p: None for p in rule.parameters}
    cursor = empty_store.execute(rule.sql, values)
    returned = tuple(d[0] for d in cursor.description or ())
    assert output_columns(rule.sql) == returned
    assert {name for name, _ in QUANTITY_COLUMNS} <= set(returned)


def test_every_branch_of_a_union_gets_the_absent_columns() -> None:
    sql = "SELECT 'a' AS lot, 'KGM' AS unit FROM t\nUNION ALL\nSELECT 'b', 'H87' FROM u"
    filled = fill_quantities(sql)
    assert filled.count("AS expected") == 2 and "NULL AS VARCHAR" not in filled
    con = duckdb.connect()
    con.execute("CREATE TABLE t (x INT); CREATE TABLE u (x INT)")
    cursor = con.execute(filled)
    assert [d[0] for d in cursor.description or ()] == [
        "lot",
        "unit",
        "expected",
        "observed",
        "difference",
    ]


def test_a_query_with_every_quantity_column_is_unchanged() -> None:
    sql = "SELECT 1 AS expected, 2 AS observed, 1 AS difference, 'H87' AS unit FROM t"
    assert fill_quantities(sql) == sql


HEADER = """-- id:        x-rule
-- severity:  low
-- needs:     none
-- tolerance: none
-- checks:    x.
-- why:       y.
-- evidence:  z
"""


def test_a_rule_whose_columns_cannot_be_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x-rule.sql"
    path.write_text(HEADER + "SELECT * FROM t\n", encoding="utf-8")
    with pytest.raises(RuleFileError, match="no name to read"):
        _rule_from(path, "batch")


def test_spark_receives_the_filled_query() -> None:
    spark = pytest.importorskip("traceability.spark", reason="the spark extra (sqlglot)")
    (rule,) = select(["unknown-lot"])
    final = spark.rule_steps(rule)[-1].query
    assert "AS expected" in final and "AS unit" in final
