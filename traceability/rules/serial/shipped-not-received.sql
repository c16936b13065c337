-- id:        shipped-not-received
-- severity:  high
-- needs:     events
-- tolerance: window_days = 60 (days after the shipping date for the receipt); as_of = the
--            date the window is judged on (default: the latest date in the data). A window
--            still open on as_of is reported as pending, with severity info.
-- checks:    Serials (SGTINs, SSCCs expanded as packed at the shipping time) that a live
--            shipping event sends to a destination whose receiving events are loaded (a
--            party or location named by some receiving event) and that no receiving event
--            at that destination (or naming no receiver) records within window_days of the
--            shipping date, judged per shipment_ref (per serial where the shipping event
--            quotes no transaction).
-- why:       Goods that leave and never arrive where they were sent went somewhere else:
--            the gap between a shipper's scan-out and the consignee's scan-in is where
--            diversion in transit shows.
-- evidence:  the shipping events of the shipment
WITH ships AS (
    SELECT e.event_row, e.event_time, e.local_date,
           e.local_date + CAST($window_days AS INTEGER) AS deadline
    FROM live_rows e
    WHERE e.biz_step = 'shipping' AND e.local_date <= CAST($as_of AS DATE)
), ship_ref AS (
    -- one shipment_ref per shipping event: preferably one a consignment declares
    SELECT r.event_row, r.ref,
           row_number() OVER (
               PARTITION BY r.event_row
               ORDER BY CASE WHEN r.ref IN (SELECT c.shipment_ref FROM consignments c)
                             THEN 0 ELSE 1 END, r.ref) AS nth
    FROM event_refs r
), ref_ids AS (
    -- each shipment_ref shipped under, as ref_id (NULL: none); serials are judged on it
    SELECT DISTINCT s.ref, s.ref AS ref_id FROM ship_ref s WHERE s.nth = 1
), receipts AS (
    SELECT e.event_row, e.event_time, e.local_date
    FROM live_rows e
    WHERE e.biz_step = 'receiving' AND e.local_date <= CAST($as_of AS DATE)
), receivers AS (
    -- who and where each receiving event received: its destinations, location, read point
    SELECT p.event_row, coalesce(p.gln, p.value_key) AS party
    FROM event_parties p
    JOIN receipts r ON r.event_row = p.event_row
    WHERE p.role = 'destination'
    UNION
    SELECT e.event_row,
           coalesce(NULLIF(regexp_extract(e.biz_location, '/41[47]/([0-9]{13})', 1), ''),
                    e.biz_location)
    FROM live_events e
    JOIN receipts r ON r.event_row = e.event_row
    WHERE e.biz_location IS NOT NULL
    UNION
    SELECT e.event_row,
           coalesce(NULLIF(regexp_extract(e.read_point, '/41[47]/([0-9]{13})', 1), ''),
                    e.read_point)
    FROM live_events e
    JOIN receipts r ON r.event_row = e.event_row
    WHERE e.read_point IS NOT NULL
), destinations AS (
    -- destinations of shipping events whose receiving events are loaded
    SELECT DISTINCT p.event_row, coalesce(p.gln, p.value_key) AS party
    FROM event_parties p
    JOIN ships s ON s.event_row = p.event_row
    WHERE p.role = 'destination'
      AND coalesce(p.gln, p.value_key) IN (SELECT v.party FROM receivers v)
), sent AS (
    -- each serial each judged shipping event sent, with the shipment it went under (a
    -- serial may repeat: every later step counts each serial once)
    SELECT s.event_row, s.event_time, s.deadline,
           x.id_gtin, x.id_serial, f.ref_id
    FROM ships s
    JOIN serial_moves x ON x.event_row = s.event_row AND x.epc_kind = 'sgtin'
    LEFT JOIN ship_ref r ON r.event_row = s.event_row AND r.nth = 1
    LEFT JOIN ref_ids f ON f.ref = r.ref
    WHERE s.event_row IN (SELECT d.event_row FROM destinations d)
), received AS (
    SELECT x.event_row, x.event_time, x.local_date, x.id_gtin, x.id_serial
    FROM serial_moves x
    WHERE x.biz_step = 'receiving' AND x.epc_kind = 'sgtin'
      AND x.event_row IN (SELECT r.event_row FROM receipts r)
), matched AS (
    -- each serial sent, with every receipt of it at or after the shipping time (or none)
    SELECT t.event_row AS ship_row, t.ref_id, t.id_gtin, t.id_serial, t.deadline,
           r.event_row AS recv_row, r.local_date
    FROM sent t
    LEFT JOIN received r ON r.id_gtin = t.id_gtin AND r.id_serial = t.id_serial
     AND r.event_time >= t.event_time
), event_pairs AS (
    SELECT DISTINCT m.ship_row, m.recv_row FROM matched m WHERE m.recv_row IS NOT NULL
), good_pairs AS (
    -- received where it was sent: by a receiver the shipping event names as destination,
    -- or by a receiving event that names no receiver at all
    SELECT p.ship_row, p.recv_row
    FROM event_pairs p
    WHERE p.recv_row NOT IN (SELECT v.event_row FROM receivers v)
       OR EXISTS (SELECT 1 FROM destinations d JOIN receivers v ON v.party = d.party
                  WHERE d.event_row = p.ship_row AND v.event_row = p.recv_row)
), judged_receipts AS (
    -- each serial sent with each receipt of it: whether it arrived where it was sent, and
    -- in time (within that shipping's window)
    SELECT m.ref_id, m.id_gtin, m.id_serial, m.deadline, m.local_date,
           g.ship_row IS NOT NULL AS good,
           g.ship_row IS NOT NULL AND m.local_date <= m.deadline AS in_time
    FROM matched m
    LEFT JOIN good_pairs g ON g.ship_row = m.ship_row AND g.recv_row = m.recv_row
), missing AS (
    -- judged per shipment (per serial where the shipping event quotes no transaction): a
    -- serial is missing when no shipping of it under the same shipment saw it arrive where
    -- it was sent within that shipping's window
    SELECT f.ref AS shipment_ref, u.id_gtin, u.id_serial, u.deadline, u.late_receipt
    FROM (
        SELECT j.ref_id, j.id_gtin, j.id_serial, max(j.deadline) AS deadline,
               min(j.local_date) FILTER (WHERE j.good) AS late_receipt
        FROM judged_receipts j
        WHERE NOT j.in_time
          AND NOT EXISTS (SELECT 1 FROM judged_receipts a
                          WHERE a.in_time AND a.ref_id IS NOT DISTINCT FROM j.ref_id
                            AND a.id_gtin = j.id_gtin AND a.id_serial = j.id_serial)
        GROUP BY j.ref_id, j.id_gtin, j.id_serial
    ) u
    LEFT JOIN ref_ids f ON f.ref_id = u.ref_id
), named AS (
    SELECT m.*,
           coalesce(k.epc_key,
                              'https://id.gs1.org/01/' || g.gtin || '/21/' || m.id_serial) AS epc_key,
           CAST($as_of AS DATE) > m.deadline AS overdue
    FROM missing m
    LEFT JOIN epc_gtins g ON g.gtin_id = m.id_gtin
    LEFT JOIN epc_keys k ON k.id_gtin = m.id_gtin AND k.id_serial = m.id_serial
), items AS (
    SELECT n.*, CASE WHEN n.shipment_ref IS NULL THEN n.epc_key END AS epc,
           row_number() OVER (PARTITION BY n.shipment_ref,
                                           CASE WHEN n.shipment_ref IS NULL THEN n.epc_key END
                              ORDER BY n.epc_key) AS nth
    FROM named n
), shipped_counts AS (
    SELECT f.ref AS shipment_ref, count(DISTINCT (t.id_gtin, t.id_serial)) AS shipped
    FROM sent t
    JOIN ref_ids f ON f.ref_id = t.ref_id
    WHERE f.ref IN (SELECT i.shipment_ref FROM items i)
    GROUP BY f.ref
), summary AS (
    SELECT i.shipment_ref, i.epc,
           count(*) AS missing,
           count(*) FILTER (WHERE i.overdue) AS overdue,
           count(*) FILTER (WHERE NOT i.overdue) AS pending,
           count(*) FILTER (WHERE i.late_receipt IS NOT NULL) AS late,
           max(i.deadline) FILTER (WHERE i.overdue) AS overdue_by,
           max(i.deadline) FILTER (WHERE NOT i.overdue) AS open_until,
           string_agg(i.epc_key, ', ' ORDER BY i.epc_key) FILTER (WHERE i.nth <= 5)
               || CASE WHEN count(*) > 5 THEN ', ...' ELSE '' END AS serials
    FROM items i
    GROUP BY i.shipment_ref, i.epc
), groups AS (
    SELECT s.shipment_ref, s.epc, coalesce(c.shipped, 1) AS shipped,
           coalesce(c.shipped, 1) - s.missing AS received
    FROM summary s
    LEFT JOIN shipped_counts c ON c.shipment_ref = s.shipment_ref AND s.epc IS NULL
), sent_events AS (
    -- the judged shipping events that sent serials, with their shipment
    SELECT DISTINCT t.event_row, t.event_time, f.ref AS shipment_ref
    FROM sent t
    LEFT JOIN ref_ids f ON f.ref_id = t.ref_id
), shipments AS (
    SELECT DISTINCT t.shipment_ref, i.epc, t.event_row, t.event_time
    FROM sent_events t
    JOIN items i ON i.shipment_ref = t.shipment_ref
    UNION
    SELECT DISTINCT CAST(NULL AS VARCHAR), i.epc, t.event_row, t.event_time
    FROM sent t
    JOIN items i ON i.shipment_ref IS NULL AND t.ref_id IS NULL
     AND i.id_gtin = t.id_gtin AND i.id_serial = t.id_serial
), evidence AS (
    SELECT s.shipment_ref, s.epc, min(e.local_date) AS shipped_on,
           list(struct_pack(kind := 'event', key := x.event_key, source := x.source)
                ORDER BY s.event_time, x.event_key) AS evidence
    FROM shipments s
    JOIN live_rows e ON e.event_row = s.event_row
    JOIN event_sources x ON x.event_row = s.event_row
    GROUP BY s.shipment_ref, s.epc
)
SELECT
    g.shipment_ref,
    g.epc,
    CAST(year(v.shipped_on) AS VARCHAR) || '-Q' || CAST(quarter(v.shipped_on) AS VARCHAR)
        AS period,
    CAST(g.shipped AS DECIMAL(38,12)) AS expected,
    CAST(g.received AS DECIMAL(38,12)) AS observed,
    CAST(g.received - g.shipped AS DECIMAL(38,12)) AS difference,
    'H87' AS unit,
    concat_ws('; ',
        CASE WHEN m.overdue > 0 THEN CAST(m.overdue AS VARCHAR)
             || ' serial(s) not received within '
             || CAST(CAST($window_days AS INTEGER) AS VARCHAR) || ' days (by '
             || CAST(m.overdue_by AS VARCHAR) || ')' END,
        CASE WHEN m.late > 0 THEN CAST(m.late AS VARCHAR) || ' of them received late' END,
        CASE WHEN m.pending > 0 THEN CAST(m.pending AS VARCHAR)
             || ' serial(s) in transit, window open until '
             || CAST(m.open_until AS VARCHAR) END,
        'not received in the window: ' || m.serials) AS detail,
    CASE WHEN m.overdue = 0 THEN 'info' END AS severity,
    v.evidence
FROM groups g
JOIN summary m ON m.shipment_ref IS NOT DISTINCT FROM g.shipment_ref
              AND m.epc IS NOT DISTINCT FROM g.epc
JOIN evidence v ON v.shipment_ref IS NOT DISTINCT FROM g.shipment_ref
               AND v.epc IS NOT DISTINCT FROM g.epc

-- coverage: the destinations of shipping events (on or before as_of) that were not judged
--           because no receiving event at them is loaded, and the shipping events that name
--           no destination at all
WITH ships AS (
    SELECT e.event_row, e.local_date
    FROM live_rows e
    WHERE e.biz_step = 'shipping' AND e.local_date <= CAST($as_of AS DATE)
), receipts AS (
    SELECT e.event_row
    FROM live_rows e
    WHERE e.biz_step = 'receiving' AND e.local_date <= CAST($as_of AS DATE)
), receivers AS (
    SELECT coalesce(p.gln, p.value_key) AS party
    FROM event_parties p
    JOIN receipts r ON r.event_row = p.event_row
    WHERE p.role = 'destination'
    UNION
    SELECT coalesce(NULLIF(regexp_extract(e.biz_location, '/41[47]/([0-9]{13})', 1), ''),
                    e.biz_location)
    FROM live_events e
    JOIN receipts r ON r.event_row = e.event_row
    WHERE e.biz_location IS NOT NULL
    UNION
    SELECT coalesce(NULLIF(regexp_extract(e.read_point, '/41[47]/([0-9]{13})', 1), ''),
                    e.read_point)
    FROM live_events e
    JOIN receipts r ON r.event_row = e.event_row
    WHERE e.read_point IS NOT NULL
), destinations AS (
    SELECT DISTINCT p.event_row, coalesce(p.gln, p.value_key) AS party
    FROM event_parties p
    JOIN ships s ON s.event_row = p.event_row
    WHERE p.role = 'destination'
), judged AS (
    SELECT DISTINCT d.event_row
    FROM destinations d
    WHERE d.party IN (SELECT v.party FROM receivers v)
)
SELECT
    'no receiving events loaded from these destinations: shipments to them not judged'
        AS reason,
    d.party AS subject,
    CAST(year(s.local_date) AS VARCHAR) || '-Q' || CAST(quarter(s.local_date) AS VARCHAR)
        AS period
FROM destinations d
JOIN ships s ON s.event_row = d.event_row
WHERE d.event_row NOT IN (SELECT j.event_row FROM judged j)
UNION ALL
SELECT
    'shipping events naming no destination not judged' AS reason,
    x.event_key AS subject,
    CAST(year(s.local_date) AS VARCHAR) || '-Q' || CAST(quarter(s.local_date) AS VARCHAR)
        AS period
FROM ships s
JOIN event_sources x ON x.event_row = s.event_row
WHERE s.event_row NOT IN (SELECT d.event_row FROM destinations d)
