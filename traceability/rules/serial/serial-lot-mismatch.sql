-- id:        serial-lot-mismatch
-- severity:  high
-- needs:     events
-- tolerance: none
-- checks:    An event after commissioning names a serial with a lot (a GS1 Digital Link
--            written with a lot qualifier, /10/<lot>/21/<serial>) other than the lot (ILMD
--            lotNumber) of any live commissioning event of that serial. Serials that were
--            never commissioned are left to serial-not-commissioned.
-- why:       A pack travelling under another lot number escapes that lot's balance,
--            expiry and recall: the label and the manufacturer's record disagree, which is
--            how relabelled, expired or diverted packs re-enter the chain.
-- evidence:  the commissioning events and every event naming the serial under another lot
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
), wrong AS (
    SELECT n.*
    FROM named n
    WHERE n.epc_key IN (SELECT c.epc_key FROM commissioned c)
      AND NOT EXISTS (
          SELECT 1 FROM commissioned c WHERE c.epc_key = n.epc_key AND c.lot = n.lot)
), lots AS (
    SELECT c.epc_key, nullif(array_to_string(list_sort(list_distinct(list(c.lot))), ', '), '') AS lots
    FROM commissioned c
    GROUP BY c.epc_key
), proof AS (
    SELECT w.epc_key, w.event_key, w.event_time, w.source FROM wrong w
    UNION
    SELECT c.epc_key, c.event_key, c.event_time, c.source FROM commissioned c
    WHERE c.epc_key IN (SELECT w.epc_key FROM wrong w)
), evidence AS (
    SELECT p.epc_key,
           list(struct_pack(kind := 'event', key := p.event_key, source := p.source)
                ORDER BY p.event_time, p.event_key) AS evidence
    FROM proof p
    GROUP BY p.epc_key
)
SELECT
    w.epc_key AS epc,
    CAST(year(min(w.local_date)) AS VARCHAR) || '-Q'
        || CAST(quarter(min(w.local_date)) AS VARCHAR) AS period,
    CAST(NULL AS DECIMAL(38,12)) AS expected,
    CAST(NULL AS DECIMAL(38,12)) AS observed,
    CAST(NULL AS DECIMAL(38,12)) AS difference,
    CAST(NULL AS VARCHAR) AS unit,
    'commissioned in lot ' || min(l.lots) || '; named as lot '
        || string_agg(w.lot || ' by ' || w.step || ' on ' || CAST(w.local_date AS VARCHAR),
                      ', ' ORDER BY w.event_time, w.event_key) AS detail,
    min(v.evidence) AS evidence
FROM wrong w
JOIN lots l ON l.epc_key = w.epc_key
JOIN evidence v ON v.epc_key = w.epc_key
GROUP BY w.epc_key
