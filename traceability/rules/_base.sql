-- Shared base views for the reconciliation rules, created before any rule runs.
-- Rules may read these by name; they only ever gain columns and views (see README.md).
-- Every statement here is parameter-free, so the file runs as-is in the duckdb shell, except
-- that the one statement marked "-- repeat:" is to run again until it adds no row
-- (traceability.rules.run_base does this).

-- Units: factor to kg (mass), litres (volume) or units (count).
CREATE OR REPLACE TEMP VIEW unit_factors AS
SELECT * FROM (VALUES
    ('KGM', 'mass', CAST(1 AS DECIMAL(38,12))),
    ('GRM', 'mass', CAST(0.001 AS DECIMAL(38,12))),
    ('MGM', 'mass', CAST(0.000001 AS DECIMAL(38,12))),
    ('LBR', 'mass', CAST(0.45359237 AS DECIMAL(38,12))),
    ('LTR', 'volume', CAST(1 AS DECIMAL(38,12))),
    ('MLT', 'volume', CAST(0.001 AS DECIMAL(38,12))),
    ('H87', 'count', CAST(1 AS DECIMAL(38,12)))
) AS t(uom, dimension, factor);

-- The name of each load in evidence sources ('name:line', the line or record number in the
-- file): the path as the file was loaded, followed by '@' and the first 12 hex digits of its
-- SHA-256 where the same path was loaded more than once (a corrected file loaded again), so
-- that a source names exactly one input. Every `source` column below is written from it (a
-- row whose load is not in `loads` keeps its source_file); traceability.records resolves
-- the same names to the report's inputs.
CREATE OR REPLACE TEMP VIEW load_names AS
SELECT l.load_id,
       CASE WHEN count(*) OVER (PARTITION BY l.path) > 1
            THEN l.path || '@' || substr(l.sha256, 1, 12) ELSE l.path END AS load_name
FROM loads l;

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
    coalesce(n.load_name, p.source_file) || ':' || p.source_line AS source
FROM latest p
LEFT JOIN unit_factors cu ON cu.uom = p.content_uom
LEFT JOIN unit_factors tu ON tu.uom = p.trade_uom
LEFT JOIN load_names n ON n.load_id = p.load_id
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

-- Consignment lines with their declared_qty columns, their 'file:line' source and their
-- line_key, the key evidence names a line by: declaration_id '/' line (line 1 if not given).
-- A view: the preflight replaces the consignments table after the base is built and reads
-- it again.
CREATE OR REPLACE TEMP VIEW consignment_qty AS
SELECT c.*, coalesce(n.load_name, c.source_file) || ':' || c.source_line AS source,
       c.declaration_id || '/' || coalesce(c.line, '1') AS line_key,
       d.* EXCLUDE (record_table, load_id, source_line)
FROM consignments c
JOIN declared_qty d
  ON d.record_table = 'consignments' AND d.load_id = c.load_id
 AND d.source_line = c.source_line
LEFT JOIN load_names n ON n.load_id = c.load_id;

-- Manufacture declarations with the same columns as consignment_qty. A view: the preflight
-- nets a lot's make of its destroyed stock after the base is built, and reads it again.
CREATE OR REPLACE TEMP VIEW batch_qty AS
SELECT x.*, coalesce(n.load_name, x.source_file) || ':' || x.source_line AS source,
       d.* EXCLUDE (record_table, load_id, source_line)
FROM batches x
JOIN declared_qty d
  ON d.record_table = 'batches' AND d.load_id = x.load_id AND d.source_line = x.source_line
LEFT JOIN load_names n ON n.load_id = x.load_id;

