"""What the store says of the planned stock beyond the rules' own reading of it.

Two facts of the exporter's stock that the catalogue's rules judge only once more has
happened, both read from the shared base views of the narrowed store:

- **Destroyed stock of a planned lot.** ``over-export`` (the catalogue's definition) compares
  a lot's exports with its make alone. What is left to ship of a lot is its make less what
  was exported and less what was destroyed, so preflight runs ``over-export`` on each planned
  lot's make net of its destruction: the manufacture declarations of the narrowed store are
  reduced by it (as expiry dates are brought forward for the minimum shelf life), and the
  rule itself runs unchanged. Destroyed is counted as ``filing-mismatch`` counts destruction:
  each serial named (or packed in a container named) by a live destroying event, once, in
  the lot it was commissioned in, plus the quantities of a lot that live destroying events
  list.
- **Packs packed elsewhere.** A planned pack still packed (by the latest ADD and DELETE
  aggregations: ``pack_links``) in a container that does not leave with it will leave a
  second time, with that container: ``serial-shipped-twice`` as the catalogue's rule will
  find it then. Preflight reports it now, under that rule's id, with the container and its
  packing event as evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

import duckdb

from traceability.engine.findings import decimal_text, make_finding, sort_key
from traceability.model import Evidence, Finding, Severity
from traceability.preflight.planned import PLANNED, Plan
from traceability.rules import Rule

__all__ = ["PACKED_ELSEWHERE", "merge", "net_of_destruction", "packed_elsewhere"]

#: The phrase that marks a ``serial-shipped-twice`` finding as one of a pack packed elsewhere.
PACKED_ELSEWHERE = "is not in this shipment"

_BASE_UNIT = {"count": "H87", "mass": "KGM", "volume": "LTR"}

_DESTROYED = """
WITH lots AS (
    SELECT DISTINCT gtin, lot FROM {planned}.main.consignments WHERE lot IS NOT NULL AND lot <> ''
), destroyed AS (
    SELECT m.id_gtin, m.id_serial
    FROM serial_moves m
    WHERE m.biz_step = 'destroying' AND m.epc_kind = 'sgtin'
    GROUP BY m.id_gtin, m.id_serial
), commissioned AS (
    SELECT m.id_gtin, m.id_serial, min(l.lot) AS lot
    FROM serial_moves m
    JOIN live_rows l ON l.event_row = m.event_row
    WHERE m.biz_step = 'commissioning' AND m.epc_kind = 'sgtin' AND l.lot IS NOT NULL
    GROUP BY m.id_gtin, m.id_serial
), counted AS (
    SELECT g.gtin, c.lot, 'count' AS dimension, CAST(count(*) AS DECIMAL(38,12)) AS qty
    FROM destroyed d
    JOIN commissioned c ON c.id_gtin = d.id_gtin AND c.id_serial = d.id_serial
    JOIN epc_gtins g ON g.gtin_id = d.id_gtin
    GROUP BY g.gtin, c.lot
    UNION ALL
    SELECT q.gtin, q.lot, u.dimension, CAST(q.quantity * u.factor AS DECIMAL(38,12))
    FROM event_quantities q
    JOIN live_rows l ON l.event_row = q.event_row
    JOIN unit_factors u ON u.uom = coalesce(q.uom, 'H87')
    WHERE l.biz_step = 'destroying' AND q.quantity IS NOT NULL
)
SELECT c.gtin, c.lot, c.dimension, CAST(sum(c.qty) AS DECIMAL(38,12)) AS qty
FROM counted c
JOIN lots x ON x.gtin = c.gtin AND x.lot = c.lot
GROUP BY c.gtin, c.lot, c.dimension
ORDER BY c.gtin, c.lot, c.dimension
"""


def net_of_destruction(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], str]:
    """Reduce the make of each planned lot by its destroyed stock (base views built).

    A lot made in another unit of the same dimension is restated in kg (or litres) first.
    Returns what was taken off each lot, as text (``'2 H87'``), for the findings' detail.
    """
    rows = con.execute(_DESTROYED.format(planned=PLANNED)).fetchall()
    taken: dict[tuple[str, str], list[str]] = {}
    for gtin, lot, dimension, qty in rows:
        unit = _BASE_UNIT[dimension]
        changed = con.execute(
            """
            UPDATE batches SET
                quantity = CAST(batches.quantity * u.factor AS DECIMAL(38,12)) - CAST(? AS
                    DECIMAL(38,12)),
                uom = ?
            FROM unit_factors u
            WHERE u.uom = batches.uom AND u.dimension = ? AND batches.gtin = ? AND batches.lot = ?
            """,
            [qty, unit, dimension, gtin, lot],
        ).fetchone()
        if changed and changed[0]:
            taken.setdefault((gtin, lot), []).append(f"{decimal_text(qty)} {unit}")
    return {k: " and ".join(v) for k, v in taken.items()}


_PACKED = """
WITH RECURSIVE planned AS (
    SELECT l.event_row, l.event_time, l.local_date, x.event_key, x.source
    FROM live_rows l
    JOIN event_sources x ON x.event_row = l.event_row
    WHERE l.biz_step = 'shipping' AND x.event_key IN (SELECT unnest(?))
), moved AS (
    SELECT DISTINCT m.event_row, m.id_gtin, m.id_serial
    FROM serial_moves m
    WHERE m.event_row IN (SELECT p.event_row FROM planned p)
), held AS (
    -- what the shipment moves that sits in a container it does not move
    SELECT p.event_row, p.event_time, v.id_gtin, v.id_serial, k.parent_gtin, k.parent_serial,
           k.packed_at
    FROM planned p
    JOIN moved v ON v.event_row = p.event_row
    JOIN pack_links k ON k.child_gtin = v.id_gtin AND k.child_serial = v.id_serial
     AND k.packed_at <= p.event_time AND (k.unpacked_at IS NULL OR k.unpacked_at > p.event_time)
    LEFT JOIN moved w
      ON w.event_row = p.event_row AND w.id_gtin = k.parent_gtin AND w.id_serial = k.parent_serial
    WHERE w.event_row IS NULL
), inside (event_row, event_time, id_gtin, id_serial, parent_gtin, parent_serial, packed_at,
           depth) AS (
    -- and the packs inside it, as packed at the shipment's time
    SELECT h.*, 0 FROM held h
    UNION ALL
    SELECT i.event_row, i.event_time, k.child_gtin, k.child_serial, i.parent_gtin,
           i.parent_serial, i.packed_at, i.depth + 1
    FROM inside i
    JOIN pack_links k ON k.parent_gtin = i.id_gtin AND k.parent_serial = i.id_serial
     AND k.packed_at <= i.event_time AND (k.unpacked_at IS NULL OR k.unpacked_at > i.event_time)
    WHERE i.depth < 16
), packing AS (
    SELECT DISTINCT i.parent_gtin, i.parent_serial, i.packed_at, x.event_key, x.source,
           l.local_date
    FROM (SELECT DISTINCT parent_gtin, parent_serial, packed_at FROM held) i
    JOIN live_rows l ON l.parent_gtin = i.parent_gtin AND l.parent_serial = i.parent_serial
     AND l.event_time = i.packed_at AND l.event_type = 'AggregationEvent' AND l.action = 'ADD'
    JOIN event_sources x ON x.event_row = l.event_row
)
SELECT
    coalesce(ik.epc_key, 'https://id.gs1.org/01/' || ig.gtin || '/21/' || i.id_serial) AS epc,
    coalesce(pk.epc_key, 'https://id.gs1.org/01/' || pg.gtin || '/21/' || i.parent_serial)
        AS container,
    min(coalesce(a.local_date, CAST(i.packed_at AS DATE))) AS packed_on,
    p.event_key, p.source, p.local_date,
    list(DISTINCT struct_pack(key := a.event_key, source := a.source))
        FILTER (WHERE a.event_key IS NOT NULL) AS packings
