"""The identify stage: every EPC and identifier of a chunk's events resolved to its key.

Keeps, on the chunk, ``tc_pfx`` (the distinct candidate prefixes, with the GTIN of the
valid ones: those of the events on the fast path, see
:func:`~traceability.load.epcis.identify_sql.epc_columns`, and of ``tc_epc``), ``tc_epc``
(one row per EPC of the other events not rejected: candidate prefix and serial, and
whether the serial is plain), ``tc_odd`` (the EPCs for the general parser, as received),
``tc_ids`` (distinct identifiers with their keys: odd EPCs, read points, locations,
parents, parties) and ``tc_bad_members``, and marks events holding an invalid identifier
as ``bad-epc`` with the first offending value. The EPCs of the events on the fast path
were cut into serials by the check stage and are stored by the write stage.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from traceability.load.epcis.chunk import Chunk
from traceability.load.epcis.identify_sql import (
    BAD_EPCS,
    BAD_MEMBERS,
    BAD_PARENTS,
    EPC_STRUCT,
    FAST_PREFIX,
    FAST_SERIAL,
    SERIAL,
)
from traceability.load.epcis.terms import EPC_LISTS
from traceability.load.identifiers_sql import EPC_MACROS

#: Created after the EPC parsers, so that its presence says they are all there. Probing a
#: parser itself costs what planning it costs (30 ms), paid by every chunk: by every file
#: of a folder of small ones.
_EPC_MACROS_READY = "CREATE OR REPLACE TEMP MACRO tc_epc_macros_ready() AS TRUE"


def create_epc_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Create the SQL EPC parsers on a connection, unless it has them already."""
    try:
        con.execute("SELECT tc_epc_macros_ready()")
        return
    except duckdb.CatalogException:
        pass
    for macro in (*EPC_MACROS, _EPC_MACROS_READY):
        con.execute(macro)


def identify(chunk: Chunk) -> Chunk:
    """Resolve every EPC and identifier of the chunk's events (see the module's text)."""
    create_epc_macros(chunk.con)
    _fast_prefixes(chunk)
    _general_epcs(chunk)
    _odd_epcs(chunk)
    _resolve_identifiers(chunk)
    _reject_bad_identifiers(chunk)
    return chunk


def _fast_prefixes(chunk: Chunk) -> None:
    """The prefixes of the events on the fast path; prefixes stored before need no second
    look, and the general parser runs only on new ones."""
    chunk.keep(
        "tc_pfx",
        "SELECT p, x.gtin FROM (SELECT DISTINCT epc_prefix AS p FROM tc_ev "
        "WHERE problem IS NULL AND epc_prefix IS NOT NULL) "
        "LEFT JOIN epc_prefixes x ON x.prefix = p",
    )
    _resolve_prefixes(chunk)


def _general_epcs(chunk: Chunk) -> None:
    """The other events with EPCs, and those whose prefix is not valid, a row per EPC."""
    names = ", ".join(f"'{n}'" for n in EPC_LISTS)
    lists = ", ".join(f"o.{n}" for n in EPC_LISTS)
    chunk.keep(
        "tc_epc",
        f"""
        WITH parsed AS (
            SELECT rec, try(json_transform(line, '{EPC_STRUCT}')) AS o
            FROM ({chunk.LINES}) WHERE rec IN (
                SELECT rec FROM tc_ev WHERE problem IS NULL AND (epc_general OR epc_prefix IN
                    (SELECT p FROM tc_pfx WHERE gtin IS NULL)))
        ), lists AS (
            SELECT rec, generate_subscripts([{lists}], 1) AS k, unnest([{lists}]) AS l
            FROM parsed
        ), epcs AS (
            SELECT rec, [{names}][k] AS list, generate_subscripts(l, 1) - 1 AS pos,
                   unnest(l) AS x
            FROM lists WHERE l IS NOT NULL
        )
        SELECT rec, list, pos, left(x, length(x) - length(s)) AS p, s,
               regexp_full_match(s, '{FAST_SERIAL}') AS plain
        FROM (SELECT *, {SERIAL} AS s FROM epcs)
        """,
    )
    if chunk.rows("tc_epc"):
        chunk.keep(
            "tc_pfx",
            "SELECT p, gtin FROM tc_pfx UNION ALL "
            "SELECT p, x.gtin FROM (SELECT DISTINCT p FROM tc_epc "
            "WHERE plain AND p NOT IN (SELECT p FROM tc_pfx)) "
            "LEFT JOIN epc_prefixes x ON x.prefix = p",
        )
        _resolve_prefixes(chunk)


