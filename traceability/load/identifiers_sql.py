"""The GS1 identifier functions of :mod:`traceability.load.identifiers` as DuckDB macros.

Plain SQL macros, generated from the regular expressions and tables of the Python
module, so that there is one definition of every rule. The loader executes
``SQL_MACROS`` once on each connection; tests check that the two agree.
"""

from __future__ import annotations

from urllib.parse import quote

from traceability.load.identifiers import (
    _TAIL_RE,
    CSET82_39_RE,
    CSET82_RE,
    DL_OTHER_QUALIFIERS,
    DL_OTHER_RE,
    DL_RE,
    DL_ROOT,
    DL_SAFE,
    DL_SHORT_NAMES,
    ESCAPES_RE,
    UOM_SPELLINGS,
    URN_RE,
    URN_SCHEMES,
    UrnScheme,
)
from traceability.sql import literal

__all__ = ["EPC_MACROS", "SQL_MACROS"]

# DuckDB does not share a repeated expression
# inside a CASE branch, so a value needed more than once is bound once with a one-element
# list_transform ("let"). tc__epc returns a struct; the public tc_epc_* macros take one
# field of it, and DuckDB computes the struct once when several are selected together.


def _anchored(body: str) -> str:
    return literal(f"(?s)^(?:{body})$")


def _let(expr: str, name: str, body: str) -> str:
    return f"list_transform([{expr}], lambda {name}: {body})[1]"


_WS_SQL = "' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13)"
_NULL = "NULL::VARCHAR"


def _trim(x: str) -> str:
    return f"trim({x}, {_WS_SQL})"


def _cd(payload: str, width: int = 18) -> str:
    """Check digit (INTEGER) of a payload of 1..``width`` (at most 18) ASCII digits."""
    terms = " + ".join(f"{3 - 2 * (k % 2)} * ((tc_n // {10**k}) % 10)" for k in range(width))
    return _let(f"TRY_CAST({payload} AS BIGINT)", "tc_n", f"(10 - ({terms}) % 10) % 10")


def _check_ok_sql(digits: str) -> str:
    """Whether a string of 2..19 ASCII digits ends in its check digit."""
    return f"({_cd(f'substr({digits}, 1, length({digits}) - 1)')} = ord(right({digits}, 1)) - 48)"


def _value_sql(raw: str, charset: str, max_len: str, name: str, body: str) -> str:
    """Bind the decoded value of ``raw`` to ``name`` in ``body``; NULL when invalid."""
    decoded = _let(
        f"url_decode({raw})",
        "tc_dv",
        f"CASE WHEN regexp_full_match(tc_dv, {literal(f'(?s){charset}*')}) "
        f"AND length(tc_dv) BETWEEN 1 AND {max_len} THEN tc_dv END",
    )
    checked = (
        f"CASE WHEN regexp_full_match({raw}, {literal('(?s)' + ESCAPES_RE)}) THEN {decoded} END"
    )
    return _let(checked, name, f"CASE WHEN {name} IS NOT NULL THEN {body} END")


def _enc_sql(value: str) -> str:
    out = f"url_encode({value})"
    for c in DL_SAFE:
        out = f"replace({out}, {literal(quote(c, safe=''))}, {literal(c)})"
    return out


def _row(kind: str, key: str, **fields: str) -> str:
    names = ("gtin", "serial", "sscc", "lot", "gln")
    parts = [f"'kind': {literal(kind)}", f"'key': {key}"]
    parts += [f"'{n}': {fields.get(n, _NULL)}" for n in names]
    return "{" + ", ".join(parts) + "}"


