"""The rule files in Spark SQL: DuckDB's dialect translated by sqlglot, checked as it goes.

A construct that does not carry over (a function Spark lacks, an ordered list, DuckDB's
``len``) is refused by name (:class:`NotPortable`) before any session starts. The base
becomes a list of steps (a view, a table, a repeated insert), and a rule's query one step
per CTE, so that Spark runs what DuckDB runs by itself once, once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import sqlglot
from sqlglot import exp

from traceability.errors import TracecheckError
from traceability.rules import Rule, base_statements, sql_parameters

#: Functions sqlglot does not model but that Spark has with the meaning the rules rely on:
#: ``url_decode`` (percent-decoding) and ``hash`` (any hash: the rules use it only to
#: find candidates, which they then compare exactly).
PORTABLE_FUNCTIONS = frozenset({"hash", "url_decode"})


class NotPortable(TracecheckError):
    """A rule or base statement uses a construct that does not translate to Spark SQL."""


# --- translation ------------------------------------------------------------------------


#: Constructs sqlglot writes out for Spark unchanged although Spark lacks them or means
#: something else by them, with the portable way to say the same.
UNPORTABLE: dict[type[exp.Expression], str] = {
    exp.RegexpFullMatch: "regexp_full_match() (use regexp_matches with ^…$ anchors)",
    exp.TimestampTrunc: "date_trunc() (a timestamp on Spark, a date on DuckDB: use year() "
    "and quarter())",
    exp.DateTrunc: "date_trunc() (a timestamp on Spark, a date on DuckDB: use year() and "
    "quarter())",
}
#: DuckDB's len() (of a list, or a string) is parsed as length(), which on Spark wants a
#: string: refused by name, before parsing (use length() of text, or count the rows).
_LEN = re.compile(r"\blen\s*\(", re.I)
_COMMENTS_AND_STRINGS = re.compile(r"--[^\n]*|'(?:[^']|'')*'")


def _check_portable(tree: exp.Expression, name: str) -> None:
    hint = "rewrite it in the portable subset (see rules/README.md)"
    for node in tree.find_all(exp.Anonymous):
        function = node.name.lower()
        if function not in PORTABLE_FUNCTIONS:
            raise NotPortable(
                f"{name}: function {function}() has no Spark SQL translation", hint=hint
            )
    for agg in tree.find_all(exp.ArrayAgg):
        # Spark's collect_list takes no ORDER BY (sqlglot drops it): an ordered list is
        # allowed only as a rule's evidence, which the runner puts in order itself
        if agg.find(exp.Order) is not None and agg.parent is not None:
            if not (isinstance(agg.parent, exp.Alias) and agg.parent.alias == "evidence"):
                raise NotPortable(
                    f"{name}: an ordered list() other than the evidence loses its order on Spark",
                    hint="sort it as a whole: list_sort(list(x)), or string_agg(x, sep "
                    "ORDER BY x) for text",
                )
    for node_type, what in UNPORTABLE.items():
        if tree.find(node_type) is not None:
            raise NotPortable(f"{name}: {what} does not carry over to Spark SQL", hint=hint)


def translate(sql: str, name: str) -> list[str]:
    """The statements of ``sql`` (DuckDB dialect) in Spark SQL.

    Raises:
        NotPortable: a statement does not parse, uses a function sqlglot cannot map, or a
            construct Spark lacks.
    """
    return [
        statement.sql(dialect="spark", unsupported_level=sqlglot.ErrorLevel.RAISE)
        for statement in _parse(sql, name)
    ]


def _parse(sql: str, name: str) -> list[exp.Expression]:
    if _LEN.search(_COMMENTS_AND_STRINGS.sub("", sql)):
        raise NotPortable(
            f"{name}: len() does not carry over to Spark SQL (its length() wants a string)",
            hint="rewrite it in the portable subset (see rules/README.md)",
        )
    try:
        trees = [t for t in sqlglot.parse(sql, read="duckdb") if isinstance(t, exp.Expression)]
    except sqlglot.errors.SqlglotError as exc:
        raise NotPortable(f"{name}: does not parse as DuckDB SQL: {exc}") from None
    for tree in trees:
        _check_portable(tree, name)
    return trees


def _spark_sql(tree: exp.Expression, name: str) -> str:
    try:
        return tree.sql(dialect="spark", unsupported_level=sqlglot.ErrorLevel.RAISE)
    except sqlglot.errors.UnsupportedError as exc:
        raise NotPortable(f"{name}: {exc}") from None


@dataclass(frozen=True)
class BaseStep:
    """One statement of the base in Spark SQL: a view, a table or a repeated insert."""

    action: str  # "view", "table" or "repeat"
    name: str
    query: str  # the SELECT, in Spark SQL


@cache
def base_steps() -> tuple[BaseStep, ...]:
    """The statements of ``_base.sql`` as Spark steps (translated once per process)."""
    steps = []
    for number, (statement, repeat) in enumerate(base_statements(), start=1):
        where = f"_base.sql statement {number}"
        (tree,) = _parse(statement, where)
        if isinstance(tree, exp.Create) and tree.kind in ("VIEW", "TABLE") and not repeat:
            target = tree.this
            name = target.this.name if isinstance(target, exp.Schema) else target.name
            query = tree.expression
            steps.append(BaseStep(tree.kind.lower(), name, _spark_sql(query, where)))
        elif isinstance(tree, exp.Insert) and repeat:
            target = tree.this
            name = target.this.name if isinstance(target, exp.Schema) else target.name
            steps.append(BaseStep("repeat", name, _spark_sql(tree.expression, where)))
        else:
            raise NotPortable(
                f"{where}: only CREATE VIEW/TABLE … AS SELECT and a repeated INSERT … SELECT "
                "are understood"
            )
    return tuple(steps)


@cache
def rule_sql(rule: Rule) -> str:
    """A rule's SELECT in Spark SQL, its ``$name`` parameters as ``:name``."""
    statements = translate(rule.sql, f"rule {rule.id}")
    if len(statements) != 1:
        raise NotPortable(f"rule {rule.id}: {len(statements)} statements, one SELECT expected")
    return statements[0]


