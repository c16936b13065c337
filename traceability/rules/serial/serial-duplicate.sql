-- id:        serial-duplicate
-- severity:  critical
-- needs:     events
-- tolerance: none
-- checks:    A serial (SGTIN) is commissioned by more than one commissioning event (the same
--            event loaded twice counts once; error-declared events do not count).
-- why:       A serial number is a pack's identity. Commissioning it twice puts two packs
--            into the chain under one identity: a label reprint, or a clone that lets a
--            counterfeit pass verification in place of a genuine pack.
-- evidence:  every commissioning event of the serial
WITH commissioning AS (
    SELECT DISTINCT c.epc_key, e.event_key, e.event_time, e.local_date, e.lot, e.source
    FROM live_events e
    JOIN event_epcs c ON c.event_row = e.event_row
    WHERE e.biz_step = 'commissioning' AND c.epc_kind = 'sgtin'
), repeated AS (
    -- only serials commissioned more than once are ranked: most are commissioned once
    SELECT epc_key FROM commissioning GROUP BY epc_key HAVING count(*) > 1
), ranked AS (
    SELECT c.*, row_number() OVER (
        PARTITION BY c.epc_key ORDER BY c.event_time, c.event_key) AS nth
    FROM commissioning c
    WHERE c.epc_key IN (SELECT epc_key FROM repeated)
)
SELECT
    r.epc_key AS epc,
    CAST(year(min(r.local_date) FILTER (WHERE r.nth = 2)) AS VARCHAR) || '-Q'
        || CAST(quarter(min(r.local_date) FILTER (WHERE r.nth = 2)) AS VARCHAR) AS period,
    CAST(1 AS DECIMAL(38,12)) AS expected,
    CAST(count(*) AS DECIMAL(38,12)) AS observed,
    CAST(count(*) - 1 AS DECIMAL(38,12)) AS difference,
    'H87' AS unit,
    'commissioned ' || CAST(count(*) AS VARCHAR) || ' times: '
        || string_agg(CAST(r.local_date AS VARCHAR)
                      || coalesce(' (lot ' || r.lot || ')', ''), ', ' ORDER BY r.nth)
        AS detail,
    list(struct_pack(kind := 'event', key := r.event_key, source := r.source)
         ORDER BY r.nth) AS evidence
FROM ranked r
GROUP BY r.epc_key
HAVING count(*) > 1
