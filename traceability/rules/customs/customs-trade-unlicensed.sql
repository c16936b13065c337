-- id:        customs-trade-unlicensed
-- severity:  high
-- needs:     trade_statistics
-- tolerance: 5 % of the declared mass (written in this rule; not yet a setting)
-- checks:    Customs statistics record more net mass of a substance's HS code between two
--            countries in a period (the latest row per reporter, partner, flow, period and
--            HS code; flow as reported: a reporter's export runs from it to the partner, its
--            import from the partner to it) than the consignment declarations of that flow
--            (latest version of each line, direction as the flow, same origin and destination
--            countries, declared_date in the period) for bulk products of that substance
--            (products traded by mass) add up to, both in kg as traded (the salt: no base
--            factor), beyond 5 % of the declared mass. HS codes name substances by default:
--            293941 ephedrine, 293942 pseudoephedrine, 293943 cathine, 293944 norephedrine,
--            291431 phenylacetone (P-2-P), 293292 PMK; other codes are not judged. A month's
--            finding carries its quarter as period (the month is in the detail).
-- why:       Customs sees all trade under an HS code, licensed or not. Mass that crossed the
--            border with no licensed declaration to cover it is trade outside the licence
--            system: the way diversion bypasses authorisations altogether.
-- evidence:  the statistic, then every declaration line counted against it, in date order
WITH hs_substances(hs_code, substance_base) AS (
    VALUES ('293941', 'ephedrine'), ('293942', 'pseudoephedrine'), ('293943', 'cathine'),
        ('293944', 'norephedrine'), ('291431', 'phenylacetone'), ('293292', 'PMK')
), statistic_versions AS (
    SELECT
        s.*,
        coalesce(n.load_name, s.source_file) || ':' || s.source_line AS source,
        row_number() OVER (
            PARTITION BY s.reporter_country, s.partner_country, s.flow, s.period, s.hs_code
            ORDER BY s.load_id DESC, s.source_line DESC) AS version_rank
    FROM trade_statistics s
    LEFT JOIN load_names n ON n.load_id = s.load_id
), flows AS (
    SELECT
        s.reporter_country, s.partner_country, s.flow, s.period, s.hs_code, s.source,
        h.substance_base,
        CASE WHEN s.flow = 'export' THEN s.reporter_country ELSE s.partner_country END
            AS country_from,
        CASE WHEN s.flow = 'export' THEN s.partner_country ELSE s.reporter_country END
            AS country_to,
        CAST(s.net_mass * u.factor AS DECIMAL(38,12)) AS recorded
    FROM statistic_versions s
    JOIN hs_substances h ON h.hs_code = s.hs_code
    JOIN unit_factors u ON u.uom = s.uom AND u.dimension = 'mass'
    WHERE s.version_rank = 1
), consignment_versions AS (
    SELECT c.*, coalesce(c.line, '1') AS line_no, row_number() OVER (
        PARTITION BY c.line_key
        ORDER BY c.load_id DESC, c.source_line DESC) AS version_rank
    FROM consignment_qty c
), declared AS (
    SELECT
        f.reporter_country, f.partner_country, f.flow, f.period, f.hs_code,
        c.declaration_id, c.line_no, c.line_key, c.declared_date, c.source, c.qty_kg,
        row_number() OVER (
            PARTITION BY f.reporter_country, f.partner_country, f.flow, f.period, f.hs_code
            ORDER BY c.declared_date, c.declaration_id, c.line_no, c.source) AS step
    FROM flows f
    JOIN consignment_versions c
      ON c.version_rank = 1 AND c.direction = f.flow
     AND c.origin_country = f.country_from AND c.destination_country = f.country_to
     AND f.period IN (
            CAST(year(c.declared_date) AS VARCHAR),
            CAST(year(c.declared_date) AS VARCHAR) || '-Q'
                || CAST(quarter(c.declared_date) AS VARCHAR),
            CAST(year(c.declared_date) AS VARCHAR) || '-'
                || lpad(CAST(month(c.declared_date) AS VARCHAR), 2, '0'))
    JOIN product_mass pm
      ON pm.gtin = c.gtin AND lower(pm.substance_base) = lower(f.substance_base)
    JOIN unit_factors tu ON tu.uom = pm.trade_uom AND tu.dimension = 'mass'
    WHERE c.qty_kg IS NOT NULL
), totals AS (
    SELECT
        f.*,
        CAST(coalesce(sum(d.qty_kg), 0) AS DECIMAL(38,12)) AS expected,
        count(d.step) AS lines
    FROM flows f
    LEFT JOIN declared d
      ON d.reporter_country = f.reporter_country AND d.partner_country = f.partner_country
     AND d.flow = f.flow AND d.period = f.period AND d.hs_code = f.hs_code
    GROUP BY ALL
), findings AS (
    SELECT *
    FROM totals
    WHERE recorded > expected + CAST(expected * 0.05 AS DECIMAL(38,12))
), evidence AS (
    SELECT reporter_country, partner_country, flow, period, hs_code, 'trade-statistic' AS kind,
        reporter_country || '/' || partner_country || '/' || flow || '/' || period || '/'
            || hs_code AS key,
        source, 0 AS step
    FROM findings
    UNION ALL
    SELECT reporter_country, partner_country, flow, period, hs_code, 'consignment',
        line_key, source, step
    FROM declared
)
SELECT
    f.country_from,
    f.country_to,
    f.substance_base,
    CASE
        WHEN length(f.period) = 4 OR f.period LIKE '%-Q%' THEN f.period
        WHEN substr(f.period, 6, 2) IN ('01', '02', '03') THEN left(f.period, 4) || '-Q1'
        WHEN substr(f.period, 6, 2) IN ('04', '05', '06') THEN left(f.period, 4) || '-Q2'
        WHEN substr(f.period, 6, 2) IN ('07', '08', '09') THEN left(f.period, 4) || '-Q3'
        ELSE left(f.period, 4) || '-Q4'
    END AS period,
    f.expected,
    f.recorded AS observed,
    f.recorded - f.expected AS difference,
    'KGM' AS unit,
    f.reporter_country || ' customs recorded '
        || CASE WHEN f.flow = 'export' THEN 'exports to ' ELSE 'imports from ' END
        || f.partner_country || ' of HS ' || f.hs_code || ' in ' || f.period || '; '
        || CAST(f.lines AS VARCHAR)
        || CASE WHEN f.lines = 1 THEN ' declaration line' ELSE ' declaration lines' END
        || ' of that flow cover the rest' AS detail,
    list(struct_pack(kind := e.kind, key := e.key, source := e.source) ORDER BY e.step)
        AS evidence
FROM findings f
JOIN evidence e
  ON e.reporter_country = f.reporter_country AND e.partner_country = f.partner_country
 AND e.flow = f.flow AND e.period = f.period AND e.hs_code = f.hs_code
GROUP BY f.country_from, f.country_to, f.substance_base, f.period, f.expected, f.recorded,
    f.reporter_country, f.partner_country, f.flow, f.hs_code, f.lines
