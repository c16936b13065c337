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
    SELECT e.event_row, e.event_key, e.event_time, e.local_date, e.source,
           e.local_date + CAST($window_days AS INTEGER) AS deadline
    FROM live_events e
    WHERE e.biz_step = 'shipping' AND e.local_date <= CAST($as_of AS DATE)
), ship_ref AS (
    -- one shipment_ref per shipping event: preferably one a consignment declares
    SELECT r.event_row, r.ref,
           row_number() OVER (
               PARTITION BY r.event_row
               ORDER BY CASE WHEN r.ref IN (SELECT c.shipment_ref FROM consignments c)
                             THEN 0 ELSE 1 END, r.ref) AS nth
    FROM event_refs r
), receipts AS (
    SELECT e.event_row, e.event_time, e.local_date
    FROM live_events e
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
    SELECT DISTINCT s.event_row, s.event_key, s.event_time, s.local_date, s.deadline,
           s.source, x.epc_key, r.ref AS shipment_ref
    FROM ships s
    JOIN event_serials x ON x.event_row = s.event_row AND x.epc_kind = 'sgtin'
    LEFT JOIN ship_ref r ON r.event_row = s.event_row AND r.nth = 1
    WHERE s.event_row IN (SELECT d.event_row FROM destinations d)
), matched AS (
    -- receipts of a sent serial, after it was sent, by a receiver the shipment was sent to
    SELECT t.event_row, t.epc_key, r.local_date, t.deadline
    FROM sent t
    JOIN event_serials x
      ON x.epc_key = t.epc_key AND x.biz_step = 'receiving' AND x.event_time >= t.event_time
    JOIN receipts r ON r.event_row = x.event_row
    JOIN destinations d ON d.event_row = t.event_row
    JOIN receivers v ON v.event_row = r.event_row AND v.party = d.party
    UNION ALL
    -- a receiving event that names no receiver at all counts wherever it was sent
    SELECT t.event_row, t.epc_key, r.local_date, t.deadline
    FROM sent t
    JOIN event_serials x
      ON x.epc_key = t.epc_key AND x.biz_step = 'receiving' AND x.event_time >= t.event_time
    JOIN receipts r ON r.event_row = x.event_row
    WHERE r.event_row NOT IN (SELECT v.event_row FROM receivers v)
), arrived AS (
    SELECT m.event_row, m.epc_key,
           bool_or(m.local_date <= m.deadline) AS in_time,
           min(m.local_date) AS first_receipt
    FROM matched m
    GROUP BY m.event_row, m.epc_key
), items AS (
    -- one row per shipment (or unreferenced serial) and serial
    SELECT t.shipment_ref,
           CASE WHEN t.shipment_ref IS NULL THEN t.epc_key END AS epc,
           t.epc_key,
           bool_or(coalesce(a.in_time, false)) AS received,
           max(t.deadline) AS deadline,
           min(a.first_receipt) AS late_receipt
    FROM sent t
    LEFT JOIN arrived a ON a.event_row = t.event_row AND a.epc_key = t.epc_key
    GROUP BY t.shipment_ref, CASE WHEN t.shipment_ref IS NULL THEN t.epc_key END, t.epc_key
), missing AS (
    SELECT i.*, CAST($as_of AS DATE) > i.deadline AS overdue,
           row_number() OVER (PARTITION BY i.shipment_ref, i.epc
                              ORDER BY i.epc_key) AS nth
    FROM items i
    WHERE NOT i.received
), groups AS (
    SELECT i.shipment_ref, i.epc,
           count(*) AS shipped,
           count(*) FILTER (WHERE i.received) AS received
    FROM items i
    GROUP BY i.shipment_ref, i.epc
    HAVING count(*) FILTER (WHERE NOT i.received) > 0
), summary AS (
    SELECT m.shipment_ref, m.epc,
           count(*) FILTER (WHERE m.overdue) AS overdue,
           count(*) FILTER (WHERE NOT m.overdue) AS pending,
           count(*) FILTER (WHERE m.late_receipt IS NOT NULL) AS late,
           max(m.deadline) FILTER (WHERE m.overdue) AS overdue_by,
           max(m.deadline) FILTER (WHERE NOT m.overdue) AS open_until,
           string_agg(m.epc_key, ', ' ORDER BY m.epc_key) FILTER (WHERE m.nth <= 5)
               || CASE WHEN count(*) > 5 THEN ', ...' ELSE '' END AS serials
    FROM missing m
    GROUP BY m.shipment_ref, m.epc
), shipments AS (
    SELECT DISTINCT t.shipment_ref, CASE WHEN t.shipment_ref IS NULL THEN t.epc_key END AS epc,
           t.event_key, t.event_time, t.local_date, t.source
    FROM sent t
), evidence AS (
    SELECT s.shipment_ref, s.epc, min(s.local_date) AS shipped_on,
           list(struct_pack(kind := 'event', key := s.event_key, source := s.source)
                ORDER BY s.event_time, s.event_key) AS evidence
    FROM shipments s
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
