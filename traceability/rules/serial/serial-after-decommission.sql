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
WITH ended AS (
    SELECT s.epc_key, s.event_key, coalesce(s.biz_step, 'decommissioning') AS step,
           s.event_time, s.local_date, s.source,
           row_number() OVER (PARTITION BY s.epc_key ORDER BY s.event_time, s.event_key) AS nth
    FROM event_serials s
    WHERE s.epc_kind = 'sgtin'
      AND (s.biz_step IN ('decommissioning', 'destroying')
           OR (s.event_type = 'ObjectEvent' AND s.action = 'DELETE'
               AND coalesce(s.biz_step, '') NOT IN
                   ('shipping', 'receiving', 'packing', 'unpacking', 'void_shipping')))
), first_end AS (
    SELECT * FROM ended WHERE nth = 1
), moves AS (
    SELECT DISTINCT s.epc_key, s.event_key, coalesce(s.biz_step, 'packing') AS step,
           s.event_time, s.local_date, s.source
    FROM event_serials s
    WHERE s.epc_kind = 'sgtin'
      AND (s.biz_step IN ('shipping', 'receiving')
           OR (s.event_type = 'AggregationEvent' AND s.action = 'ADD'
               AND s.list = 'childEPCs'))
), late AS (
    SELECT m.*, f.step AS end_step, f.local_date AS end_date
    FROM moves m
    JOIN first_end f ON f.epc_key = m.epc_key AND m.event_time > f.event_time
), proof AS (
    SELECT l.epc_key, l.event_key, l.event_time, l.source FROM late l
    UNION
    SELECT f.epc_key, f.event_key, f.event_time, f.source FROM first_end f
    WHERE f.epc_key IN (SELECT l.epc_key FROM late l)
), evidence AS (
    SELECT p.epc_key,
           list(struct_pack(kind := 'event', key := p.event_key, source := p.source)
                ORDER BY p.event_time, p.event_key) AS evidence
    FROM proof p
    GROUP BY p.epc_key
)
SELECT
    l.epc_key AS epc,
    CAST(year(min(l.local_date)) AS VARCHAR) || '-Q'
        || CAST(quarter(min(l.local_date)) AS VARCHAR) AS period,
    CAST(NULL AS DECIMAL(38,12)) AS expected,
    CAST(NULL AS DECIMAL(38,12)) AS observed,
    CAST(NULL AS DECIMAL(38,12)) AS difference,
    CAST(NULL AS VARCHAR) AS unit,
    min(l.end_step) || ' on ' || CAST(min(l.end_date) AS VARCHAR) || '; then '
        || string_agg(l.step || ' on ' || CAST(l.local_date AS VARCHAR), ', '
                      ORDER BY l.event_time, l.event_key) AS detail,
    min(v.evidence) AS evidence
FROM late l
JOIN evidence v ON v.epc_key = l.epc_key
GROUP BY l.epc_key
