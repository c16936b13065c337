-- id:        mirror-quantity-gap
-- severity:  high
-- needs:     consignments
-- tolerance: tol_units = 0 (counted products, units); tol_mass_pct = 0.5, tol_mass_kg = 0.001
--            (bulk, kg of base: a finding when the gap is above the larger of the two)
-- checks:    For a shipment_ref declared on both sides, the export and import declarations of
--            one gtin differ in quantity (a gtin missing on one side counts as zero there).
--            Less arrived is a shortfall, more an excess. Counted products compare in units;
--            bulk (or mixed units) in kg of base, so 25000 GRM and 25 KGM agree.
-- why:       A shortfall is product that left the exporter but never reached the importer:
--            possible diversion in transit. An excess is product joining the consignment on
--            the way, from an undeclared source.
-- evidence:  every export and import line of the shipment_ref and gtin
WITH lines AS (
    SELECT c.*
    FROM current_consignments c
    WHERE c.direction IN ('export', 'import')
), both_sides AS (
    SELECT shipment_ref
    FROM lines
    GROUP BY shipment_ref
    HAVING count(*) FILTER (WHERE direction = 'export') > 0
       AND count(*) FILTER (WHERE direction = 'import') > 0
), sides AS (
    SELECT
        l.shipment_ref, l.gtin,
        coalesce(min(l.unit) = max(l.unit), false) AND count(l.qty) = count(*) AS same_unit,
        max(l.unit) AS one_unit,
        count(l.kg_base) = count(*) AS all_kg,
        CAST(coalesce(sum(l.qty) FILTER (WHERE l.direction = 'export'), 0)
             AS DECIMAL(38,12)) AS exported_qty,
        CAST(coalesce(sum(l.qty) FILTER (WHERE l.direction = 'import'), 0)
             AS DECIMAL(38,12)) AS imported_qty,
        CAST(coalesce(sum(l.kg_base) FILTER (WHERE l.direction = 'export'), 0)
             AS DECIMAL(38,12)) AS exported_kg,
        CAST(coalesce(sum(l.kg_base) FILTER (WHERE l.direction = 'import'), 0)
             AS DECIMAL(38,12)) AS imported_kg,
        min(l.declared_date) FILTER (WHERE l.direction = 'export') AS shipped_on,
        min(l.declared_date) AS first_on
    FROM lines l
    JOIN both_sides s ON s.shipment_ref = l.shipment_ref
    GROUP BY l.shipment_ref, l.gtin
), compared AS (
    SELECT
        s.*,
        CASE WHEN s.same_unit THEN s.exported_qty ELSE s.exported_kg END AS expected,
        CASE WHEN s.same_unit THEN s.imported_qty ELSE s.imported_kg END AS observed,
        CASE WHEN s.same_unit THEN s.one_unit ELSE 'KGM' END AS unit
    FROM sides s
    WHERE s.same_unit OR s.all_kg
), gaps AS (
    SELECT c.*, c.observed - c.expected AS difference
    FROM compared c
    WHERE abs(c.observed - c.expected) > CASE
        WHEN c.unit = 'H87' THEN CAST($tol_units AS DECIMAL(38,12))
        ELSE greatest(
            CAST($tol_mass_kg AS DECIMAL(38,12)),
            CAST(CAST($tol_mass_pct AS DECIMAL(38,12)) * 0.01 AS DECIMAL(38,12)) * c.expected)
    END
)
SELECT
    g.shipment_ref,
    g.gtin,
    CAST(year(coalesce(g.shipped_on, g.first_on)) AS VARCHAR) || '-Q'
        || CAST(quarter(coalesce(g.shipped_on, g.first_on)) AS VARCHAR) AS period,
    g.expected,
    g.observed,
    g.difference,
    g.unit,
    CASE WHEN g.difference < 0
        THEN 'shortfall: less declared imported than exported'
        ELSE 'excess: more declared imported than exported' END
        -- the conversions are written out for the gaps found only, from their lines
        || CASE WHEN g.unit = 'KGM' THEN coalesce(' (' || nullif(array_to_string(
               list_sort(list_distinct(list(l.conversion))), '; '), '') || ')', '') ELSE '' END
        AS detail,
    list(struct_pack(kind := 'consignment', key := l.line_key, source := l.source)
         ORDER BY l.direction, l.source, l.line_key) AS evidence
FROM gaps g
JOIN lines l ON l.shipment_ref = g.shipment_ref AND l.gtin = g.gtin
GROUP BY g.shipment_ref, g.gtin, g.shipped_on, g.first_on, g.expected, g.observed,
    g.difference, g.unit
