-- id:        serial-not-commissioned
-- severity:  critical
-- needs:     events
-- tolerance: none
-- checks:    A serial (SGTIN) is shipped, received or packed, directly or inside an SSCC
--            (expanded to any depth as of the event's time), but no commissioning event
--            created it at or before that time.
-- why:       A pack that was never commissioned has no place in the manufacturer's records:
--            a counterfeit or a pack made outside the declared production, carried along
--            with genuine goods.
-- evidence:  the moves of the serial that no earlier commissioning covers
-- remedy:    pull this pack: no commissioning record covers it
WITH commissioned AS (
    SELECT i.id_gtin, i.id_serial, e.event_time, e.local_date
    FROM live_rows e
    JOIN epc_items i ON i.event_row = e.event_row
    WHERE e.biz_step = 'commissioning' AND i.epc_kind = 'sgtin'
), direct_moves AS (
    -- moves named directly: an item moved inside a container was packed into it earlier by
    -- an aggregation, itself a move here, so the rows of expanded_serials cannot make a
    -- serial's first move earlier (they are listed below, for the suspects)
    SELECT s.id_gtin, s.id_serial, s.event_time
    FROM serial_moves s
    WHERE s.epc_kind = 'sgtin' AND s.list IS NOT NULL
      AND (s.biz_step IN ('shipping', 'receiving')
           OR (s.event_type = 'AggregationEvent' AND s.action = 'ADD'
               AND s.list = 'childEPCs'))
), early AS (
    -- serials with a move that no commissioning of theirs precedes (or equals in time):
    -- one join over every serial, no grouping
    SELECT DISTINCT m.id_gtin, m.id_serial
    FROM direct_moves m
    LEFT JOIN commissioned c
      ON c.id_gtin = m.id_gtin AND c.id_serial = m.id_serial AND c.event_time <= m.event_time
    WHERE c.id_gtin IS NULL
), per_serial AS (
    -- with their first commissioning, if any, and its earliest local date
    SELECT r.id_gtin, r.id_serial, min(c.event_time) AS first_at,
           min(c.local_date) AS first_date
    FROM early r
    LEFT JOIN commissioned c ON c.id_gtin = r.id_gtin AND c.id_serial = r.id_serial
    GROUP BY r.id_gtin, r.id_serial
), moves AS (
    SELECT DISTINCT s.id_gtin, s.id_serial, s.event_row, coalesce(s.biz_step, 'packing') AS step,
           s.event_time, s.local_date, p.first_at, p.first_date
    FROM serial_moves s
    JOIN per_serial p ON p.id_gtin = s.id_gtin AND p.id_serial = s.id_serial
    WHERE s.epc_kind = 'sgtin'
      AND (s.biz_step IN ('shipping', 'receiving')
           OR (s.event_type = 'AggregationEvent' AND s.action = 'ADD'
               AND s.list = 'childEPCs'))
      AND (p.first_at IS NULL OR s.event_time < p.first_at)
), orphan AS (
    SELECT m.*, x.event_key, x.source,
           coalesce(k.epc_key,
                              'https://id.gs1.org/01/' || g.gtin || '/21/' || m.id_serial) AS epc_key
    FROM moves m
    JOIN event_sources x ON x.event_row = m.event_row
    LEFT JOIN epc_gtins g ON g.gtin_id = m.id_gtin
    LEFT JOIN epc_keys k ON k.id_gtin = m.id_gtin AND k.id_serial = m.id_serial
)
SELECT
    o.epc_key AS epc,
    CAST(year(min(o.local_date)) AS VARCHAR) || '-Q'
        || CAST(quarter(min(o.local_date)) AS VARCHAR) AS period,
    CASE
        WHEN min(o.first_date) IS NULL THEN 'never commissioned; '
        ELSE 'commissioned only on ' || CAST(min(o.first_date) AS VARCHAR) || '; '
    END || string_agg(o.step || ' on ' || CAST(o.local_date AS VARCHAR), ', '
                      ORDER BY o.event_time, o.event_key) AS detail,
    list(struct_pack(kind := 'event', key := o.event_key, source := o.source)
         ORDER BY o.event_time, o.event_key) AS evidence
FROM orphan o
GROUP BY o.epc_key
