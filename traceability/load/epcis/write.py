"""The write stage: a chunk's events, their members and quantities, and its rejects into
the store.

What is not stored: rejected events, events stored before with the same content, and
later copies of an event within the file (``tc_skip``). Events stored before under the
same key with other content are sorted (conflict, correction, same event written
differently) once the chunk is stored: ``event_versions.after_chunk``, called by the
pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from traceability.load.epcis.check_record import write_notes
from traceability.load.epcis.chunk import Chunk, rows_table
from traceability.load.epcis.identify_sql import key_hash
from traceability.load.epcis.items import Note
from traceability.load.epcis.rejects import member_rejects, store_rejects
from traceability.load.epcis.terms import EPC_LISTS, bare_or_cbv_sql
from traceability.load.outcomes import write_outcomes


@dataclass(frozen=True)
class EventOutcome:
    """What one events file gave."""

    records: int
    accepted: int
    duplicates: int
    conflicts: int
    rejected: int


#: The events to store, as a subquery (a view would be one more catalog entry per chunk).
_NEW = (
    "(SELECT *, coalesce(event_id, event_hash) AS event_key, "
    "CAST({load_id} AS BIGINT) * 10000000000 + rec AS event_row "
    "FROM tc_ev e WHERE NOT EXISTS (SELECT 1 FROM tc_skip s WHERE s.rec = e.rec)) AS tc_new"
)

_QUANTITY_SCHEMA = {
    "rec": pa.int64(),
    **{name: pa.string() for name in ("list", "raw", "key", "gtin", "lot", "quantity", "uom")},
}


def write_rejects(chunk: Chunk) -> Chunk:
    """Store the chunk's rejected events and members, and the notes of the events that
    load."""
    found = chunk.found
    store_rejects(chunk, {r: m for r, _, m in found.problems if m})
    write_outcomes(chunk.con, chunk.load.load_id, chunk.load.source, member_rejects(chunk))
    rejected: set[int] = set()
    if chunk.rejected and found.notes:
        noted = sorted({n[0] for n in found.notes})
        rejected = {
            r[0]
            for r in chunk.sql(
                "SELECT rec FROM tc_ev WHERE problem IS NOT NULL AND list_contains(?, rec)",
                [noted],
            ).fetchall()
        }
    where = "line" if chunk.load.lines else "event"
    write_notes(
        chunk.con,
        chunk.load.load_id,
        chunk.load.source,
        [
            Note("warning", code, message, rec, f"{where} {rec} {field}")
            for rec, field, code, message in found.notes
            if rec not in rejected
        ],
    )
    return chunk


def write_events(chunk: Chunk) -> tuple[EventOutcome, bool]:
    """Store the chunk's events with their members: its counts, and whether a key in it
    may have been stored before or twice (its versions then need sorting)."""
    repeats = _repeated_keys(chunk)
    _skip(chunk)
    new = _NEW.format(load_id=int(chunk.load.load_id))
    total = chunk.count("SELECT count(*) FROM tc_ev WHERE problem IS NULL")
    _insert_events(chunk, new)
    chunk.sql(f"INSERT INTO event_payloads SELECT event_row, line FROM {new} WHERE extra")
    chunk.sql(
        "INSERT INTO epc_prefixes SELECT nextval('epc_prefix_ids'), p, gtin FROM tc_pfx "
        "WHERE gtin IS NOT NULL AND p NOT IN (SELECT prefix FROM epc_prefixes)",
    )
    _insert_fast_epcs(chunk)
    _insert_general_epcs(chunk)
    _insert_biz_transactions(chunk, new)
    _insert_parties(chunk, new)
    _insert_quantities(chunk, new)
    stored = chunk.count(f"SELECT count(*) FROM {new}")
    records = chunk.count("SELECT count(*) FROM tc_ev")
    chunk.tables.clear()
    outcome = EventOutcome(
        records=records,
        accepted=stored,
        duplicates=total - stored,
        conflicts=0,
        rejected=chunk.rejected,
    )
    return outcome, repeats


def _repeated_keys(chunk: Chunk) -> bool:
    """Keep ``tc_seen``, the events of the chunk whose key may have been stored before,
    and return whether any key may be stored twice (so versions need sorting).

    The load holds a 63-bit hash of every key stored (read from the store when the file
    starts, then added to chunk by chunk). Looking each chunk's keys up among the hashes
    reads 8 bytes per stored event, where joining with the stored events read their
    keys and content hashes: a cost that grew with the square of the file. A hash in
    common is only a candidate; the stored events are then read for those few.
    """
    keys = chunk.keep(
        "tc_keys",
        f"SELECT rec, {key_hash('coalesce(event_id, event_hash)')} AS h "
        "FROM tc_ev WHERE problem IS NULL",
    )
    known = chunk.load.key_hashes
    if known is None:
        known = chunk.keep("tc_known_keys", f"SELECT {key_hash('event_key')} AS h FROM events")
    chunk.put("tc_known_keys", known)
    seen = chunk.keep("tc_seen", "SELECT rec FROM tc_keys SEMI JOIN tc_known_keys USING (h)")
    twice = chunk.count("SELECT count(*) - count(DISTINCT h) FROM tc_keys")
    chunk.load.key_hashes = pa.concat_tables([known, keys.select(["h"])])
    chunk.drop("tc_known_keys", "tc_keys")
    return bool(seen.num_rows or twice)


def _skip(chunk: Chunk) -> None:
    """Keep ``tc_skip``, the events not to store; usually a handful of rows."""
    # Events whose key was stored before: only they are looked for among the stored events.
    stored = """
        UNION ALL
        SELECT e.rec FROM tc_ev e JOIN events x
            ON x.event_key = coalesce(e.event_id, e.event_hash) AND x.content_hash = e.content_hash
        WHERE e.problem IS NULL AND e.rec IN (SELECT rec FROM tc_seen)"""
    chunk.keep(
        "tc_skip",
        f"""
        SELECT rec FROM tc_ev WHERE problem IS NOT NULL
        {stored if chunk.rows("tc_seen") else ""}
        UNION ALL
        SELECT rec FROM (
            SELECT rec, row_number() OVER (PARTITION BY k, content_hash ORDER BY rec) AS n
            FROM (SELECT rec, coalesce(event_id, event_hash) AS k, content_hash FROM tc_ev
                  WHERE problem IS NULL) t
            WHERE k IN (SELECT coalesce(event_id, event_hash) FROM tc_ev WHERE problem IS NULL
                        GROUP BY 1 HAVING count(*) > 1)
        ) WHERE n > 1
        """,
    )


def _insert_events(chunk: Chunk, new: str) -> None:
    chunk.sql(
        f"""
        INSERT INTO events
        SELECT event_row, event_key, event_id, event_hash, event_type, action, biz_step,
               disposition,
               event_time, tz_offset, local_date, record_time,
               coalesce(rp.key, read_point_raw), coalesce(bl.key, biz_location_raw),
               parent_raw, pa.key, lot, expiry, error_declared_at, error_reason,
               corrective_event_ids, content_hash, ?, ?, rec
        FROM {new}
        LEFT JOIN tc_ids rp ON rp.raw = read_point_raw
        LEFT JOIN tc_ids bl ON bl.raw = biz_location_raw
        LEFT JOIN tc_ids pa ON pa.raw = parent_raw
        """,
        [chunk.load.load_id, chunk.load.source],
    )


def _insert_fast_epcs(chunk: Chunk) -> None:
    """Store the EPCs of the events on the fast path (see
    :func:`~traceability.load.epcis.identify_sql.epc_columns`): the serials the check
    stage cut from each event's one list, under the id of its prefix.

    One statement per list that the chunk uses, so that the rows of a chunk are stored
    list by list, as the general path stores them; each reads the events in place (a
    table of the events with their serials in between would copy every serial).
    """
    present = chunk.sql(
        "SELECT DISTINCT epc_list FROM tc_ev WHERE problem IS NULL AND epc_prefix IS NOT NULL"
    ).fetchall()
    for name in (n for n in EPC_LISTS if (n,) in present):
        chunk.sql(
            f"""
            INSERT INTO epc_rows
            SELECT CAST($load AS BIGINT) * 10000000000 + e.rec, '{name}', x.prefix_id,
                   unnest(e.serials), NULL, NULL
            FROM tc_ev e JOIN epc_prefixes x ON x.prefix = e.epc_prefix
            WHERE e.problem IS NULL AND e.epc_list = '{name}'
              AND NOT EXISTS (SELECT 1 FROM tc_skip s WHERE s.rec = e.rec)
            """,
            {"load": chunk.load.load_id},
        )


def _insert_general_epcs(chunk: Chunk) -> None:
    """Store the EPCs of the other events: plain serials under a valid prefix, and those
    the general parser read."""
    chunk.sql(
        """
        INSERT INTO epc_rows
        SELECT CAST(? AS BIGINT) * 10000000000 + e.rec, e.list, x.prefix_id, e.s, NULL, NULL
        FROM tc_epc e JOIN epc_prefixes x ON x.prefix = e.p
        WHERE e.plain AND NOT EXISTS (SELECT 1 FROM tc_skip s WHERE s.rec = e.rec)
        """,
        [chunk.load.load_id],
    )
    chunk.sql(
        """
        INSERT INTO epc_rows
        SELECT CAST(? AS BIGINT) * 10000000000 + e.rec, e.list, NULL, NULL, e.raw, i.key
        FROM tc_odd e JOIN tc_ids i ON i.raw = e.raw
        WHERE i.key IS NOT NULL AND NOT EXISTS (SELECT 1 FROM tc_skip s WHERE s.rec = e.rec)
        """,
        [chunk.load.load_id],
    )


def _insert_biz_transactions(chunk: Chunk, new: str) -> None:
    chunk.sql(
        f"""
        INSERT INTO event_biz_transactions
        SELECT event_row, {bare_or_cbv_sql("b.type", "bizTransactionType")}, b.bizTransaction,
               coalesce(NULLIF(regexp_extract(b.bizTransaction,
                        '^urn:epcglobal:cbv:bt:[^:]*:(.+)$', 1), ''), b.bizTransaction)
        FROM (SELECT event_row, unnest(bizTransactionList) AS b
              FROM {new} WHERE bizTransactionList IS NOT NULL)
        WHERE b.bizTransaction IS NOT NULL
        """,
    )


def _insert_parties(chunk: Chunk, new: str) -> None:
    parties = " UNION ALL ".join(
        f"SELECT event_row, '{role}' AS role, p.type AS type, p.{role} AS value "
        f"FROM (SELECT event_row, unnest({role}List) AS p FROM {new} "
        f"WHERE {role}List IS NOT NULL)"
        for role in ("source", "destination")
    )
    chunk.sql(
        f"""
        INSERT INTO event_parties
        SELECT event_row, role, {bare_or_cbv_sql("p.type", "sourceDestinationType")}, p.value,
               coalesce(i.key, p.value), i.gln
        FROM ({parties}) p
        LEFT JOIN (
            SELECT raw, key, NULLIF(regexp_extract(key, '/41[47]/([0-9]{{13}})', 1), '') AS gln
            FROM tc_ids
        ) i ON i.raw = p.value
        WHERE p.value IS NOT NULL
        """,
    )


def _insert_quantities(chunk: Chunk, new: str) -> None:
    if not chunk.found.quantities:
        return
    chunk.put("tc_qty", rows_table(chunk.found.quantities, _QUANTITY_SCHEMA))
    chunk.sql(
        f"""
        INSERT INTO event_quantities
        SELECT tc_new.event_row, q.list, q.raw, q.key, q.gtin, q.lot,
               CAST(q.quantity AS DECIMAL(38,12)), q.uom
        FROM tc_qty q JOIN {new} USING (rec)
        """,
    )
