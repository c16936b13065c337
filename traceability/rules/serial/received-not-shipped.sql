-- id:        received-not-shipped
-- severity:  critical
-- needs:     events
-- tolerance: none
-- checks:    A serial (SGTIN; SSCCs expanded as packed at the receiving time) is received
--            by a live receiving event, but no live shipping event sent it at or before that
--            time (error-declared and voided shipping events do not count). Judged where the
--            shipping side is loaded: the receiving event names a source that some shipping
--            event names as its source (or location), or names no source while shipping
--            events are loaded at all.
-- why:       A pack that arrives without ever having left anyone is a pack from outside the
--            declared chain: the classic sign of a counterfeit, or of goods slipped into a
--            genuine shipment.
-- evidence:  the receiving events of the serial
WITH receipt_events AS (
    SELECT e.event_row FROM live_rows e WHERE e.biz_step = 'receiving'
), shipping_events AS (
    SELECT e.event_row, e.biz_location, e.read_point
    FROM live_events e
    WHERE e.biz_step = 'shipping'
), shippers AS (
    -- parties and places that the loaded shipping events ship from
    SELECT coalesce(p.gln, p.value_key) AS party
    FROM event_parties p
    JOIN shipping_events e ON e.event_row = p.event_row
    WHERE p.role = 'source'
    UNION
    SELECT coalesce(NULLIF(regexp_extract(e.biz_location, '/41[47]/([0-9]{13})', 1), ''),
                    e.biz_location)
    FROM shipping_events e
    WHERE e.biz_location IS NOT NULL
    UNION
    SELECT coalesce(NULLIF(regexp_extract(e.read_point, '/41[47]/([0-9]{13})', 1), ''),
                    e.read_point)
    FROM shipping_events e
    WHERE e.read_point IS NOT NULL
), senders AS (
    SELECT p.event_row, coalesce(p.gln, p.value_key) AS party
    FROM event_parties p
    WHERE p.role = 'source' AND p.event_row IN (SELECT r.event_row FROM receipt_events r)
), judged AS (
    SELECT r.event_row
    FROM receipt_events r
    WHERE EXISTS (SELECT 1 FROM senders s
                  WHERE s.event_row = r.event_row
                    AND s.party IN (SELECT h.party FROM shippers h))
       OR (NOT EXISTS (SELECT 1 FROM senders s WHERE s.event_row = r.event_row)
           AND EXISTS (SELECT 1 FROM shipping_events))
), received AS (
    SELECT s.id_gtin, s.id_serial, s.event_row, s.event_time, s.local_date
    FROM serial_moves s
    WHERE s.epc_kind = 'sgtin' AND s.biz_step = 'receiving'
      AND s.event_row IN (SELECT j.event_row FROM judged j)
), shipped AS (
    SELECT s.id_gtin, s.id_serial, s.event_time, s.local_date
    FROM serial_moves s
    WHERE s.epc_kind = 'sgtin' AND s.biz_step = 'shipping'
), early AS (
    -- receipts of a serial with no shipping of it at or before them (received before its
    -- first shipping, or never shipped): one join over every serial, no grouping
    SELECT DISTINCT r.id_gtin, r.id_serial, r.event_row, r.event_time, r.local_date
    FROM received r
    LEFT JOIN shipped s
      ON s.id_gtin = r.id_gtin AND s.id_serial = r.id_serial AND s.event_time <= r.event_time
    WHERE s.id_gtin IS NULL
), suspects AS (
    -- the serials so received, with the date of their first shipping (none: never shipped)
    SELECT r.id_gtin, r.id_serial, min(s.local_date) AS first_date
    FROM (SELECT DISTINCT e.id_gtin, e.id_serial FROM early e) r
    LEFT JOIN shipped s ON s.id_gtin = r.id_gtin AND s.id_serial = r.id_serial
    GROUP BY r.id_gtin, r.id_serial
), unsent AS (
    SELECT e.id_gtin, e.id_serial, e.event_row, x.event_key, e.event_time, e.local_date,
           x.source, k.first_date
    FROM early e
    JOIN suspects k ON k.id_gtin = e.id_gtin AND k.id_serial = e.id_serial
    JOIN event_sources x ON x.event_row = e.event_row
)
SELECT
    coalesce(min(n.epc_key),
                       'https://id.gs1.org/01/' || min(g.gtin) || '/21/' || u.id_serial) AS epc,
    CAST(year(min(u.local_date)) AS VARCHAR) || '-Q'
        || CAST(quarter(min(u.local_date)) AS VARCHAR) AS period,
    'received on ' || string_agg(CAST(u.local_date AS VARCHAR), ', '
                                 ORDER BY u.event_time, u.event_key)
        || CASE WHEN min(u.first_date) IS NULL THEN '; never shipped'
                ELSE '; first shipped only on ' || CAST(min(u.first_date) AS VARCHAR) END
        AS detail,
    list(struct_pack(kind := 'event', key := u.event_key, source := u.source)
         ORDER BY u.event_time, u.event_key) AS evidence
FROM unsent u
LEFT JOIN epc_gtins g ON g.gtin_id = u.id_gtin
LEFT JOIN epc_keys n ON n.id_gtin = u.id_gtin AND n.id_serial = u.id_serial
GROUP BY u.id_gtin, u.id_serial
