-- id:        expired-shipped
-- severity:  medium
-- needs:     events
-- tolerance: none
-- checks:    A live shipping event ships a lot after its expiry date (the event's local date
--            is later than the expiry). The lot of a serial is the one it was commissioned in
--            (SSCCs expanded as packed at the shipping time); bulk lots come from the
--            shipping event's quantity list. The expiry is the earliest of the lot's
--            manufacture declaration (batches.expiry_date) and its commissioning events'
--            ILMD itemExpirationDate. A shipped quantity in a unit that is not a known
--            UN/ECE Rec 20 code still shows the lot shipped, but is left out of the total
--            shipped, and the report says so.
-- why:       Expired medicines have no legitimate buyer: shipping them means they are headed
--            for a grey market, or the expiry on record is false and the lot is not what
--            its paperwork says.
-- evidence:  the declaration or commissioning event giving the expiry, and the shipping
--            events after it
-- remedy:    take this lot off the shipment and send one with enough shelf life
WITH expiries AS (
    SELECT b.gtin, b.lot, b.expiry_date AS expiry, 'batch' AS kind,
           b.gtin || '/' || b.lot AS key, b.source, 'manufacture declaration' AS what
    FROM current_batches b
    WHERE b.expiry_date IS NOT NULL
    UNION
    SELECT g.gtin, c.lot, v.expiry, 'event', x.event_key, x.source, 'commissioning'
    FROM (SELECT DISTINCT i.id_gtin, e.lot, e.event_row
          FROM live_rows e
          JOIN epc_items i ON i.event_row = e.event_row
          WHERE e.biz_step = 'commissioning' AND i.epc_kind = 'sgtin'
            AND e.lot IS NOT NULL) c
    JOIN events v ON v.event_row = c.event_row
    JOIN epc_gtins g ON g.gtin_id = c.id_gtin
    JOIN event_sources x ON x.event_row = c.event_row
    WHERE v.expiry IS NOT NULL
    UNION
    SELECT q.gtin, coalesce(q.lot, e.lot), e.expiry, 'event', e.event_key, e.source,
           'commissioning'
    FROM live_events e
    JOIN event_quantities q ON q.event_row = e.event_row
    WHERE e.biz_step = 'commissioning' AND q.gtin IS NOT NULL
      AND coalesce(q.lot, e.lot) IS NOT NULL AND e.expiry IS NOT NULL
), lot_expiry AS (
    SELECT x.gtin, x.lot, min(x.expiry) AS expiry
    FROM expiries x
    GROUP BY x.gtin, x.lot
), last_shipping AS (
    SELECT max(e.local_date) AS d FROM live_rows e WHERE e.biz_step = 'shipping'
), lapsed AS (
    -- lots that expired before the last shipping date: only their serials can be late
    SELECT g.gtin_id AS id_gtin, l.lot
    FROM lot_expiry l
    JOIN epc_gtins g ON g.gtin = l.gtin
    WHERE l.expiry < (SELECT d FROM last_shipping)
), commissioned AS (
    SELECT i.id_gtin, i.id_serial, e.lot
    FROM live_rows e
    JOIN epc_items i ON i.event_row = e.event_row
    WHERE e.biz_step = 'commissioning' AND i.epc_kind = 'sgtin'
), suspects AS (
    SELECT DISTINCT c.id_gtin, c.id_serial
    FROM commissioned c
    JOIN lapsed p ON p.id_gtin = c.id_gtin AND p.lot = c.lot
), lot_of AS (
    -- the lot a serial was commissioned in (the least, if it was commissioned in several)
    SELECT c.id_gtin, c.id_serial, min(c.lot) AS lot
    FROM commissioned c
    JOIN suspects s ON s.id_gtin = c.id_gtin AND s.id_serial = c.id_serial
    GROUP BY c.id_gtin, c.id_serial
), shipped AS (
    SELECT DISTINCT g.gtin, k.lot,
           CASE WHEN s.id_gtin = 0 THEN s.id_serial
                ELSE 'https://id.gs1.org/01/' || g.gtin || '/21/' || s.id_serial END AS item,
           CAST(NULL AS DECIMAL(38,12)) AS qty, 'H87' AS uom, s.event_row, x.event_key,
           s.event_time, s.local_date, x.source
    FROM serial_moves s
    JOIN lot_of k ON k.id_gtin = s.id_gtin AND k.id_serial = s.id_serial
    JOIN epc_gtins g ON g.gtin_id = s.id_gtin
    JOIN event_sources x ON x.event_row = s.event_row
    WHERE s.biz_step = 'shipping' AND s.epc_kind = 'sgtin'
    UNION ALL
    -- a quantity in a unit not known ships the lot but adds nothing to the total (the
    -- coverage section lists it)
    SELECT q.gtin, q.lot, NULL, CAST(q.quantity * u.factor AS DECIMAL(38,12)),
           CASE WHEN u.dimension = 'mass' THEN 'KGM' WHEN u.dimension = 'volume' THEN 'LTR'
                WHEN u.uom IS NOT NULL OR q.uom IS NULL THEN 'H87' END,
           e.event_row, e.event_key, e.event_time, e.local_date, e.source
    FROM live_events e
    JOIN event_quantities q ON q.event_row = e.event_row
    LEFT JOIN unit_factors u ON u.uom = q.uom
    WHERE e.biz_step = 'shipping' AND q.gtin IS NOT NULL AND q.lot IS NOT NULL
), late AS (
    SELECT s.*, l.expiry
    FROM shipped s
    JOIN lot_expiry l ON l.gtin = s.gtin AND l.lot = s.lot
    WHERE s.local_date > l.expiry
), totals AS (
    SELECT t.gtin, t.lot, min(t.expiry) AS expiry, min(t.local_date) AS first_date,
           count(DISTINCT t.item) AS serials,
           CAST(sum(t.qty) AS DECIMAL(38,12)) AS bulk,
           min(t.uom) FILTER (WHERE t.item IS NULL) AS bulk_unit
    FROM late t
    GROUP BY t.gtin, t.lot
), shipments AS (
    SELECT DISTINCT t.gtin, t.lot, t.event_key, t.event_time, t.local_date, t.source,
           (SELECT nullif(array_to_string(list_sort(list_distinct(list(r.ref))), '/'), '')
            FROM event_refs r WHERE r.event_row = t.event_row) AS refs
    FROM late t
), expiry_proof AS (
    -- the first record of each kind that gives the expiry applied
    SELECT x.gtin, x.lot, x.kind, x.key, x.source, x.expiry,
           row_number() OVER (PARTITION BY x.gtin, x.lot, x.kind ORDER BY x.key) AS nth
    FROM expiries x
    JOIN totals t ON t.gtin = x.gtin AND t.lot = x.lot AND x.expiry = t.expiry
), proof AS (
    SELECT x.gtin, x.lot, x.kind, x.key, x.source, 0 AS ord, x.expiry AS at_date
    FROM expiry_proof x
    WHERE x.nth = 1
    UNION ALL
    SELECT s.gtin, s.lot, 'event', s.event_key, s.source, 1, s.local_date
    FROM shipments s
), evidence AS (
    SELECT p.gtin, p.lot,
           list(struct_pack(kind := p.kind, key := p.key, source := p.source)
                ORDER BY p.ord, p.at_date, p.key) AS evidence
    FROM proof p
    GROUP BY p.gtin, p.lot
), expiry_sources AS (
    SELECT x.gtin, x.lot,
           nullif(array_to_string(list_sort(list_distinct(list(x.what))), ' and '), '') AS what
    FROM expiries x
    JOIN totals t ON t.gtin = x.gtin AND t.lot = x.lot AND x.expiry = t.expiry
    GROUP BY x.gtin, x.lot
), shipped_list AS (
    SELECT s.gtin, s.lot,
           string_agg(CAST(s.local_date AS VARCHAR) || coalesce(' (' || s.refs || ')', ''),
                      ', ' ORDER BY s.event_time, s.event_key) AS shipped
    FROM shipments s
    GROUP BY s.gtin, s.lot
)
SELECT
    t.gtin,
    t.lot,
    CAST(year(t.first_date) AS VARCHAR) || '-Q' || CAST(quarter(t.first_date) AS VARCHAR)
        AS period,
    CASE WHEN t.serials > 0 OR t.bulk IS NOT NULL THEN CAST(0 AS DECIMAL(38,12)) END
        AS expected,
    CASE WHEN t.serials > 0 THEN CAST(t.serials AS DECIMAL(38,12)) ELSE t.bulk END
        AS observed,
    CASE WHEN t.serials > 0 THEN CAST(t.serials AS DECIMAL(38,12)) ELSE t.bulk END
        AS difference,
    CASE WHEN t.serials > 0 THEN 'H87' ELSE t.bulk_unit END AS unit,
    'expired on ' || CAST(t.expiry AS VARCHAR) || ' (' || w.what || '); shipped on '
        || l.shipped AS detail,
    v.evidence
FROM totals t
JOIN expiry_sources w ON w.gtin = t.gtin AND w.lot = t.lot
JOIN shipped_list l ON l.gtin = t.gtin AND l.lot = t.lot
JOIN evidence v ON v.gtin = t.gtin AND v.lot = t.lot

-- coverage: the shipping events whose quantities of a lot are in a unit that is not a known
--           UN/ECE Rec 20 code: left out of the totals shipped
SELECT
    'shipped quantities in unit "' || q.uom || '" (not a known UN/ECE Rec 20 unit) left out '
        || 'of the totals shipped' AS reason,
    e.event_key AS subject,
    e.period
FROM live_events e
JOIN event_quantities q ON q.event_row = e.event_row
WHERE e.biz_step = 'shipping' AND q.gtin IS NOT NULL AND q.lot IS NOT NULL
  AND q.uom IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM unit_factors u WHERE u.uom = q.uom)
