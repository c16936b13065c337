-- id:        serial-count-mismatch
-- severity:  high
-- needs:     consignments, events
-- tolerance: tol_units = 0 (units: a finding when the count differs by more)
-- checks:    For each export shipment_ref that live shipping events carry, the distinct
--            serials shipped under it (SSCCs expanded to any depth as packed at each shipping
--            event's time) against the units declared on the export lines, per shipment_ref,
--            gtin and lot: each serial counted in the lot it ships under, the lot it was
--            commissioned in where the lines declare that lot. A serial commissioned in a lot
--            the lines do not declare for its product moves under a declared lot (that is
--            serial-lot-mismatch's finding, not a count difference): it counts in that lot
--            where the lines declare one, and where they declare several the product is
--            compared per shipment_ref and gtin. Lines without a lot are compared per
--            shipment_ref and gtin; products declared by mass are left out, and so is an
--            SGTIN that has packs packed in it (a case) at the time.
-- why:       More packs declared than scanned out means paper quantity with no goods behind
--            it (room to pass diverted goods off later); more scanned than declared means
--            undeclared packs crossed the border inside a declared shipment.
-- evidence:  the export declaration lines and the shipping events of the shipment
-- remedy:    rescan the shipment, or declare the {observed} packs scanned instead of
--            {expected}
WITH lines AS (
    SELECT c.shipment_ref, c.gtin, NULLIF(c.lot, '') AS lot, c.uom, c.qty_units, c.period,
           c.declared_date, c.line_key,
           c.source
    FROM current_consignments c
    WHERE c.direction = 'export'
), counted AS (
    -- (shipment_ref, gtin) pairs declared in units only; by lot unless a line has none
    SELECT l.shipment_ref, l.gtin, bool_or(l.lot IS NULL) AS lotless
    FROM lines l
    GROUP BY l.shipment_ref, l.gtin
    HAVING bool_and(l.uom = 'H87')
), refs AS (
    -- the counted shipment_refs; the per-serial work below groups on the ref itself (a
    -- number for each would need all refs in one order: one task on a distributed engine)
    SELECT DISTINCT c.shipment_ref, c.shipment_ref AS ref_id FROM counted c
), ships AS (
    SELECT DISTINCT f.ref_id, r.ref AS shipment_ref, e.event_row, e.event_time, e.local_date
    FROM live_rows e
    JOIN event_refs r ON r.event_row = e.event_row
    JOIN refs f ON f.shipment_ref = r.ref
    WHERE e.biz_step = 'shipping'
), ship_rows AS (
    -- the packs each shipment moved (not an SGTIN that holds packs: a case)
    SELECT sh.ref_id, s.id_gtin, s.id_serial
    FROM ships sh
    JOIN serial_moves s ON s.event_row = sh.event_row
    LEFT JOIN moved_cases y
      ON y.event_row = s.event_row AND y.id_gtin = s.id_gtin AND y.id_serial = s.id_serial
    WHERE s.biz_step = 'shipping' AND s.epc_kind = 'sgtin' AND y.event_row IS NULL
), commissioned AS (
    SELECT i.id_gtin, i.id_serial, e.lot
    FROM live_rows e
    JOIN epc_items i ON i.event_row = e.event_row
    WHERE e.biz_step = 'commissioning' AND i.epc_kind = 'sgtin'
), shipped AS (
    -- each serial once per shipment, in the lot it was commissioned in
    SELECT r.ref_id, r.id_gtin, r.id_serial, min(c.lot) AS lot
    FROM ship_rows r
    LEFT JOIN commissioned c ON c.id_gtin = r.id_gtin AND c.id_serial = r.id_serial
    GROUP BY r.ref_id, r.id_gtin, r.id_serial
), per_lot AS (
    SELECT s.ref_id, s.id_gtin, s.lot, count(*) AS serials,
           count(*) FILTER (WHERE s.lot IS NULL) AS lot_unknown
    FROM shipped s
    GROUP BY s.ref_id, s.id_gtin, s.lot
), serial_lots AS (
    SELECT f.shipment_ref, g.gtin, p.lot, p.serials, p.lot_unknown
    FROM per_lot p
    JOIN refs f ON f.ref_id = p.ref_id
    JOIN epc_gtins g ON g.gtin_id = p.id_gtin
), declared_lots AS (
    -- the lots the lines of a counted (shipment_ref, gtin) declare, where each line names one
    SELECT l.shipment_ref, l.gtin, count(DISTINCT l.lot) AS lots, min(l.lot) AS first_lot
    FROM lines l
    JOIN counted c ON c.shipment_ref = l.shipment_ref AND c.gtin = l.gtin
    WHERE NOT c.lotless
    GROUP BY l.shipment_ref, l.gtin
), undeclared AS (
    -- serials commissioned in a lot the lines do not declare for their product: they move
    -- under a declared lot (serial-lot-mismatch reports that)
    SELECT s.shipment_ref, s.gtin, sum(s.serials) AS serials
    FROM serial_lots s
    JOIN declared_lots d ON d.shipment_ref = s.shipment_ref AND d.gtin = s.gtin
    WHERE s.lot IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM lines l
                      WHERE l.shipment_ref = s.shipment_ref AND l.gtin = s.gtin
                        AND l.lot = s.lot)
    GROUP BY s.shipment_ref, s.gtin
), compare_by AS (
    -- how each counted (shipment_ref, gtin) is compared: per lot; in its one declared lot
    -- when serials of other lots moved under it; per shipment_ref and gtin (by_product)
    -- when the lines name no lot, or several and serials of other lots moved under them
    SELECT c.shipment_ref, c.gtin,
           c.lotless OR (u.serials IS NOT NULL AND d.lots > 1) AS by_product,
           CASE WHEN u.serials IS NOT NULL AND d.lots = 1 THEN d.first_lot END AS one_lot,
           coalesce(u.serials, 0) AS undeclared
    FROM counted c
    LEFT JOIN declared_lots d ON d.shipment_ref = c.shipment_ref AND d.gtin = c.gtin
    LEFT JOIN undeclared u ON u.shipment_ref = c.shipment_ref AND u.gtin = c.gtin
), observed AS (
    SELECT s.shipment_ref, s.gtin,
           CASE WHEN b.by_product THEN NULL ELSE coalesce(b.one_lot, s.lot) END AS lot,
           sum(s.serials) AS serials, sum(s.lot_unknown) AS lot_unknown,
           max(b.undeclared) AS undeclared
    FROM serial_lots s
    LEFT JOIN compare_by b ON b.shipment_ref = s.shipment_ref AND b.gtin = s.gtin
    WHERE b.by_product IS NOT NULL
       OR NOT EXISTS (SELECT 1 FROM lines l
                      WHERE l.shipment_ref = s.shipment_ref AND l.gtin = s.gtin)
    GROUP BY 1, 2, 3
), declared AS (
    SELECT l.shipment_ref, l.gtin, CASE WHEN b.by_product THEN NULL ELSE l.lot END AS lot,
           CAST(sum(l.qty_units) AS DECIMAL(38,12)) AS units, min(l.period) AS period
    FROM lines l
    JOIN compare_by b ON b.shipment_ref = l.shipment_ref AND b.gtin = l.gtin
    WHERE l.shipment_ref IN (SELECT sh.shipment_ref FROM ships sh)
    GROUP BY 1, 2, 3
), unpacked AS (
    SELECT sh.shipment_ref, count(DISTINCT (s.id_gtin, s.id_serial)) AS empty_containers
    FROM ships sh
    JOIN serial_moves s ON s.event_row = sh.event_row
    LEFT JOIN expanded_containers y
      ON y.event_row = s.event_row AND y.via_gtin = s.id_gtin AND y.via_serial = s.id_serial
    WHERE s.biz_step = 'shipping' AND s.list IS NOT NULL AND s.epc_kind = 'sscc'
      AND y.event_row IS NULL
    GROUP BY sh.shipment_ref
), compared AS (
    SELECT
        coalesce(d.shipment_ref, o.shipment_ref) AS shipment_ref,
        coalesce(d.gtin, o.gtin) AS gtin,
        coalesce(d.lot, o.lot) AS lot,
        d.period AS declared_period,
        coalesce(d.units, CAST(0 AS DECIMAL(38,12))) AS expected,
        CAST(coalesce(o.serials, 0) AS DECIMAL(38,12)) AS observed,
        coalesce(o.lot_unknown, 0) AS lot_unknown,
        coalesce(o.undeclared, 0) AS undeclared
    FROM declared d
    FULL OUTER JOIN observed o
      ON o.shipment_ref = d.shipment_ref AND o.gtin = d.gtin
     AND coalesce(o.lot, '') = coalesce(d.lot, '')
), findings AS (
    SELECT c.*, c.observed - c.expected AS difference
    FROM compared c
    WHERE abs(c.observed - c.expected) > CAST($tol_units AS DECIMAL(38,12))
), evidence AS (
    SELECT f.shipment_ref, f.gtin, f.lot, 'consignment' AS kind, l.line_key AS key,
           l.source, l.declared_date AS at_date, 0 AS ord
    FROM findings f
    JOIN lines l ON l.shipment_ref = f.shipment_ref AND l.gtin = f.gtin
     AND (f.lot IS NULL OR l.lot = f.lot)
    UNION
    SELECT f.shipment_ref, f.gtin, f.lot, 'event', x.event_key, x.source, sh.local_date, 1
    FROM findings f
    JOIN ships sh ON sh.shipment_ref = f.shipment_ref
    JOIN event_sources x ON x.event_row = sh.event_row
), evidence_lists AS (
    SELECT v.shipment_ref, v.gtin, v.lot,
           list(struct_pack(kind := v.kind, key := v.key, source := v.source)
                ORDER BY v.ord, v.at_date, v.key) AS evidence
    FROM evidence v
    GROUP BY v.shipment_ref, v.gtin, v.lot
), first_ship AS (
    SELECT sh.shipment_ref, min(sh.local_date) AS shipped_on
    FROM ships sh
    GROUP BY sh.shipment_ref
)
SELECT
    f.shipment_ref,
    f.gtin,
    f.lot,
    coalesce(f.declared_period, CAST(year(s.shipped_on) AS VARCHAR) || '-Q'
             || CAST(quarter(s.shipped_on) AS VARCHAR)) AS period,
    f.expected,
    f.observed,
    f.difference,
    'H87' AS unit,
    CASE WHEN f.difference < 0 THEN 'shortfall' ELSE 'excess' END
        || ': ' || CAST(CAST(f.observed AS BIGINT) AS VARCHAR) || ' serials shipped, '
        || regexp_replace(CAST(f.expected AS VARCHAR), '\.?0+$', '') || ' units declared'
        || CASE WHEN f.lot_unknown > 0
                THEN '; ' || CAST(f.lot_unknown AS VARCHAR) || ' serials never commissioned'
                ELSE '' END
        || CASE WHEN f.undeclared > 0
                THEN '; ' || CAST(f.undeclared AS VARCHAR)
                     || CASE WHEN f.lot IS NULL
                             THEN ' serials commissioned in lots not declared, counted for '
                                  || 'the product as a whole'
                             ELSE ' serials commissioned in another lot, shipped under this one'
                        END
                ELSE '' END
        || CASE WHEN f.difference < 0 AND u.empty_containers > 0
                THEN '; ' || CAST(u.empty_containers AS VARCHAR)
                     || ' shipped containers with no recorded packing'
                ELSE '' END AS detail,
    v.evidence
FROM findings f
JOIN first_ship s ON s.shipment_ref = f.shipment_ref
LEFT JOIN unpacked u ON u.shipment_ref = f.shipment_ref
LEFT JOIN evidence_lists v
  ON v.shipment_ref = f.shipment_ref AND v.gtin = f.gtin
 AND coalesce(v.lot, '') = coalesce(f.lot, '')
