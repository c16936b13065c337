-- id:        authorisation-missing
-- severity:  critical
-- needs:     consignments, products, authorisations
-- tolerance: none
-- checks:    An export or import declaration line of a controlled product (control_class other
--            than none) quotes no authorisation_ref, or one that is not among the loaded
--            authorisations. Uncontrolled products need none. One finding per declaration
--            (latest version of each line). Not run before any authorisation is loaded.
-- why:       A controlled substance that crosses a border without an export authorisation or
--            import permit has left the licensed chain: the movement was never approved by
--            either regulator and cannot be matched against a quota.
-- evidence:  the declaration lines without a valid authorisation reference
-- remedy:    quote a valid authorisation on each line of the declaration, or obtain one
--            before shipping
WITH consignment_versions AS (
    SELECT c.*, row_number() OVER (
        PARTITION BY c.declaration_id, coalesce(c.line, '1')
        ORDER BY c.load_id DESC, c.source_line DESC) AS version_rank
    FROM consignment_qty c
), lines AS (
    SELECT c.*, pm.control_class
    FROM consignment_versions c
    JOIN product_mass pm ON pm.gtin = c.gtin
    WHERE c.version_rank = 1 AND pm.controlled AND c.direction IN ('export', 'import')
), unauthorised AS (
    SELECT
        l.*,
        CASE WHEN l.authorisation_ref IS NULL THEN 'quotes no authorisation'
             ELSE 'quotes ' || l.authorisation_ref || ', which is not on file' END AS problem
    FROM lines l
    WHERE l.authorisation_ref IS NULL
       OR l.authorisation_ref NOT IN (
            SELECT a.authorisation_ref FROM authorisations a
            WHERE a.authorisation_ref IS NOT NULL)
)
SELECT
    u.declaration_id,
    min(u.period) AS period,
    string_agg(
        u.direction || ' of ' || regexp_replace(CAST(u.quantity AS VARCHAR), '\.?0+$', '')
        || ' ' || u.uom || ' of ' || u.gtin || ' (' || u.control_class || ') on '
        || CAST(u.declared_date AS VARCHAR) || ' ' || u.problem,
        '; ' ORDER BY coalesce(u.line, '1'), u.source) AS detail,
    list(struct_pack(
            kind := 'consignment', key := u.line_key,
            source := u.source)
         ORDER BY u.source) AS evidence
FROM unauthorised u
GROUP BY u.declaration_id
