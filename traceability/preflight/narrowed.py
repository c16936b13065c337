"""The store as it would be once the shipment has left, narrowed to what concerns it.

The store's table names are defined on the default in-memory catalog: the stored rows that
bear on the shipment and the planned rows. Events: those that name its serials and
containers, down to what is packed in them and up to every container that ever held them,
and likewise the packs of its products and the containers that were destroyed (for its lots'
headroom), the events destroying a quantity of its lots, the other versions of all these,
every void_shipping event and those already carrying the shipment's ref. Declaration
lines: every version of each line of the shipment's lots, authorisations, shipment and
declarations. Manufacture declarations of the lots concerned, the
authorisations quoted. The store's views are re-created over these tables; every other
table of the store is passed through as it is.
"""

from __future__ import annotations

import duckdb

from traceability.preflight.planned import PLANNED, STORE, Plan, one

EVENT_TABLES = (
    "events",
    "epc_rows",
    "event_quantities",
    "event_biz_transactions",
    "event_parties",
)
_MAX_DEPTH = 16  # containers inside containers, as the base views follow them

_SGTIN_PARTS = (
    "CASE WHEN key LIKE 'https://id.gs1.org/01/%/21/%' THEN substr(key, 23, 14) END AS gtin, "
    "CASE WHEN key LIKE 'https://id.gs1.org/01/%/21/%' THEN substr(key, 41) END AS serial"
)


def narrow(con: duckdb.DuckDBPyConnection, plan: Plan, shift: int) -> None:
    """Define the store's table names on the default catalog, for the planned shipment.

    ``shift``: days the expiry dates are brought forward (the minimum shelf life).
    """
    # Longer than most functions: one SQL statement per store table it narrows.
    s, p = f"{STORE}.main", f"{PLANNED}.main"
    _event_rows(con, plan)
    events = "event_row IN (SELECT event_row FROM pf_events)"
    expiry = f"expiry - {int(shift)}" if shift else "expiry"
    con.execute(
        f"CREATE TABLE events AS SELECT * REPLACE ({expiry} AS expiry) FROM {s}.events "
        f"WHERE {events} UNION ALL BY NAME SELECT * REPLACE ({expiry} AS expiry) FROM {p}.events"
    )
    for table in EVENT_TABLES[1:]:
        con.execute(
            f"CREATE TABLE {table} AS SELECT * FROM {s}.{table} WHERE {events} "
            f"UNION ALL BY NAME SELECT * FROM {p}.{table}"
        )
    con.execute(
        f"CREATE TABLE epc_prefixes AS SELECT * FROM {s}.epc_prefixes "
        f"UNION ALL BY NAME SELECT * FROM {p}.epc_prefixes"
    )
    views = _recreate_views(con)  # event_epcs, ...: the store's views over these tables
    # every version of each stored line of the lots, authorisations, shipment or declarations
    con.execute(
        f"""
        CREATE TEMP TABLE pf_lines AS
        SELECT DISTINCT c.declaration_id, coalesce(c.line, '1') AS line
        FROM {s}.consignments c
        WHERE (c.gtin, c.lot) IN (SELECT (gtin, lot) FROM {p}.consignments)
           OR c.authorisation_ref IN (SELECT authorisation_ref FROM {p}.consignments)
           OR c.shipment_ref IN (SELECT shipment_ref FROM {p}.consignments)
           OR c.declaration_id IN (SELECT declaration_id FROM {p}.consignments)
        """
    )
    con.execute(
        f"CREATE TABLE stored_consignments AS SELECT * FROM {s}.consignments c "
        "WHERE (c.declaration_id, coalesce(c.line, '1')) IN "
        "(SELECT (declaration_id, line) FROM pf_lines)"
    )
    con.execute(
        "CREATE TABLE consignments AS SELECT * FROM stored_consignments "
        f"UNION ALL BY NAME SELECT * FROM {p}.consignments"
    )
    # the manufacture declarations of the lots named by these lines and events, and the
    # authorisations these lines quote; each table keeps at least one stored row, so that a
    # rule that needs it knows it was loaded (a row nothing names gives no finding)
    expiry_date = f"expiry_date - {int(shift)}" if shift else "expiry_date"
    con.execute(
        f"""
        CREATE TABLE batches AS
        WITH lots AS (
            SELECT gtin, lot FROM consignments
            UNION SELECT c.gtin, e.lot FROM events e JOIN event_epcs c USING (event_row)
            UNION SELECT gtin, lot FROM event_quantities
        )
        SELECT * REPLACE ({expiry_date} AS expiry_date) FROM (
            SELECT * FROM {s}.batches WHERE (gtin, lot) IN (SELECT (gtin, lot) FROM lots)
            UNION (SELECT * FROM {s}.batches LIMIT 1))
        """
    )
    con.execute(
        f"""
        CREATE TABLE authorisations AS
        SELECT * FROM {s}.authorisations
        WHERE authorisation_ref IN (SELECT authorisation_ref FROM consignments)
        UNION (SELECT * FROM {s}.authorisations LIMIT 1)
        """
    )
    made = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'memory'"
        ).fetchall()
    }
    for (name,) in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ? "
        "UNION SELECT view_name FROM duckdb_views() WHERE database_name = ? AND NOT internal",
        [STORE, STORE],
    ).fetchall():
        if name not in made and name not in views:
            con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM {s}."{name}"')