-- Return lines with their 'file:line' source; version_rank 1 is the line that counts: a
-- later filing with the same (filer, period, flow, product or substance, counterparty
-- country) supersedes the earlier one (higher load, then later line).
CREATE OR REPLACE TEMP VIEW filing_versions AS
SELECT
    f.*,
    coalesce(n.load_name, f.source_file) || ':' || f.source_line AS source,
    row_number() OVER (
        PARTITION BY f.filer, f.period, f.flow, f.gtin, f.substance_base,
            f.counterparty_country
        ORDER BY f.load_id DESC, f.source_line DESC) AS version_rank
FROM filings f
LEFT JOIN load_names n ON n.load_id = f.load_id;

-- Authorisations and annual estimates, every column plus their 'file:line' source.
CREATE OR REPLACE TEMP VIEW authorisation_rows AS
SELECT a.*, coalesce(n.load_name, a.source_file) || ':' || a.source_line AS source
FROM authorisations a
LEFT JOIN load_names n ON n.load_id = a.load_id;

CREATE OR REPLACE TEMP VIEW estimate_rows AS
SELECT e.*, coalesce(n.load_name, e.source_file) || ':' || e.source_line AS source
FROM estimates e
LEFT JOIN load_names n ON n.load_id = e.load_id;

-- Events: one version per event_key (the first stored), none whose key was error-declared.
-- valid_rows holds their event_row; valid_events adds every events column and `source`.
CREATE OR REPLACE TEMP TABLE valid_rows AS
SELECT v.event_row
FROM (
    SELECT e.event_row,
           row_number() OVER (PARTITION BY e.event_key ORDER BY e.event_row) AS version_rank
    FROM events e
    WHERE e.event_key NOT IN (
        SELECT d.event_key FROM events d WHERE d.error_declared_at IS NOT NULL)
) v
WHERE v.version_rank = 1;

CREATE OR REPLACE TEMP VIEW valid_events AS
SELECT e.*, coalesce(n.load_name, e.source_file) || ':' || e.source_line AS source
FROM events e
LEFT JOIN load_names n ON n.load_id = e.load_id
WHERE e.event_row IN (SELECT r.event_row FROM valid_rows r);

-- EPC identity. Every EPC is identified by the pair (id_gtin, id_serial): for an SGTIN, the
-- number of its GTIN in epc_gtins and its serial (decoded); for any other key (SSCC, SGLN,
-- class), id_gtin = 0 and id_serial = its canonical key in epc_keys written short: a letter
-- for its kind (S sscc, G sgln, L lgtin, O other) and the key without the prefix every key
-- of that kind shares (the whole key for O). The pair is the same whatever the spelling
-- (URN or Digital Link) and cheaper to compare than the key text; rules group and join on
-- it and write the key text only for the rows they report (see epc_keys). Both parts are
-- computed from the key alone, so building them needs no numbering of all rows (a global
-- order, which a distributed engine runs as one task).
--
-- The number of a GTIN is its 14 digits read as a number after a leading 1 (so that every
-- number is above 0 and the numbers sort as the GTINs do). A key that looks like an SGTIN
-- (https://id.gs1.org/01/…/21/…) but does not hold 14 digits there is not one (the loader
-- stores it as written): it has no GTIN number and is identified as an other key.
CREATE OR REPLACE TEMP TABLE epc_gtins AS
SELECT CAST('1' || g.gtin AS BIGINT) AS gtin_id, g.gtin
FROM (
    SELECT p.gtin FROM epc_prefixes p
    UNION
    SELECT substr(r.epc_key, 23, 14) FROM epc_rows r
    WHERE r.prefix_id IS NULL AND r.epc_key LIKE 'https://id.gs1.org/01/%/21/%'
    UNION
    SELECT substr(e.parent_key, 23, 14) FROM events e
    WHERE e.parent_key LIKE 'https://id.gs1.org/01/%/21/%'
) g
WHERE regexp_matches(g.gtin, '^[0-9]{14}$');

-- The stored SGTIN spellings (prefix + serial) with the number of their GTIN.
CREATE OR REPLACE TEMP TABLE epc_prefix_gtins AS
SELECT p.prefix_id, p.prefix, g.gtin_id
FROM epc_prefixes p JOIN epc_gtins g ON g.gtin = p.gtin;

