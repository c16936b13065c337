-- id:        authorisation-expired
-- severity:  high
-- needs:     consignments, products, authorisations
-- tolerance: none
-- checks:    An export or import line of a controlled product is dated (declared_date: the
--            shipping date of an export, the clearance date of an import) before the quoted
--            authorisation's valid_from or after its valid_to. One finding per declaration and
--            authorisation (latest version of each).
-- why:       An authorisation is approval for one window of time; a movement outside it was
--            never approved, and an expired permit reused is a common cover for diversion.
-- evidence:  the authorisation and the declaration lines dated outside its validity
-- remedy:    ship within the authorisation's validity, or have it renewed
WITH consignment_versions AS (
    SELECT c.*, row_number() OVER (
        PARTITION BY c.declaration_id, coalesce(c.line, '1')
        ORDER BY c.load_id DESC, c.source_line DESC) AS version_rank
    FROM consignment_qty c
), lines AS (
    SELECT c.*
    FROM consignment_versions c
    JOIN product_mass pm ON pm.gtin = c.gtin
    WHERE c.version_rank = 1 AND pm.controlled AND c.direction IN ('export', 'import')
      AND c.authorisation_ref IS NOT NULL
), auths AS (
    SELECT
        a.*,
        row_number() OVER (
            PARTITION BY a.authorisation_ref ORDER BY a.load_id DESC, a.source_line DESC)
            AS version_rank
    FROM authorisation_rows a
), outside AS (
    SELECT
        l.declaration_id, coalesce(l.line, '1') AS line, l.line_key, l.source, l.period,
        l.direction, l.declared_date, a.authorisation_ref, a.valid_from, a.valid_to,
        a.source AS auth_source
    FROM lines l
    JOIN auths a ON a.authorisation_ref = l.authorisation_ref AND a.version_rank = 1
    WHERE l.declared_date < a.valid_from OR l.declared_date > a.valid_to
), problems AS (
    SELECT o.*,
        direction || ' dated ' || CAST(declared_date AS VARCHAR) || ', '
        || CASE WHEN declared_date > valid_to
            THEN CAST(date_diff('day', valid_to, declared_date) AS VARCHAR)
                 || CASE WHEN date_diff('day', valid_to, declared_date) = 1 THEN ' day' ELSE ' days' END
                 || ' after it expired on ' || CAST(valid_to AS VARCHAR)
            ELSE CAST(date_diff('day', declared_date, valid_from) AS VARCHAR)
                 || CASE WHEN date_diff('day', declared_date, valid_from) = 1 THEN ' day' ELSE ' days' END
                 || ' before it became valid on ' || CAST(valid_from AS VARCHAR)
        END AS problem
    FROM outside o
), findings AS (
    SELECT
        authorisation_ref, declaration_id, min(period) AS period,
        nullif(array_to_string(list_sort(list_distinct(list(problem))), '; '), '') AS problems
    FROM problems
    GROUP BY authorisation_ref, declaration_id
), evidence AS (
    SELECT DISTINCT authorisation_ref, declaration_id, 'authorisation' AS kind,
        authorisation_ref AS key, auth_source AS source, 0 AS rank
    FROM outside
    UNION
    SELECT DISTINCT authorisation_ref, declaration_id, 'consignment',
        line_key, source, 1
    FROM outside
)
SELECT
    f.authorisation_ref,
    f.declaration_id,
    f.period,
    f.problems AS detail,
    list(struct_pack(kind := e.kind, key := e.key, source := e.source)
         ORDER BY e.rank, e.source) AS evidence
FROM findings f
JOIN evidence e
  ON e.authorisation_ref = f.authorisation_ref AND e.declaration_id = f.declaration_id
GROUP BY f.authorisation_ref, f.declaration_id, f.period, f.problems