def _recreate_views(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The store's own views (event_epcs, ...), defined again over the narrowed tables."""
    views = con.execute(
        "SELECT view_name, sql FROM duckdb_views() WHERE database_name = ? AND NOT internal "
        "ORDER BY view_name",
        [STORE],
    ).fetchall()
    pending = [sql for _, sql in views]
    while pending:  # a view over another view is created after it
        waiting = []
        for sql in pending:
            try:
                con.execute(sql)
            except duckdb.CatalogException:
                waiting.append(sql)
        if len(waiting) == len(pending):
            con.execute(waiting[0])  # no progress: let its own error be seen
        pending = waiting
    return {name for name, _ in views}


def _event_rows(con: duckdb.DuckDBPyConnection, plan: Plan) -> None:
    """``pf_events``: the stored events that bear on the planned shipment's EPCs.

    The EPCs are the planned ones and the packs of the planned products (and containers) that
    a stored destroying event names. Down: everything ever packed (to any depth) in one of
    those containers. Then every event
    naming one of those EPCs, directly or as an aggregation's parent; and up: every
    container one of them was ever packed in, with the events naming it, to any depth.
    Then the stored events with a quantity of a planned lot (destroying a quantity of it),
    the other stored versions of all those events, every void_shipping event, and the
    events that already carry the shipment's ref.
    """
    # Longer than most functions: it is one SQL statement, a recursive walk down and up the
    # packing tree, which reads best whole.
    s, p = f"{STORE}.main", f"{PLANNED}.main"
    destroying = f"{s}.events d WHERE d.biz_step = 'destroying'"
    con.execute(
        f"""
        CREATE TEMP TABLE pf_keys AS
        SELECT DISTINCT key, {_SGTIN_PARTS} FROM (
            SELECT epc_key AS key FROM {p}.event_epcs WHERE epc_kind IN ('sgtin', 'sscc')
            UNION SELECT parent_key FROM {p}.events WHERE parent_key IS NOT NULL
            UNION SELECT c.epc_key FROM {s}.event_epcs c
            WHERE c.event_row IN (SELECT d.event_row FROM {destroying})
              AND (c.epc_kind = 'sscc' OR c.gtin IN (SELECT gtin FROM {p}.consignments))
            UNION SELECT d.parent_key FROM {destroying}
        ) WHERE key IS NOT NULL
        """
    )
    con.execute("CREATE TEMP TABLE pf_frontier AS SELECT * FROM pf_keys")
    for _ in range(_MAX_DEPTH):  # down: what is packed in the planned containers
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE pf_new AS
            SELECT DISTINCT c.epc_key AS key FROM {s}.event_epcs c
            WHERE c.list = 'childEPCs' AND c.event_row IN (
                SELECT e.event_row FROM {s}.events e
                WHERE e.event_type = 'AggregationEvent'
                  AND e.parent_key IN (SELECT key FROM pf_frontier))
            EXCEPT SELECT key FROM pf_keys
            """
        )
        if not one(con, "SELECT count(*) FROM pf_new"):
            break
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE pf_frontier AS SELECT key, {_SGTIN_PARTS} FROM pf_new"
        )
        con.execute("INSERT INTO pf_keys SELECT * FROM pf_frontier")
    con.execute("CREATE OR REPLACE TEMP TABLE pf_frontier AS SELECT * FROM pf_keys")
    con.execute("CREATE TEMP TABLE pf_events (event_row BIGINT)")
    for _ in range(_MAX_DEPTH):  # the events naming them; up: containers that held them
        serials = one(con, "SELECT count(*) FROM pf_frontier WHERE serial IS NOT NULL")
        by_serial = (
            f"""
            SELECT r.event_row, r.list FROM {s}.epc_rows r
            JOIN {s}.epc_prefixes x ON x.prefix_id = r.prefix_id
            JOIN pf_frontier f ON f.serial = r.serial AND f.gtin = x.gtin
            UNION ALL
            """
            if serials
            else ""
        )
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE pf_hits AS
            {by_serial}
            SELECT r.event_row, r.list FROM {s}.epc_rows r
            JOIN pf_frontier f ON f.key = r.epc_key
            UNION ALL
            SELECT e.event_row, 'parentID' FROM {s}.events e
            WHERE e.parent_key IN (SELECT key FROM pf_frontier)
            """
        )
        con.execute(
            "INSERT INTO pf_events SELECT DISTINCT event_row FROM pf_hits "
            "EXCEPT SELECT event_row FROM pf_events"
        )
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE pf_frontier AS
            SELECT key, {_SGTIN_PARTS} FROM (
                SELECT DISTINCT e.parent_key AS key FROM {s}.events e
                WHERE e.parent_key IS NOT NULL AND e.event_row IN (
                    SELECT event_row FROM pf_hits WHERE list = 'childEPCs')
                EXCEPT SELECT key FROM pf_keys)
            """
        )
        if not one(con, "SELECT count(*) FROM pf_frontier"):
            break
        con.execute("INSERT INTO pf_keys SELECT * FROM pf_frontier")
    con.execute(
        f"""
        INSERT INTO pf_events
        SELECT e.event_row FROM {s}.events e
        WHERE e.event_key IN (SELECT x.event_key FROM {s}.events x
                              WHERE x.event_row IN (SELECT event_row FROM pf_events
                                  UNION SELECT q.event_row FROM {s}.event_quantities q
                                  WHERE (q.gtin, q.lot) IN (SELECT (c.gtin, c.lot)
                                                            FROM {p}.consignments c)))
           OR e.biz_step = 'void_shipping'
           OR e.event_row IN (SELECT b.event_row FROM {s}.event_biz_transactions b
                              WHERE b.ref = ?)
        EXCEPT SELECT event_row FROM pf_events
        """,
        [plan.shipment_ref],
    )
