-- id:        authorisation-exceeded
-- severity:  critical
-- needs:     consignments, authorisations
-- tolerance: tol_units = 0 (authorisations in units); tol_mass_pct = 0.5, tol_mass_kg = 0.001
--            (authorisations in mass), both against max_quantity
-- checks:    The movements that quote one authorisation add up to more than its max_quantity.
--            Counted are the lines (latest version of each) in the authorisation's direction
--            (exports for export authorisations and pre-export notifications, imports for
--            import permits) and of its product: the same gtin, or, for an authorisation
--            written per substance, any product of that substance. Quantities are taken in the
--            authorisation's unit: units for H87; for a mass written per substance, kg of base
--            (packs: units x content_per_unit x content unit factor x base_factor); for a mass
--            written per gtin, kg as traded (packs: kg of base).
-- why:       Shipping more than the authorised quantity means the surplus travels without
--            approval under cover of a genuine authorisation: the quota no longer limits it.
-- evidence:  the authorisation and every line counted, in date order (the detail gives the
--            running balance)
-- remedy:    ship at most the {remaining} {unit} left under it, or obtain an amended
--            authorisation
WITH auths AS (
    SELECT
        a.*,
        row_number() OVER (
            PARTITION BY a.authorisation_ref ORDER BY a.load_id DESC, a.source_line DESC)
            AS version_rank
    FROM authorisation_rows a
), limits AS (
    SELECT
        a.authorisation_ref, a.kind, a.gtin, a.substance_base, a.max_quantity, a.uom,
        a.source, u.dimension,
        CAST(a.max_quantity * u.factor AS DECIMAL(38,12)) AS allowed,
        CASE u.dimension WHEN 'count' THEN 'H87' WHEN 'mass' THEN 'KGM' ELSE 'LTR' END AS unit
    FROM auths a
    JOIN unit_factors u ON u.uom = a.uom
    WHERE a.version_rank = 1
), consignment_versions AS (
    SELECT c.*, row_number() OVER (
        PARTITION BY c.declaration_id, coalesce(c.line, '1')
        ORDER BY c.load_id DESC, c.source_line DESC) AS version_rank
    FROM consignment_qty c
), used AS (
    SELECT
        l.authorisation_ref, l.unit, l.allowed, l.max_quantity, l.uom AS auth_uom,
        l.source AS auth_source,
        c.declaration_id, coalesce(c.line, '1') AS line, c.line_key, c.declared_date,
        c.period, c.source, c.quantity, c.uom,
        CASE
            WHEN l.dimension = 'count' THEN c.qty_units
            WHEN l.dimension = 'volume' THEN CASE WHEN c.unit = 'LTR' THEN c.qty END
            WHEN l.gtin IS NOT NULL AND pm.trade_uom <> 'H87' THEN c.qty_kg
            ELSE c.kg_base
        END AS amount,
        CASE WHEN l.dimension = 'mass' AND (l.gtin IS NULL OR pm.trade_uom = 'H87')
            THEN c.conversion
            WHEN c.uom <> l.unit AND l.dimension = 'mass' THEN
                regexp_replace(CAST(c.quantity AS VARCHAR), '\.?0+$', '') || ' ' || c.uom
                || ' = ' || regexp_replace(CAST(c.qty_kg AS VARCHAR), '\.?0+$', '') || ' KGM'
        END AS conversion
    FROM limits l
    JOIN consignment_versions c
      ON c.authorisation_ref = l.authorisation_ref AND c.version_rank = 1
     AND c.direction = CASE WHEN l.kind = 'import-permit' THEN 'import' ELSE 'export' END
    LEFT JOIN product_mass pm ON pm.gtin = c.gtin
    WHERE (l.gtin IS NOT NULL AND c.gtin = l.gtin)
       OR (l.gtin IS NULL AND pm.substance_base = l.substance_base)
), running AS (
    SELECT
        u.*,
        CAST(sum(u.amount) OVER (
            PARTITION BY u.authorisation_ref
            ORDER BY u.declared_date, u.declaration_id, u.line, u.source
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS DECIMAL(38,12)) AS balance,
        row_number() OVER (
            PARTITION BY u.authorisation_ref
            ORDER BY u.declared_date, u.declaration_id, u.line, u.source) AS step
    FROM used u
    WHERE u.amount IS NOT NULL
), limit_breaks AS (
    -- the tolerated excess over max_quantity, and the first line past it
    SELECT
        r.*,
        CASE WHEN r.unit = 'H87' THEN CAST($tol_units AS DECIMAL(38,12))
             ELSE greatest(
                CAST($tol_mass_kg AS DECIMAL(38,12)),
                CAST(CAST($tol_mass_pct AS DECIMAL(38,12)) * 0.01 AS DECIMAL(38,12))
                    * r.allowed)
        END AS slack
    FROM running r
), totals AS (
    SELECT
        authorisation_ref, unit, allowed, max_quantity, auth_uom, auth_source,
        CAST(sum(amount) AS DECIMAL(38,12)) AS observed,
        min(step) FILTER (WHERE balance > allowed + slack) AS break_step,
        max(slack) AS slack
    FROM limit_breaks
    GROUP BY authorisation_ref, unit, allowed, max_quantity, auth_uom, auth_source
    HAVING sum(amount) > allowed + max(slack)
), findings AS (
    SELECT
        t.authorisation_ref, t.allowed, t.observed, t.unit, t.auth_source,
        max(CASE WHEN r.step = t.break_step THEN r.period END) AS period,
        'authorised ' || regexp_replace(CAST(t.max_quantity AS VARCHAR), '\.?0+$', '') || ' '
            || t.auth_uom
            || CASE WHEN t.auth_uom <> t.unit
                THEN ' = ' || regexp_replace(CAST(t.allowed AS VARCHAR), '\.?0+$', '') || ' '
                     || t.unit ELSE '' END
            || '; running balance: '
            || string_agg(
                CAST(r.declared_date AS VARCHAR) || ' ' || r.line_key
                || ' +' || regexp_replace(CAST(r.amount AS VARCHAR), '\.?0+$', '')
                || coalesce(' (' || r.conversion || ')', '')
                || ' = ' || regexp_replace(CAST(r.balance AS VARCHAR), '\.?0+$', '')
                || CASE WHEN r.step = t.break_step THEN ' (exceeded)' ELSE '' END,
                '; ' ORDER BY r.step) AS detail
    FROM totals t
    JOIN running r ON r.authorisation_ref = t.authorisation_ref
    GROUP BY t.authorisation_ref, t.allowed, t.observed, t.unit, t.max_quantity, t.auth_uom,
        t.auth_source, t.break_step
), evidence AS (
    SELECT authorisation_ref, 'authorisation' AS kind, authorisation_ref AS key,
        auth_source AS source, 0 AS step
    FROM totals
    UNION ALL
    SELECT authorisation_ref, 'consignment', line_key, source, step
    FROM running
)
SELECT
    f.authorisation_ref,
    f.period,
    f.allowed AS expected,
    f.observed,
    f.observed - f.allowed AS difference,
    f.unit,
    f.detail,
    list(struct_pack(kind := e.kind, key := e.key, source := e.source) ORDER BY e.step)
        AS evidence
FROM findings f
JOIN evidence e ON e.authorisation_ref = f.authorisation_ref
GROUP BY f.authorisation_ref, f.period, f.allowed, f.observed, f.unit, f.detail
