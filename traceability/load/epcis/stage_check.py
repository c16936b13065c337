"""The check stage in SQL: a typed parse of every staged line, with its checks, as ``tc_ev``.

Each value is computed once, in layers (one common table expression each, named below):
the typed parse, then the time values, then the checks, the normalised columns (see
:mod:`~traceability.load.epcis.normalise`), the flags for a second look in Python, and the
EPC fast path. Of the EPC lists only the serials of the events on the fast path are kept
(``serials``, see :func:`~traceability.load.epcis.identify_sql.epc_columns`), for the write
stage; the identify stage reads the other events' EPCs from their lines again.
"""

from __future__ import annotations

from traceability.load.epcis import versions as event_versions
from traceability.load.epcis.check_lines import jsonl_check_condition
from traceability.load.epcis.chunk import Chunk
from traceability.load.epcis.identify_sql import EPC_STRUCT, all_plain, epc_columns, serial
from traceability.load.epcis.normalise import OFFSET, TIME_RE, event_columns, time_sql
from traceability.load.epcis.terms import EPC_LISTS, EVENT_TYPES, QUANTITY_LISTS
from traceability.load.identifiers import INVISIBLE_SQL

_STRUCT = (
    "{"
    '"type": "VARCHAR", "eventID": "VARCHAR", "eventTime": "VARCHAR", '
    '"eventTimeZoneOffset": "VARCHAR", "recordTime": "VARCHAR", "action": "VARCHAR", '
    '"bizStep": "VARCHAR", "disposition": "VARCHAR", "parentID": "VARCHAR", '
    '"quantityList": "JSON", "childQuantityList": "JSON", "inputQuantityList": "JSON", '
    '"outputQuantityList": "JSON", '
    '"readPoint": "JSON", "bizLocation": "JSON", "@context": "JSON", '
    '"bizTransactionList": "JSON", "sourceList": "JSON", "destinationList": "JSON", '
    '"ilmd": "JSON", '
    '"errorDeclaration": {"declarationTime": "VARCHAR", "reason": "VARCHAR", '
    '"correctiveEventIDs": "VARCHAR[]"}'
    "}"
)

#: The lists of typed members: parsed as JSON text first (so that a member giving a key
#: twice can be seen, see :func:`_keys_twice`), then typed: (list, member, type).
_MEMBER_LISTS = (
    ("bizTransactionList", "bizTransaction", '[{"type": "VARCHAR", "bizTransaction": "VARCHAR"}]'),
    ("sourceList", "source", '[{"type": "VARCHAR", "source": "VARCHAR"}]'),
    ("destinationList", "destination", '[{"type": "VARCHAR", "destination": "VARCHAR"}]'),
)
_MEMBER_NAMES = tuple(name for name, _, _ in _MEMBER_LISTS)

_OBJECT_FIELDS = ("readPoint", "bizLocation", "errorDeclaration")
_SHAPED_FIELDS = (
    *EPC_LISTS,
    *("readPoint", "bizLocation", "bizTransactionList", "sourceList", "destinationList"),
    "errorDeclaration",
)

_PARSE_STRUCT = _STRUCT[:-1] + ", " + EPC_STRUCT[1:]


#: The identifier fields of an event, as read by the typed parse; an identifier holding
#: an invisible character (see :func:`~traceability.load.identifiers.invisible_chars`)
#: rejects its event. The EPCs of an event on the fast path are plain already.
_IDENTIFIERS = (
    "o.eventID",
    "o.parentID",
    "read_point_raw",
    "biz_location_raw",
    "lot",
    "array_to_string(list_transform(bizTransactionList, x -> x.bizTransaction), ' ')",
    "array_to_string(list_transform(sourceList, x -> x.source), ' ')",
    "array_to_string(list_transform(destinationList, x -> x.destination), ' ')",
    "array_to_string(o.errorDeclaration.correctiveEventIDs, ' ')",
    "CASE WHEN epc_prefix IS NULL THEN array_to_string("
    + "flatten(["
    + ", ".join(f"coalesce(o.{n}, [])" for n in EPC_LISTS)
    + "]), ' ') END",
)


def _invisible() -> str:
    """SQL: whether an identifier of the parsed event ``o`` holds an invisible character."""
    return f"regexp_matches(concat_ws(' ', {', '.join(_IDENTIFIERS)}), '{INVISIBLE_SQL}')"


