-- Shared base views for the reconciliation rules, created before any rule runs.
-- Rules may read these by name; they only ever gain columns and views (see README.md).
-- Every statement here is parameter-free, so the file runs as-is in the duckdb shell.

-- Units: factor to kg (mass), litres (volume) or units (count).
CREATE OR REPLACE TEMP VIEW unit_factors AS
SELECT * FROM (VALUES
    ('KGM', 'mass', CAST(1 AS DECIMAL(38,12))),
    ('GRM', 'mass', CAST(0.001 AS DECIMAL(38,12))),
    ('MGM', 'mass', CAST(0.000001 AS DECIMAL(38,12))),
    ('LTR', 'volume', CAST(1 AS DECIMAL(38,12))),
    ('MLT', 'volume', CAST(0.001 AS DECIMAL(38,12))),
    ('H87', 'count', CAST(1 AS DECIMAL(38,12)))
) AS t(uom, dimension, factor);

-- One product master row per gtin (a later load, then a later line, wins), with the kg of
-- base in one trade unit: one pack (H87) or one kg of a mass-traded product.
CREATE OR REPLACE TEMP VIEW product_mass AS
WITH latest AS (
    SELECT p.*, row_number() OVER (
        PARTITION BY p.gtin ORDER BY p.load_id DESC, p.source_line DESC) AS version_rank
    FROM products p
)
SELECT
    p.gtin,
    p.name,
    NULLIF(p.substance_base, '') AS substance_base,
    coalesce(lower(NULLIF(p.control_class, '')), 'none') <> 'none' AS controlled,
    p.control_class,
    p.trade_uom,
    CAST(coalesce(p.base_factor, 1) AS DECIMAL(38,12)) AS base_factor,
    CASE
        WHEN p.trade_uom = 'H87' THEN CAST(
            CAST(p.content_per_unit * cu.factor AS DECIMAL(38,12))
            * coalesce(p.base_factor, 1) AS DECIMAL(38,12))
        WHEN tu.dimension = 'mass' AND cu.dimension = 'mass' AND p.content_per_unit IS NOT NULL
            THEN CAST(
                CAST(CAST(p.content_per_unit * cu.factor AS DECIMAL(38,12)) / tu.factor
                     AS DECIMAL(38,12))
                * coalesce(p.base_factor, 1) AS DECIMAL(38,12))
        WHEN tu.dimension = 'mass' THEN CAST(coalesce(p.base_factor, 1) AS DECIMAL(38,12))
    END AS kg_base_per_unit,
    regexp_extract(p.source_file, '[^/\\]+$') || ':' || p.source_line AS source
FROM latest p
LEFT JOIN unit_factors cu ON cu.uom = p.content_uom
LEFT JOIN unit_factors tu ON tu.uom = p.trade_uom
WHERE p.version_rank = 1;

