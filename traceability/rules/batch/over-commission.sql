-- id:        over-commission
-- severity:  high
-- needs:     batches, events
-- tolerance: tol_units = 0 (serials beyond the declared quantity)
-- checks:    More distinct serials were commissioned for a lot (commissioning events, lot and
--            gtin from the event's ILMD and SGTINs; a serial commissioned twice counts once)
--            than the lot's declared manufactured quantity in units.
-- why:       Serials beyond the declared make are packs with genuine identities that no
--            manufacture declaration accounts for: stock that can leave the licit chain unseen.
-- evidence:  the manufacture declaration and every commissioning event of the lot
WITH commissioned AS (
    SELECT i.id_gtin, e.lot, i.id_serial, e.event_row
    FROM live_rows e
    JOIN epc_items i ON i.event_row = e.event_row
    WHERE e.biz_step = 'commissioning' AND i.epc_kind = 'sgtin'
      AND e.lot IS NOT NULL AND e.lot <> ''
), listed AS (
    -- an upper bound: a serial listed twice counts twice here
    SELECT c.id_gtin, c.lot, count(*) AS listed
    FROM commissioned c
    GROUP BY c.id_gtin, c.lot
), candidates AS (
    SELECT b.gtin, b.lot, b.period, b.source AS batch_source, b.qty_units, l.id_gtin
    FROM current_batches b
    JOIN epc_gtins g ON g.gtin = b.gtin
    JOIN listed l ON l.id_gtin = g.gtin_id AND l.lot = b.lot
    WHERE b.unit = 'H87'
      AND l.listed - b.qty_units > CAST($tol_units AS DECIMAL(38,12))
), candidate_events AS (
    -- the commissioning events of the candidate lots: the serials are counted again from
    -- these alone, not from every commissioned serial a second and third time
    SELECT e.event_row, k.id_gtin, k.lot
    FROM live_rows e
    JOIN candidates k ON k.lot = e.lot
    WHERE e.biz_step = 'commissioning'
), lot_serials AS (
    SELECT DISTINCT c.id_gtin, c.lot, c.event_row, i.id_serial
    FROM candidate_events c
    JOIN epc_items i ON i.event_row = c.event_row AND i.id_gtin = c.id_gtin
    WHERE i.epc_kind = 'sgtin'
), counted AS (
    SELECT s.id_gtin, s.lot, CAST(count(DISTINCT s.id_serial) AS DECIMAL(38,12)) AS serials,
           count(DISTINCT s.event_row) AS events
    FROM lot_serials s
    GROUP BY s.id_gtin, s.lot
), over AS (
    SELECT
        b.gtin, b.lot, b.id_gtin, b.period, b.batch_source,
        b.qty_units AS expected, k.serials AS observed, k.serials - b.qty_units AS difference,
        k.events
    FROM candidates b
    JOIN counted k ON k.id_gtin = b.id_gtin AND k.lot = b.lot
    WHERE k.serials - b.qty_units > CAST($tol_units AS DECIMAL(38,12))
), evidence AS (
    SELECT o.gtin, o.lot, 'batch' AS kind, o.gtin || '/' || o.lot AS key, o.batch_source AS source
    FROM over o
    UNION
    SELECT o.gtin, o.lot, 'event', x.event_key, x.source
    FROM (SELECT DISTINCT s.id_gtin, s.lot, s.event_row FROM lot_serials s) c
    JOIN over o ON o.id_gtin = c.id_gtin AND o.lot = c.lot
    JOIN event_sources x ON x.event_row = c.event_row
)
SELECT
    o.gtin,
    o.lot,
    o.period,
    o.expected,
    o.observed,
    o.difference,
    'H87' AS unit,
    'serials commissioned in ' || CAST(o.events AS VARCHAR) || ' commissioning event(s)'
        AS detail,
    list(struct_pack(kind := e.kind, key := e.key, source := e.source)
         ORDER BY e.kind, e.source, e.key) AS evidence
FROM over o
JOIN evidence e ON e.gtin = o.gtin AND e.lot = o.lot
GROUP BY o.gtin, o.lot, o.period, o.expected, o.observed, o.difference, o.events