def _typed_members() -> str:
    """SQL columns: each list of typed members, typed from its JSON text."""
    return ", ".join(f"try(json_transform(o.{n}, '{t}')) AS {n}" for n, _, t in _MEMBER_LISTS)


def _keys_twice() -> str:
    """SQL: whether a JSON Lines event may give a key twice where the typed parse would
    keep one silently; such events are read again in Python
    (:mod:`~traceability.load.epcis.second_look`).

    The top-level names are known from the parse; ``readPoint`` and ``bizLocation``
    are checked as the small objects they are (``{"id":"..."}`` exactly, else a second
    look), ``ilmd`` by its names, and each list of typed members (``bizTransactionList``,
    ``sourceList``, ``destinationList``) by the length of its JSON text, which the parse
    gives minified: it is the length of its members' values plus that of their names and
    punctuation exactly when no member holds anything else (a key given twice, a field
    of another type, an escaped character), and otherwise the event has a second look.
    Events with quantities, without an eventID, with fields beyond the standard ones or
    with fields the document checks read are read in Python anyway, and every event read
    there is tested for keys given twice at any depth.
    """

    def small(field: str, raw: str) -> str:
        return f"(o.{field} IS NOT NULL AND strlen(o.{field}) <> 9 + coalesce(strlen({raw}), -99))"

    def members(name: str, member: str) -> str:
        # {"type":"T","M":"V"}: 2 braces, 9 + len(T), len("M") + 5 + len(V), 1 comma
        size = (
            "2 + CASE WHEN x.type IS NULL THEN 0 ELSE 9 + strlen(x.type) END "
            f"+ CASE WHEN x.{member} IS NULL THEN 0 "
            f"ELSE {len(member) + 5} + strlen(x.{member}) END "
            f"+ CASE WHEN x.type IS NULL OR x.{member} IS NULL THEN 0 ELSE 1 END"
        )
        return (
            f"(o.{name} IS NOT NULL AND strlen(o.{name}) <> 1 + greatest(len({name}), 1) "
            f"+ coalesce(list_sum(list_transform({name}, x -> {size})), 0))"
        )

    lists = " OR ".join(members(name, member) for name, member, _ in _MEMBER_LISTS)
    return (
        "len(keys) <> len(list_distinct(keys)) "
        f"OR {lists} "
        f"OR {small('readPoint', 'read_point_raw')} OR {small('bizLocation', 'biz_location_raw')} "
        "OR (o.ilmd IS NOT NULL AND (strpos(o.ilmd[2:], '{') > 0 "
        "OR len(json_keys(o.ilmd)) <> len(list_distinct(json_keys(o.ilmd))))) OR extra OR recheck"
    )


def check(chunk: Chunk) -> Chunk:
    """Parse, check and normalise every staged line of the chunk, as ``tc_ev``.

    Vocabulary spellings are normalised only when they are not bare already.
    """
    lines = chunk.load.lines
    chunk.keep(
        "tc_ev",
        f"""
        WITH parsed AS ({_parsed(chunk.LINES)}),
        keyed AS (
            SELECT *, CASE WHEN o IS NOT NULL THEN json_keys(line) END AS keys,
                   {_typed_members()}
            FROM parsed
        ),
        timed AS (SELECT *, {time_sql("o.eventTime")} AS t, {OFFSET} AS off FROM keyed),
        checked AS ({_checked()}),
        shaped AS (
            SELECT rec, {event_columns()},
                   CASE WHEN o IS NOT NULL THEN md5(json(line)::VARCHAR) END AS content_hash,
                   bizTransactionList, sourceList, destinationList,
                   has_quantities, problem, NULL::VARCHAR AS problem_detail, o, line AS text,
                   keys, {epc_columns()}
            FROM checked
        ),
        flagged AS ({_flagged(lines)}),
        rested AS (
            SELECT *, replace(array_to_string(epcs, ''), first_prefix, '') AS epcs_rest
            FROM flagged
        ),
        fast AS (
            SELECT *,
                   CASE WHEN {all_plain("epcs", "first_prefix", "epcs_rest")}
                        THEN first_prefix END AS epc_prefix
            FROM rested
        ),
        seen AS (
            SELECT * REPLACE (
                       CASE WHEN problem IS NULL AND {_invisible()}
                            THEN 'invisible-character' ELSE problem END AS problem),
                   problem IS NULL AND ({_keys_twice() if lines else "false"}) AS keys_twice
            FROM fast
        )
        SELECT * EXCLUDE (o, text, keys, epcs, first_prefix, epcs_rest, has_epcs),
               has_epcs AND epc_prefix IS NULL AS epc_general,
               CASE WHEN epc_prefix IS NOT NULL
                    THEN list_transform(epcs, x -> substr(x, length(epc_prefix) + 1))
               END AS serials,
               CASE WHEN problem IS NOT NULL OR event_id IS NULL OR has_quantities OR extra
                         OR recheck OR keys_twice THEN text END AS line
        FROM seen
        """,
    )
    return chunk