-- Every canonical key stored as text (EPCs not stored as prefix + serial, and parents), with
-- its kind and identity. To write an EPC's key: this table's epc_key where the pair is here
-- (always, for id_gtin = 0), else 'https://id.gs1.org/01/' || epc_gtins.gtin || '/21/' ||
-- id_serial.
CREATE OR REPLACE TEMP TABLE epc_keys AS
WITH k AS (
    SELECT DISTINCT r.epc_key FROM epc_rows r WHERE r.prefix_id IS NULL
    UNION
    SELECT e.parent_key FROM events e WHERE e.parent_key IS NOT NULL
)
SELECT
    k.epc_key,
    CASE WHEN g.gtin_id IS NOT NULL THEN 'sgtin'
         WHEN k.epc_key LIKE 'https://id.gs1.org/00/%' THEN 'sscc'
         WHEN k.epc_key LIKE 'https://id.gs1.org/414/%' THEN 'sgln'
         WHEN k.epc_key LIKE 'https://id.gs1.org/01/%/10/%' THEN 'lgtin'
         ELSE 'other' END AS epc_kind,
    coalesce(g.gtin_id, 0) AS id_gtin,
    CASE WHEN g.gtin_id IS NOT NULL THEN url_decode(substr(k.epc_key, 41))
         WHEN k.epc_key LIKE 'https://id.gs1.org/00/%' THEN 'S' || substr(k.epc_key, 23)
         WHEN k.epc_key LIKE 'https://id.gs1.org/414/%' THEN 'G' || substr(k.epc_key, 24)
         WHEN k.epc_key LIKE 'https://id.gs1.org/01/%/10/%' THEN 'L' || substr(k.epc_key, 23)
         ELSE 'O' || k.epc_key
    END AS id_serial
FROM k
LEFT JOIN epc_gtins g
  ON k.epc_key LIKE 'https://id.gs1.org/01/%/21/%' AND g.gtin = substr(k.epc_key, 23, 14)
WHERE k.epc_key IS NOT NULL;

-- Every EPC an event lists, with its identity: one row per element of epcList, childEPCs,
-- inputEPCList, outputEPCList. A view over the stored rows (nothing is copied).
CREATE OR REPLACE TEMP VIEW epc_items AS
SELECT r.event_row, r.list, p.prefix || r.serial AS epc_raw, p.gtin_id AS id_gtin,
       r.serial AS id_serial, 'sgtin' AS epc_kind
FROM epc_rows r JOIN epc_prefix_gtins p ON p.prefix_id = r.prefix_id
UNION ALL
SELECT r.event_row, r.list, r.epc_raw, k.id_gtin, k.id_serial, k.epc_kind
FROM epc_rows r JOIN epc_keys k ON k.epc_key = r.epc_key
WHERE r.prefix_id IS NULL;

