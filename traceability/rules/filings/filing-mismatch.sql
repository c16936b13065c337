-- id:        filing-mismatch
-- severity:  medium
-- needs:     filings
-- tolerance: tol_units = 0 (returns per gtin in units); tol_mass_pct = 0.5, tol_mass_kg = 0.001
--            (returns in kg: per substance, kg of base)
-- checks:    A filer's declared total for a period, flow, product or substance and counterparty
--            country differs from the sum of its own records: batches it manufactured
--            (manufacture), its export and import declaration lines (export, import: the
--            counterparty country is the destination, resp. origin) and destroying events
--            (destruction, by the event's local date; the destroyer is the event's owning or
--            possessing source party, else the manufacturer whose batches name the event's
--            site as theirs). Only the latest version of a batch, declaration line and
--            return line counts (a later filing with the same filer, period, flow, product or
--            substance and counterparty country supersedes it). A flow with records but no
--            return line counts as filed zero, for every product or substance the filer files.
--            One finding per flow (and counterparty country); manufacture and destruction of
--            one product both off make one finding, each flow's figures in the detail. A
--            destroyed quantity in a unit that is not a known UN/ECE Rec 20 code is left out
--            of the totals, and the report says so.
-- why:       A return that does not add up to the filer's own declarations hides quantity:
--            an under-declared manufacture or import leaves stock off the books, ready to
--            leave the licit chain; an over-declared export covers goods diverted at home.
-- evidence:  the return lines compared, and every batch, consignment line and destroying
--            event in the records' total
WITH returns AS (
    -- the return lines that count, in comparison units (units, kg, litres)
    SELECT
        v.filing_id, v.filer, v.country, v.period, v.flow, v.quantity, v.uom, v.source,
        CASE WHEN v.flow IN ('import', 'export') THEN v.counterparty_country END AS cc,
        CASE WHEN v.gtin IS NOT NULL THEN 'gtin' ELSE 'substance' END AS label_kind,
        coalesce(v.gtin, v.substance_base) AS label,
        CAST(v.quantity * u.factor AS DECIMAL(38,12)) AS qty,
        CASE u.dimension WHEN 'count' THEN 'H87' WHEN 'mass' THEN 'KGM' ELSE 'LTR' END AS unit
    FROM filing_versions v
    JOIN unit_factors u ON u.uom = v.uom
    WHERE v.version_rank = 1
), labels AS (
    -- what each filer files on, per period: a gtin (units, or kg as traded) or a substance
    SELECT
        r.filer, r.period, r.label_kind, r.label, max(r.country) AS filer_country,
        CASE
            WHEN r.label_kind = 'substance' THEN 'KGM'
            WHEN max(pm.trade_uom) = 'H87' THEN 'H87'
            WHEN max(pm.trade_uom) IS NOT NULL THEN 'KGM'
            ELSE max(r.unit)
        END AS unit
    FROM returns r
    LEFT JOIN product_mass pm ON r.label_kind = 'gtin' AND pm.gtin = r.label
    GROUP BY r.filer, r.period, r.label_kind, r.label
), batch_versions AS (
    SELECT b.*, row_number() OVER (
        PARTITION BY b.gtin, b.lot ORDER BY b.load_id DESC, b.source_line DESC) AS version_rank
    FROM batch_qty b
), consignment_versions AS (
    SELECT c.*, row_number() OVER (
        PARTITION BY c.declaration_id, coalesce(c.line, '1')
        ORDER BY c.load_id DESC, c.source_line DESC) AS version_rank
    FROM consignment_qty c
), destroying AS (
    SELECT e.event_row, e.event_key, e.event_time, e.local_date, e.period, e.source,
        regexp_extract(coalesce(e.biz_location, e.read_point, ''), '/414/([0-9]{13})', 1)
            AS site_gln
    FROM live_events e
    WHERE e.biz_step = 'destroying'
), destroyer AS (
    -- who destroyed: the event's owning (else possessing) source party, else the
    -- manufacturer whose batches name the event's site, else the site's own GLN
    SELECT
        d.event_row,
        coalesce(
            min(CASE WHEN p.type = 'owning_party' THEN coalesce(p.gln, p.value_raw) END),
            min(CASE WHEN p.type = 'possessing_party' THEN coalesce(p.gln, p.value_raw) END),
            min(b.manufacturer),
            NULLIF(d.site_gln, '')
        ) AS party
    FROM destroying d
    LEFT JOIN event_parties p ON p.event_row = d.event_row AND p.role = 'source'
    LEFT JOIN batches b ON b.site = d.site_gln
    GROUP BY d.event_row, d.site_gln
), destroyed_serials AS (
    -- each serial destroyed counts once, at its first destroying event
    SELECT s.event_row, g.gtin, row_number() OVER (
        PARTITION BY s.id_gtin, s.id_serial ORDER BY s.event_time, s.event_row) AS destroy_rank
    FROM serial_moves s
    JOIN epc_gtins g ON g.gtin_id = s.id_gtin
    WHERE s.biz_step = 'destroying' AND s.epc_kind = 'sgtin'
), destructions AS (
    SELECT
        d.event_row, s.gtin, CAST(count(*) AS DECIMAL(38,12)) AS qty_units,
        CAST(NULL AS DECIMAL(38,12)) AS qty_kg,
        CAST(count(*) * pm.kg_base_per_unit AS DECIMAL(38,12)) AS kg_base
    FROM destroying d
    JOIN destroyed_serials s ON s.event_row = d.event_row AND s.destroy_rank = 1
    LEFT JOIN product_mass pm ON pm.gtin = s.gtin
    GROUP BY d.event_row, s.gtin, pm.kg_base_per_unit
    UNION ALL
    SELECT
        d.event_row, q.gtin,
        CASE WHEN q.uom = 'H87' THEN q.quantity END,
        CASE WHEN u.dimension = 'mass' THEN CAST(q.quantity * u.factor AS DECIMAL(38,12)) END,
        CASE
            WHEN q.uom = 'H87' THEN CAST(q.quantity * pm.kg_base_per_unit AS DECIMAL(38,12))
            WHEN u.dimension = 'mass' THEN CAST(
                CAST(q.quantity * u.factor AS DECIMAL(38,12))
                * CASE WHEN pm.trade_uom <> 'H87' THEN pm.kg_base_per_unit
                       ELSE coalesce(pm.base_factor, 1) END AS DECIMAL(38,12))
        END
    FROM destroying d
    JOIN event_quantities q ON q.event_row = d.event_row
    LEFT JOIN unit_factors u ON u.uom = q.uom
    LEFT JOIN product_mass pm ON pm.gtin = q.gtin
    -- a quantity in a unit not known is left out (the coverage section lists it)
    WHERE q.uom IS NULL OR u.uom IS NOT NULL
), records AS (
    SELECT
        b.manufacturer AS party, 'manufacture' AS flow, CAST(NULL AS VARCHAR) AS cc,
        b.manufacture_date AS d, b.period, b.gtin, b.qty_units, b.qty_kg, b.kg_base,
        'batch' AS kind, b.gtin || '/' || b.lot AS key, b.source
    FROM batch_versions b
    WHERE b.version_rank = 1
    UNION ALL
    SELECT
        c.declarant, c.direction,
        CASE c.direction WHEN 'export' THEN c.destination_country ELSE c.origin_country END,
        c.declared_date, c.period, c.gtin, c.qty_units, c.qty_kg, c.kg_base,
        'consignment', c.line_key, c.source
    FROM consignment_versions c
    WHERE c.version_rank = 1 AND c.direction IN ('export', 'import')
    UNION ALL
    SELECT
        w.party, 'destruction', NULL, d.local_date, d.period, x.gtin, x.qty_units, x.qty_kg,
        x.kg_base,
        'event', d.event_key, d.source
    FROM destructions x
    JOIN destroying d ON d.event_row = x.event_row
    JOIN destroyer w ON w.event_row = x.event_row
), matched AS (
    -- each record under every return label of its party and period that it falls under
    SELECT
        l.filer, l.period, l.label_kind, l.label, r.flow, r.cc, r.kind, r.key, r.source,
        CASE
            WHEN l.label_kind = 'substance' THEN r.kg_base
            WHEN l.unit = 'H87' THEN r.qty_units
            ELSE r.qty_kg
        END AS qty
    FROM labels l
    JOIN records r
      ON r.party = l.filer
     AND (l.period = r.period
          OR l.period = CAST(year(r.d) AS VARCHAR))
    LEFT JOIN product_mass pm ON pm.gtin = r.gtin
    WHERE (l.label_kind = 'gtin' AND r.gtin = l.label)
       OR (l.label_kind = 'substance' AND pm.substance_base = l.label)
), counted AS (
    SELECT filer, period, label_kind, label, flow, cc,
           CAST(sum(qty) AS DECIMAL(38,12)) AS qty, count(*) AS records
    FROM matched
    GROUP BY filer, period, label_kind, label, flow, cc
), filed AS (
    SELECT
        filer, period, label_kind, label, flow, cc,
        CAST(sum(qty) AS DECIMAL(38,12)) AS qty,
        nullif(array_to_string(list_sort(list_distinct(list(filing_id))), ', '), '') AS filing_ids,
        string_agg(
            CASE WHEN uom <> unit THEN
                regexp_replace(CAST(quantity AS VARCHAR), '\.?0+$', '') || ' ' || uom || ' = '
                || regexp_replace(CAST(qty AS VARCHAR), '\.?0+$', '') || ' ' || unit
            END, ', ' ORDER BY filing_id, uom, quantity) AS conversion
    FROM returns
    WHERE flow IN ('manufacture', 'import', 'export', 'destruction')
    GROUP BY filer, period, label_kind, label, flow, cc
), compared AS (
    SELECT
        coalesce(f.filer, c.filer) AS filer,
        coalesce(f.period, c.period) AS period,
        coalesce(f.label_kind, c.label_kind) AS label_kind,
        coalesce(f.label, c.label) AS label,
        coalesce(f.flow, c.flow) AS flow,
        coalesce(f.cc, c.cc) AS cc,
        coalesce(c.qty, CAST(0 AS DECIMAL(38,12))) AS expected,
        coalesce(f.qty, CAST(0 AS DECIMAL(38,12))) AS observed,
        coalesce(c.records, 0) AS records,
        f.filing_ids, f.conversion
    FROM filed f
    FULL OUTER JOIN counted c
      ON c.filer = f.filer AND c.period = f.period AND c.label_kind = f.label_kind
     AND c.label = f.label AND c.flow = f.flow AND c.cc IS NOT DISTINCT FROM f.cc
), findings AS (
    SELECT
        x.*, l.unit, x.observed - x.expected AS difference,
        CASE x.flow WHEN 'export' THEN l.filer_country WHEN 'import' THEN x.cc END
            AS country_from,
        CASE x.flow WHEN 'export' THEN x.cc WHEN 'import' THEN l.filer_country END
            AS country_to
    FROM compared x
    JOIN labels l
      ON l.filer = x.filer AND l.period = x.period AND l.label_kind = x.label_kind
     AND l.label = x.label
    WHERE abs(x.observed - x.expected) > CASE
        WHEN l.unit = 'H87' THEN CAST($tol_units AS DECIMAL(38,12))
        ELSE greatest(
            CAST($tol_mass_kg AS DECIMAL(38,12)),
            CAST(CAST($tol_mass_pct AS DECIMAL(38,12)) * 0.01 AS DECIMAL(38,12)) * x.expected)
    END
), described AS (
    SELECT
        x.*,
        x.flow
            || CASE x.flow WHEN 'export' THEN ' to ' || x.cc WHEN 'import' THEN ' from ' || x.cc
                    ELSE '' END
            || ': ' || CASE WHEN x.difference > 0 THEN 'excess' ELSE 'shortfall' END
            || CASE
                WHEN x.records = 0 THEN ', no records for this flow'
                ELSE ' against ' || CAST(x.records AS VARCHAR)
                     || CASE WHEN x.records = 1 THEN ' record' ELSE ' records' END
            END
            || coalesce('; filing ' || x.filing_ids, '; no return line for this flow')
            || coalesce(' (' || x.conversion || ')', '') AS flow_detail,
        count(*) OVER (
            PARTITION BY x.filer, x.period, x.label_kind, x.label, x.country_from, x.country_to)
            AS flows
    FROM findings x
), subjects AS (
    -- manufacture and destruction of one filer, period and product share a subject: when
    -- both are off they make one finding, each flow's figures in the detail
    SELECT
        filer, period, label_kind, label, country_from, country_to, unit,
        CASE WHEN max(flows) = 1 THEN max(expected) END AS expected,
        CASE WHEN max(flows) = 1 THEN max(observed) END AS observed,
        CASE WHEN max(flows) = 1 THEN max(difference) END AS difference,
        string_agg(
            CASE WHEN flows = 1 THEN flow_detail
                 ELSE flow_detail || ' [filed '
                      || regexp_replace(CAST(observed AS VARCHAR), '\.?0+$', '')
                      || ', records ' || regexp_replace(CAST(expected AS VARCHAR), '\.?0+$', '')
                      || ' ' || unit || ']' END,
            ' | ' ORDER BY flow) AS detail
    FROM described
    GROUP BY filer, period, label_kind, label, country_from, country_to, unit
), evidence AS (
    SELECT x.filer, x.period, x.label_kind, x.label, x.country_from, x.country_to, e.kind,
        e.key, e.source
    FROM findings x
    JOIN (
        SELECT filer, period, label_kind, label, flow, cc, 'filing' AS kind, filing_id AS key,
            source
        FROM returns
        UNION ALL
        SELECT filer, period, label_kind, label, flow, cc, kind, key, source
        FROM matched
    ) e
      ON e.filer = x.filer AND e.period = x.period AND e.label_kind = x.label_kind
     AND e.label = x.label AND e.flow = x.flow AND e.cc IS NOT DISTINCT FROM x.cc
)
SELECT
    x.filer AS party,
    CASE WHEN x.label_kind = 'gtin' THEN x.label END AS gtin,
    CASE WHEN x.label_kind = 'substance' THEN x.label END AS substance_base,
    x.country_from,
    x.country_to,
    x.period,
    x.expected,
    x.observed,
    x.difference,
    x.unit,
    x.detail,
    list(struct_pack(kind := e.kind, key := e.key, source := e.source)
         ORDER BY e.kind DESC, e.source, e.key) AS evidence
FROM subjects x
JOIN evidence e
  ON e.filer = x.filer AND e.period = x.period AND e.label_kind = x.label_kind
 AND e.label = x.label AND e.country_from IS NOT DISTINCT FROM x.country_from
 AND e.country_to IS NOT DISTINCT FROM x.country_to
GROUP BY x.filer, x.label_kind, x.label, x.country_from, x.country_to, x.period, x.expected,
    x.observed, x.difference, x.unit, x.detail

-- coverage: the destroying events whose quantities are in a unit that is not a known UN/ECE
--           Rec 20 code: left out of the destruction totals rather than compared wrongly
SELECT
    'destroyed quantities in unit "' || q.uom || '" (not a known UN/ECE Rec 20 unit) left '
        || 'out of the destruction totals' AS reason,
    e.event_key AS subject,
    e.period
FROM live_events e
JOIN event_quantities q ON q.event_row = e.event_row
WHERE e.biz_step = 'destroying' AND q.uom IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM unit_factors u WHERE u.uom = q.uom)
