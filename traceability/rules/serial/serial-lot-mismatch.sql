-- id:        serial-lot-mismatch
-- severity:  high
-- needs:     events
-- tolerance: none
-- checks:    A serial moves under a lot other than the lot (ILMD lotNumber) of any live
--            commissioning event of that serial: an event after commissioning names it with
--            another lot (a GS1 Digital Link written with a lot qualifier,
--            /10/<lot>/21/<serial>), or a live shipping event carries it (SSCCs expanded as
--            packed at the event's time) under a shipment_ref whose export declaration lines
--            for its product all name a lot and none names its lot: it moves under the lot of
--            the line it is declared under. Serials that were never commissioned are left to
--            serial-not-commissioned; a product with an export line without a lot on the
--            shipment is not judged by its lines (the pack may be declared under that line).
-- why:       A pack travelling under another lot number escapes that lot's balance,
--            expiry and recall: the label or the declaration and the manufacturer's record
--            disagree, which is how relabelled, expired or diverted packs re-enter the chain.
-- evidence:  the commissioning events, every event naming the serial under another lot, and
--            the export declaration lines of the shipment that moved it under another lot
-- remedy:    pull this pack, or declare the lot it was commissioned in
WITH named AS (
    -- SGTINs written with a lot: stored as received text (the prefix-and-serial spellings
    -- carry no lot), named directly by a live event other than commissioning
    SELECT DISTINCT k.epc_key, k.id_gtin, k.id_serial, x.event_key,
           coalesce(e.biz_step, lower(e.event_type)) AS step,
           e.event_time, e.local_date, x.source,
           url_decode(regexp_extract(
               t.raw, '/(?:01|gtin)/[0-9]{8,14}/(?:10|lot)/([^/?#]*)/(?:21|ser)/', 1)) AS lot
    FROM (
        SELECT r.event_row, r.epc_raw AS raw, r.epc_key FROM epc_rows r
        WHERE r.prefix_id IS NULL
        UNION ALL
        SELECT l.event_row, l.parent_raw, v.parent_key FROM live_rows l
        JOIN events v ON v.event_row = l.event_row
        WHERE l.event_type = 'AggregationEvent' AND l.parent_raw IS NOT NULL
    ) t
    JOIN epc_keys k ON k.epc_key = t.epc_key
    JOIN live_rows e ON e.event_row = t.event_row
    JOIN event_sources x ON x.event_row = t.event_row
    WHERE k.epc_kind = 'sgtin'
      AND e.event_type IN ('ObjectEvent', 'AggregationEvent', 'TransformationEvent')
      AND coalesce(e.biz_step, '') <> 'commissioning'
      AND regexp_matches(t.raw, '/(?:01|gtin)/[0-9]{8,14}/(?:10|lot)/[^/?#]*/(?:21|ser)/')
), commissioned AS (
    SELECT DISTINCT n.epc_key, e.lot, x.event_key, e.event_time, x.source
    FROM live_rows e
    JOIN epc_items i ON i.event_row = e.event_row
    JOIN (SELECT DISTINCT epc_key, id_gtin, id_serial FROM named) n
      ON n.id_gtin = i.id_gtin AND n.id_serial = i.id_serial
    JOIN event_sources x ON x.event_row = e.event_row
    WHERE e.biz_step = 'commissioning' AND i.epc_kind = 'sgtin' AND e.lot IS NOT NULL
), wrong_named AS (
    SELECT n.id_gtin, n.id_serial, n.event_key, n.event_time, n.local_date, n.source,
           'named as lot ' || n.lot || ' by ' || n.step || ' on '
               || CAST(n.local_date AS VARCHAR) AS said
    FROM named n
    WHERE n.epc_key IN (SELECT c.epc_key FROM commissioned c)
      AND NOT EXISTS (
          SELECT 1 FROM commissioned c WHERE c.epc_key = n.epc_key AND c.lot = n.lot)
), export_lines AS (
    SELECT c.shipment_ref, c.gtin, NULLIF(c.lot, '') AS lot,
           c.line_key, c.source
    FROM current_consignments c
    WHERE c.direction = 'export'
), lotted AS (
    -- (shipment_ref, product) whose export lines all name a lot: the lots its packs move
    -- under; a number for each, as the per-serial work below groups on numbers
    SELECT p.shipment_ref, p.gtin, p.gtin_id, p.lots,
           row_number() OVER (PARTITION BY p.gtin_id ORDER BY p.shipment_ref) AS ref_id
    FROM (
        SELECT l.shipment_ref, l.gtin, g.gtin_id,
               array_to_string(list_sort(list_distinct(list(l.lot))), ' or ') AS lots
        FROM export_lines l
        JOIN epc_gtins g ON g.gtin = l.gtin
        GROUP BY l.shipment_ref, l.gtin, g.gtin_id
        HAVING bool_and(l.lot IS NOT NULL)
    ) p
), declared_lots AS (
    SELECT DISTINCT t.gtin_id, t.ref_id, l.lot
    FROM lotted t
    JOIN export_lines l ON l.shipment_ref = t.shipment_ref AND l.gtin = t.gtin
), ships AS (
    SELECT DISTINCT r.ref AS shipment_ref, e.event_row
    FROM live_rows e
    JOIN event_refs r ON r.event_row = e.event_row
    WHERE e.biz_step = 'shipping' AND r.ref IN (SELECT t.shipment_ref FROM lotted t)
), shipped AS (
    -- the packs each shipping event moved under a lotted (shipment_ref, product): not an
    -- SGTIN that holds packs at the time (a case)
    SELECT t.ref_id, s.event_row, s.id_gtin, s.id_serial
    FROM ships sh
    JOIN serial_moves s ON s.event_row = sh.event_row
    JOIN lotted t ON t.shipment_ref = sh.shipment_ref AND t.gtin_id = s.id_gtin
    LEFT JOIN moved_cases y
      ON y.event_row = s.event_row AND y.id_gtin = s.id_gtin AND y.id_serial = s.id_serial
    WHERE s.biz_step = 'shipping' AND s.epc_kind = 'sgtin' AND y.event_row IS NULL
), made AS (
    -- the lots each serial was commissioned in
    SELECT i.id_gtin, i.id_serial, e.lot
    FROM live_rows e
    JOIN epc_items i ON i.event_row = e.event_row
    WHERE e.biz_step = 'commissioning' AND i.epc_kind = 'sgtin' AND e.lot IS NOT NULL
), odd AS (
    -- shipped packs with a commissioned lot that the shipment does not declare for them
    SELECT DISTINCT s.ref_id, s.event_row, s.id_gtin, s.id_serial
    FROM shipped s
    JOIN made m ON m.id_gtin = s.id_gtin AND m.id_serial = s.id_serial
    WHERE NOT EXISTS (SELECT 1 FROM declared_lots d
                      WHERE d.gtin_id = s.id_gtin AND d.ref_id = s.ref_id AND d.lot = m.lot)
), misdeclared AS (
    -- ... and no commissioned lot that it does (a serial commissioned twice may have both)
    SELECT o.* FROM odd o
    WHERE NOT EXISTS (
        SELECT 1 FROM made m
        JOIN declared_lots d ON d.gtin_id = m.id_gtin AND d.lot = m.lot
        WHERE m.id_gtin = o.id_gtin AND m.id_serial = o.id_serial AND d.ref_id = o.ref_id)
), wrong_declared AS (
    SELECT w.id_gtin, w.id_serial, x.event_key, e.event_time, e.local_date, x.source,
           'shipped on ' || CAST(e.local_date AS VARCHAR) || ' under ' || t.shipment_ref
               || ', declared as lot ' || t.lots AS said
    FROM misdeclared w
    JOIN lotted t ON t.gtin_id = w.id_gtin AND t.ref_id = w.ref_id
    JOIN live_rows e ON e.event_row = w.event_row
    JOIN event_sources x ON x.event_row = w.event_row
), wrong AS (
    SELECT * FROM wrong_named
    UNION
    SELECT * FROM wrong_declared
), lots AS (
    SELECT m.id_gtin, m.id_serial,
           array_to_string(list_sort(list_distinct(list(m.lot))), ', ') AS lots
    FROM made m
    JOIN (SELECT DISTINCT w.id_gtin, w.id_serial FROM wrong w) w
      ON w.id_gtin = m.id_gtin AND w.id_serial = m.id_serial
    GROUP BY m.id_gtin, m.id_serial
), proof AS (
    SELECT w.id_gtin, w.id_serial, 'event' AS kind, w.event_key AS key, w.source,
           0 AS ord, w.event_time AS at_time
    FROM wrong w
    UNION
    SELECT w.id_gtin, w.id_serial, 'event', x.event_key, x.source, 0, e.event_time
    FROM (SELECT DISTINCT w.id_gtin, w.id_serial FROM wrong w) w
    JOIN epc_items i ON i.id_gtin = w.id_gtin AND i.id_serial = w.id_serial
    JOIN live_rows e ON e.event_row = i.event_row
    JOIN event_sources x ON x.event_row = e.event_row
    WHERE e.biz_step = 'commissioning' AND i.epc_kind = 'sgtin' AND e.lot IS NOT NULL
    UNION
    SELECT w.id_gtin, w.id_serial, 'consignment', l.line_key, l.source, 1,
           CAST(NULL AS TIMESTAMP WITH TIME ZONE)
    FROM (SELECT DISTINCT m.id_gtin, m.id_serial, m.ref_id FROM misdeclared m) w
    JOIN lotted t ON t.gtin_id = w.id_gtin AND t.ref_id = w.ref_id
    JOIN export_lines l ON l.shipment_ref = t.shipment_ref AND l.gtin = t.gtin
), evidence AS (
    SELECT p.id_gtin, p.id_serial,
           list(struct_pack(kind := p.kind, key := p.key, source := p.source)
                ORDER BY p.ord, p.at_time, p.key) AS evidence
    FROM proof p
    GROUP BY p.id_gtin, p.id_serial
), found AS (
    SELECT w.id_gtin, w.id_serial,
           CAST(year(min(w.local_date)) AS VARCHAR) || '-Q'
               || CAST(quarter(min(w.local_date)) AS VARCHAR) AS period,
           string_agg(w.said, '; ' ORDER BY w.event_time, w.event_key, w.said) AS said
    FROM wrong w
    GROUP BY w.id_gtin, w.id_serial
)
SELECT
    coalesce(k.epc_key, 'https://id.gs1.org/01/' || g.gtin || '/21/' || f.id_serial) AS epc,
    f.period,
    'commissioned in lot ' || l.lots || '; ' || f.said AS detail,
    v.evidence
FROM found f
JOIN lots l ON l.id_gtin = f.id_gtin AND l.id_serial = f.id_serial
JOIN evidence v ON v.id_gtin = f.id_gtin AND v.id_serial = f.id_serial
LEFT JOIN epc_gtins g ON g.gtin_id = f.id_gtin
LEFT JOIN epc_keys k ON k.id_gtin = f.id_gtin AND k.id_serial = f.id_serial
