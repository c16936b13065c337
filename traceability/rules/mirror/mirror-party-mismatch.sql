-- id:        mirror-party-mismatch
-- severity:  high
-- needs:     consignments
-- tolerance: none
-- checks:    The lines of a shipment_ref declared on both sides do not name the same
--            exporter, importer, origin country and destination country (the exporter's
--            declarant is the importer's counterparty and the other way round).
-- why:       When the two sides disagree on who sent the goods, who received them or which
--            border they crossed, the shipment may have been re-routed or re-consigned on
--            the way: a diversion route, or a laundering of the goods' origin.
-- evidence:  every export and import line of the shipment_ref
WITH lines AS (
    SELECT
        c.*,
        CASE WHEN c.direction = 'export' THEN c.declarant ELSE c.counterparty END AS exporter,
        CASE WHEN c.direction = 'export' THEN c.counterparty ELSE c.declarant END AS importer
    FROM current_consignments c
    WHERE c.direction IN ('export', 'import')
), per_side AS (
    SELECT
        shipment_ref, direction,
        nullif(array_to_string(list_sort(list_distinct(list(exporter))), ', '), '') AS exporters,
        nullif(array_to_string(list_sort(list_distinct(list(importer))), ', '), '') AS importers,
        nullif(array_to_string(list_sort(list_distinct(list(origin_country))), ', '), '') AS origins,
        nullif(array_to_string(list_sort(list_distinct(list(destination_country))), ', '), '')
            AS destinations,
        min(declared_date) AS first_on
    FROM lines
    GROUP BY shipment_ref, direction
), paired AS (
    SELECT
        x.shipment_ref, x.first_on,
        x.exporters AS x_exp, m.exporters AS m_exp,
        x.importers AS x_imp, m.importers AS m_imp,
        x.origins AS x_org, m.origins AS m_org,
        x.destinations AS x_dst, m.destinations AS m_dst
    FROM per_side x
    JOIN per_side m ON m.shipment_ref = x.shipment_ref AND m.direction = 'import'
    WHERE x.direction = 'export'
), tuples AS (
    SELECT shipment_ref, count(DISTINCT exporter || '|' || importer || '|' || origin_country
                               || '|' || destination_country) AS variants
    FROM lines
    GROUP BY shipment_ref
), mismatched AS (
    SELECT p.*
    FROM paired p JOIN tuples t ON t.shipment_ref = p.shipment_ref
    WHERE t.variants > 1
)
SELECT
    p.shipment_ref,
    CAST(year(p.first_on) AS VARCHAR) || '-Q' || CAST(quarter(p.first_on) AS VARCHAR) AS period,
    coalesce(NULLIF(concat_ws('; ',
        CASE WHEN p.x_exp <> p.m_exp
            THEN 'exporter: export side ' || p.x_exp || ', import side ' || p.m_exp END,
        CASE WHEN p.x_imp <> p.m_imp
            THEN 'importer: export side ' || p.x_imp || ', import side ' || p.m_imp END,
        CASE WHEN p.x_org <> p.m_org
            THEN 'origin country: export side ' || p.x_org || ', import side ' || p.m_org END,
        CASE WHEN p.x_dst <> p.m_dst
            THEN 'destination country: export side ' || p.x_dst || ', import side '
                 || p.m_dst END), ''),
        'the lines of one side name different parties or countries') AS detail,
    list(struct_pack(kind := 'consignment', key := l.line_key, source := l.source)
         ORDER BY l.direction, l.source, l.line_key) AS evidence
FROM mismatched p
JOIN lines l ON l.shipment_ref = p.shipment_ref
GROUP BY p.shipment_ref, p.first_on, p.x_exp, p.m_exp, p.x_imp, p.m_imp, p.x_org, p.m_org,
    p.x_dst, p.m_dst
