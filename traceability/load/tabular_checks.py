"""What a column's logical type checks and stores, as SQL, and the message of a bad field.

Each column's logical type (a ``$defs`` name of ``common.schema.json``) gives a SQL check
that returns a code of the table of codes or NULL, and a SQL expression that normalises
the text into the stored value; a rejected field's message is its code's template, filled.
"""

from __future__ import annotations

from traceability.kinds import Column, KindSpec
from traceability.load import decimals, outcomes
from traceability.load.columns import rewritten
from traceability.load.identifiers import (
    INVISIBLE_SQL,
    check_digit,
    invisible_chars,
    normalise_uom,
)
from traceability.load.limits import shown
from traceability.sql import identifier, literal

DECIMAL_RE = r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"


def _uom_case(column: Column, v: str) -> str:
    enum = column.enum or ()
    whens = " ".join(f"WHEN {literal(s)} THEN {literal(normalise_uom(s) or s)}" for s in enum)
    return f"CASE {v} {whens} END"


def _in_enum(column: Column, v: str) -> str:
    return f"{v} IN ({', '.join(literal(s) for s in column.enum or ())})"


#: Text columns that are prose, not identifiers: they may hold any character.
FREE_TEXT = frozenset({"name"})


def check_sql(column: Column, v: str) -> str:
    """SQL giving the reason code for a present (non-NULL, trimmed) value, or NULL if valid."""
    t = column.logical
    if t == "gtin":
        return f"CASE WHEN tc_gtin_problem({v}) = 'bad-check-digit' THEN 'bad-check-digit' WHEN tc_gtin_problem({v}) IS NOT NULL THEN 'bad-gtin' END"  # noqa: E501
    if t == "gln":
        return f"CASE WHEN tc_gln_problem({v}) = 'bad-check-digit' THEN 'bad-check-digit' WHEN tc_gln_problem({v}) IS NOT NULL THEN 'bad-gln' END"  # noqa: E501
    if t == "party":
        return f"CASE WHEN regexp_full_match({v}, '[0-9]{{13}}') AND tc_gln_problem({v}) IS NOT NULL THEN 'bad-check-digit' END"  # noqa: E501
    if t == "decimal":
        # Exactness is decimals.exact_quantity's rule, in SQL (decimals.SQL_MACROS).
        return (
            f"CASE WHEN regexp_full_match({v}, '-{DECIMAL_RE[1:]}') THEN 'negative-quantity' "
            f"WHEN NOT regexp_full_match({v}, '{DECIMAL_RE}') THEN 'bad-decimal' "
            f"ELSE coalesce(tc_decimal_problem({v}), CASE WHEN TRY_CAST(tc_decimal_plain({v}) "
            f"AS DECIMAL(38,12)) IS NULL THEN '{decimals.RANGE_CODE}' END) END"
        )
    if t == "date":
        return (
            f"CASE WHEN NOT regexp_full_match({v}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') "
            f"THEN 'bad-date' WHEN TRY_CAST({v} AS DATE) IS NULL THEN 'impossible-date' END"
        )
    if t == "period":
        return (
            f"CASE WHEN NOT regexp_full_match({v}, '[0-9]{{4}}(-[Qq][1-4])?') THEN 'bad-period' END"  # noqa: E501
        )
    if t == "year":
        return f"CASE WHEN NOT regexp_full_match({v}, '[0-9]{{4}}') OR {v}::INTEGER NOT BETWEEN 1900 AND 2999 THEN 'bad-year' END"  # noqa: E501
    if t == "country":
        return f"CASE WHEN NOT regexp_full_match({v}, '[A-Za-z]{{2}}') THEN 'bad-country' END"
    if t in ("uom", "trade_uom", "enum"):
        return f"CASE WHEN NOT {_in_enum(column, v)} THEN 'not-allowed' END"
    if t == "mass_uom":
        return f"CASE WHEN NOT {_in_enum(column, v)} THEN 'not-a-mass-unit' END"
    if t == "pattern":
        pattern = literal(column.pattern or "")
        return f"CASE WHEN NOT regexp_full_match({v}, {pattern}) THEN {literal(column.code)} END"
    if t == "text":
        if column.name in FREE_TEXT:
            return "NULL"
        # An identifier that looks like another must not match or miss it silently.
        return (
            f"CASE WHEN regexp_matches({v}, {literal(INVISIBLE_SQL)}) "
            "THEN 'invisible-character' END"
        )
    raise ValueError(f"schema uses unknown logical type {t!r} for {column.name}")


