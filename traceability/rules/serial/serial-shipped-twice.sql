-- id:        serial-shipped-twice
-- severity:  critical
-- needs:     events
-- tolerance: none
-- checks:    A serial (SGTIN) is shipped by two live shipping events, in event-time order,
--            with no receiving event of it in between (serials inside an SSCC count, as
--            packed at each event's time). Error-declared and voided shipping events do not
--            count. A receipt counts only if it is by the party that ships the serial next,
--            where both events name one (the owning, else possessing, party of the receipt's
--            destination and of the shipping's source): a pack its importer received has not
--            come back to the exporter who ships it again.
-- why:       One pack cannot leave twice without arriving somewhere in between. A second
--            shipment of a pack still in transit means its identity was copied, or the
--            first shipment never really went where it was declared to go.
-- evidence:  the two shipping events (and their shipment refs)
-- remedy:    pull this pack: it left before and was never received back (if it came back,
--            load its receiving event first)
WITH shipped AS (
    SELECT s.id_gtin, s.id_serial, s.event_row, s.event_time, s.local_date
    FROM serial_moves s
    WHERE s.epc_kind = 'sgtin' AND s.biz_step = 'shipping'
), repeated AS (
    -- serials in more than one shipping event: one pass, no sort. Grouping first on a hash
    -- of the identity is cheap and keeps every such serial (a collision only adds a
    -- candidate); only the candidates are grouped on the identity itself
    SELECT h.id_gtin, h.id_serial
    FROM shipped h
    WHERE hash(h.id_gtin, h.id_serial) IN (
        SELECT hash(x.id_gtin, x.id_serial) AS k FROM shipped x
        GROUP BY k HAVING min(x.event_row) <> max(x.event_row))
    GROUP BY h.id_gtin, h.id_serial
    HAVING min(h.event_row) <> max(h.event_row)
), owners AS (
    -- who ships (source) and who receives (destination): the owning, else possessing party
    SELECT p.event_row, p.role,
           coalesce(min(coalesce(p.gln, p.value_key)) FILTER (WHERE p.type = 'owning_party'),
                    min(coalesce(p.gln, p.value_key)) FILTER (WHERE p.type = 'possessing_party'))
               AS party
    FROM event_parties p
    WHERE p.type IN ('owning_party', 'possessing_party')
    GROUP BY p.event_row, p.role
), ships AS (
    SELECT DISTINCT h.id_gtin, h.id_serial, h.event_row, x.event_key, h.event_time,
           h.local_date, x.source, o.party AS ship_party
    FROM shipped h
    JOIN repeated r ON r.id_gtin = h.id_gtin AND r.id_serial = h.id_serial
    JOIN event_sources x ON x.event_row = h.event_row
    LEFT JOIN owners o ON o.event_row = h.event_row AND o.role = 'source'
), receipts AS (
    SELECT DISTINCT s.id_gtin, s.id_serial, s.event_time, o.party
    FROM serial_moves s
    JOIN repeated r ON r.id_gtin = s.id_gtin AND r.id_serial = s.id_serial
    LEFT JOIN owners o ON o.event_row = s.event_row AND o.role = 'destination'
    WHERE s.epc_kind = 'sgtin' AND s.biz_step = 'receiving'
), successive AS (
    SELECT sh.*,
           lead(sh.event_row) OVER w AS next_row,
           lead(sh.event_key) OVER w AS next_key,
           lead(sh.event_time) OVER w AS next_time,
           lead(sh.local_date) OVER w AS next_date,
           lead(sh.source) OVER w AS next_source,
           lead(sh.ship_party) OVER w AS next_party
    FROM ships sh
    WINDOW w AS (PARTITION BY sh.id_gtin, sh.id_serial ORDER BY sh.event_time, sh.event_key)
), twice AS (
    SELECT p.*
    FROM successive p
    WHERE p.next_row IS NOT NULL
      AND NOT EXISTS (
          SELECT 1 FROM receipts r
          WHERE r.id_gtin = p.id_gtin AND r.id_serial = p.id_serial
            AND r.event_time >= p.event_time AND r.event_time <= p.next_time
            AND (r.party IS NULL OR p.next_party IS NULL OR r.party = p.next_party))
), refs AS (
    SELECT r.event_row, nullif(array_to_string(list_sort(list_distinct(list(r.ref))), '/'), '') AS refs
    FROM event_refs r
    WHERE r.event_row IN (SELECT t.event_row FROM twice t)
       OR r.event_row IN (SELECT t.next_row FROM twice t)
    GROUP BY r.event_row
), proof AS (
    SELECT t.id_gtin, t.id_serial, t.event_key, t.event_time, t.source FROM twice t
    UNION
    SELECT t.id_gtin, t.id_serial, t.next_key, t.next_time, t.next_source FROM twice t
), evidence AS (
    SELECT p.id_gtin, p.id_serial,
           list(struct_pack(kind := 'event', key := p.event_key, source := p.source)
                ORDER BY p.event_time, p.event_key) AS evidence
    FROM proof p
    GROUP BY p.id_gtin, p.id_serial
)
SELECT
    coalesce(min(k.epc_key),
                       'https://id.gs1.org/01/' || min(g.gtin) || '/21/' || t.id_serial) AS epc,
    CAST(year(min(t.next_date)) AS VARCHAR) || '-Q'
        || CAST(quarter(min(t.next_date)) AS VARCHAR) AS period,
    string_agg(
        'shipped on ' || CAST(t.local_date AS VARCHAR)
            || coalesce(' under ' || a.refs, '')
            || ' and again on ' || CAST(t.next_date AS VARCHAR)
            || coalesce(' under ' || b.refs, ''),
        '; ' ORDER BY t.event_time, t.event_key) || ', not received in between' AS detail,
    min(v.evidence) AS evidence
FROM twice t
LEFT JOIN refs a ON a.event_row = t.event_row
LEFT JOIN refs b ON b.event_row = t.next_row
JOIN evidence v ON v.id_gtin = t.id_gtin AND v.id_serial = t.id_serial
LEFT JOIN epc_gtins g ON g.gtin_id = t.id_gtin
LEFT JOIN epc_keys k ON k.id_gtin = t.id_gtin AND k.id_serial = t.id_serial
GROUP BY t.id_gtin, t.id_serial
