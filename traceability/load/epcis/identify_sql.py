"""The SQL of the identify stage: how an event's EPCs are cut into prefix and serial, which
events take the fast path, and which identifiers reject their event or member."""

from __future__ import annotations

from traceability.load.epcis.terms import EPC_LISTS
from traceability.sql import quoted_text

#: The common SGTIN spellings whose serial needs no decoding: a URN or a Digital Link URI
#: ending in a plain serial. Such an EPC is stored as the id of its prefix and its serial;
#: the GTIN is worked out once per distinct prefix (a handful per file) instead of once per
#: serial (millions). Each EPC is cut, with plain string functions, into a candidate prefix
#: and serial (after the last '.' of a URN, after the last '/' otherwise); the cut is right
#: for every EPC of these spellings, and whatever else it cuts fails FAST_PREFIX (checked
#: once per distinct prefix) or FAST_SERIAL and goes to the general parser.
FAST_PREFIX = r"urn:epc:id:sgtin:[0-9]+\.[0-9]+\.|https?://[^?#]+/01/[0-9]{8,14}/21/"
FAST_SERIAL = r"[A-Za-z0-9_.-]{1,20}"
FAST_SGTIN = f"^({FAST_PREFIX})({FAST_SERIAL})$"
EPC_STRUCT = "{" + ", ".join(f'"{n}": "VARCHAR[]"' for n in EPC_LISTS) + "}"


def serial(x: str) -> str:
    """SQL: the candidate serial of the EPC ``x`` (after the last '.' of a URN, else '/')."""
    return (
        f"CASE WHEN starts_with({x}, 'urn:') THEN split_part({x}, '.', -1) "
        f"ELSE split_part({x}, '/', -1) END"
    )


SERIAL = serial("x")


def epc_columns() -> str:
    """SQL columns of the parse ``o`` for its EPCs: ``epc_list`` and ``epcs``, the one EPC
    list of an event that has one, and ``has_epcs``, whether any list names an EPC.

    The usual event names its objects in one list, each EPC a plain serial after the same
    candidate prefix (:func:`all_plain`). The parse marks it with that prefix
    (``epc_prefix``); once the prefix is known to be valid, its EPCs are stored straight
    from the line, with no row per EPC held in between. Any other event with EPCs
    (``epc_general``) goes the general way, a row per EPC (``tc_epc``).
    """
    one = " + ".join(f"(o.{n} IS NOT NULL)::INTEGER" for n in EPC_LISTS) + " = 1"
    the_list = "coalesce(" + ", ".join(f"o.{n}" for n in EPC_LISTS) + ")"
    name = " ".join(f"WHEN o.{n} IS NOT NULL THEN '{n}'" for n in EPC_LISTS)
    named = " OR ".join(f"len(o.{n}) > 0" for n in EPC_LISTS)
    return (
        f"CASE WHEN {one} THEN CASE {name} END END AS epc_list, "
        f"CASE WHEN {one} THEN {the_list} END AS epcs, "
        f"coalesce({named}, false) AS has_epcs"
    )


def all_plain(epcs: str, prefix: str, rest: str) -> str:
    """SQL: whether the list ``epcs`` is not empty and each of its EPCs is ``prefix``
    followed by a plain serial, cut where the general cut (:func:`serial`) cuts.

    ``rest`` is the EPCs run together without the prefix
    (``replace(array_to_string(epcs, ''), prefix, '')``), computed by the caller once.
    A regular expression per EPC would cost more than the rest of the parse, so the test
    is made on the whole list at once: every EPC starts with the prefix and is 1 to 20
    bytes longer, and ``rest`` holds only characters of a plain serial (no '.' after a
    URN prefix, no '/' after a Digital Link one, so the cut is at the prefix's end). A
    prefix that passes ``FAST_PREFIX`` is over 20 characters long, so no serial of 20
    holds another one, and ``rest`` is the serials run together. A prefix that does not
    pass sends its event the general way. Each pattern is a constant: a pattern chosen
    per row is compiled per row.
    """
    return f"""(len({epcs}) > 0 AND strlen({prefix}) > 0
        AND list_bool_and(list_transform({epcs}, x -> coalesce(
            starts_with(x, {prefix}) AND strlen(x) - strlen({prefix}) BETWEEN 1 AND 20, false)))
        AND NOT CASE WHEN starts_with({prefix}, 'urn:')
                     THEN regexp_matches({rest}, '[^A-Za-z0-9_-]')
                     ELSE regexp_matches({rest}, '[^A-Za-z0-9_.-]') END)"""


#: The members of EPC lists that the general parser rejects: each is rejected on its own
#: (the event loads without it), named by its list and position.
BAD_MEMBERS = """
SELECT rec, list, pos, raw FROM tc_odd
WHERE raw IS NULL OR raw IN (SELECT raw FROM tc_ids WHERE key IS NULL)
"""

#: Events rejected for an invalid parentID: what the event packs into or unpacks from
#: cannot be told.
BAD_PARENTS = f"""
SELECT rec, 'parentID: ' || {quoted_text("parent_raw")} AS detail FROM tc_ev
JOIN tc_ids ON tc_ids.raw = tc_ev.parent_raw WHERE tc_ids.key IS NULL
"""

#: Events rejected for their identifiers: an invalid parentID, or EPCs none of which is
#: valid in an event that names no other object (no valid parent, no quantities): what it
#: is about cannot be told.
BAD_EPCS = f"""
WITH bad AS (
    SELECT rec, arg_min(list || '[' || pos || ']: ' || {quoted_text("raw")},
                        list || lpad(pos::VARCHAR, 9, '0')) AS detail,
           count(*) AS n
    FROM tc_bad_members GROUP BY rec
), named AS (SELECT rec, count(*) AS n FROM tc_epc GROUP BY rec)
SELECT b.rec, b.detail FROM bad b JOIN named USING (rec) JOIN tc_ev e USING (rec)
WHERE b.n = named.n AND NOT e.has_quantities AND e.parent_raw IS NULL
UNION ALL
{BAD_PARENTS}"""


def key_hash(key: str) -> str:
    """SQL: a 63-bit hash of an event key, as a BIGINT (DuckDB turns a filter on an Arrow
    column into a Python int, which a UBIGINT above 2**63 overflows)."""
    return f"(hash({key}) >> 1)::BIGINT"
