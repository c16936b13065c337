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
), counted AS (
    SELECT c.id_gtin, c.lot, CAST(count(DISTINCT c.id_serial) AS DECIMAL(38,12)) AS serials,
           count(DISTINCT c.event_row) AS events
    FROM commissioned c
    JOIN candidates k ON k.id_gtin = c.id_gtin AND k.lot = c.lot
    GROUP BY c.id_gtin, c.lot
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
    FROM (SELECT DISTINCT c.id_gtin, c.lot, c.event_row FROM commissioned c) c
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