def _odd_epcs(chunk: Chunk) -> None:
    """The EPCs for the general parser, and every identifier to resolve (``tc_raws``)."""
    chunk.keep(
        "tc_odd",
        "SELECT rec, list, pos, p || s AS raw FROM tc_epc "
        "WHERE p IS NULL OR NOT plain OR p NOT IN (SELECT p FROM tc_pfx WHERE gtin IS NOT NULL)",
    )
    parties = " UNION ".join(
        f"SELECT DISTINCT unnest({f}).{r} FROM tc_ev WHERE problem IS NULL"
        for f, r in (("sourceList", "source"), ("destinationList", "destination"))
    )
    chunk.keep(
        "tc_raws",
        f"""
        SELECT raw
        FROM (SELECT raw FROM tc_odd
              UNION SELECT read_point_raw FROM tc_ev
              UNION SELECT biz_location_raw FROM tc_ev
              UNION SELECT parent_raw FROM tc_ev
              UNION {parties}) AS t(raw)
        WHERE raw IS NOT NULL
        """,
    )


def _reject_bad_identifiers(chunk: Chunk) -> None:
    """Keep ``tc_bad_members``; mark the events an invalid identifier rejects."""
    chunk.keep("tc_bad_members", BAD_MEMBERS)
    # Counting each event's EPCs costs a pass over them all: only where one is invalid.
    bad = chunk.keep("tc_bad", BAD_EPCS if chunk.rows("tc_bad_members") else BAD_PARENTS)
    chunk.drop("tc_bad")
    if bad.num_rows:
        chunk.amend(
            bad,
            "CASE WHEN f.rec IS NULL OR e.problem IS NOT NULL THEN e.problem "
            "ELSE 'bad-epc' END AS problem",
            "CASE WHEN f.rec IS NULL OR e.problem IS NOT NULL THEN e.problem_detail "
            "ELSE f.detail END AS problem_detail",
        )


def _resolve_identifiers(chunk: Chunk) -> None:
    """Keep ``tc_ids``: each identifier of ``tc_raws`` with its key (NULL: not valid).

    Planning the general parser costs about 0.1 s whatever the rows, so it runs only on
    identifiers neither known from an earlier chunk of the load nor read by the SSCC
    shortcut. Identifiers resolved earlier in a load, in this file or an earlier one, are
    remembered (see :class:`~traceability.load.epcis.chunk.KnownIds`), so that a chunk
    naming only known read points, locations and parties runs no parser at all.
    """
    cache = chunk.load.known
    known = cache.ids
    if known is None:
        new = chunk.keep("tc_new_ids", "SELECT raw FROM tc_raws")
    else:
        chunk.put("tc_known", known)
        new = chunk.keep("tc_new_ids", "SELECT raw FROM tc_raws ANTI JOIN tc_known USING (raw)")
    if new.num_rows:
        chunk.keep("tc_new_ids", "SELECT raw, tc_sscc_urn_key(raw) AS key FROM tc_new_ids")
        if chunk.count("SELECT count(*) FROM tc_new_ids WHERE key IS NULL"):
            chunk.keep(
                "tc_new_ids",
                "SELECT raw, coalesce(key, tc_epc_key(raw)) AS key FROM tc_new_ids",
            )
    else:
        chunk.keep("tc_new_ids", "SELECT raw, NULL::VARCHAR AS key FROM tc_new_ids")
    if known is None:
        ids = chunk.keep("tc_ids", "SELECT raw, key FROM tc_new_ids")
    else:
        ids = chunk.keep(
            "tc_ids",
            "SELECT raw, key FROM tc_known SEMI JOIN tc_raws USING (raw) "
            "UNION ALL SELECT raw, key FROM tc_new_ids",
        )
        chunk.drop("tc_known")
    new = chunk.tables["tc_new_ids"]
    if known is not None and known.num_rows + new.num_rows <= cache.limit:
        known = pa.concat_tables([known, new])
    else:
        known = ids
    cache.ids = known if known.num_rows <= cache.limit else None
    chunk.drop("tc_new_ids", "tc_raws")


def _resolve_prefixes(chunk: Chunk) -> None:
    """Work out the GTIN of each prefix of ``tc_pfx`` without one (NULL: not valid).

    A prefix found earlier in the load to hold no GTIN is not parsed again: planning the
    parser costs tens of milliseconds, which a folder of small files paid per file.
    """
    cache = chunk.load.known
    chunk.put("tc_not_gtin", cache.not_gtin)
    new = chunk.keep(
        "tc_new_pfx",
        "SELECT p FROM tc_pfx WHERE gtin IS NULL AND p NOT IN (SELECT p FROM tc_not_gtin)",
    )
    if new.num_rows:
        resolved = chunk.keep(
            "tc_new_pfx",
            f"SELECT p, CASE WHEN regexp_full_match(p, '{FAST_PREFIX}') "
            "THEN tc_epc_gtin(p || 'X') END AS gtin FROM tc_new_pfx",
        )
        chunk.keep(
            "tc_pfx",
            "SELECT x.p, coalesce(x.gtin, n.gtin) AS gtin "
            "FROM tc_pfx x LEFT JOIN tc_new_pfx n ON n.p = x.p",
        )
        cache.add_not_gtin(resolved.filter(pc.is_null(resolved.column("gtin"))))
    chunk.drop("tc_new_pfx", "tc_not_gtin")
