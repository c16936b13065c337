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
    SELECT DISTINCT c.gtin, e.lot, c.epc_key, e.event_key, e.event_time, e.local_date, e.source
    FROM live_events e
    JOIN event_epcs c ON c.event_row = e.event_row
    WHERE e.biz_step = 'commissioning' AND c.epc_kind = 'sgtin'
      AND e.lot IS NOT NULL AND e.lot <> ''
), counted AS (
    SELECT gtin, lot, CAST(count(DISTINCT epc_key) AS DECIMAL(38,12)) AS serials,
           count(DISTINCT event_key) AS events
    FROM commissioned
    GROUP BY gtin, lot
), over AS (
    SELECT
        b.gtin, b.lot, b.period, b.source AS batch_source,
        b.qty_units AS expected, k.serials AS observed, k.serials - b.qty_units AS difference,
        k.events
    FROM current_batches b
    JOIN counted k ON k.gtin = b.gtin AND k.lot = b.lot
    WHERE b.unit = 'H87'
      AND k.serials - b.qty_units > CAST($tol_units AS DECIMAL(38,12))
), evidence AS (
    SELECT o.gtin, o.lot, 'batch' AS kind, o.gtin || '/' || o.lot AS key, o.batch_source AS source
    FROM over o
    UNION
    SELECT c.gtin, c.lot, 'event', c.event_key, c.source
    FROM commissioned c
    JOIN over o ON o.gtin = c.gtin AND o.lot = c.lot
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
