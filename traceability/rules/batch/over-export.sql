-- id:        over-export
-- severity:  critical
-- needs:     batches, consignments
-- tolerance: tol_units = 0 (counted products, units); tol_mass_pct = 0.5, tol_mass_kg = 0.001
--            (bulk, kg of base: a finding when the excess is above the larger of the two)
-- checks:    A lot's exports, summed over every export declaration line that names it (all
--            consignments, whatever their period), exceed the quantity manufactured for it.
--            Counted products compare in units; bulk (or mixed units) in kg of base.
-- why:       More exported than made means product joined the lot from outside the declared
--            production: diverted or counterfeit goods travelling under a genuine lot number.
-- evidence:  the manufacture declaration and every export line counted in the total
-- remedy:    take at least {difference} {unit} of this lot off the shipment (the lot's make
--            is used up), or correct the manufacture declaration if more was made
WITH exports AS (
    SELECT c.*
    FROM current_consignments c
    WHERE c.direction = 'export' AND c.lot IS NOT NULL AND c.lot <> ''
), lots AS (
    SELECT
        b.gtin, b.lot, b.qty AS made_qty, b.unit AS made_unit, b.kg_base AS made_kg,
        b.conversion AS made_conversion, b.source AS batch_source,
        count(x.line_key) AS lines,
        bool_and(x.unit = b.unit AND x.qty IS NOT NULL) AS same_unit,
        CAST(sum(x.qty) AS DECIMAL(38,12)) AS exported_qty,
        CAST(sum(x.kg_base) AS DECIMAL(38,12)) AS exported_kg,
        count(x.kg_base) AS lines_with_kg
    FROM current_batches b
    JOIN exports x ON x.gtin = b.gtin AND x.lot = b.lot
    GROUP BY b.gtin, b.lot, b.qty, b.unit, b.kg_base, b.conversion, b.source
), compared AS (
    SELECT
        l.*,
        CASE WHEN l.same_unit THEN l.made_qty ELSE l.made_kg END AS expected,
        CASE WHEN l.same_unit THEN l.exported_qty ELSE l.exported_kg END AS observed,
        CASE WHEN l.same_unit THEN l.made_unit ELSE 'KGM' END AS unit
    FROM lots l
    WHERE l.same_unit OR (l.made_kg IS NOT NULL AND l.lines_with_kg = l.lines)
), over AS (
    SELECT c.*, c.observed - c.expected AS difference
    FROM compared c
    WHERE c.observed - c.expected > CASE
        WHEN c.unit = 'H87' THEN CAST($tol_units AS DECIMAL(38,12))
        ELSE greatest(
            CAST($tol_mass_kg AS DECIMAL(38,12)),
            CAST(CAST($tol_mass_pct AS DECIMAL(38,12)) * 0.01 AS DECIMAL(38,12)) * c.expected)
    END
), running AS (
    -- the export line that took the lot past its make dates the finding
    SELECT
        x.gtin, x.lot, x.declared_date, x.period,
        sum(CASE WHEN o.unit = x.unit AND o.unit = o.made_unit THEN x.qty ELSE x.kg_base END)
            OVER (PARTITION BY x.gtin, x.lot
                  ORDER BY x.declared_date, x.declaration_id, x.line_key
                  ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS so_far,
        o.expected
    FROM exports x
    JOIN over o ON o.gtin = x.gtin AND o.lot = x.lot
), crossing AS (
    SELECT gtin, lot, min(declared_date) AS crossed_on
    FROM running
    WHERE so_far > expected
    GROUP BY gtin, lot
), evidence AS (
    SELECT o.gtin, o.lot, 'batch' AS kind, o.gtin || '/' || o.lot AS key, o.batch_source AS source
    FROM over o
    UNION ALL
    SELECT x.gtin, x.lot, 'consignment', x.line_key, x.source
    FROM exports x
    JOIN over o ON o.gtin = x.gtin AND o.lot = x.lot
)
SELECT
    o.gtin,
    o.lot,
    CAST(year(k.crossed_on) AS VARCHAR) || '-Q' || CAST(quarter(k.crossed_on) AS VARCHAR)
        AS period,
    o.expected,
    o.observed,
    o.difference,
    o.unit,
    CAST(o.lines AS VARCHAR) || ' export line(s) total more than the lot''s make'
        || CASE WHEN o.unit = 'KGM' THEN coalesce('; made ' || o.made_conversion, '') ELSE '' END
        AS detail,
    list(struct_pack(kind := e.kind, key := e.key, source := e.source)
         ORDER BY e.kind, e.source, e.key) AS evidence
FROM over o
LEFT JOIN crossing k ON k.gtin = o.gtin AND k.lot = o.lot
JOIN evidence e ON e.gtin = o.gtin AND e.lot = o.lot
GROUP BY o.gtin, o.lot, k.crossed_on, o.expected, o.observed, o.difference, o.unit, o.lines,
    o.made_conversion
