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
WITH commissioned AS (
    SELECT c.epc_key, min(e.event_time) AS first_at, min(e.local_date) AS first_date
    FROM live_events e
    JOIN event_epcs c ON c.event_row = e.event_row
    WHERE e.biz_step = 'commissioning' AND c.epc_kind = 'sgtin'
    GROUP BY c.epc_key
), moves AS (
    SELECT DISTINCT s.epc_key, s.event_key, coalesce(s.biz_step, 'packing') AS step,
           s.event_time, s.local_date, s.source
    FROM event_serials s
    WHERE s.epc_kind = 'sgtin'
      AND (s.biz_step IN ('shipping', 'receiving')
           OR (s.event_type = 'AggregationEvent' AND s.action = 'ADD'
               AND s.list = 'childEPCs'))
), orphan AS (
    SELECT m.*, k.first_date
    FROM moves m
    LEFT JOIN commissioned k ON k.epc_key = m.epc_key
    WHERE k.first_at IS NULL OR m.event_time < k.first_at
)
SELECT
    o.epc_key AS epc,
    CAST(year(min(o.local_date)) AS VARCHAR) || '-Q'
        || CAST(quarter(min(o.local_date)) AS VARCHAR) AS period,
    CAST(NULL AS DECIMAL(38,12)) AS expected,
    CAST(NULL AS DECIMAL(38,12)) AS observed,
    CAST(NULL AS DECIMAL(38,12)) AS difference,
    CAST(NULL AS VARCHAR) AS unit,
    CASE
        WHEN min(o.first_date) IS NULL THEN 'never commissioned; '
        ELSE 'commissioned only on ' || CAST(min(o.first_date) AS VARCHAR) || '; '
    END || string_agg(o.step || ' on ' || CAST(o.local_date AS VARCHAR), ', '
                      ORDER BY o.event_time, o.event_key) AS detail,
    list(struct_pack(kind := 'event', key := o.event_key, source := o.source)
         ORDER BY o.event_time, o.event_key) AS evidence
FROM orphan o
GROUP BY o.epc_key
