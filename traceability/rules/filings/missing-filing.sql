-- id:        missing-filing
-- severity:  medium
-- needs:     filings
-- tolerance: none
-- checks:    A party that manufactured (batches) or declared an export or import (consignment
--            lines) of a controlled product in a period filed no return for that period (no
--            filings line with it as filer, for the quarter or for its year). Only periods for
--            which returns from the party's country are loaded are judged (the party's country
--            is the origin of its exports or the destination of its imports; a party known only
--            from batches is judged against returns from any country), so a quarter whose
--            returns are not yet in is not reported.
-- why:       A licensed party that trades or makes controlled substances but reports nothing
--            keeps its stock out of the regulator's sight: nothing can be reconciled against it.
-- evidence:  every batch and consignment line of the party in the period
WITH activity AS (
    SELECT
        b.manufacturer AS party, b.manufacture_date AS d, CAST(NULL AS VARCHAR) AS country,
        'batch' AS kind, b.gtin || '/' || b.lot AS key, b.source
    FROM batch_qty b
    JOIN product_mass pm ON pm.gtin = b.gtin
    WHERE pm.controlled
    UNION ALL
    SELECT
        c.declarant, c.declared_date,
        CASE c.direction WHEN 'export' THEN c.origin_country ELSE c.destination_country END,
        'consignment', c.declaration_id || '/' || coalesce(c.line, '1'), c.source
    FROM consignment_qty c
    JOIN product_mass pm ON pm.gtin = c.gtin
    WHERE pm.controlled AND c.direction IN ('export', 'import')
), party_country AS (
    SELECT party, min(country) AS country
    FROM activity
    WHERE country IS NOT NULL
    GROUP BY party
), dated AS (
    SELECT
        a.party, a.kind, a.key, a.source, pc.country,
        CAST(year(a.d) AS VARCHAR) || '-Q' || CAST(quarter(a.d) AS VARCHAR) AS quarter,
        CAST(year(a.d) AS VARCHAR) AS year
    FROM activity a
    LEFT JOIN party_country pc ON pc.party = a.party
), collected AS (
    SELECT DISTINCT country, period FROM filings
), due AS (
    -- the period each record is judged in: its quarter where that quarter's returns are
    -- in, else its year where annual returns are
    SELECT
        d.*,
        CASE WHEN EXISTS (
                SELECT 1 FROM collected k
                WHERE k.period = d.quarter AND (d.country IS NULL OR k.country = d.country))
            THEN d.quarter ELSE d.year END AS period
    FROM dated d
    WHERE EXISTS (
        SELECT 1 FROM collected k
        WHERE k.period IN (d.quarter, d.year) AND (d.country IS NULL OR k.country = d.country))
), unfiled AS (
    SELECT u.*
    FROM due u
    WHERE NOT EXISTS (
        SELECT 1 FROM filings f WHERE f.filer = u.party AND f.period IN (u.quarter, u.year))
)
SELECT
    party,
    period,
    CAST(NULL AS DECIMAL(38,12)) AS expected,
    CAST(NULL AS DECIMAL(38,12)) AS observed,
    CAST(NULL AS DECIMAL(38,12)) AS difference,
    CAST(NULL AS VARCHAR) AS unit,
    'no return filed for ' || period || ' by a party with '
        || CASE WHEN count(*) FILTER (WHERE kind = 'batch') > 0
            THEN CAST(count(*) FILTER (WHERE kind = 'batch') AS VARCHAR)
                 || CASE WHEN count(*) FILTER (WHERE kind = 'batch') = 1
                         THEN ' batch' ELSE ' batches' END
            ELSE '' END
        || CASE WHEN count(*) FILTER (WHERE kind = 'batch') > 0
                 AND count(*) FILTER (WHERE kind = 'consignment') > 0 THEN ' and ' ELSE '' END
        || CASE WHEN count(*) FILTER (WHERE kind = 'consignment') > 0
            THEN CAST(count(*) FILTER (WHERE kind = 'consignment') AS VARCHAR)
                 || CASE WHEN count(*) FILTER (WHERE kind = 'consignment') = 1
                         THEN ' consignment line' ELSE ' consignment lines' END
            ELSE '' END
        || ' of controlled products in it' AS detail,
    list(struct_pack(kind := kind, key := key, source := source) ORDER BY kind, source, key)
        AS evidence
FROM unfiled
GROUP BY party, period

-- coverage: the parties with controlled activity in a quarter that were not judged because
--           no returns from their country (from any country, for a party known only from
--           its batches) are loaded for that quarter or its year
WITH activity AS (
    SELECT b.manufacturer AS party, b.manufacture_date AS d, CAST(NULL AS VARCHAR) AS country
    FROM batch_qty b
    JOIN product_mass pm ON pm.gtin = b.gtin
    WHERE pm.controlled
    UNION ALL
    SELECT
        c.declarant, c.declared_date,
        CASE c.direction WHEN 'export' THEN c.origin_country ELSE c.destination_country END
    FROM consignment_qty c
    JOIN product_mass pm ON pm.gtin = c.gtin
    WHERE pm.controlled AND c.direction IN ('export', 'import')
), party_country AS (
    SELECT party, min(country) AS country
    FROM activity
    WHERE country IS NOT NULL
    GROUP BY party
), dated AS (
    SELECT DISTINCT
        a.party, pc.country,
        CAST(year(a.d) AS VARCHAR) || '-Q' || CAST(quarter(a.d) AS VARCHAR) AS quarter,
        CAST(year(a.d) AS VARCHAR) AS year
    FROM activity a
    LEFT JOIN party_country pc ON pc.party = a.party
), collected AS (
    SELECT DISTINCT country, period FROM filings
)
SELECT
    CASE
        WHEN d.country IS NULL THEN 'parties known only from their batches not judged for '
            || d.quarter || ': no returns at all are loaded for ' || d.quarter || ' or ' || d.year
        ELSE 'parties in ' || d.country || ' not judged for ' || d.quarter
            || ': no returns from ' || d.country || ' are loaded for ' || d.quarter || ' or '
            || d.year
    END AS reason,
    d.party AS subject,
    d.quarter AS period
FROM dated d
WHERE NOT EXISTS (
    SELECT 1 FROM collected k
    WHERE k.period IN (d.quarter, d.year) AND (d.country IS NULL OR k.country = d.country))