def _parsed(source: str) -> str:
    """SQL: the typed parse ``o`` of each line that is not blank (blank means spaces only,
    as before; trim() would copy every line to find that out)."""
    return (
        f"SELECT rec, line, try(json_transform(line, '{_PARSE_STRUCT}')) AS o "
        f"FROM ({source}) WHERE NOT regexp_full_match(line, ' *')"
    )


def _checked() -> str:
    """SQL: the first check each parsed event fails, as ``problem``, over ``timed``."""
    types = ", ".join(f"'{t}'" for t in EVENT_TYPES)
    qty_present = " OR ".join(f"o.{n} IS NOT NULL" for n in QUANTITY_LISTS)
    return f"""
        SELECT *,
               CASE
                 WHEN o IS NULL THEN 'bad-json'
                 WHEN NOT (starts_with(line, '{{') OR regexp_matches(line, '^ +\\{{'))
                   THEN 'not-an-object'
                 WHEN o.type IS NULL OR o.type NOT IN ({types}) THEN 'bad-event-type'
                 WHEN t IS NULL OR NOT regexp_full_match(o.eventTime, '{TIME_RE}')
                   THEN 'bad-event-time'
                 WHEN off IS NULL THEN 'bad-time-zone-offset'
                 WHEN o.type IN ('ObjectEvent', 'AggregationEvent', 'TransactionEvent')
                      AND (o.action IS NULL OR o.action NOT IN ('ADD', 'OBSERVE', 'DELETE'))
                   THEN 'bad-action'
                 WHEN o.errorDeclaration IS NOT NULL
                      AND {time_sql("o.errorDeclaration.declarationTime")} IS NULL
                   THEN 'bad-error-declaration'
                 WHEN ({_suspect()}) AND {_shape()} THEN 'check-shape'
               END AS problem,
               ({qty_present}) AS has_quantities
        FROM timed"""


def _shape() -> str:
    """SQL: whether the text of a line holds a list or object field whose value does not
    open with [ or { (or null). The typed parse turns a field of the wrong shape (a
    string where a list belongs) into NULL; those events are checked against the schema
    in Python."""
    lists = "|".join(n for n in _SHAPED_FIELDS if n not in _OBJECT_FIELDS)
    objects = "|".join(_OBJECT_FIELDS)
    return (
        f'regexp_matches(line, \'"({lists})"\\s*:\\s*[^\\[\\sn]|"({objects})"\\s*:\\s*[^{{\\sn]\')'
    )


def _suspect() -> str:
    """SQL: whether a top-level field of the event came out NULL from the typed parse (or,
    for the two objects read as JSON, not an object). The scan of :func:`_shape` costs a
    tenth of the parse, so it is made only where it can find something."""
    return " OR ".join(
        f"({'' if n in _MEMBER_NAMES else 'o.'}{n} IS NULL AND list_contains(keys, '{n}'))"
        if n not in ("readPoint", "bizLocation")
        else f"(list_contains(keys, '{n}') AND json_type(o.{n}) IS DISTINCT FROM 'OBJECT')"
        for n in _SHAPED_FIELDS
    )


def _flagged(lines: bool) -> str:
    """SQL over ``shaped``: events with fields beyond the standard ones (``extra``), JSON
    Lines events that the document checks could reject (``recheck``, see
    :func:`~traceability.load.epcis.check_lines.jsonl_check_condition`), and the candidate
    prefix of the first EPC."""
    recheck = jsonl_check_condition("keys", "text") if lines else "false"
    return f"""
        SELECT *, problem IS NULL AND {event_versions.extra_fields_sql("keys", "o")} AS extra,
               problem IS NULL AND {recheck} AS recheck,
               left(epcs[1], length(epcs[1]) - length({serial("epcs[1]")})) AS first_prefix
        FROM shaped"""
