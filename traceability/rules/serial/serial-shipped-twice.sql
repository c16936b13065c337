-- id:        serial-shipped-twice
-- severity:  critical
-- needs:     events
-- tolerance: none
-- checks:    A serial (SGTIN) is shipped by two live shipping events, in event-time order,
--            with no receiving event of it in between (serials inside an SSCC count, as
--            packed at each event's time). Error-declared and voided shipping events do not
--            count.
-- why:       One pack cannot leave twice without arriving somewhere in between. A second
--            shipment of a pack still in transit means its identity was copied, or the
--            first shipment never really went where it was declared to go.
-- evidence:  the two shipping events (and their shipment refs)
WITH ships AS (
    SELECT DISTINCT s.epc_key, s.event_row, s.event_key, s.event_time, s.local_date, s.source
    FROM event_serials s
    WHERE s.epc_kind = 'sgtin' AND s.biz_step = 'shipping'
), receipts AS (
    SELECT DISTINCT s.epc_key, s.event_time
    FROM event_serials s
    WHERE s.epc_kind = 'sgtin' AND s.biz_step = 'receiving'
), successive AS (
    SELECT sh.*,
           lead(sh.event_row) OVER w AS next_row,
           lead(sh.event_key) OVER w AS next_key,
           lead(sh.event_time) OVER w AS next_time,
           lead(sh.local_date) OVER w AS next_date,
           lead(sh.source) OVER w AS next_source
    FROM ships sh
    WINDOW w AS (PARTITION BY sh.epc_key ORDER BY sh.event_time, sh.event_key)
), twice AS (
    SELECT p.*
    FROM successive p
    WHERE p.next_row IS NOT NULL
      AND NOT EXISTS (
          SELECT 1 FROM receipts r
          WHERE r.epc_key = p.epc_key
            AND r.event_time >= p.event_time AND r.event_time <= p.next_time)
), refs AS (
    SELECT r.event_row, string_agg(DISTINCT r.ref, '/' ORDER BY r.ref) AS refs
    FROM event_refs r
    GROUP BY r.event_row
), proof AS (
    SELECT t.epc_key, t.event_key, t.event_time, t.source FROM twice t
    UNION
    SELECT t.epc_key, t.next_key, t.next_time, t.next_source FROM twice t
), evidence AS (
    SELECT p.epc_key,
           list(struct_pack(kind := 'event', key := p.event_key, source := p.source)
                ORDER BY p.event_time, p.event_key) AS evidence
    FROM proof p
    GROUP BY p.epc_key
)
SELECT
    t.epc_key AS epc,
    CAST(year(min(t.next_date)) AS VARCHAR) || '-Q'
        || CAST(quarter(min(t.next_date)) AS VARCHAR) AS period,
    CAST(NULL AS DECIMAL(38,12)) AS expected,
    CAST(NULL AS DECIMAL(38,12)) AS observed,
    CAST(NULL AS DECIMAL(38,12)) AS difference,
    CAST(NULL AS VARCHAR) AS unit,
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
JOIN evidence v ON v.epc_key = t.epc_key
GROUP BY t.epc_key