-- Shipping events cancelled by a later void_shipping: same transaction ref, or, where the
-- void names no transaction, a shared EPC.
CREATE OR REPLACE TEMP TABLE voided_shipments AS
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
), bare_voids AS (
    SELECT v.* FROM voids v
    WHERE NOT EXISTS (SELECT 1 FROM event_biz_transactions x WHERE x.event_row = v.event_row)
), void_epcs AS (
    SELECT v.event_row, v.event_key, v.event_time, i.id_gtin, i.id_serial
    FROM bare_voids v JOIN epc_items i ON i.event_row = v.event_row
), epc_candidates AS (
    -- a void naming no transaction cancels the latest shipping of the EPCs it names
    SELECT v.event_row AS void_row, v.event_key AS void_key,
           s.event_row AS voided_row, s.event_key AS voided_key, v.event_time AS voided_at,
           rank() OVER (PARTITION BY v.event_row ORDER BY s.event_time DESC) AS recency
    FROM void_epcs v
    JOIN epc_items se ON se.id_gtin = v.id_gtin AND se.id_serial = v.id_serial
    JOIN ships s ON s.event_row = se.event_row AND s.event_time <= v.event_time
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

-- The event versions that count: live_rows holds their narrow columns (with the identity
-- of an aggregation's parent), live_events every events column, `source` and `period`
-- (the quarter of the event's local date).
CREATE OR REPLACE TEMP TABLE live_rows AS
SELECT e.event_row, e.event_type, e.action, e.biz_step, e.event_time, e.local_date,
       e.lot, e.parent_raw, k.id_gtin AS parent_gtin, k.id_serial AS parent_serial, k.epc_kind AS parent_kind
FROM events e
LEFT JOIN epc_keys k ON k.epc_key = e.parent_key
WHERE e.event_row IN (SELECT r.event_row FROM valid_rows r)
  AND e.event_row NOT IN (SELECT x.voided_row FROM voided_shipments x);

CREATE OR REPLACE TEMP VIEW live_events AS
SELECT e.*, coalesce(n.load_name, e.source_file) || ':' || e.source_line AS source,
       CAST(year(e.local_date) AS VARCHAR) || '-Q' || CAST(quarter(e.local_date) AS VARCHAR)
           AS period
FROM events e
LEFT JOIN load_names n ON n.load_id = e.load_id
WHERE e.event_row IN (SELECT l.event_row FROM live_rows l);

-- Each event's key and 'file:line' source: join it last, for the rows a rule reports.
CREATE OR REPLACE TEMP VIEW event_sources AS
SELECT e.event_row, e.event_key,
       coalesce(n.load_name, e.source_file) || ':' || e.source_line AS source
FROM events e
LEFT JOIN load_names n ON n.load_id = e.load_id;

-- Business-transaction refs of live events (match consignments.shipment_ref on ref).
CREATE OR REPLACE TEMP VIEW event_refs AS
SELECT DISTINCT b.event_row, b.ref
FROM event_biz_transactions b JOIN live_rows e ON e.event_row = b.event_row;

-- Each time a child sat in a parent, by identity: packed by a live ADD aggregation, until
-- the first later live DELETE of it from that parent (a DELETE naming no children empties
-- the parent), or until it is packed into another parent. NULL unpacked_at = still packed.
--
-- Built in four steps, so that every join holds the smaller side in memory: the packings
-- (pack_adds: every child an ADD names, as many rows as there are packed items), the
-- unpackings (pack_unpacks, far fewer), the end of each link that ends (pack_ends, as few),
-- then the links. A table's row count is known where a subquery's is guessed: written as
-- one statement, DuckDB guessed the other way round and built its hash tables on the 11.5M
-- packings of 1M events, three times.
CREATE OR REPLACE TEMP VIEW pack_adds AS
SELECT a.event_row AS pack_row, a.event_time AS packed_at, a.parent_gtin, a.parent_serial,
       c.id_gtin AS child_gtin, c.id_serial AS child_serial
FROM live_rows a JOIN epc_items c ON c.event_row = a.event_row AND c.list = 'childEPCs'
WHERE a.event_type = 'AggregationEvent' AND a.parent_gtin IS NOT NULL AND a.action = 'ADD';

CREATE OR REPLACE TEMP TABLE pack_unpacks AS
SELECT a.event_time AS unpacked_at, a.parent_gtin, a.parent_serial,
       c.id_gtin AS child_gtin, c.id_serial AS child_serial
FROM live_rows a
LEFT JOIN epc_items c ON c.event_row = a.event_row AND c.list = 'childEPCs'
WHERE a.event_type = 'AggregationEvent' AND a.parent_gtin IS NOT NULL
  AND a.action = 'DELETE';

CREATE OR REPLACE TEMP TABLE pack_ends AS
WITH repacked AS (
    -- only a child packed more than once can be ended by a later packing. Grouping on a
    -- hash of the identity is cheap and keeps every such child (a collision only adds a
    -- candidate; the join below compares identities exactly).
    SELECT p.* FROM pack_adds p
    WHERE hash(p.child_gtin, p.child_serial) IN (
        SELECT hash(r.child_gtin, r.child_serial) AS h FROM pack_adds r
        GROUP BY h HAVING count(*) > 1)
), ends AS (
    -- two joins, not one with an OR: a join on the parent alone would pair every child
    -- packed in it with every child unpacked from it
    SELECT p.pack_row, p.child_gtin, p.child_serial, u.unpacked_at AS end_at
    FROM pack_adds p JOIN pack_unpacks u
      ON u.parent_gtin = p.parent_gtin AND u.parent_serial = p.parent_serial
     AND u.child_gtin = p.child_gtin AND u.child_serial = p.child_serial
     AND u.unpacked_at > p.packed_at
    UNION ALL
    SELECT p.pack_row, p.child_gtin, p.child_serial, u.unpacked_at
    FROM pack_adds p JOIN pack_unpacks u
      ON u.parent_gtin = p.parent_gtin AND u.parent_serial = p.parent_serial
     AND u.unpacked_at > p.packed_at
    WHERE u.child_gtin IS NULL
    UNION ALL
    SELECT p.pack_row, p.child_gtin, p.child_serial, r.packed_at
    FROM repacked p JOIN repacked r
      ON r.child_gtin = p.child_gtin AND r.child_serial = p.child_serial
     AND (r.parent_gtin <> p.parent_gtin OR r.parent_serial <> p.parent_serial)
     AND r.packed_at > p.packed_at
)
SELECT pack_row, child_gtin, child_serial, min(end_at) AS end_at
FROM ends
GROUP BY pack_row, child_gtin, child_serial;

CREATE OR REPLACE TEMP TABLE pack_links AS
SELECT p.parent_gtin, p.parent_serial, p.child_gtin, p.child_serial, p.packed_at,
       f.end_at AS unpacked_at
FROM pack_adds p
LEFT JOIN pack_ends f
  ON f.pack_row = p.pack_row AND f.child_gtin = p.child_gtin
 AND f.child_serial = p.child_serial;

-- The same links with the keys written out.
CREATE OR REPLACE TEMP VIEW aggregation_links AS
SELECT
    coalesce(pk.epc_key, 'https://id.gs1.org/01/' || pg.gtin || '/21/' || l.parent_serial)
        AS parent_key,
    coalesce(ck.epc_key, 'https://id.gs1.org/01/' || cg.gtin || '/21/' || l.child_serial)
        AS child_key,
    CASE WHEN l.child_gtin = 0 THEN ck.epc_kind ELSE 'sgtin' END AS child_kind,
    l.packed_at, l.unpacked_at,
    l.parent_gtin, l.parent_serial, l.child_gtin, l.child_serial
FROM pack_links l
LEFT JOIN epc_keys pk ON pk.id_gtin = l.parent_gtin AND pk.id_serial = l.parent_serial
LEFT JOIN epc_gtins pg ON pg.gtin_id = l.parent_gtin
LEFT JOIN epc_keys ck ON ck.id_gtin = l.child_gtin AND ck.id_serial = l.child_serial
LEFT JOIN epc_gtins cg ON cg.gtin_id = l.child_gtin;

-- Everything packed in a container, to any depth, with the time span the whole chain of
-- links holds. Contents of X at time T:
--   WHERE root_key = X AND valid_from <= T AND (valid_to IS NULL OR valid_to > T)
-- A view, computed where it is read; the rules read serial_moves instead.
CREATE OR REPLACE TEMP VIEW sscc_contents AS
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

-- Every parent that ever held something (the expansion only follows these).
CREATE OR REPLACE TEMP TABLE pack_parents AS
SELECT DISTINCT l.parent_gtin, l.parent_serial FROM pack_links l;

-- The containers named by the events that move or end items (every live ObjectEvent and
-- TransformationEvent, and an AggregationEvent whose step is shipping, receiving,
-- decommissioning or destroying) that held something at the event's time. Packing and
-- unpacking aggregations are not expanded: they name their own children.
CREATE OR REPLACE TEMP TABLE expanded_containers AS
WITH named AS (
    SELECT e.event_row, e.event_time, i.id_gtin, i.id_serial
    FROM live_rows e
    JOIN epc_items i ON i.event_row = e.event_row
    JOIN pack_parents p ON p.parent_gtin = i.id_gtin AND p.parent_serial = i.id_serial
    WHERE e.event_type IN ('ObjectEvent', 'TransformationEvent')
       OR (e.event_type = 'AggregationEvent'
           AND e.biz_step IN ('shipping', 'receiving', 'decommissioning', 'destroying'))
    UNION
    SELECT e.event_row, e.event_time, e.parent_gtin, e.parent_serial
    FROM live_rows e
    WHERE e.event_type = 'AggregationEvent' AND e.parent_gtin IS NOT NULL
      AND e.biz_step IN ('shipping', 'receiving', 'decommissioning', 'destroying')
)
SELECT DISTINCT n.event_row, n.id_gtin AS via_gtin, n.id_serial AS via_serial
FROM named n
JOIN pack_links l ON l.parent_gtin = n.id_gtin AND l.parent_serial = n.id_serial
 AND l.packed_at <= n.event_time
 AND (l.unpacked_at IS NULL OR l.unpacked_at > n.event_time);

-- What those containers held at the event's time, to any depth: one row per event and
-- item (an item inside two containers the event named appears twice), with its depth
-- (1 = packed directly in a container the event named). Built level by level: the
-- statement marked "repeat" below runs again until it adds no row (an engine without
-- recursive queries runs it the same way); a chain deeper than 16 levels (a cycle in the
-- data) stops the run with an error.
CREATE OR REPLACE TEMP TABLE expanded_serials AS
SELECT c.event_row, l.child_gtin AS id_gtin, l.child_serial AS id_serial,
       CAST(1 AS UTINYINT) AS depth
FROM expanded_containers c
JOIN live_rows e ON e.event_row = c.event_row
JOIN pack_links l ON l.parent_gtin = c.via_gtin AND l.parent_serial = c.via_serial
 AND l.packed_at <= e.event_time
 AND (l.unpacked_at IS NULL OR l.unpacked_at > e.event_time);

-- repeat: until no row is added, at most 16 levels
INSERT INTO expanded_serials
SELECT w.event_row, l.child_gtin, l.child_serial, CAST(w.depth + 1 AS UTINYINT)
FROM expanded_serials w
JOIN pack_parents p ON p.parent_gtin = w.id_gtin AND p.parent_serial = w.id_serial
JOIN live_rows e ON e.event_row = w.event_row
JOIN pack_links l ON l.parent_gtin = w.id_gtin AND l.parent_serial = w.id_serial
 AND l.packed_at <= e.event_time
 AND (l.unpacked_at IS NULL OR l.unpacked_at > e.event_time)
WHERE w.depth = (SELECT max(x.depth) FROM expanded_serials x);

-- Every SGTIN an event moved that held something at the event's time (a case identified by
-- an SGTIN): named by the event (expanded_containers) or inside a container it named, to any
-- depth. "Is this SGTIN a case here, not a pack?": a row for the event and SGTIN.
CREATE OR REPLACE TEMP TABLE moved_cases AS
SELECT c.event_row, c.via_gtin AS id_gtin, c.via_serial AS id_serial
FROM expanded_containers c
WHERE c.via_gtin > 0
UNION
SELECT w.event_row, w.id_gtin, w.id_serial
FROM expanded_serials w
JOIN pack_parents p ON p.parent_gtin = w.id_gtin AND p.parent_serial = w.id_serial
JOIN live_rows e ON e.event_row = w.event_row
WHERE w.id_gtin > 0
  AND EXISTS (SELECT 1 FROM pack_links l
              WHERE l.parent_gtin = w.id_gtin AND l.parent_serial = w.id_serial
                AND l.packed_at <= e.event_time
                AND (l.unpacked_at IS NULL OR l.unpacked_at > e.event_time));

-- What each live event names or moves, narrow: every EPC it lists and an aggregation's
-- parent (list 'parentID'), for Object, Aggregation and Transformation events, plus what
-- it moved inside the containers it named (expanded_serials: list NULL). "What a shipping event
-- moved" is: WHERE biz_step = 'shipping' (a serial may appear more than once: use DISTINCT).
-- epc_kind 'sgtin' for every id_gtin > 0.
CREATE OR REPLACE TEMP VIEW serial_moves AS
SELECT e.event_row, e.event_type, e.action, e.biz_step, e.event_time, e.local_date,
       i.list, i.epc_raw, i.id_gtin, i.id_serial, i.epc_kind
FROM live_rows e JOIN epc_items i ON i.event_row = e.event_row
WHERE e.event_type IN ('ObjectEvent', 'AggregationEvent', 'TransformationEvent')
UNION ALL
SELECT e.event_row, e.event_type, e.action, e.biz_step, e.event_time, e.local_date,
       'parentID', e.parent_raw, e.parent_gtin, e.parent_serial, e.parent_kind
FROM live_rows e
WHERE e.event_type = 'AggregationEvent' AND e.parent_gtin IS NOT NULL
UNION ALL
SELECT e.event_row, e.event_type, e.action, e.biz_step, e.event_time, e.local_date,
       NULL, NULL, x.id_gtin, x.id_serial,
       CASE WHEN x.id_gtin > 0 THEN 'sgtin'
            WHEN x.id_serial LIKE 'S%' THEN 'sscc'
            WHEN x.id_serial LIKE 'G%' THEN 'sgln'
            WHEN x.id_serial LIKE 'L%' THEN 'lgtin'
            ELSE 'other' END
FROM expanded_serials x JOIN live_rows e ON e.event_row = x.event_row;

-- serial_moves with the event's key and source and the EPC's key text, gtin and serial
-- written out. Convenient for small data; at scale, work on serial_moves and write keys
-- only for the rows reported.
CREATE OR REPLACE TEMP VIEW event_serials AS
SELECT
    m.event_row, e.event_key, m.event_type, m.action, m.biz_step, e.disposition,
    m.event_time, m.local_date, m.list, m.epc_raw,
    coalesce(k.epc_key, 'https://id.gs1.org/01/' || g.gtin || '/21/' || m.id_serial)
        AS epc_key,
    m.epc_kind, g.gtin, CASE WHEN m.id_gtin > 0 THEN m.id_serial END AS serial,
    coalesce(n.load_name, e.source_file) || ':' || e.source_line AS source,
    m.id_gtin, m.id_serial
FROM serial_moves m
JOIN events e ON e.event_row = m.event_row
LEFT JOIN load_names n ON n.load_id = e.load_id
LEFT JOIN epc_gtins g ON g.gtin_id = m.id_gtin
LEFT JOIN epc_keys k ON k.id_gtin = m.id_gtin AND k.id_serial = m.id_serial;

-- The version of each consignment line that counts: a line re-declared with other content
-- (same declaration_id and line) is superseded by the later load, then the later line.
-- A table: half the rules read it, and the exact conversions of consignment_qty cost more
-- than reading the result back. (Nothing reads it after the preflight has changed the
-- consignments.)
CREATE OR REPLACE TEMP TABLE current_consignments AS
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