@dataclass(frozen=True)
class RuleStep:
    """A named part of a rule's query in Spark SQL: a CTE as a view, or the final SELECT."""

    name: str | None  # the view's name; None for the final SELECT
    query: str
    materialise: bool  # written out first: read more than once by the parts after it
    parameters: tuple[str, ...]


def _table_refs(tree: exp.Expression) -> list[exp.Table]:
    return [t for t in tree.find_all(exp.Table) if not t.args.get("db")]


@cache
def rule_steps(rule: Rule) -> tuple[RuleStep, ...]:
    """A rule's query as steps: each CTE a temporary view, then the final SELECT.

    Spark inlines a CTE wherever it is read; a rule whose CTEs read each other several
    times then plans (and runs) the same subqueries over and over, which on some rules
    exhausts the driver. Running each CTE as a view, the ones read more than once written
    out first, gives Spark what DuckDB does by itself. The SQL is the rule's, unchanged but
    for the views' names (``tc_<rule>_<cte>``, so rules can run side by side).
    """
    return _query_steps(rule, rule.sql, f"rule {rule.id}", "")


@cache
def coverage_steps(rule: Rule) -> tuple[RuleStep, ...]:
    """A rule's coverage query as steps, as :func:`rule_steps` (none without one).

    Its views are named ``tc_<rule>_cov_<cte>``.
    """
    if rule.coverage is None:
        return ()
    return _query_steps(rule, rule.coverage, f"rule {rule.id} (coverage)", "cov_")


def _query_steps(rule: Rule, sql: str, name: str, infix: str) -> tuple[RuleStep, ...]:
    parameters = sql_parameters(sql)
    trees = _parse(sql, name)
    if len(trees) != 1:
        raise NotPortable(f"{name}: {len(trees)} statements, one SELECT expected")
    (tree,) = trees
    with_ = tree.args.get("with_") or tree.args.get("with")
    if with_ is None or with_.args.get("recursive"):
        return (RuleStep(None, _spark_sql(tree, name), False, parameters),)
    ctes = list(with_.expressions)
    prefix = "tc_" + re.sub(r"[^a-z0-9]+", "_", rule.id) + "_" + infix
    names = {c.alias: prefix + c.alias for c in ctes}
    body = tree.copy()
    body.set("with_" if "with_" in body.args else "with", None)
    parts = [c.this.copy() for c in ctes] + [body]
    reads: dict[str, int] = {}
    for part in parts:
        for table in _table_refs(part):
            reads[table.name] = reads.get(table.name, 0) + 1
    for part in parts:
        for table in _table_refs(part):
            if table.name in names:
                if not table.alias:
                    table.set("alias", exp.TableAlias(this=exp.to_identifier(table.name)))
                table.set("this", exp.to_identifier(names[table.name]))
    steps = []
    for cte, part in zip([*ctes, None], parts, strict=True):
        query = _spark_sql(part, name)
        used = tuple(p for p in parameters if f":{p}" in query)
        if cte is None:
            steps.append(RuleStep(None, query, False, used))
        else:
            steps.append(RuleStep(names[cte.alias], query, reads.get(cte.alias, 0) > 1, used))
    return tuple(steps)
