-- id:        unknown-lot
-- severity:  high
-- needs:     batches
-- tolerance: none
-- checks:    A consignment line (export or import), a commissioning event's ILMD or an
--            event's quantity (LGTIN class) names a (gtin, lot) that no manufacture
--            declaration covers.
-- why:       A lot number no manufacturer declared is product of unknown origin: made outside
--            the declared production, or a counterfeit that borrows a plausible lot number.
-- evidence:  every consignment line and event that names the lot
-- remedy:    check the lot number against the packs; ship only lots a manufacture
--            declaration covers, or load the missing declaration
WITH named AS (
    SELECT c.gtin, c.lot, c.declared_date AS d, 'consignment' AS kind,
           c.line_key AS key, c.source
    FROM current_consignments c
    WHERE c.lot IS NOT NULL AND c.lot <> ''
    UNION
    SELECT g.gtin, c.lot, c.local_date, 'event', x.event_key, x.source
    FROM (SELECT DISTINCT i.id_gtin, e.lot, e.local_date, e.event_row
          FROM live_rows e
          JOIN epc_items i ON i.event_row = e.event_row
          WHERE e.biz_step = 'commissioning' AND i.epc_kind = 'sgtin'
            AND e.lot IS NOT NULL AND e.lot <> '') c
    JOIN epc_gtins g ON g.gtin_id = c.id_gtin
    JOIN event_sources x ON x.event_row = c.event_row
    UNION
    SELECT q.gtin, q.lot, e.local_date, 'event', e.event_key, e.source
    FROM live_events e
    JOIN event_quantities q ON q.event_row = e.event_row
    WHERE q.gtin IS NOT NULL AND q.lot IS NOT NULL AND q.lot <> ''
), unknown AS (
    SELECT n.*
    FROM named n
    WHERE NOT EXISTS (SELECT 1 FROM batches b WHERE b.gtin = n.gtin AND b.lot = n.lot)
)
SELECT
    u.gtin,
    u.lot,
    CAST(year(min(u.d)) AS VARCHAR) || '-Q' || CAST(quarter(min(u.d)) AS VARCHAR) AS period,
    'no manufacture declaration; named by '
        || CAST(count(*) FILTER (WHERE u.kind = 'consignment') AS VARCHAR)
        || ' consignment line(s) and '
        || CAST(count(*) FILTER (WHERE u.kind = 'event') AS VARCHAR) || ' event(s)' AS detail,
    list(struct_pack(kind := u.kind, key := u.key, source := u.source)
         ORDER BY u.kind, u.source, u.key) AS evidence
FROM unknown u
GROUP BY u.gtin, u.lot