def _urn_branch(name: str, sc: UrnScheme) -> str:
    ref, extra, val, cond = "tc_u.ref", "''", "''", "true"
    pre = ""
    if sc.layout == "N":
        cond = "tc_u.tail = ''"
    elif sc.layout == "NS":
        cond, val = "starts_with(tc_u.tail, '.')", "tc_u.tail[2:]"
    elif sc.layout == "N*":
        cond = "tc_u.tail = '.*'"
    elif sc.layout in ("NPTS", "NPT*"):
        pre = f"regexp_extract(tc_u.tail, {_anchored(_TAIL_RE[sc.layout])}, ['p', 't', 'v'])"
        cond, extra, val = "tc_x.p <> ''", "tc_x.p || tc_x.t", "tc_x.v"
    elif sc.layout == "S":
        ref, val = "''", "tc_u.ref || tc_u.tail"
    elif sc.layout == "SN":
        pre = f"regexp_extract(tc_u.ref || tc_u.tail, {_anchored(_TAIL_RE['SN'])}, ['v', 'x'])"
        ref, cond, extra, val = "''", "tc_x.x <> ''", "tc_x.x", "tc_x.v"
    else:  # "S*"
        pre = f"regexp_extract(tc_u.ref || tc_u.tail, {_anchored(_TAIL_RE['S*'])}, ['v'])"
        ref, val = "''", "tc_x.v"

    fields: dict[str, str] = {}
    if sc.layout[0] == "N":
        if sc.lead == "rotate":
            digits = f"{ref}[1] || tc_u.cp || {ref}[2:]"
        else:
            digits = f"'{sc.lead}' || tc_u.cp || {ref}"
        head = "tc_h"
        if sc.number_field:
            fields[sc.number_field] = head
    else:
        head = "tc_u.cp"
    key = f"'{DL_ROOT}/{sc.ai}/' || {head}"
    if sc.layout.startswith("NPT"):
        key += f" || {extra}"
    if sc.qualifier is None:
        body = _row(sc.kind, key, **fields)
    else:
        if sc.value_field:
            fields[sc.value_field] = "tc_v"
        tail = f"{literal(sc.qualifier)} || {_enc_sql('tc_v')}"
        if name == "id:sgln":
            tail = f"CASE WHEN tc_v = '0' THEN '' ELSE {tail} END"
        key += f" || {tail}"
        if sc.layout == "SN":
            key += f" || '/8011/' || {extra}"
        max_len = f"{sc.max_len} - length(tc_u.cp)" if sc.layout[0] == "S" else str(sc.max_len)
        body = _value_sql(val, sc.charset, max_len, "tc_v", _row(sc.kind, key, **fields))
    if sc.layout[0] == "N":
        body = (
            f"CASE WHEN length(tc_u.cp) + length({ref}) = {sc.digits} THEN "
            + _let(f"{digits} || {_cd(digits)}::VARCHAR", "tc_h", body)
            + " END"
        )
    body = f"CASE WHEN tc_u.cp <> '' AND {cond} THEN {body} END"
    return _let(pre, "tc_x", body) if pre else body


def _segment_sql(seg: str) -> str:
    return f"substr({seg}, strpos(substr({seg}, 2), '/') + 2)"


def _dl_other_sql() -> str:
    short = " ".join(f"WHEN {literal(k)} THEN {literal(v)}" for k, v in DL_SHORT_NAMES.items())
    expected = " ".join(
        f"WHEN {literal(k)} THEN {literal(v)}" for k, v in DL_OTHER_QUALIFIERS.items()
    )
    key = f"'{DL_ROOT}/' || tc_a || '/' || {_enc_sql('tc_v')}"
    qualified = _value_sql(
        "tc_o.qv",
        CSET82_39_RE,
        "20",
        "tc_w",
        _row("other", f"{key} || '/' || tc_q || '/' || {_enc_sql('tc_w')}"),
    )
    checked = (
        f"CASE WHEN tc_o.q = '' THEN {_row('other', key)} "
        f"WHEN (CASE tc_a {expected} END) = tc_q THEN {qualified} END"
    )
    body = _let(
        f"CASE tc_o.ai {short} ELSE tc_o.ai END",
        "tc_a",
        _let(
            f"CASE tc_o.q {short} ELSE tc_o.q END",
            "tc_q",
            _value_sql("tc_o.v", CSET82_39_RE, "30", "tc_v", checked),
        ),
    )
    extract = f"regexp_extract(tc_s, {_anchored(DL_OTHER_RE)}, ['ai', 'v', 'q', 'qv'])"
    return _let(
        extract, "tc_o", f"CASE WHEN tc_o.ai = '' THEN {_row('other', 'tc_s')} ELSE {body} END"
    )


