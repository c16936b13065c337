-- id:        export-without-import
-- severity:  high
-- needs:     consignments
-- tolerance: window_days = 60 (days after the export's declared_date the import may take),
--            judged as of as_of (default: the latest date in the data)
-- checks:    A shipment_ref has export declaration lines and no import declaration at all.
--            While the window after the (latest) export date is still open on as_of, the
--            export is listed as pending (severity info), not as a breach.
-- why:       Goods that left one country and were never declared anywhere else have
--            disappeared in transit: the classic pattern of diversion of precursors.
-- evidence:  the export declaration lines of the shipment_ref
WITH lines AS (
    SELECT c.*
    FROM current_consignments c
), lonely AS (
    SELECT
        shipment_ref,
        max(declared_date) AS shipped_on,
        min(declared_date) AS first_on,
        nullif(array_to_string(list_sort(list_distinct(list(declarant))), ', '), '') AS exporters,
        nullif(array_to_string(list_sort(list_distinct(list(counterparty))), ', '), '') AS importers,
        nullif(array_to_string(list_sort(list_distinct(
            list(origin_country || ' → ' || destination_country))), ', '), '') AS route
    FROM lines
    GROUP BY shipment_ref
    HAVING count(*) FILTER (WHERE direction = 'import') = 0
       AND count(*) FILTER (WHERE direction = 'export') > 0
), judged AS (
    SELECT
        l.*,
        CAST(l.shipped_on + CAST($window_days AS INTEGER) AS DATE) AS deadline,
        CAST($as_of AS DATE) AS as_of
    FROM lonely l
)
SELECT
    j.shipment_ref,
    CAST(year(j.first_on) AS VARCHAR) || '-Q' || CAST(quarter(j.first_on) AS VARCHAR) AS period,
    CASE WHEN j.as_of IS NULL OR j.as_of <= j.deadline THEN 'info' END AS severity,
    CASE WHEN j.as_of IS NULL OR j.as_of <= j.deadline
        THEN 'pending: exported ' || CAST(j.shipped_on AS VARCHAR) || ' (' || j.route
             || ', ' || j.exporters || ' to ' || j.importers
             || '); window open until ' || CAST(j.deadline AS VARCHAR)
        ELSE 'exported ' || CAST(j.shipped_on AS VARCHAR) || ' (' || j.route || ', '
             || j.exporters || ' to ' || j.importers || '); no import declaration by '
             || CAST(j.deadline AS VARCHAR) || ' (as of ' || CAST(j.as_of AS VARCHAR) || ')'
    END AS detail,
    list(struct_pack(kind := 'consignment', key := l.line_key, source := l.source)
         ORDER BY l.source, l.line_key) AS evidence
FROM judged j
JOIN lines l ON l.shipment_ref = j.shipment_ref
GROUP BY j.shipment_ref, j.first_on, j.shipped_on, j.deadline, j.as_of, j.route, j.exporters,
    j.importers
