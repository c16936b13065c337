-- id:        serial-after-decommission
-- severity:  critical
-- needs:     events
-- tolerance: none
-- checks:    A serial (SGTIN) is shipped, received or packed after an event decommissioned
--            or destroyed it (bizStep decommissioning or destroying, or an ObjectEvent with
--            action DELETE), directly or inside an SSCC expanded as of each event's time.
-- why:       A destroyed or decommissioned pack no longer exists on paper. If it moves
--            again, its identity is being reused, or product declared destroyed was in fact
--            kept and sold on: a classic route for diverting controlled stock.
-- evidence:  the first decommissioning or destroying event and every later move
-- remedy:    pull this pack: it was decommissioned or destroyed
WITH ended AS (
    SELECT s.id_gtin, s.id_serial, x.event_key, coalesce(s.biz_step, 'decommissioning') AS step,
           s.event_time, s.local_date, x.source,
           row_number() OVER (PARTITION BY s.id_gtin, s.id_serial
                              ORDER BY s.event_time, x.event_key) AS nth
    FROM serial_moves s
    JOIN event_sources x ON x.event_row = s.event_row
    WHERE s.epc_kind = 'sgtin'
      AND (s.biz_step IN ('decommissioning', 'destroying')
           OR (s.event_type = 'ObjectEvent' AND s.action = 'DELETE'
               AND coalesce(s.biz_step, '') NOT IN
                   ('shipping', 'receiving', 'packing', 'unpacking', 'void_shipping')))
), first_end AS (
    SELECT * FROM ended WHERE nth = 1
), moves AS (
    SELECT DISTINCT s.id_gtin, s.id_serial, s.event_row,
           coalesce(s.biz_step, 'packing') AS step, s.event_time, s.local_date,
           f.step AS end_step, f.local_date AS end_date
    FROM serial_moves s
    JOIN first_end f ON f.id_gtin = s.id_gtin AND f.id_serial = s.id_serial
     AND s.event_time > f.event_time
    WHERE s.epc_kind = 'sgtin'
      AND (s.biz_step IN ('shipping', 'receiving')
           OR (s.event_type = 'AggregationEvent' AND s.action = 'ADD'
               AND s.list = 'childEPCs'))
), late AS (
    SELECT m.*, x.event_key, x.source
    FROM moves m
    JOIN event_sources x ON x.event_row = m.event_row
), proof AS (
    SELECT l.id_gtin, l.id_serial, l.event_key, l.event_time, l.source FROM late l
    UNION
    SELECT f.id_gtin, f.id_serial, f.event_key, f.event_time, f.source FROM first_end f
    WHERE EXISTS (SELECT 1 FROM late l
                  WHERE l.id_gtin = f.id_gtin AND l.id_serial = f.id_serial)
), evidence AS (
    SELECT p.id_gtin, p.id_serial,
           list(struct_pack(kind := 'event', key := p.event_key, source := p.source)
                ORDER BY p.event_time, p.event_key) AS evidence
    FROM proof p
    GROUP BY p.id_gtin, p.id_serial
)
SELECT
    coalesce(min(k.epc_key),
                       'https://id.gs1.org/01/' || min(g.gtin) || '/21/' || l.id_serial) AS epc,
    CAST(year(min(l.local_date)) AS VARCHAR) || '-Q'
        || CAST(quarter(min(l.local_date)) AS VARCHAR) AS period,
    min(l.end_step) || ' on ' || CAST(min(l.end_date) AS VARCHAR) || '; then '
        || string_agg(l.step || ' on ' || CAST(l.local_date AS VARCHAR), ', '
                      ORDER BY l.event_time, l.event_key) AS detail,
    min(v.evidence) AS evidence
FROM late l
JOIN evidence v ON v.id_gtin = l.id_gtin AND v.id_serial = l.id_serial
LEFT JOIN epc_gtins g ON g.gtin_id = l.id_gtin
LEFT JOIN epc_keys k ON k.id_gtin = l.id_gtin AND k.id_serial = l.id_serial
GROUP BY l.id_gtin, l.id_serial