def record_checks(spec: KindSpec) -> list[str]:
    """SQL structs ``{'field': ..., 'code': ...}`` of every check of a record of ``spec``:
    each column's own, one of two required, required when another holds a value."""
    checks: list[str] = []
    for c in spec.columns:
        v = identifier(c.name)
        missing = "'missing-value'" if c.required else "NULL"
        checks.append(
            f"{{'field': {literal(c.name)}, 'code': CASE WHEN {v} IS NULL THEN {missing} "
            f"ELSE ({check_sql(c, v)}) END}}"
        )
    for group in spec.one_of_required:
        absent = " AND ".join(f"{identifier(g)} IS NULL" for g in group)
        checks.append(
            f"{{'field': {literal(' or '.join(group))}, "
            f"'code': CASE WHEN {absent} THEN 'missing-one-of' END}}"
        )
    for col, values, then in spec.required_when:
        cond = f"{identifier(col)} IN ({', '.join(literal(x) for x in values)})"
        for t in then:
            checks.append(
                f"{{'field': {literal(t)}, 'code': CASE WHEN {cond} AND {identifier(t)} IS NULL "
                f"THEN 'missing-value' END}}"
            )
    for col, then in spec.depends:
        for t in then:
            checks.append(
                f"{{'field': {literal(t)}, 'code': CASE WHEN {identifier(col)} IS NOT NULL "
                f"AND {identifier(t)} IS NULL "
                f"THEN 'missing-value' END}}"
            )
    return checks


def normalise_sql(column: Column, v: str) -> str:
    """SQL turning a valid trimmed text value into its stored form."""
    t = column.logical
    if column.normalise:
        return rewritten(v, column.normalise)
    if t == "gtin":
        return f"tc_gtin14({v})"
    if t == "decimal":
        return f"CAST(tc_decimal_plain({v}) AS DECIMAL(38,12))"
    if t == "date":
        return f"CAST({v} AS DATE)"
    if t == "year":
        return f"CAST({v} AS INTEGER)"
    if t in ("country", "period"):
        return f"upper({v})"
    if t in ("uom", "mass_uom", "trade_uom"):
        return _uom_case(column, v)
    return v


def _inexact(value: str | None) -> str:
    """Why a number cannot be stored exactly.

    >>> _inexact("1.5e-13")
    'has 14 decimal places; at most 12 can be stored without rounding'
    """
    try:
        outcome = decimals.exact_quantity(value or "")
    except ValueError:
        outcome = None
    if isinstance(outcome, decimals.Inexact):
        return outcome.reason
    return (
        f"has more than {decimals.SCALE} decimal places or {decimals.INTEGER_DIGITS} digits "
        "before the point"
    )


def message(column: str, code: str, value: str | None, logical: str = "") -> str:
    """The sentence a person reads for one rejected field.

    >>> message("quantity", "bad-decimal", "twelve")
    "quantity: 'twelve' is not a decimal number"
    >>> message("gtin", "bad-check-digit", "08901234000013", "gtin")
    "gtin: '08901234000013' has a wrong check digit (with this payload it would end in 4)"
    """
    v = shown(value, 80) if isinstance(value, str) else repr(value)
    if code == "bad-check-digit" and value:
        expected = check_digit(value.strip()[:-1])
        return outcomes.message(code, field=column, value=v, expected=expected)
    if code in (decimals.RANGE_CODE, decimals.PRECISION_CODE):
        return outcomes.message(code, field=column, value=v, reason=_inexact(value))
    if code == "invisible-character" and isinstance(value, str):
        chars = ", ".join(invisible_chars(value))
        return outcomes.message(code, field=column, value=v, chars=chars)
    if code not in _PLAIN:
        code = "not-allowed"
    return outcomes.message(code, field=column, value=v)


#: The codes of a rejected field whose message needs only the field and its value.
_PLAIN = frozenset(
    {
        "missing-value",
        "missing-one-of",
        "bad-gtin",
        "bad-gln",
        "bad-decimal",
        "negative-quantity",
        "bad-date",
        "impossible-date",
        "bad-period",
        "bad-year",
        "bad-country",
        "not-a-mass-unit",
    }
)
