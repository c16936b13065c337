-- id:        missing-filing
-- severity:  medium
-- needs:     filings
-- tolerance: collected_countries = every country (the [missing_filing] countries setting:
--            the countries whose returns are collected, comma-separated; NULL for all)
-- checks:    A party that manufactured (batches) or declared an export or import (consignment
--            lines) of a controlled product in a period filed no return for that period (no
--            filings line with it as filer, for the quarter or for its year), whatever
--            country's returns are loaded. A period is judged once returns for it are loaded:
--            a record's period is its quarter where any returns for that quarter are loaded,
--            else its year where annual returns are; a quarter no return is loaded for yet is
--            not judged. With countries set, only the parties of those countries are judged,
--            and only the returns from them count as loaded; a party's country is the origin
--            of its exports or the destination of its imports, else the country it files in
--            (a party known only from its batches, that files nowhere, is judged).
-- why:       A licensed party that trades or makes controlled substances but reports nothing
--            keeps its stock out of the regulator's sight: nothing can be reconciled against it.
-- evidence:  every batch and consignment line of the party in the period
WITH activity AS (
    SELECT
        b.manufacturer AS party, b.manufacture_date AS d, b.period,
        CAST(NULL AS VARCHAR) AS country,
        'batch' AS kind, b.gtin || '/' || b.lot AS key, b.source
    FROM batch_qty b
    JOIN product_mass pm ON pm.gtin = b.gtin
    WHERE pm.controlled
    UNION ALL
    SELECT
        c.declarant, c.declared_date, c.period,
        CASE c.direction WHEN 'export' THEN c.origin_country ELSE c.destination_country END,
        'consignment', c.line_key, c.source
    FROM consignment_qty c
    JOIN product_mass pm ON pm.gtin = c.gtin
    WHERE pm.controlled AND c.direction IN ('export', 'import')
), declared_country AS (
    SELECT a.party, min(a.country) AS country
    FROM activity a
    WHERE a.country IS NOT NULL
    GROUP BY a.party
), party_country AS (
    SELECT d.party, d.country FROM declared_country d
    UNION ALL
    -- a party that declared no consignment: the country it files in
    SELECT f.filer, min(f.country)
    FROM filings f
    WHERE f.filer NOT IN (SELECT d.party FROM declared_country d)
    GROUP BY f.filer
), dated AS (
    SELECT
        a.party, a.kind, a.key, a.source,
        a.period AS quarter,
        CAST(year(a.d) AS VARCHAR) AS year
    FROM activity a
    LEFT JOIN party_country pc ON pc.party = a.party
    WHERE $collected_countries IS NULL OR pc.country IS NULL
       OR list_contains(string_split($collected_countries, ','), pc.country)
), collected AS (
    -- the periods returns are loaded for (from the countries whose returns are collected)
    SELECT DISTINCT f.period
    FROM filings f
    WHERE $collected_countries IS NULL
       OR list_contains(string_split($collected_countries, ','), f.country)
), due AS (
    -- the period each record is judged in: its quarter where that quarter's returns are
    -- in, else its year where annual returns are
    SELECT
        d.*,
        CASE WHEN d.quarter IN (SELECT k.period FROM collected k)
            THEN d.quarter ELSE d.year END AS period
    FROM dated d
    WHERE d.quarter IN (SELECT k.period FROM collected k)
       OR d.year IN (SELECT k.period FROM collected k)
), unfiled AS (
    SELECT u.*
    FROM due u
    WHERE NOT EXISTS (
        SELECT 1 FROM filings f WHERE f.filer = u.party AND f.period IN (u.quarter, u.year))
)
SELECT
    party,
    period,
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

-- coverage: the parties with controlled activity in a quarter that were not judged: those of
--           a country whose returns are not collected (with the countries setting), and those
--           with activity in a quarter that no return is loaded for, for the quarter or its
--           year
WITH activity AS (
    SELECT b.manufacturer AS party, b.manufacture_date AS d, b.period,
        CAST(NULL AS VARCHAR) AS country
    FROM batch_qty b
    JOIN product_mass pm ON pm.gtin = b.gtin
    WHERE pm.controlled
    UNION ALL
    SELECT
        c.declarant, c.declared_date, c.period,
        CASE c.direction WHEN 'export' THEN c.origin_country ELSE c.destination_country END
    FROM consignment_qty c
    JOIN product_mass pm ON pm.gtin = c.gtin
    WHERE pm.controlled AND c.direction IN ('export', 'import')
), declared_country AS (
    SELECT a.party, min(a.country) AS country
    FROM activity a
    WHERE a.country IS NOT NULL
    GROUP BY a.party
), party_country AS (
    SELECT d.party, d.country FROM declared_country d
    UNION ALL
    SELECT f.filer, min(f.country)
    FROM filings f
    WHERE f.filer NOT IN (SELECT d.party FROM declared_country d)
    GROUP BY f.filer
), dated AS (
    SELECT DISTINCT
        a.party, pc.country,
        $collected_countries IS NULL OR pc.country IS NULL
            OR list_contains(string_split($collected_countries, ','), pc.country) AS collected,
        a.period AS quarter,
        CAST(year(a.d) AS VARCHAR) AS year
    FROM activity a
    LEFT JOIN party_country pc ON pc.party = a.party
), loaded AS (
    SELECT DISTINCT f.period
    FROM filings f
    WHERE $collected_countries IS NULL
       OR list_contains(string_split($collected_countries, ','), f.country)
)
SELECT
    CASE
        WHEN NOT d.collected THEN 'parties in ' || d.country || ' not judged: ' || d.country
            || ' is not among the countries whose returns are collected'
        WHEN $collected_countries IS NULL THEN 'parties not judged for ' || d.quarter
            || ': no returns are loaded for ' || d.quarter || ' or ' || d.year
        ELSE 'parties not judged for ' || d.quarter || ': no returns from '
            || replace($collected_countries, ',', ', ') || ' are loaded for ' || d.quarter
            || ' or ' || d.year
    END AS reason,
    d.party AS subject,
    d.quarter AS period
FROM dated d
WHERE NOT d.collected
   OR NOT (d.quarter IN (SELECT k.period FROM loaded k)
           OR d.year IN (SELECT k.period FROM loaded k))
