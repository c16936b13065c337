-- id:        estimate-exceeded
-- severity:  high
-- needs:     consignments, estimates
-- tolerance: tol_mass_pct = 0.5, tol_mass_kg = 0.001 (against the estimate)
-- checks:    A country's imports of a substance in a calendar year (import declaration lines
--            with that destination country, latest version of each, by declared_date, in kg of
--            base: packs as units x content_per_unit x content unit factor x base_factor) exceed
--            the country's annual estimate for it (the latest loaded estimate row per country,
--            substance and year). Countries and substances without an estimate are not judged.
-- why:       The estimate is the country's declared legitimate need; imports beyond it are
--            more than the licit market can use, the surplus a likely source of diversion.
-- evidence:  the estimate and every import line in the year's total, in date order (the detail
--            gives the date the estimate was passed)
WITH estimate_versions AS (
    SELECT
        e.*,
        row_number() OVER (
            PARTITION BY e.country, e.substance_base, e.year
            ORDER BY e.load_id DESC, e.source_line DESC) AS version_rank
    FROM estimate_rows e
), limits AS (
    SELECT
        e.country, e.substance_base, e.year, e.quantity, e.uom, e.source,
        CAST(e.quantity * u.factor AS DECIMAL(38,12)) AS allowed
    FROM estimate_versions e
    JOIN unit_factors u ON u.uom = e.uom AND u.dimension = 'mass'
    WHERE e.version_rank = 1
), consignment_versions AS (
    SELECT c.*, row_number() OVER (
        PARTITION BY c.declaration_id, coalesce(c.line, '1')
        ORDER BY c.load_id DESC, c.source_line DESC) AS version_rank
    FROM consignment_qty c
), imports AS (
    SELECT
        l.country, l.substance_base, l.year, l.allowed, l.quantity AS estimate_quantity,
        l.uom AS estimate_uom, l.source AS estimate_source,
        c.declaration_id, c.line_key, c.declared_date, c.source,
        c.kg_base AS amount,
        row_number() OVER (
            PARTITION BY l.country, l.substance_base, l.year
            ORDER BY c.declared_date, c.declaration_id, coalesce(c.line, '1'), c.source)
            AS step
    FROM limits l
    JOIN consignment_versions c
      ON c.version_rank = 1 AND c.direction = 'import' AND c.destination_country = l.country
     AND year(c.declared_date) = l.year
    JOIN product_mass pm ON pm.gtin = c.gtin AND pm.substance_base = l.substance_base
    WHERE c.kg_base IS NOT NULL
), running AS (
    SELECT
        i.*,
        CAST(sum(i.amount) OVER (
            PARTITION BY i.country, i.substance_base, i.year ORDER BY i.step
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS DECIMAL(38,12)) AS balance,
        greatest(
            CAST($tol_mass_kg AS DECIMAL(38,12)),
            CAST(CAST($tol_mass_pct AS DECIMAL(38,12)) * 0.01 AS DECIMAL(38,12)) * i.allowed)
            AS slack
    FROM imports i
), findings AS (
    SELECT
        country, substance_base, year, allowed, estimate_quantity, estimate_uom,
        estimate_source,
        CAST(sum(amount) AS DECIMAL(38,12)) AS observed,
        count(*) AS lines,
        min(step) FILTER (WHERE balance > allowed + slack) AS break_step
    FROM running
    GROUP BY country, substance_base, year, allowed, estimate_quantity, estimate_uom,
        estimate_source
    HAVING sum(amount) > allowed + max(slack)
), passed AS (
    SELECT f.*, r.declared_date AS passed_on, r.declaration_id AS passed_by
    FROM findings f
    JOIN running r
      ON r.country = f.country AND r.substance_base = f.substance_base AND r.year = f.year
     AND r.step = f.break_step
), evidence AS (
    SELECT country, substance_base, year, 'estimate' AS kind,
        country || '/' || substance_base || '/' || CAST(year AS VARCHAR) AS key,
        estimate_source AS source, 0 AS step
    FROM findings
    UNION ALL
    SELECT country, substance_base, year, 'consignment', line_key, source, step
    FROM running
)
SELECT
    p.country AS country_to,
    p.substance_base,
    CAST(p.year AS VARCHAR) AS period,
    p.allowed AS expected,
    p.observed,
    p.observed - p.allowed AS difference,
    'KGM' AS unit,
    'excess: ' || CAST(p.lines AS VARCHAR)
        || CASE WHEN p.lines = 1 THEN ' import line' ELSE ' import lines' END
        || ' against an estimate of '
        || regexp_replace(CAST(p.estimate_quantity AS VARCHAR), '\.?0+$', '') || ' '
        || p.estimate_uom
        || CASE WHEN p.estimate_uom <> 'KGM'
            THEN ' = ' || regexp_replace(CAST(p.allowed AS VARCHAR), '\.?0+$', '') || ' KGM'
            ELSE '' END
        || '; passed on ' || CAST(p.passed_on AS VARCHAR) || ' by ' || p.passed_by AS detail,
    list(struct_pack(kind := e.kind, key := e.key, source := e.source) ORDER BY e.step)
        AS evidence
FROM passed p
JOIN evidence e
  ON e.country = p.country AND e.substance_base = p.substance_base AND e.year = p.year
GROUP BY p.country, p.substance_base, p.year, p.allowed, p.observed, p.lines,
    p.estimate_quantity, p.estimate_uom, p.passed_on, p.passed_by
