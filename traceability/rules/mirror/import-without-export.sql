-- id:        import-without-export
-- severity:  high
-- needs:     consignments
-- tolerance: none
-- checks:    A shipment_ref has import declaration lines and no export declaration at all.
-- why:       An import that no exporter declared may launder the origin of the goods: product
--            diverted elsewhere, or made illicitly, entering the licit chain with papers.
-- evidence:  the import declaration lines of the shipment_ref
WITH lines AS (
    SELECT c.*
    FROM current_consignments c
), lonely AS (
    SELECT
        shipment_ref,
        min(declared_date) AS first_on,
        nullif(array_to_string(list_sort(list_distinct(list(declarant))), ', '), '') AS importers,
        nullif(array_to_string(list_sort(list_distinct(list(counterparty))), ', '), '') AS exporters,
        nullif(array_to_string(list_sort(list_distinct(
            list(origin_country || ' → ' || destination_country))), ', '), '') AS route
    FROM lines
    GROUP BY shipment_ref
    HAVING count(*) FILTER (WHERE direction = 'export') = 0
       AND count(*) FILTER (WHERE direction = 'import') > 0
)
SELECT
    j.shipment_ref,
    CAST(year(j.first_on) AS VARCHAR) || '-Q' || CAST(quarter(j.first_on) AS VARCHAR) AS period,
    'imported ' || CAST(j.first_on AS VARCHAR) || ' (' || j.route || ', ' || j.importers
        || ' from ' || j.exporters || '); no export declaration' AS detail,
    list(struct_pack(kind := 'consignment', key := l.line_key, source := l.source)
         ORDER BY l.source, l.line_key) AS evidence
FROM lonely j
JOIN lines l ON l.shipment_ref = j.shipment_ref
GROUP BY j.shipment_ref, j.first_on, j.route, j.importers, j.exporters