-- Declared quantities (consignment lines and manufacture declarations) in comparison
-- units: units (H87), kg of base (KGM, for mass) or litres (LTR, for volume), with the
-- conversion chain as text. A product missing from the master counts as the pure
-- substance (factor 1) for mass. One definition for both tables; the two views below
-- join it back to their rows by (load_id, source_line), which identifies a stored record.
CREATE OR REPLACE TEMP VIEW declared_qty AS
WITH x AS (
    SELECT 'consignments' AS record_table, load_id, source_line, gtin, uom, quantity,
           declared_date AS quantity_date
    FROM consignments
    UNION ALL
    SELECT 'batches', load_id, source_line, gtin, uom, quantity, manufacture_date
    FROM batches
), q AS (
    SELECT
        x.*,
        CAST(year(x.quantity_date) AS VARCHAR) || '-Q'
            || CAST(quarter(x.quantity_date) AS VARCHAR) AS period,
        u.dimension,
        CASE WHEN x.uom = 'H87' THEN x.quantity END AS qty_units,
        CASE WHEN u.dimension = 'mass'
            THEN CAST(x.quantity * u.factor AS DECIMAL(38,12)) END AS qty_kg,
        CASE WHEN u.dimension = 'volume'
            THEN CAST(x.quantity * u.factor AS DECIMAL(38,12)) END AS qty_l,
        CASE
            WHEN x.uom = 'H87' THEN pm.kg_base_per_unit
            WHEN u.dimension = 'mass' THEN coalesce(
                CASE WHEN pm.trade_uom <> 'H87' THEN pm.kg_base_per_unit END,
                pm.base_factor, CAST(1 AS DECIMAL(38,12)))
        END AS kg_base_factor
    FROM x
    LEFT JOIN unit_factors u ON u.uom = x.uom
    LEFT JOIN product_mass pm ON pm.gtin = x.gtin
), b AS (
    SELECT
        q.*,
        CASE
            WHEN q.uom = 'H87' THEN CAST(q.quantity * q.kg_base_factor AS DECIMAL(38,12))
            WHEN q.dimension = 'mass' THEN CAST(q.qty_kg * q.kg_base_factor AS DECIMAL(38,12))
        END AS kg_base
    FROM q
)
SELECT
    record_table, load_id, source_line, period, dimension, qty_units, qty_kg, kg_base,
    CASE WHEN uom = 'H87' THEN quantity WHEN dimension = 'mass' THEN kg_base ELSE qty_l END
        AS qty,
    CASE WHEN uom = 'H87' THEN 'H87' WHEN dimension = 'mass' THEN 'KGM'
         WHEN dimension = 'volume' THEN 'LTR' END AS unit,
    CASE
        WHEN kg_base IS NULL OR (uom = 'KGM' AND kg_base_factor = 1) THEN NULL
        WHEN uom = 'H87' THEN
            regexp_replace(CAST(quantity AS VARCHAR), '\.?0+$', '') || ' H87 × '
            || regexp_replace(CAST(kg_base_factor AS VARCHAR), '\.?0+$', '') || ' KGM = '
            || regexp_replace(CAST(kg_base AS VARCHAR), '\.?0+$', '') || ' KGM of base'
        WHEN kg_base_factor = 1 THEN
            regexp_replace(CAST(quantity AS VARCHAR), '\.?0+$', '') || ' ' || uom || ' = '
            || regexp_replace(CAST(kg_base AS VARCHAR), '\.?0+$', '') || ' KGM'
        ELSE
            regexp_replace(CAST(quantity AS VARCHAR), '\.?0+$', '') || ' ' || uom || ' = '
            || regexp_replace(CAST(qty_kg AS VARCHAR), '\.?0+$', '') || ' KGM × '
            || regexp_replace(CAST(kg_base_factor AS VARCHAR), '\.?0+$', '') || ' = '
            || regexp_replace(CAST(kg_base AS VARCHAR), '\.?0+$', '') || ' KGM of base'
    END AS conversion
FROM b;

-- Consignment lines with their declared_qty columns and their 'file:line' source.
CREATE OR REPLACE TEMP VIEW consignment_qty AS
SELECT c.*, regexp_extract(c.source_file, '[^/\\]+$') || ':' || c.source_line AS source,
       d.* EXCLUDE (record_table, load_id, source_line)
FROM consignments c
JOIN declared_qty d
  ON d.record_table = 'consignments' AND d.load_id = c.load_id
 AND d.source_line = c.source_line;

-- Manufacture declarations with the same columns as consignment_qty.
CREATE OR REPLACE TEMP VIEW batch_qty AS
SELECT x.*, regexp_extract(x.source_file, '[^/\\]+$') || ':' || x.source_line AS source,
       d.* EXCLUDE (record_table, load_id, source_line)
FROM batches x
JOIN declared_qty d
  ON d.record_table = 'batches' AND d.load_id = x.load_id AND d.source_line = x.source_line;

-- Return lines with their 'file:line' source; version_rank 1 is the line that counts: a
-- later filing with the same (filer, period, flow, product or substance, counterparty
-- country) supersedes the earlier one (higher load, then later line).
CREATE OR REPLACE TEMP VIEW filing_versions AS
SELECT
    f.*,
    regexp_extract(f.source_file, '[^/\\]+$') || ':' || f.source_line AS source,
    row_number() OVER (
        PARTITION BY f.filer, f.period, f.flow, f.gtin, f.substance_base,
            f.counterparty_country
        ORDER BY f.load_id DESC, f.source_line DESC) AS version_rank
FROM filings f;

-- Events: one version per event_key (the first stored), none whose key was error-declared.
CREATE OR REPLACE TEMP VIEW valid_events AS
SELECT * EXCLUDE (version_rank)
FROM (
    SELECT
        e.*,
        regexp_extract(e.source_file, '[^/\\]+$') || ':' || e.source_line AS source,
        row_number() OVER (PARTITION BY e.event_key ORDER BY e.event_row) AS version_rank
    FROM events e
    WHERE e.event_key NOT IN (
        SELECT d.event_key FROM events d WHERE d.error_declared_at IS NOT NULL)
) v
WHERE v.version_rank = 1;