def _dl_sql() -> str:
    gtin_key = f"'{DL_ROOT}/01/' || tc_g"
    serial = _value_sql(
        _segment_sql("tc_d.ser"),
        CSET82_RE,
        "20",
        "tc_v",
        _row("sgtin", f"{gtin_key} || '/21/' || {_enc_sql('tc_v')}", gtin="tc_g", serial="tc_v"),
    )
    lot = _value_sql(
        _segment_sql("tc_d.lot"),
        CSET82_RE,
        "20",
        "tc_v",
        _row("lgtin", f"{gtin_key} || '/10/' || {_enc_sql('tc_v')}", gtin="tc_g", lot="tc_v"),
    )
    gtin = _let(
        "lpad(tc_d.g, 14, '0')",
        "tc_g",
        f"CASE WHEN tc_d.ser <> '' THEN {serial} WHEN tc_d.lot <> '' THEN {lot} "
        f"ELSE {_row('other', gtin_key, gtin='tc_g')} END",
    )
    gln_key = f"'{DL_ROOT}/414/' || tc_d.gln"
    ext = _value_sql(
        _segment_sql("tc_d.ext"),
        CSET82_RE,
        "20",
        "tc_v",
        _row(
            "sgln",
            f"{gln_key} || CASE WHEN tc_v = '0' THEN '' ELSE '/254/' || {_enc_sql('tc_v')} END",
            gln="tc_d.gln",
        ),
    )
    body = (
        "CASE WHEN tc_d.g <> '' THEN CASE WHEN length(tc_d.g) IN (8, 12, 13, 14) "
        f"AND {_check_ok_sql('tc_d.g')} THEN {gtin} END "
        f"WHEN tc_d.sscc <> '' THEN CASE WHEN {_check_ok_sql('tc_d.sscc')} THEN "
        + _row("sscc", f"'{DL_ROOT}/00/' || tc_d.sscc", sscc="tc_d.sscc")
        + " END "
        f"WHEN tc_d.gln <> '' THEN CASE WHEN NOT {_check_ok_sql('tc_d.gln')} THEN NULL "
        f"WHEN tc_d.ext = '' THEN {_row('sgln', gln_key, gln='tc_d.gln')} ELSE {ext} END "
        f"ELSE {_dl_other_sql()} END"
    )
    extract = f"regexp_extract(tc_s, {_anchored(DL_RE)}, ['g', 'lot', 'ser', 'sscc', 'gln', 'ext'])"
    return _let(extract, "tc_d", body)


def _epc_sql() -> str:
    """The general parser: a struct of all Epc fields, or NULL when invalid."""
    branches = " ".join(
        f"WHEN {literal(name)} THEN {_urn_branch(name, sc)}" for name, sc in URN_SCHEMES.items()
    )
    urn = _let(
        f"regexp_extract(tc_s, {_anchored(URN_RE)}, ['ns', 'sch', 'cp', 'ref', 'tail'])",
        "tc_u",
        f"CASE lower(tc_u.ns || ':' || tc_u.sch) {branches} ELSE {_dl_sql()} END",
    )
    return _let(_trim("raw"), "tc_s", f"CASE WHEN tc_s IS NOT NULL THEN {urn} END")


