-- id:        stock-imbalance
-- severity:  high
-- needs:     filings
-- tolerance: tol_units = 0 (returns per gtin in units); tol_mass_pct = 0.5, tol_mass_kg = 0.001
--            (returns in kg: per substance, kg of base), both against the computed closing stock
-- checks:    In a filer's return for a period and a product (units) or substance (kg of base),
--            opening stock + manufacture + import - export - domestic supply - destruction - loss
--            differs from the declared closing stock. Only the latest version of each return
--            line counts (a corrected return supersedes the earlier one). A return without an
--            opening or a closing stock line is not a stock account and is not checked; a
--            missing line of the account counts as zero. The difference is the unaccounted
--            quantity (negative: stock missing).
-- why:       Stock that the filer's own flows cannot explain has left the licit chain without a
--            record (diversion at the premises), or came in from an undeclared source.
-- evidence:  every return line of the stock account
WITH returns AS (
    SELECT
        v.filing_id, v.filer, v.period, v.flow, v.source,
        CASE WHEN v.gtin IS NOT NULL THEN 'gtin' ELSE 'substance' END AS label_kind,
        coalesce(v.gtin, v.substance_base) AS label,
        CAST(v.quantity * u.factor AS DECIMAL(38,12)) AS qty,
        CASE u.dimension WHEN 'count' THEN 'H87' WHEN 'mass' THEN 'KGM' ELSE 'LTR' END AS unit,
        CASE v.flow
            WHEN 'opening-stock' THEN 1 WHEN 'manufacture' THEN 2 WHEN 'import' THEN 3
            WHEN 'export' THEN 4 WHEN 'domestic-supply' THEN 5 WHEN 'destruction' THEN 6
            WHEN 'loss' THEN 7 ELSE 8
        END AS flow_order,
        CASE WHEN v.flow IN ('export', 'domestic-supply', 'destruction', 'loss') THEN -1
             ELSE 1 END AS sign
    FROM filing_versions v
    JOIN unit_factors u ON u.uom = v.uom
    WHERE v.version_rank = 1
), flows AS (
    -- one term per flow (export and import lines summed over counterparty countries)
    SELECT filer, period, label_kind, label, unit, flow, flow_order, sign,
           CAST(sum(qty) AS DECIMAL(38,12)) AS qty
    FROM returns
    GROUP BY filer, period, label_kind, label, unit, flow, flow_order, sign
), accounts AS (
    SELECT
        filer, period, label_kind, label, unit,
        CAST(coalesce(sum(sign * qty) FILTER (WHERE flow <> 'closing-stock'), 0)
             AS DECIMAL(38,12)) AS expected,
        CAST(coalesce(sum(qty) FILTER (WHERE flow = 'closing-stock'), 0)
             AS DECIMAL(38,12)) AS observed,
        count(*) FILTER (WHERE flow = 'closing-stock') AS has_closing,
        string_agg(
            CASE WHEN flow <> 'closing-stock' THEN
                CASE WHEN flow_order = 1 THEN '' WHEN sign < 0 THEN ' - ' ELSE ' + ' END
                || flow || ' ' || regexp_replace(CAST(qty AS VARCHAR), '\.?0+$', '')
            END, '' ORDER BY flow_order) AS terms
    FROM flows
    GROUP BY filer, period, label_kind, label, unit
    HAVING count(*) FILTER (WHERE flow IN ('opening-stock', 'closing-stock')) > 0
), findings AS (
    SELECT a.*, a.observed - a.expected AS difference
    FROM accounts a
    WHERE abs(a.observed - a.expected) > CASE
        WHEN a.unit = 'H87' THEN CAST($tol_units AS DECIMAL(38,12))
        ELSE greatest(
            CAST($tol_mass_kg AS DECIMAL(38,12)),
            CAST(CAST($tol_mass_pct AS DECIMAL(38,12)) * 0.01 AS DECIMAL(38,12)) * a.expected)
    END
)
SELECT
    x.filer AS party,
    CASE WHEN x.label_kind = 'gtin' THEN x.label END AS gtin,
    CASE WHEN x.label_kind = 'substance' THEN x.label END AS substance_base,
    x.period,
    x.expected,
    x.observed,
    x.difference,
    x.unit,
    CASE WHEN x.difference < 0
        THEN 'shortfall: ' || regexp_replace(CAST(-x.difference AS VARCHAR), '\.?0+$', '')
             || ' ' || x.unit || ' unaccounted for'
        ELSE 'excess: ' || regexp_replace(CAST(x.difference AS VARCHAR), '\.?0+$', '')
             || ' ' || x.unit || ' more in stock than the flows explain'
    END
        || ' (' || ltrim(ltrim(coalesce(x.terms, ''), ' + ')) || ' = '
        || regexp_replace(CAST(x.expected AS VARCHAR), '\.?0+$', '') || ' ' || x.unit
        || CASE WHEN x.has_closing > 0 THEN '; closing-stock declared ' ELSE
                '; no closing-stock line, counted as ' END
        || regexp_replace(CAST(x.observed AS VARCHAR), '\.?0+$', '') || ')' AS detail,
    list(struct_pack(kind := 'filing', key := r.filing_id, source := r.source)
         ORDER BY r.flow_order, r.source) AS evidence
FROM findings x
JOIN returns r
  ON r.filer = x.filer AND r.period = x.period AND r.label_kind = x.label_kind
 AND r.label = x.label AND r.unit = x.unit
GROUP BY x.filer, x.label_kind, x.label, x.period, x.expected, x.observed, x.difference,
    x.unit, x.terms, x.has_closing