FROM inside i
JOIN planned p ON p.event_row = i.event_row
LEFT JOIN packing a ON a.parent_gtin = i.parent_gtin AND a.parent_serial = i.parent_serial
 AND a.packed_at = i.packed_at
LEFT JOIN epc_gtins ig ON ig.gtin_id = i.id_gtin
LEFT JOIN epc_keys ik ON ik.id_gtin = i.id_gtin AND ik.id_serial = i.id_serial
LEFT JOIN epc_gtins pg ON pg.gtin_id = i.parent_gtin
LEFT JOIN epc_keys pk ON pk.id_gtin = i.parent_gtin AND pk.id_serial = i.parent_serial
WHERE i.id_gtin > 0
GROUP BY ALL
ORDER BY epc, container
"""


def packed_elsewhere(
    con: duckdb.DuckDBPyConnection, plan: Plan, rule: Rule, severity: Severity
) -> list[Finding]:
    """``serial-shipped-twice`` findings of the planned packs packed in a container that
    does not leave with them (base views built)."""
    rows = con.execute(_PACKED, [list(plan.events)]).fetchall()
    facts: dict[str, tuple[str, list[str], set[Evidence]]] = {}
    for epc, container, packed_on, key, source, day, packings in rows:
        period = f"{day.year}-Q{(day.month - 1) // 3 + 1}"
        _, said, proof = facts.setdefault(epc, (period, [], set()))
        said.append(
            f"packed in {container} on {packed_on.isoformat()} and not unpacked since; "
            f"{container} {PACKED_ELSEWHERE} and would take it out a second time when it "
            "leaves"
        )
        proof.add(Evidence("event", key, source))
        proof.update(Evidence("event", p["key"], p["source"]) for p in packings or ())
    out = []
    for epc, (period, said, proof) in facts.items():
        subject = {"epc": str(epc)}
        detail = "; ".join(said)
        none = (None, None, None, None)
        out.append(make_finding(rule, severity, period, subject, none, detail, proof))
    return out


def merge(found: Iterable[Finding], more: Sequence[Finding]) -> list[Finding]:
    """The findings with more of them; two of one fingerprint become one (details joined)."""
    by_print = {f.fingerprint: f for f in found}
    for f in more:
        known = by_print.get(f.fingerprint)
        if known is None:
            by_print[f.fingerprint] = f
            continue
        detail = "; ".join(d for d in (known.detail, f.detail) if d)
        proof = sorted(
            set(known.evidence) | set(f.evidence), key=lambda e: (e.kind, e.key, e.source or "")
        )
        by_print[f.fingerprint] = replace(known, detail=detail, evidence=tuple(proof))
    return sorted(by_print.values(), key=sort_key)