# Almost every EPC in bulk data is an SGTIN with a plain serial, as a URN or a Digital
# Link URI. For those a shortcut gives the result without the general parser: one
# regular expression, the GTIN payload by concatenating its groups (the URN groups and
# the Digital Link groups are never both non-empty), and a check digit. Everything
# else, including a shortcut candidate that fails a check, goes to the general parser,
# which gives the same answer for the shortcut's forms. Nothing relies on DuckDB sharing
# repeated expressions, which it does not do inside lambdas, where callers may use these.
_FAST_WS = r"[ \t\n\x0b\x0c\r]*"
_FAST_URN_RE = r"urn:epc:id:sgtin:([0-9]{6,12})\.([0-9])([0-9]{0,6})\.([0-9A-Za-z]{1,20})"
_FAST_DL_RE = r"https?://[^/?#]+(?:/[^/?#]*)*?/01/([0-9]{13})([0-9])/21/([0-9A-Za-z]{1,20})"
_FAST_URN_OK = "length(tc_f.u.cp) + length(tc_f.u.r) = 12"
_FAST_FIELDS = {
    "key": f"'{DL_ROOT}/01/' || tc_f.gtin || '/21/' || tc_f.u.ser || tc_f.d.ser",
    "kind": "'sgtin'",
    "gtin": "tc_f.gtin",
    "serial": "tc_f.u.ser || tc_f.d.ser",
}


def _fast_sql() -> str:
    """A one-element list of a struct: the shortcut's groups and GTIN for a string.

    Being one expression, a query that selects several tc_epc_* macros shares it.
    """
    urn = _anchored(_FAST_WS + _FAST_URN_RE + _FAST_WS)
    dl = _anchored(_FAST_WS + _FAST_DL_RE + _FAST_WS)
    groups = (
        f"{{'u': regexp_extract(raw, {urn}, ['cp', 'i', 'r', 'ser']), "
        f"'d': regexp_extract(raw, {dl}, ['g', 'c', 'ser'])}}"
    )
    payload = "tc_m.u.i || tc_m.u.cp || tc_m.u.r || tc_m.d.g"
    terms = " + ".join(f"{3 - 2 * (k % 2)} * ((tc_n // {10**k}) % 10)" for k in range(13))
    gtin = _let(
        f"TRY_CAST({payload} AS BIGINT)",
        "tc_n",
        f"{{'u': tc_m.u, 'd': tc_m.d, 'gtin': {payload} || ((10 - ({terms}) % 10) % 10)::VARCHAR}}",
    )
    return f"list_transform([{groups}], lambda tc_m: {gtin})"


def _epc_field_sql(field: str) -> str:
    general = f"struct_extract(tc__epc(raw), '{field}')"
    if field in _FAST_FIELDS:
        hit = f"{_FAST_URN_OK} OR (tc_f.d.c <> '' AND tc_f.d.c = right(tc_f.gtin, 1))"
        body = f"CASE WHEN {hit} THEN {_FAST_FIELDS[field]} ELSE {general} END"
    else:
        # An SGTIN has none of these, and an SGTIN with a wrong check digit neither.
        body = f"CASE WHEN {_FAST_URN_OK} OR tc_f.d.g <> '' THEN {_NULL} ELSE {general} END"
    return f"list_transform(tc__fast(raw), lambda tc_f: {body})[1]"


# An SSCC in a plain URN (a parentID of an aggregation: one per event in bulk data) has
# its key worked out directly; anything else, a URN in other case or with spaces
# included, goes to the general parser, which gives the same key for this form.
_FAST_SSCC_RE = r"urn:epc:id:sscc:([0-9]{6,12})\.([0-9]+)"


def _fast_sscc_sql() -> str:
    """The key of an SSCC written as a plain URN, or NULL for anything else."""
    digits = "tc_q.r[1] || tc_q.cp || tc_q.r[2:]"
    key = _let(digits, "tc_d", f"'{DL_ROOT}/00/' || tc_d || {_cd('tc_d', 17)}::VARCHAR")
    return _let(
        f"regexp_extract(raw, {_anchored(_FAST_SSCC_RE)}, ['cp', 'r'])",
        "tc_q",
        f"CASE WHEN length(tc_q.cp) + length(tc_q.r) = 17 THEN {key} END",
    )