-- Shipping events cancelled by a later void_shipping: same transaction ref, or, where the
-- void names no transaction, a shared EPC.
CREATE OR REPLACE TEMP VIEW voided_shipments AS
WITH voids AS (
    SELECT v.event_row, v.event_key, v.event_time FROM valid_events v
    WHERE v.biz_step = 'void_shipping'
), ships AS (
    SELECT s.event_row, s.event_key, s.event_time FROM valid_events s
    WHERE s.biz_step = 'shipping'
), by_ref AS (
    SELECT v.event_row AS void_row, v.event_key AS void_key, vb.ref AS shipment_ref,
           s.event_row AS voided_row, s.event_key AS voided_key, v.event_time AS voided_at
    FROM voids v
    JOIN event_biz_transactions vb ON vb.event_row = v.event_row
    JOIN event_biz_transactions sb ON sb.ref = vb.ref
    JOIN ships s ON s.event_row = sb.event_row AND s.event_time <= v.event_time
), epc_candidates AS (
    -- a void naming no transaction cancels the latest shipping of the EPCs it names
    SELECT v.event_row AS void_row, v.event_key AS void_key,
           s.event_row AS voided_row, s.event_key AS voided_key, v.event_time AS voided_at,
           rank() OVER (PARTITION BY v.event_row ORDER BY s.event_time DESC) AS recency
    FROM voids v
    JOIN event_epcs ve ON ve.event_row = v.event_row
    JOIN event_epcs se ON se.epc_key = ve.epc_key
    JOIN ships s ON s.event_row = se.event_row AND s.event_time <= v.event_time
    WHERE NOT EXISTS (
        SELECT 1 FROM event_biz_transactions x WHERE x.event_row = v.event_row)
), by_epc AS (
    SELECT c.void_row, c.void_key, sb.ref AS shipment_ref, c.voided_row, c.voided_key,
           c.voided_at
    FROM epc_candidates c
    LEFT JOIN event_biz_transactions sb ON sb.event_row = c.voided_row
    WHERE c.recency = 1
)
SELECT DISTINCT * FROM by_ref
UNION
SELECT DISTINCT * FROM by_epc;

-- The event versions that count.
CREATE OR REPLACE TEMP VIEW live_events AS
SELECT v.* FROM valid_events v
WHERE v.event_row NOT IN (SELECT voided_row FROM voided_shipments);

-- Business-transaction refs of live events (match consignments.shipment_ref on ref).
CREATE OR REPLACE TEMP VIEW event_refs AS
SELECT DISTINCT b.event_row, b.ref
FROM event_biz_transactions b JOIN live_events e ON e.event_row = b.event_row;

-- Each time a child sat in a parent: packed by a live ADD aggregation, until the first
-- later live DELETE of it from that parent (a DELETE naming no children empties the
-- parent), or until it is packed into another parent. NULL unpacked_at = still packed.
CREATE OR REPLACE TEMP TABLE aggregation_links AS
WITH agg AS (
    SELECT e.event_row, e.action, e.event_time, e.parent_key
    FROM live_events e
    WHERE e.event_type = 'AggregationEvent' AND e.parent_key IS NOT NULL
      AND e.action IN ('ADD', 'DELETE')
), packs AS (
    SELECT a.event_row AS pack_row, a.event_time AS packed_at, a.parent_key,
           c.epc_key AS child_key, c.epc_kind AS child_kind
    FROM agg a JOIN event_epcs c ON c.event_row = a.event_row AND c.list = 'childEPCs'
    WHERE a.action = 'ADD'
), unpacks AS (
    SELECT a.event_row AS unpack_row, a.event_time AS unpacked_at, a.parent_key,
           c.epc_key AS child_key
    FROM agg a LEFT JOIN event_epcs c ON c.event_row = a.event_row AND c.list = 'childEPCs'
    WHERE a.action = 'DELETE'
), ends AS (
    SELECT p.pack_row, p.child_key, u.unpacked_at AS end_at, u.unpack_row AS end_row
    FROM packs p JOIN unpacks u
      ON u.parent_key = p.parent_key
     AND (u.child_key = p.child_key OR u.child_key IS NULL)
     AND u.unpacked_at > p.packed_at
    UNION ALL
    SELECT p.pack_row, p.child_key, r.packed_at, NULL
    FROM packs p JOIN packs r
      ON r.child_key = p.child_key AND r.parent_key <> p.parent_key
     AND r.packed_at > p.packed_at
), first_end AS (
    SELECT pack_row, child_key, end_at, end_row,
           row_number() OVER (PARTITION BY pack_row, child_key
                              ORDER BY end_at, end_row NULLS LAST) AS end_rank
    FROM ends
)
SELECT p.parent_key, p.child_key, p.child_kind, p.packed_at,
       f.end_at AS unpacked_at, p.pack_row, f.end_row AS unpack_row
