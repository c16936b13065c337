-- id:        batch-conflict
-- severity:  medium
-- needs:     batches
-- tolerance: none (quantities compare after unit conversion: 25000 GRM = 25 KGM agree)
-- checks:    Two or more manufacture declarations for the same (gtin, lot) disagree on the
--            quantity (in units, or kg of base), the manufacture or expiry date, the
--            manufacturer or the site.
-- why:       Two versions of a lot's size leave room to export the larger while accounting
--            for the smaller: the difference can leave the licit chain unseen.
-- evidence:  every manufacture declaration of the lot
WITH versions AS (
    SELECT
        b.*,
        row_number() OVER (PARTITION BY b.gtin, b.lot
                           ORDER BY b.load_id, b.source_line) AS nth,
        count(*) OVER (PARTITION BY b.gtin, b.lot) AS n
    FROM batch_qty b
), lots AS (
    SELECT
        gtin, lot,
        count(DISTINCT coalesce(CAST(qty AS VARCHAR), CAST(quantity AS VARCHAR) || uom)
                       || '|' || coalesce(unit, '')) AS quantities,
        count(DISTINCT manufacture_date) AS made_dates,
        count(DISTINCT expiry_date) AS expiry_dates,
        count(DISTINCT manufacturer) AS manufacturers,
        count(DISTINCT coalesce(site, '')) AS sites,
        count(DISTINCT unit) AS units
    FROM versions
    GROUP BY gtin, lot
    HAVING count(*) > 1
), conflicts AS (
    SELECT * FROM lots
    WHERE quantities > 1 OR made_dates > 1 OR expiry_dates > 1 OR manufacturers > 1
       OR sites > 1
), ends AS (
    SELECT v.gtin, v.lot,
           max(CASE WHEN v.nth = 1 THEN v.qty END) AS first_qty,
           max(CASE WHEN v.nth = v.n THEN v.qty END) AS last_qty,
           max(CASE WHEN v.nth = 1 THEN v.unit END) AS unit,
           max(CASE WHEN v.nth = v.n THEN v.period END) AS period
    FROM versions v
    GROUP BY v.gtin, v.lot
)
SELECT
    c.gtin,
    c.lot,
    x.period,
    CASE WHEN c.units = 1 THEN x.first_qty END AS expected,
    CASE WHEN c.units = 1 THEN x.last_qty END AS observed,
    CASE WHEN c.units = 1 THEN x.last_qty - x.first_qty END AS difference,
    CASE WHEN c.units = 1 THEN x.unit END AS unit,
    CAST(count(*) AS VARCHAR) || ' declarations disagree on '
        || concat_ws(', ',
            CASE WHEN c.quantities > 1 THEN 'quantity ('
                || string_agg(regexp_replace(CAST(v.quantity AS VARCHAR), '\.?0+$', '')
                              || ' ' || v.uom, ' / ' ORDER BY v.nth) || ')' END,
            CASE WHEN c.made_dates > 1 THEN 'manufacture_date ('
                || string_agg(CAST(v.manufacture_date AS VARCHAR), ' / ' ORDER BY v.nth)
                || ')' END,
            CASE WHEN c.expiry_dates > 1 THEN 'expiry_date ('
                || string_agg(CAST(v.expiry_date AS VARCHAR), ' / ' ORDER BY v.nth) || ')' END,
            CASE WHEN c.manufacturers > 1 THEN 'manufacturer ('
                || string_agg(v.manufacturer, ' / ' ORDER BY v.nth) || ')' END,
            CASE WHEN c.sites > 1 THEN 'site ('
                || string_agg(coalesce(v.site, '-'), ' / ' ORDER BY v.nth) || ')' END)
        AS detail,
    list(struct_pack(kind := 'batch', key := v.gtin || '/' || v.lot, source := v.source)
         ORDER BY v.nth) AS evidence
FROM conflicts c
JOIN versions v ON v.gtin = c.gtin AND v.lot = c.lot
JOIN ends x ON x.gtin = c.gtin AND x.lot = c.lot
GROUP BY c.gtin, c.lot, c.quantities, c.made_dates, c.expiry_dates, c.manufacturers, c.sites,
    c.units, x.period, x.first_qty, x.last_qty, x.unit
