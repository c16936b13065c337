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
    SELECT i.id_gtin, i.id_serial, e.event_row
    FROM live_rows e
    JOIN epc_items i ON i.event_row = e.event_row
    WHERE e.biz_step = 'commissioning' AND i.epc_kind = 'sgtin'
), repeated AS (
    -- serials in more than one commissioning event: one pass, no sort. Grouping first on a
    -- hash of the identity is cheap and keeps every such serial (a collision only adds a
    -- candidate); only the candidates are grouped on the identity itself
    SELECT c.id_gtin, c.id_serial
    FROM commissioning c
    WHERE hash(c.id_gtin, c.id_serial) IN (
        SELECT hash(x.id_gtin, x.id_serial) AS k FROM commissioning x
        GROUP BY k HAVING min(x.event_row) <> max(x.event_row))
    GROUP BY c.id_gtin, c.id_serial
    HAVING min(c.event_row) <> max(c.event_row)
), events_of AS (
    SELECT DISTINCT c.id_gtin, c.id_serial, x.event_key, e.event_time, e.local_date, e.lot,
           x.source
    FROM commissioning c
    JOIN repeated r ON r.id_gtin = c.id_gtin AND r.id_serial = c.id_serial
    JOIN live_rows e ON e.event_row = c.event_row
    JOIN event_sources x ON x.event_row = c.event_row
), ranked AS (
    SELECT c.*,
           coalesce(k.epc_key,
                              'https://id.gs1.org/01/' || g.gtin || '/21/' || c.id_serial) AS epc_key,
           row_number() OVER (
               PARTITION BY c.id_gtin, c.id_serial ORDER BY c.event_time, c.event_key) AS nth
    FROM events_of c
    LEFT JOIN epc_gtins g ON g.gtin_id = c.id_gtin
    LEFT JOIN epc_keys k ON k.id_gtin = c.id_gtin AND k.id_serial = c.id_serial
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