FROM packs p
LEFT JOIN first_end f
  ON f.pack_row = p.pack_row AND f.child_key = p.child_key AND f.end_rank = 1;

-- Everything packed in a container, to any depth, with the time span the whole chain of
-- links holds. Contents of X at time T:
--   WHERE root_key = X AND valid_from <= T AND (valid_to IS NULL OR valid_to > T)
CREATE OR REPLACE TEMP TABLE sscc_contents AS
WITH RECURSIVE walk (root_key, epc_key, epc_kind, depth, valid_from, valid_to) AS (
    SELECT l.parent_key, l.child_key, l.child_kind, 1, l.packed_at, l.unpacked_at
    FROM aggregation_links l
    UNION ALL
    SELECT
        w.root_key, l.child_key, l.child_kind, w.depth + 1,
        CASE WHEN l.packed_at > w.valid_from THEN l.packed_at ELSE w.valid_from END,
        CASE
            WHEN w.valid_to IS NULL THEN l.unpacked_at
            WHEN l.unpacked_at IS NULL OR w.valid_to < l.unpacked_at THEN w.valid_to
            ELSE l.unpacked_at
        END
    FROM walk w
    JOIN aggregation_links l ON l.parent_key = w.epc_key
    WHERE w.depth < 16
      AND (w.valid_to IS NULL OR l.packed_at < w.valid_to)
      AND (l.unpacked_at IS NULL OR l.unpacked_at > w.valid_from)
)
SELECT DISTINCT root_key, epc_key, epc_kind, depth, valid_from, valid_to FROM walk;

-- What each live Object/Aggregation event names, directly and (expanded as of its time)
-- through the containers it names.
CREATE OR REPLACE TEMP TABLE event_serials AS
WITH named AS (
    SELECT e.event_row, c.list, c.epc_raw, c.epc_key, c.epc_kind
    FROM live_events e JOIN event_epcs c ON c.event_row = e.event_row
    WHERE e.event_type IN ('ObjectEvent', 'AggregationEvent', 'TransformationEvent')
    UNION ALL
    SELECT e.event_row, 'parentID', e.parent_raw, e.parent_key,
           CASE WHEN e.parent_key LIKE 'https://id.gs1.org/00/%' THEN 'sscc'
                WHEN e.parent_key LIKE 'https://id.gs1.org/01/%/21/%' THEN 'sgtin'
                ELSE 'other' END
    FROM live_events e
    WHERE e.event_type = 'AggregationEvent' AND e.parent_key IS NOT NULL
), moved AS (
    SELECT n.event_row, n.list, n.epc_raw, n.epc_key, n.epc_kind, NULL AS via_key
    FROM named n
    UNION
    SELECT n.event_row, NULL, NULL, s.epc_key, s.epc_kind, n.epc_key
    FROM named n
    JOIN live_events e ON e.event_row = n.event_row
    JOIN sscc_contents s ON s.root_key = n.epc_key
     AND s.valid_from <= e.event_time
     AND (s.valid_to IS NULL OR s.valid_to > e.event_time)
)
SELECT
    m.event_row, e.event_key, e.event_type, e.action, e.biz_step, e.disposition,
    e.event_time, e.local_date, m.list, m.epc_raw, m.epc_key, m.epc_kind,
    NULLIF(regexp_extract(m.epc_key, '^https://id\.gs1\.org/01/([0-9]{14})/21/', 1), '')
        AS gtin,
    NULLIF(regexp_extract(m.epc_key, '^https://id\.gs1\.org/01/[0-9]{14}/21/(.+)$', 1), '')
        AS serial,
    m.via_key, e.source
FROM moved m JOIN live_events e ON e.event_row = m.event_row;

-- The version of each consignment line that counts: a line re-declared with other content
-- (same declaration_id and line) is superseded by the later load, then the later line.
CREATE OR REPLACE TEMP VIEW current_consignments AS
SELECT * EXCLUDE (version_rank)
FROM (
    SELECT c.*, row_number() OVER (
        PARTITION BY c.declaration_id, coalesce(c.line, '1')
        ORDER BY c.load_id DESC, c.source_line DESC) AS version_rank
    FROM consignment_qty c
) v
WHERE v.version_rank = 1;

-- The version of each lot's manufacture declaration that counts for balances (the later
-- load, then the later line); batch-conflict reports the disagreement itself.
CREATE OR REPLACE TEMP VIEW current_batches AS
SELECT * EXCLUDE (version_rank)
FROM (
    SELECT b.*, row_number() OVER (
        PARTITION BY b.gtin, b.lot ORDER BY b.load_id DESC, b.source_line DESC) AS version_rank
    FROM batch_qty b
) v
WHERE v.version_rank = 1;
