-- id:        late-arrival
-- severity:  medium
-- needs:     consignments
-- tolerance: window_days = 60 (days after the export's declared_date the import may be dated)
-- checks:    For a shipment_ref declared on both sides, an import line is dated more than
--            the window after an export line, or before it. The gap is in days, import date
--            minus export date (earliest export for a late import, latest for an early one).
-- why:       Goods that take far longer than the route needs spent time off the record (a
--            chance to swap or skim them); an import declared before the goods left points
--            to papers prepared for a different consignment.
-- evidence:  every export and import line of the shipment_ref
WITH lines AS (
    SELECT c.*
    FROM current_consignments c
    WHERE c.direction IN ('export', 'import')
), spans AS (
    SELECT
        shipment_ref,
        min(declared_date) FILTER (WHERE direction = 'export') AS first_export,
        max(declared_date) FILTER (WHERE direction = 'export') AS last_export,
        min(declared_date) FILTER (WHERE direction = 'import') AS first_import,
        max(declared_date) FILTER (WHERE direction = 'import') AS last_import
    FROM lines
    GROUP BY shipment_ref
    HAVING count(*) FILTER (WHERE direction = 'export') > 0
       AND count(*) FILTER (WHERE direction = 'import') > 0
), judged AS (
    SELECT
        s.*,
        date_diff('day', s.first_export, s.last_import) AS late_gap,
        date_diff('day', s.last_export, s.first_import) AS early_gap,
        CAST($window_days AS INTEGER) AS window_days
    FROM spans s
), breaches AS (
    SELECT
        j.*,
        CASE WHEN j.early_gap < 0 THEN 'early' ELSE 'late' END AS kind
    FROM judged j
    WHERE j.late_gap > j.window_days OR j.early_gap < 0
)
SELECT
    b.shipment_ref,
    CAST(year(b.first_export) AS VARCHAR) || '-Q' || CAST(quarter(b.first_export) AS VARCHAR)
        AS period,
    CAST(CASE WHEN b.kind = 'early' THEN 0 ELSE b.window_days END AS DECIMAL(38,12))
        AS expected,
    CAST(CASE WHEN b.kind = 'early' THEN b.early_gap ELSE b.late_gap END AS DECIMAL(38,12))
        AS observed,
    CAST(CASE WHEN b.kind = 'early' THEN b.early_gap
              ELSE b.late_gap - b.window_days END AS DECIMAL(38,12)) AS difference,
    'DAY' AS unit,
    CASE WHEN b.kind = 'early'
        THEN 'import declared ' || CAST(b.first_import AS VARCHAR) || ', before the export of '
             || CAST(b.last_export AS VARCHAR)
        ELSE 'exported ' || CAST(b.first_export AS VARCHAR) || ', import declared '
             || CAST(b.last_import AS VARCHAR) || ': '
             || CAST(b.late_gap AS VARCHAR) || ' days, window ' || CAST(b.window_days AS VARCHAR)
    END AS detail,
    list(struct_pack(kind := 'consignment', key := l.line_key, source := l.source)
         ORDER BY l.direction, l.source, l.line_key) AS evidence
FROM breaches b
JOIN lines l ON l.shipment_ref = b.shipment_ref
GROUP BY b.shipment_ref, b.first_export, b.last_export, b.first_import, b.last_import,
    b.kind, b.late_gap, b.early_gap, b.window_days