def _number_problem_sql(lengths: tuple[int, ...]) -> str:
    return _let(
        _trim("s"),
        "tc_t",
        "CASE WHEN NOT regexp_full_match(tc_t, '[0-9]+') THEN 'not-digits' "
        f"WHEN length(tc_t) NOT IN {lengths + (0,)} THEN 'bad-length' "
        f"WHEN NOT {_check_ok_sql('tc_t')} THEN 'bad-check-digit' END",
    )


def _check_digit_ok_sql() -> str:
    slow = _let(
        "substr(s, 1, length(s) - 1)",
        "tc_p",
        "(10 - list_sum(list_transform(range(1, length(tc_p) + 1), lambda tc_i: "
        "(ord(tc_p[length(tc_p) + 1 - tc_i]) - 48) * (3 - 2 * ((tc_i + 1) % 2)))) % 10) % 10",
    )
    return (
        "CASE WHEN s IS NULL THEN NULL WHEN NOT regexp_full_match(s, '[0-9]{2,}') THEN false "
        f"WHEN length(s) <= 19 THEN {_check_ok_sql('s')} "
        f"ELSE {slow} = ord(right(s, 1)) - 48 END"
    )


def _uom_sql() -> str:
    cases = " ".join(f"WHEN {literal(k)} THEN {literal(v)}" for k, v in UOM_SPELLINGS.items())
    return _let(
        _trim("raw"),
        "tc_t",
        f"CASE WHEN strlen(tc_t) = length(tc_t) THEN CASE lower(tc_t) {cases} END END",
    )


def _macro(signature: str, body: str) -> str:
    return f"CREATE OR REPLACE TEMP MACRO {signature} AS {body}"


def _sql_macros() -> tuple[str, ...]:
    gtin14 = _let(
        _trim("s"),
        "tc_t",
        "CASE WHEN regexp_full_match(tc_t, '[0-9]{8}|[0-9]{12,14}') "
        f"AND {_check_ok_sql('tc_t')} THEN lpad(tc_t, 14, '0') END",
    )
    fields = ("key", "kind", "gtin", "serial", "sscc", "lot", "gln")
    return (
        _macro("tc_check_digit_ok(s)", _check_digit_ok_sql()),
        _macro("tc_gtin14(s)", gtin14),
        _macro("tc_gtin_problem(s)", _number_problem_sql((8, 12, 13, 14))),
        _macro("tc_gln_problem(s)", _number_problem_sql((13,))),
        _macro("tc_sscc_problem(s)", _number_problem_sql((18,))),
        _macro("tc__epc(raw)", _epc_sql()),
        _macro("tc__fast(raw)", _fast_sql()),
        _macro("tc_sscc_urn_key(raw)", _fast_sscc_sql()),
        *(_macro(f"tc_epc_{f}(raw)", _epc_field_sql(f)) for f in fields),
        _macro("tc_uom(raw)", _uom_sql()),
    )


#: ``CREATE OR REPLACE TEMP MACRO`` statements to run once on each connection:
#: tc_check_digit_ok(s), tc_gtin14(s), tc_gtin_problem(s), tc_gln_problem(s),
#: tc_sscc_problem(s), tc_epc_key(raw), tc_epc_kind(raw), tc_epc_gtin(raw),
#: tc_epc_serial(raw), tc_epc_sscc(raw), tc_epc_lot(raw), tc_epc_gln(raw), tc_uom(raw),
#: and the helpers tc__epc(raw) (the general parser, returning all fields as a struct)
#: and tc__fast(raw) (the shortcut's groups); tc_sscc_urn_key(raw), the key of an SSCC
#: written as a plain URN and NULL for anything else (a shortcut for tc_epc_key).
SQL_MACROS: tuple[str, ...] = _sql_macros()

#: The EPC parsers among them (tc__epc, tc__fast, tc_sscc_urn_key, tc_epc_*): only a load of
#: events uses them, and creating them is most of the cost, so that load creates them.
EPC_MACROS: tuple[str, ...] = tuple(
    m for m in SQL_MACROS if m.split("MACRO ", 1)[1].startswith(("tc__", "tc_epc_", "tc_sscc_"))
)
