-- id:        filing-mirror-gap
-- severity:  medium
-- needs:     filings
-- tolerance: tol_mirror_pct = 2 (percent of the larger of the two country totals)
-- checks:    Country A's filed exports of a substance to country B in a period (every filer in
--            A, latest version of each return line, returns per gtin converted to kg of base)
--            differ from B's filed imports from A by more than the tolerance. Only country
--            pairs where both countries filed returns for the period are compared. Consignments
--            in transit across the period boundary (exported in the period and imported after
--            it, or imported in the period after an export before it) are named in the detail;
--            where they account for the gap, the finding is only informational.
-- why:       Exports that the destination never reports as imports are the classic signature
--            of diversion in transit (the INCB compares both sides' statistics for this).
-- evidence:  the export and import return lines of both countries, and the consignment lines
--            in transit across the boundary
WITH returns AS (
    SELECT v.* FROM filing_versions v WHERE v.version_rank = 1
), filed_countries AS (
    SELECT DISTINCT country, period FROM returns
), movements AS (
    -- export and import return lines in kg of base, oriented from exporter to importer
    SELECT
        r.filing_id, r.period, r.flow, r.source,
        CASE r.flow WHEN 'export' THEN r.country ELSE r.counterparty_country END AS country_from,
        CASE r.flow WHEN 'export' THEN r.counterparty_country ELSE r.country END AS country_to,
        coalesce(pm.substance_base, r.substance_base) AS substance_base,
        CASE
            WHEN r.gtin IS NULL THEN CAST(r.quantity * u.factor AS DECIMAL(38,12))
            WHEN r.uom = 'H87' THEN CAST(r.quantity * pm.kg_base_per_unit AS DECIMAL(38,12))
            WHEN u.dimension = 'mass' THEN CAST(
                CAST(r.quantity * u.factor AS DECIMAL(38,12))
                * CASE WHEN pm.trade_uom <> 'H87' THEN pm.kg_base_per_unit
                       ELSE pm.base_factor END AS DECIMAL(38,12))
        END AS kg_base
    FROM returns r
    JOIN unit_factors u ON u.uom = r.uom
    LEFT JOIN product_mass pm ON pm.gtin = r.gtin
    WHERE r.flow IN ('export', 'import') AND r.counterparty_country IS NOT NULL
      AND (r.gtin IS NULL OR pm.substance_base IS NOT NULL)
      AND (r.gtin IS NOT NULL OR u.dimension = 'mass')
), totals AS (
    SELECT
        m.country_from, m.country_to, m.substance_base, m.period,
        CAST(coalesce(sum(m.kg_base) FILTER (WHERE m.flow = 'export'), 0) AS DECIMAL(38,12))
            AS sent,
        CAST(coalesce(sum(m.kg_base) FILTER (WHERE m.flow = 'import'), 0) AS DECIMAL(38,12))
            AS got
    FROM movements m
    JOIN filed_countries a ON a.country = m.country_from AND a.period = m.period
    JOIN filed_countries b ON b.country = m.country_to AND b.period = m.period
    GROUP BY m.country_from, m.country_to, m.substance_base, m.period
), gaps AS (
    SELECT
        t.*,
        t.got - t.sent AS gap,
        CAST(CAST($tol_mirror_pct AS DECIMAL(38,12)) * 0.01 AS DECIMAL(38,12))
            * greatest(t.sent, t.got) AS allowed,
        CASE WHEN length(t.period) = 4
            THEN make_date(CAST(t.period AS INTEGER), 1, 1)
            ELSE make_date(CAST(left(t.period, 4) AS INTEGER),
                           3 * CAST(right(t.period, 1) AS INTEGER) - 2, 1)
        END AS period_start
    FROM totals t
), windows AS (
    SELECT
        g.*,
        CAST(g.period_start
             + CASE WHEN length(g.period) = 4 THEN INTERVAL 12 MONTH ELSE INTERVAL 3 MONTH END
             - INTERVAL 1 DAY AS DATE) AS period_end
    FROM gaps g
    WHERE abs(g.gap) > g.allowed
), shipments AS (
    -- per shipment_ref and substance: when it left (export side) and arrived (import side)
    SELECT
        c.shipment_ref, c.origin_country, c.destination_country, pm.substance_base,
        min(c.declared_date) FILTER (WHERE c.direction = 'export') AS exported_on,
        min(c.declared_date) FILTER (WHERE c.direction = 'import') AS imported_on,
        CAST(sum(c.kg_base) FILTER (WHERE c.direction = 'export') AS DECIMAL(38,12))
            AS kg_exported,
        CAST(sum(c.kg_base) FILTER (WHERE c.direction = 'import') AS DECIMAL(38,12))
            AS kg_imported
    FROM consignment_qty c
    JOIN product_mass pm ON pm.gtin = c.gtin
    WHERE pm.substance_base IS NOT NULL
    GROUP BY c.shipment_ref, c.origin_country, c.destination_country, pm.substance_base
), in_transit AS (
    -- leaving: exported in the period, imported after it (lowers the importer's total);
    -- arriving: imported in the period, exported before it (raises it)
    SELECT
        w.country_from, w.country_to, w.substance_base, w.period, s.shipment_ref,
        s.exported_on, s.imported_on,
        CASE WHEN s.exported_on BETWEEN w.period_start AND w.period_end
            THEN -s.kg_exported ELSE s.kg_imported END AS effect
    FROM windows w
    JOIN shipments s
      ON s.origin_country = w.country_from AND s.destination_country = w.country_to
     AND s.substance_base = w.substance_base
    WHERE (s.exported_on BETWEEN w.period_start AND w.period_end
           AND s.imported_on > w.period_end)
       OR (s.imported_on BETWEEN w.period_start AND w.period_end
           AND s.exported_on < w.period_start)
), transit_totals AS (
    SELECT
        country_from, country_to, substance_base, period,
        CAST(sum(effect) AS DECIMAL(38,12)) AS effect,
        string_agg(
            shipment_ref || ' (' || regexp_replace(CAST(abs(effect) AS VARCHAR), '\.?0+$', '')
            || ' KGM, exported ' || CAST(exported_on AS VARCHAR) || ', imported '
            || CAST(imported_on AS VARCHAR) || ')', ', ' ORDER BY exported_on, shipment_ref)
            AS named
    FROM in_transit
    GROUP BY country_from, country_to, substance_base, period
), findings AS (
    SELECT
        w.*, t.effect, t.named,
        t.effect IS NOT NULL AND abs(w.gap - t.effect) <= w.allowed AS explained
    FROM windows w
    LEFT JOIN transit_totals t
      ON t.country_from = w.country_from AND t.country_to = w.country_to
     AND t.substance_base = w.substance_base AND t.period = w.period
), evidence AS (
    SELECT m.country_from, m.country_to, m.substance_base, m.period,
           'filing' AS kind, m.filing_id AS key, m.source
    FROM movements m
    UNION ALL
    SELECT i.country_from, i.country_to, i.substance_base, i.period,
           'consignment', c.line_key, c.source
    FROM in_transit i
    JOIN consignment_qty c
      ON c.shipment_ref = i.shipment_ref AND c.origin_country = i.country_from
     AND c.destination_country = i.country_to
    JOIN product_mass pm ON pm.gtin = c.gtin AND pm.substance_base = i.substance_base
)
SELECT
    x.country_from,
    x.country_to,
    x.substance_base,
    x.period,
    x.sent AS expected,
    x.got AS observed,
    x.gap AS difference,
    'KGM' AS unit,
    CASE WHEN x.gap < 0 THEN 'shortfall: ' || x.country_to || ' filed less import from '
                             || x.country_from || ' than ' || x.country_from || ' filed export'
         ELSE 'excess: ' || x.country_to || ' filed more import from ' || x.country_from
              || ' than ' || x.country_from || ' filed export' END
        || CASE
            WHEN x.named IS NULL THEN ''
            WHEN x.explained THEN '; accounted for by consignments in transit across the '
                || 'period boundary: ' || x.named
            ELSE '; in transit across the period boundary: ' || x.named || ', leaving '
                || regexp_replace(CAST(abs(x.gap - x.effect) AS VARCHAR), '\.?0+$', '')
                || ' KGM unexplained'
        END AS detail,
    CASE WHEN x.explained THEN 'info' END AS severity,
    list(struct_pack(kind := e.kind, key := e.key, source := e.source)
         ORDER BY e.kind DESC, e.source, e.key) AS evidence
FROM findings x
JOIN evidence e
  ON e.country_from = x.country_from AND e.country_to = x.country_to
 AND e.substance_base = x.substance_base AND e.period = x.period
GROUP BY x.country_from, x.country_to, x.substance_base, x.period, x.sent, x.got, x.gap,
    x.named, x.explained, x.effect
