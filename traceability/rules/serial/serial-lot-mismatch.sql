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
WITH commissioned AS (
    SELECT DISTINCT c.epc_key, e.lot, e.event_key, e.event_time, e.source
    FROM live_events e
    JOIN event_epcs c ON c.event_row = e.event_row
    WHERE e.biz_step = 'commissioning' AND c.epc_kind = 'sgtin' AND e.lot IS NOT NULL
), named AS (
    SELECT DISTINCT s.epc_key, s.event_key, coalesce(s.biz_step, lower(s.event_type)) AS step,
           s.event_time, s.local_date, s.source,
           url_decode(regexp_extract(
               s.epc_raw, '/(?:01|gtin)/[0-9]{8,14}/(?:10|lot)/([^/?#]*)/(?:21|ser)/', 1))
               AS lot
    FROM event_serials s
    WHERE s.epc_kind = 'sgtin' AND s.via_key IS NULL
      AND coalesce(s.biz_step, '') <> 'commissioning'
      AND regexp_matches(s.epc_raw, '/(?:01|gtin)/[0-9]{8,14}/(?:10|lot)/[^/?#]*/(?:21|ser)/')
), wrong AS (
    SELECT n.*
    FROM named n
    WHERE n.epc_key IN (SELECT c.epc_key FROM commissioned c)
      AND NOT EXISTS (
          SELECT 1 FROM commissioned c WHERE c.epc_key = n.epc_key AND c.lot = n.lot)
), lots AS (
    SELECT c.epc_key, string_agg(DISTINCT c.lot, ', ' ORDER BY c.lot) AS lots
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
