-- id:        authorisation-mismatch
-- severity:  high
-- needs:     consignments, products, authorisations
-- tolerance: none
-- checks:    An export or import line of a controlled product quotes an authorisation that is
--            for someone or something else: its holder is not the declarant, it names another
--            counterparty, it was issued by another country than the one of export (export
--            authorisation, pre-export notification) or import (import permit), it is the
--            wrong kind for the direction, or it is for another gtin or substance. One finding
--            per declaration and authorisation (latest version of each).
-- why:       Borrowing a genuine authorisation issued for another trader, destination or
--            product is how diverted consignments are dressed up as licit ones.
-- evidence:  the authorisation and the declaration lines that quote it
-- remedy:    quote an authorisation issued to the exporter for this importer, country and
--            product
WITH consignment_versions AS (
    SELECT c.*, row_number() OVER (
        PARTITION BY c.declaration_id, coalesce(c.line, '1')
        ORDER BY c.load_id DESC, c.source_line DESC) AS version_rank
    FROM consignment_qty c
), lines AS (
    SELECT c.*, pm.substance_base AS product_substance
    FROM consignment_versions c
    JOIN product_mass pm ON pm.gtin = c.gtin
    WHERE c.version_rank = 1 AND pm.controlled AND c.direction IN ('export', 'import')
      AND c.authorisation_ref IS NOT NULL
), auths AS (
    SELECT
        a.*,
        row_number() OVER (
            PARTITION BY a.authorisation_ref ORDER BY a.load_id DESC, a.source_line DESC)
            AS version_rank
    FROM authorisation_rows a
), quoted AS (
    SELECT
        l.declaration_id, coalesce(l.line, '1') AS line, l.line_key, l.source, l.period,
        l.direction, l.declarant, l.counterparty, l.gtin, l.product_substance,
        CASE l.direction WHEN 'export' THEN l.origin_country ELSE l.destination_country END
            AS country,
        a.authorisation_ref, a.kind, a.holder, a.counterparty AS auth_counterparty,
        a.issuing_country, a.gtin AS auth_gtin, a.substance_base AS auth_substance,
        a.source AS auth_source
    FROM lines l
    JOIN auths a ON a.authorisation_ref = l.authorisation_ref AND a.version_rank = 1
), problems AS (
    SELECT q.*, 'held by ' || q.holder || ', not by the declarant ' || q.declarant AS problem
    FROM quoted q
    WHERE q.holder <> q.declarant
    UNION ALL
    SELECT q.*, 'names counterparty ' || q.auth_counterparty || ', not ' || q.counterparty
    FROM quoted q
    WHERE q.auth_counterparty <> q.counterparty
    UNION ALL
    SELECT q.*, 'issued by ' || q.issuing_country || ', not by the country of ' || q.direction
        || ' ' || q.country
    FROM quoted q
    WHERE q.issuing_country <> q.country
    UNION ALL
    SELECT q.*, 'is of kind ' || q.kind || ', quoted on an ' || q.direction
    FROM quoted q
    WHERE (q.direction = 'export'
           AND q.kind NOT IN ('export-authorisation', 'pre-export-notification'))
       OR (q.direction = 'import' AND q.kind <> 'import-permit')
    UNION ALL
    SELECT q.*, 'is for gtin ' || q.auth_gtin || ', not ' || q.gtin
    FROM quoted q
    WHERE q.auth_gtin <> q.gtin
    UNION ALL
    SELECT q.*, 'is for ' || coalesce(q.auth_substance, 'no substance') || ', not '
        || coalesce(q.product_substance, 'a product without substance')
    FROM quoted q
    WHERE q.auth_gtin IS NULL AND q.auth_substance IS DISTINCT FROM q.product_substance
), findings AS (
    SELECT
        authorisation_ref, declaration_id, min(period) AS period,
        nullif(array_to_string(list_sort(list_distinct(list(problem))), '; '), '') AS problems
    FROM problems
    GROUP BY authorisation_ref, declaration_id
), evidence AS (
    SELECT DISTINCT authorisation_ref, declaration_id, 'authorisation' AS kind,
        authorisation_ref AS key, auth_source AS source, 0 AS rank
    FROM problems
    UNION
    SELECT DISTINCT authorisation_ref, declaration_id, 'consignment',
        line_key, source, 1
    FROM problems
)
SELECT
    f.authorisation_ref,
    f.declaration_id,
    f.period,
    f.authorisation_ref || ' ' || f.problems AS detail,
    list(struct_pack(kind := e.kind, key := e.key, source := e.source)
         ORDER BY e.rank, e.source) AS evidence
FROM findings f
JOIN evidence e
  ON e.authorisation_ref = f.authorisation_ref AND e.declaration_id = f.declaration_id
GROUP BY f.authorisation_ref, f.declaration_id, f.period, f.problems
