"""EPCIS 2.0 events (JSON Lines, and JSON / JSON-LD documents) into the event tables.

The bulk work runs in DuckDB: each event is one line of JSON text in a staging table; a
typed parse, the checks, vocabulary and identifier normalisation and the fan-out into
EPC, quantity, transaction and party rows are set-based SQL. Python touches only the events
that need it: those without an ``eventID`` (their EPCIS event hash is computed) and those
with quantity lists (JSON numbers are re-read from the text as exact decimals, since DuckDB
reads JSON numbers as binary floats).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import astuple, dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
from jsonschema.exceptions import best_match

from traceability.errors import UnreadableFile
from traceability.load.eventhash import event_hash
from traceability.load.identifiers import normalise_uom, parse_epc
from traceability.load.kinds import validator

EPC_LISTS = ("epcList", "childEPCs", "inputEPCList", "outputEPCList")
QUANTITY_LISTS = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")
EVENT_TYPES = (
    "ObjectEvent",
    "AggregationEvent",
    "TransactionEvent",
    "TransformationEvent",
    "AssociationEvent",
)

_STRUCT = (
    "{"
    '"type": "VARCHAR", "eventID": "VARCHAR", "eventTime": "VARCHAR", '
    '"eventTimeZoneOffset": "VARCHAR", "recordTime": "VARCHAR", "action": "VARCHAR", '
    '"bizStep": "VARCHAR", "disposition": "VARCHAR", "parentID": "VARCHAR", '
    '"epcList": "VARCHAR[]", "childEPCs": "VARCHAR[]", "inputEPCList": "VARCHAR[]", '
    '"outputEPCList": "VARCHAR[]", '
    '"quantityList": "JSON", "childQuantityList": "JSON", "inputQuantityList": "JSON", '
    '"outputQuantityList": "JSON", '
    '"readPoint": {"id": "VARCHAR"}, "bizLocation": {"id": "VARCHAR"}, '
    '"bizTransactionList": [{"type": "VARCHAR", "bizTransaction": "VARCHAR"}], '
    '"sourceList": [{"type": "VARCHAR", "source": "VARCHAR"}], '
    '"destinationList": [{"type": "VARCHAR", "destination": "VARCHAR"}], '
    '"ilmd": "JSON", '
    '"errorDeclaration": {"declarationTime": "VARCHAR", "reason": "VARCHAR", '
    '"correctiveEventIDs": "VARCHAR[]"}'
    "}"
)

#: CBV vocabulary spellings to one bare form: urn:epcglobal:cbv:bizstep:shipping,
#: https://ref.gs1.org/cbv/BizStep-shipping and cbv:BizStep-shipping all become shipping.
CBV_MACRO = (
    "CREATE OR REPLACE TEMP MACRO tc_cbv(x) AS regexp_replace(trim(x), "
    r"'^(urn:epcglobal:cbv:(bizstep|disp|btt|sdt|er):|(https?://ref\.gs1\.org/cbv/|cbv:|gs1:)?"
    r"(BizStep|Disp|BTT|SDT|ER)-)', '')"
)

_OBJECT_FIELDS = ("readPoint", "bizLocation", "errorDeclaration")
_SHAPED_FIELDS = (
    *("epcList", "childEPCs", "inputEPCList", "outputEPCList"),
    *("readPoint", "bizLocation", "bizTransactionList", "sourceList", "destinationList"),
    "errorDeclaration",
)

_OFFSET = (
    "CASE WHEN regexp_full_match(o.eventTimeZoneOffset, '[+-][0-9]{2}:[0-9]{2}') THEN "
    "(CASE WHEN o.eventTimeZoneOffset[1] = '-' THEN -1 ELSE 1 END) * "
    "(CAST(o.eventTimeZoneOffset[2:3] AS INTEGER) * 60 + "
    "CAST(o.eventTimeZoneOffset[5:6] AS INTEGER)) END"
)
_TIME_RE = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:[0-9]{2})"
)


@dataclass(frozen=True)
class EventOutcome:
    """What one events file gave."""

    records: int
    accepted: int
    duplicates: int
    conflicts: int
    rejected: int


def _number_text(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(k)}:{_number_text(v)}" for k, v in value.items()) + "}"
    return "[" + ",".join(_number_text(v) for v in value) + "]"


def dump_event(event: Mapping[str, Any]) -> str:
    """Compact JSON text for an event, writing exact decimals as the numbers they were.

    >>> dump_event({"quantity": Decimal("12.50"), "uom": "KGM"})
    '{"quantity":12.50,"uom":"KGM"}'
    """
    return _number_text(event)


def document_events(path: Path) -> tuple[list[str], Any]:
    """The events of an EPCIS JSON / JSON-LD document as JSON text, and its context."""
    try:
        with path.open("rb") as f:
            doc = json.loads(f.read().decode("utf-8-sig"), parse_float=Decimal)
    except UnicodeDecodeError:
        raise UnreadableFile(f"{path}: not UTF-8 text", hint="save the file as UTF-8") from None
    except json.JSONDecodeError as exc:
        raise UnreadableFile(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    if not isinstance(doc, dict):
        raise UnreadableFile(f"{path}: not an EPCIS document (the top level is not an object)")
    body = doc.get("epcisBody")
    if not isinstance(body, dict):
        raise UnreadableFile(f"{path}: not an EPCIS document (no epcisBody)")
    events = body.get("eventList")
    if events is None and isinstance(body.get("queryResults"), dict):
        events = (body["queryResults"].get("resultsBody") or {}).get("eventList")
    if events is None:
        events = []
    if not isinstance(events, list):
        raise UnreadableFile(f"{path}: epcisBody.eventList is not a list")
    return [dump_event(e) for e in events], doc.get("@context")


#: Events are staged and processed this many bytes of JSON Lines at a time, so memory
#: stays bounded whatever the size of the file.
CHUNK_BYTES = 128 * 1024 * 1024


def jsonl_chunks(path: Path, chunk_bytes: int | None = None) -> Iterator[tuple[int, list[str]]]:
    """The lines of a JSON Lines file in chunks: (number of the first line, lines)."""
    size = chunk_bytes or CHUNK_BYTES
    first = 1
    rest = b""
    with path.open("rb") as f:
        while True:
            block = f.read(size)
            data = rest + block
            if not block:
                if data:
                    yield first, [_decode(path, first, data)]
                return
            cut = data.rfind(b"\n")
            if cut < 0:
                rest = data
                continue
            rest = data[cut + 1 :]
            lines = _decode(path, first, data[:cut]).split("\n")
            if first == 1 and lines and lines[0].startswith("\ufeff"):
                lines[0] = lines[0][1:]
            yield first, lines
            first += len(lines)


def _decode(path: Path, first: int, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = first + data[: exc.start].count(b"\n")
        raise UnreadableFile(
            f"{path}:{line}: not UTF-8 text", hint="save the file as UTF-8"
        ) from None


def _stage(con: duckdb.DuckDBPyConnection, first: int, lines: list[str]) -> str:
    """Register one chunk of lines; return the SQL that reads it as (rec, line)."""
    table = pa.table(
        {
            "rec": pa.array(range(first, first + len(lines)), pa.int64()),
            "line": pa.array(lines, pa.large_string()),
        }
    )
    con.register("tc_lines", table)
    return "SELECT rec, line FROM tc_lines"


def _parse(con: duckdb.DuckDBPyConnection, source: str) -> None:
    """Typed parse of every staged line, with its checks, into ``tc_ev``.

    Each value is computed once, in layers: the typed parse, then the time values, then
    the checks. Vocabulary spellings are normalised only when they are not bare already.
    """
    qty_present = " OR ".join(f"o.{n} IS NOT NULL" for n in QUANTITY_LISTS)
    types = ", ".join(f"'{t}'" for t in EVENT_TYPES)
    # The typed parse turns a field of the wrong shape (a string where a list belongs) into
    # NULL. One scan of the text finds a list or object field whose value does not open
    # with [ or { (or null); those events are checked against the schema in Python.
    lists = "|".join(n for n in _SHAPED_FIELDS if n not in _OBJECT_FIELDS)
    objects = "|".join(_OBJECT_FIELDS)
    shape = (
        f'regexp_matches(line, \'"({lists})"\\s*:\\s*[^\\[\\sn]|"({objects})"\\s*:\\s*[^{{\\sn]\')'
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE tc_ev AS
        WITH parsed AS (
            SELECT rec, line, try(json_transform(line, '{_STRUCT}')) AS o
            FROM ({source}) WHERE line IS NOT NULL AND trim(line) <> ''
        ), timed AS (
            SELECT *, TRY_CAST(o.eventTime AS TIMESTAMPTZ) AS t, {_OFFSET} AS off
            FROM parsed
        ), checked AS (
            SELECT *,
                   CASE
                     WHEN o IS NULL THEN 'bad-json'
                     WHEN NOT starts_with(ltrim(line), '{{') THEN 'not-an-object'
                     WHEN o.type IS NULL OR o.type NOT IN ({types}) THEN 'bad-event-type'
                     WHEN t IS NULL OR NOT regexp_full_match(o.eventTime, '{_TIME_RE}')
                       THEN 'bad-event-time'
                     WHEN off IS NULL THEN 'bad-time-zone-offset'
                     WHEN o.type IN ('ObjectEvent', 'AggregationEvent', 'TransactionEvent')
                          AND (o.action IS NULL OR o.action NOT IN ('ADD', 'OBSERVE', 'DELETE'))
                       THEN 'bad-action'
                     WHEN o.errorDeclaration IS NOT NULL
                          AND TRY_CAST(o.errorDeclaration.declarationTime AS TIMESTAMPTZ) IS NULL
                       THEN 'bad-error-declaration'
                     WHEN {shape} THEN 'check-shape'
                   END AS problem,
                   ({qty_present}) AS has_quantities
            FROM timed
        )
        SELECT rec, o.eventID AS event_id, NULL::VARCHAR AS event_hash,
               o.type AS event_type, o.action AS action,
               CASE WHEN contains(o.bizStep, ':') OR contains(o.bizStep, '-')
                    THEN tc_cbv(o.bizStep) ELSE o.bizStep END AS biz_step,
               CASE WHEN contains(o.disposition, ':') OR contains(o.disposition, '-')
                    THEN tc_cbv(o.disposition) ELSE o.disposition END AS disposition,
               t AS event_time, o.eventTimeZoneOffset AS tz_offset,
               CAST(timezone('UTC', t) + to_minutes(off) AS DATE) AS local_date,
               TRY_CAST(o.recordTime AS TIMESTAMPTZ) AS record_time,
               o.readPoint.id AS read_point_raw, o.bizLocation.id AS biz_location_raw,
               o.parentID AS parent_raw,
               CASE WHEN o.ilmd IS NOT NULL THEN
                   coalesce(o.ilmd ->> '$."cbvmda:lotNumber"', o.ilmd ->> '$.lotNumber',
                            o.ilmd ->> '$."gs1ushc:lotNumber"') END AS lot,
               CASE WHEN o.ilmd IS NOT NULL THEN
                   TRY_CAST(coalesce(o.ilmd ->> '$."cbvmda:itemExpirationDate"',
                            o.ilmd ->> '$.itemExpirationDate') AS DATE) END AS expiry,
               TRY_CAST(o.errorDeclaration.declarationTime AS TIMESTAMPTZ) AS error_declared_at,
               tc_cbv(o.errorDeclaration.reason) AS error_reason,
               o.errorDeclaration.correctiveEventIDs AS corrective_event_ids,
               CASE WHEN o IS NOT NULL THEN md5(json(line)::VARCHAR) END AS content_hash,
               o.epcList, o.childEPCs, o.inputEPCList, o.outputEPCList,
               o.bizTransactionList, o.sourceList, o.destinationList,
               has_quantities, problem, NULL::VARCHAR AS problem_detail,
               CASE WHEN problem IS NOT NULL OR o.eventID IS NULL OR has_quantities
                    THEN line END AS line
        FROM checked
        """
    )


#: The common SGTIN spellings whose serial needs no decoding: the GTIN is worked out once
#: per distinct prefix (a handful per file) instead of once per serial (millions).
FAST_SGTIN = (
    r"^(urn:epc:id:sgtin:[0-9]+\.[0-9]+\.|https?://[^?#]+/01/[0-9]{8,14}/21/)"
    r"([A-Za-z0-9_.-]{1,20})$"
)

_BAD_EPCS = """
UPDATE tc_ev SET problem = 'bad-epc', problem_detail = b.detail
FROM (
    SELECT e.rec, arg_min(e.list || '[' || e.pos || ']: ' || quote_text(e.raw),
                          e.list || lpad(e.pos::VARCHAR, 9, '0')) AS detail
    FROM tc_epc e
    WHERE e.m.p IN (SELECT p FROM tc_pfx WHERE gtin IS NULL)
       OR (e.m.p = '' AND e.raw IN (SELECT raw FROM tc_ids WHERE key IS NULL))
       OR e.raw IS NULL
    GROUP BY e.rec
    UNION ALL
    SELECT rec, 'parentID: ' || quote_text(parent_raw) FROM tc_ev
    JOIN tc_ids ON tc_ids.raw = tc_ev.parent_raw WHERE tc_ids.key IS NULL
) b
WHERE tc_ev.rec = b.rec AND tc_ev.problem IS NULL
"""


def _epc_pass(con: duckdb.DuckDBPyConnection) -> None:
    """Resolve every EPC and identifier of the staged events to its canonical key.

    Builds ``tc_epc_keys`` (one row per EPC in a list) and ``tc_ids`` (distinct other
    identifiers: read points, locations, parents, parties), and marks events holding an
    invalid identifier as ``bad-epc`` with the first offending value.
    """
    unions = " UNION ALL ".join(
        f"SELECT rec, '{n}' AS list, generate_subscripts({n}, 1) - 1 AS pos, unnest({n}) AS raw "
        f"FROM tc_ev WHERE problem IS NULL AND {n} IS NOT NULL"
        for n in EPC_LISTS
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE tc_epc AS
        SELECT rec, list, pos, raw, regexp_extract(raw, '{FAST_SGTIN}', ['p', 's']) AS m
        FROM ({unions})
        """
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE tc_pfx AS SELECT p, tc_epc_gtin(p || 'X') AS gtin "
        "FROM (SELECT DISTINCT m.p AS p FROM tc_epc WHERE m.p <> '')"
    )
    parties = " UNION ".join(
        f"SELECT DISTINCT unnest({f}).{r} FROM tc_ev WHERE problem IS NULL"
        for f, r in (("sourceList", "source"), ("destinationList", "destination"))
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE tc_ids AS
        SELECT raw, tc_epc_key(raw) AS key
        FROM (SELECT raw FROM tc_epc WHERE m.p = '' AND raw IS NOT NULL
              UNION SELECT read_point_raw FROM tc_ev
              UNION SELECT biz_location_raw FROM tc_ev
              UNION SELECT parent_raw FROM tc_ev
              UNION {parties}) AS t(raw)
        WHERE raw IS NOT NULL
        """
    )
    con.execute(
        "CREATE OR REPLACE TEMP MACRO quote_text(x) AS "
        "coalesce('''' || replace(x, '''', '''''') || '''', 'a value that is not text')"
    )
    con.execute(_BAD_EPCS)


_MESSAGES = {
    "bad-json": "not valid JSON",
    "not-an-object": "not a JSON object",
    "bad-event-type": "type: not one of " + ", ".join(EVENT_TYPES),
    "bad-event-time": "eventTime: missing, or not a date-time with an offset "
    "(2026-03-31T23:30:00-05:00)",
    "bad-time-zone-offset": "eventTimeZoneOffset: missing, or not written +HH:MM / -HH:MM",
    "bad-action": "action: missing, or not one of ADD, OBSERVE, DELETE",
    "bad-epc": "an EPC is not a valid GS1 identifier (check digit, length or form)",
    "bad-error-declaration": "errorDeclaration.declarationTime: not a date-time with an offset",
    "bad-quantity": "a quantity is not a non-negative number",
    "unknown-unit": "a uom is not a known UN/ECE Recommendation 20 unit",
    "bad-epc-class": "an epcClass is not a valid GS1 class identifier",
    "bad-shape": "a field does not have the shape EPCIS gives it",
}


def _quantity_rows(
    event: Mapping[str, Any],
) -> Iterator[tuple[str, str, str, str | None, str | None, Decimal | None, str | None]]:
    """(list, class raw, class key, gtin, lot, quantity, uom) for each quantity element."""
    for name in QUANTITY_LISTS:
        for element in event.get(name) or []:
            if not isinstance(element, Mapping):
                raise ValueError("bad-epc-class")
            raw = element.get("epcClass")
            epc = parse_epc(raw) if isinstance(raw, str) else None
            if epc is None or not isinstance(raw, str):
                raise ValueError("bad-epc-class")
            quantity = element.get("quantity")
            if quantity is not None:
                if isinstance(quantity, bool) or not isinstance(quantity, int | Decimal):
                    raise ValueError("bad-quantity")
                quantity = Decimal(quantity)
                if quantity < 0 or not quantity.is_finite():
                    raise ValueError("bad-quantity")
            uom_raw = element.get("uom")
            uom = normalise_uom(uom_raw) if isinstance(uom_raw, str) else None
            if uom_raw is not None and uom is None:
                raise ValueError("unknown-unit")
            if quantity is not None and uom is None:
                uom = "H87"
            yield name, raw, epc.key, epc.gtin, epc.lot, quantity, uom


def _python_pass(
    con: duckdb.DuckDBPyConnection, context: Any
) -> tuple[list[tuple[int, str, str | None]], list[tuple[Any, ...]]]:
    """Hash events without an eventID, read exact quantities; return (problems, quantities)."""
    rows = con.execute(
        "SELECT rec, line, problem, event_id IS NULL, has_quantities FROM tc_ev "
        "WHERE line IS NOT NULL ORDER BY rec"
    ).fetchall()
    problems: list[tuple[int, str, str | None]] = []
    quantities: list[tuple[Any, ...]] = []
    hashes: list[tuple[int, str]] = []
    for rec, line, problem, needs_hash, has_quantities in rows:
        doc: Any = None
        try:
            doc = json.loads(line, parse_float=Decimal)
        except (json.JSONDecodeError, InvalidOperation):
            pass
        if problem == "check-shape" and isinstance(doc, Mapping):
            error = best_match(validator("epcis-event").iter_errors(doc))
            if error is not None:
                where = ".".join(str(p) for p in error.absolute_path) or "event"
                problems.append((rec, "bad-shape", f"{where}: {error.message}"))
                continue
            problems.append((rec, "", None))  # the text named the field; the shape is fine
            problem = None
        if problem is not None or not isinstance(doc, Mapping):
            continue
        if has_quantities:
            try:
                for name, raw, key, gtin, lot, quantity, uom in _quantity_rows(doc):
                    text = None if quantity is None else format(quantity, "f")
                    quantities.append((rec, name, raw, key, gtin, lot, text, uom))
            except ValueError as exc:
                problems.append((rec, str(exc), None))
                continue
        if needs_hash:
            event_context = doc.get("@context", context)
            try:
                hashes.append((rec, event_hash(doc, event_context)))
            except Exception as exc:  # noqa: BLE001 - a malformed event must not stop the load
                problems.append((rec, "bad-event", f"cannot compute the event hash: {exc}"))
    if hashes:
        frame = pl.DataFrame(hashes, schema={"rec": pl.Int64, "h": pl.Utf8}, orient="row")
        con.register("tc_hashes", frame)
        con.execute("UPDATE tc_ev SET event_hash = h.h FROM tc_hashes h WHERE tc_ev.rec = h.rec")
        con.unregister("tc_hashes")
    return problems, quantities


def load_events(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    document: bool,
    load_id: int,
    source: str,
) -> EventOutcome:
    """Check and store the events of one file, a chunk at a time.

    Rejected events go to ``rejects``. A document's events are numbered by their position
    in ``eventList``; a JSON Lines file's by their line.
    """
    context: Any = None
    chunks: Iterable[tuple[int, list[str]]]
    if document:
        lines, context = document_events(path)
        chunks = [(1, lines)]
    else:
        chunks = jsonl_chunks(path)
    total = EventOutcome(0, 0, 0, 0, 0)
    for first, lines in chunks:
        try:
            out = _load_chunk(con, _stage(con, first, lines), context, load_id, source)
        finally:
            con.unregister("tc_lines")
        total = EventOutcome(*(a + b for a, b in zip(astuple(total), astuple(out), strict=True)))
    return total


def _load_chunk(
    con: duckdb.DuckDBPyConnection, staged: str, context: Any, load_id: int, source: str
) -> EventOutcome:
    _parse(con, staged)
    problems, quantities = _python_pass(con, context)
    if problems:
        frame = pl.DataFrame(
            problems, schema={"rec": pl.Int64, "p": pl.Utf8, "msg": pl.Utf8}, orient="row"
        )
        con.register("tc_problems", frame)
        con.execute(
            "UPDATE tc_ev SET problem = NULLIF(p.p, '') FROM tc_problems p WHERE tc_ev.rec = p.rec"
        )
        con.unregister("tc_problems")
    _epc_pass(con)
    detail = {r: m for r, _, m in problems if m}
    bad = con.execute(
        "SELECT rec, problem, problem_detail, line FROM tc_ev WHERE problem IS NOT NULL "
        "ORDER BY rec"
    ).fetchall()
    reject_rows = []
    for rec, problem, where, line in bad:
        text = detail.get(rec) or _MESSAGES.get(problem, problem)
        if problem == "bad-epc" and where:
            text = f"{where} is not a valid GS1 identifier (check digit, length or form)"
        reject_rows.append((load_id, source, rec, None, problem, text, (line or "")[:2000] or None))
    if reject_rows:
        con.executemany("INSERT INTO rejects VALUES (?, ?, ?, ?, ?, ?, ?)", reject_rows)
    return _insert(con, load_id, source, quantities, rejected=len(bad))


def _insert(
    con: duckdb.DuckDBPyConnection,
    load_id: int,
    source: str,
    quantities: list[tuple[Any, ...]],
    *,
    rejected: int,
) -> EventOutcome:
    # What not to store: rejected events, events stored before with the same content, and
    # later copies of an event within this file. Usually a handful of rows.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE tc_skip AS
        SELECT rec FROM tc_ev WHERE problem IS NOT NULL
        UNION ALL
        SELECT e.rec FROM tc_ev e JOIN events x
            ON x.event_key = coalesce(e.event_id, e.event_hash) AND x.content_hash = e.content_hash
        WHERE e.problem IS NULL
        UNION ALL
        SELECT rec FROM (
            SELECT rec, row_number() OVER (PARTITION BY k, content_hash ORDER BY rec) AS n
            FROM (SELECT rec, coalesce(event_id, event_hash) AS k, content_hash FROM tc_ev
                  WHERE problem IS NULL) t
            WHERE k IN (SELECT coalesce(event_id, event_hash) FROM tc_ev WHERE problem IS NULL
                        GROUP BY 1 HAVING count(*) > 1)
        ) WHERE n > 1
        """
    )
    con.execute(
        "CREATE OR REPLACE TEMP VIEW tc_new AS "
        "SELECT *, coalesce(event_id, event_hash) AS event_key, "
        f"CAST({int(load_id)} AS BIGINT) * 10000000000 + rec AS event_row "
        "FROM tc_ev e WHERE NOT EXISTS (SELECT 1 FROM tc_skip s WHERE s.rec = e.rec)"
    )
    total_row = con.execute("SELECT count(*) FROM tc_ev WHERE problem IS NULL").fetchone()
    total = int(total_row[0]) if total_row else 0
    con.execute(
        """
        INSERT INTO events
        SELECT event_row, event_key, event_id, event_hash, event_type, action, biz_step,
               disposition,
               event_time, tz_offset, local_date, record_time,
               coalesce(rp.key, read_point_raw), coalesce(bl.key, biz_location_raw),
               parent_raw, pa.key, lot, expiry, error_declared_at, error_reason,
               corrective_event_ids, content_hash, ?, ?, rec
        FROM tc_new
        LEFT JOIN tc_ids rp ON rp.raw = read_point_raw
        LEFT JOIN tc_ids bl ON bl.raw = biz_location_raw
        LEFT JOIN tc_ids pa ON pa.raw = parent_raw
        """,
        [load_id, source],
    )
    con.execute(
        "INSERT INTO epc_prefixes SELECT nextval('epc_prefix_ids'), p, gtin FROM tc_pfx "
        "WHERE gtin IS NOT NULL AND p NOT IN (SELECT prefix FROM epc_prefixes)"
    )
    con.execute(
        """
        INSERT INTO epc_rows
        SELECT CAST(? AS BIGINT) * 10000000000 + e.rec, e.list, x.prefix_id, e.m.s, NULL, NULL
        FROM tc_epc e JOIN epc_prefixes x ON x.prefix = e.m.p
        WHERE e.m.p <> '' AND NOT EXISTS (SELECT 1 FROM tc_skip s WHERE s.rec = e.rec)
        """,
        [load_id],
    )
    con.execute(
        """
        INSERT INTO epc_rows
        SELECT CAST(? AS BIGINT) * 10000000000 + e.rec, e.list, NULL, NULL, e.raw, i.key
        FROM tc_epc e JOIN tc_ids i ON i.raw = e.raw
        WHERE e.m.p = '' AND NOT EXISTS (SELECT 1 FROM tc_skip s WHERE s.rec = e.rec)
        """,
        [load_id],
    )
    con.execute(
        """
        INSERT INTO event_biz_transactions
        SELECT event_row, tc_cbv(b.type), b.bizTransaction,
               coalesce(NULLIF(regexp_extract(b.bizTransaction,
                        '^urn:epcglobal:cbv:bt:[^:]*:(.+)$', 1), ''), b.bizTransaction)
        FROM (SELECT event_row, unnest(bizTransactionList) AS b
              FROM tc_new WHERE bizTransactionList IS NOT NULL)
        WHERE b.bizTransaction IS NOT NULL
        """
    )
    for role, field in (("source", "sourceList"), ("destination", "destinationList")):
        con.execute(
            f"""
            INSERT INTO event_parties
            SELECT event_row, '{role}', tc_cbv(p.type), p.{role},
                   coalesce(i.key, p.{role}),
                   NULLIF(regexp_extract(coalesce(i.key, ''), '/41[47]/([0-9]{{13}})', 1), '')
            FROM (SELECT event_row, unnest({field}) AS p
                  FROM tc_new WHERE {field} IS NOT NULL)
            LEFT JOIN tc_ids i ON i.raw = p.{role}
            WHERE p.{role} IS NOT NULL
            """
        )
    if quantities:
        frame = pl.DataFrame(
            quantities,
            schema={
                "rec": pl.Int64,
                "list": pl.Utf8,
                "raw": pl.Utf8,
                "key": pl.Utf8,
                "gtin": pl.Utf8,
                "lot": pl.Utf8,
                "quantity": pl.Utf8,
                "uom": pl.Utf8,
            },
            orient="row",
        )
        con.register("tc_qty", frame)
        con.execute(
            """
            INSERT INTO event_quantities
            SELECT n.event_row, q.list, q.raw, q.key, q.gtin, q.lot,
                   CAST(q.quantity AS DECIMAL(38,12)), q.uom
            FROM tc_qty q JOIN tc_new n USING (rec)
            """
        )
        con.unregister("tc_qty")
    new_row = con.execute("SELECT count(*) FROM tc_new").fetchone()
    new = int(new_row[0]) if new_row else 0
    conflict_row = con.execute(
        """
        SELECT count(*) FROM tc_new n WHERE EXISTS (
            SELECT 1 FROM events x WHERE x.event_key = n.event_key
              AND x.content_hash <> n.content_hash)
          AND n.error_declared_at IS NULL
        """
    ).fetchone()
    records_row = con.execute("SELECT count(*) FROM tc_ev").fetchone()
    con.execute(
        "DROP VIEW tc_new; DROP TABLE tc_skip; DROP TABLE tc_epc; DROP TABLE tc_pfx; "
        "DROP TABLE tc_ids; DROP TABLE tc_ev"
    )
    return EventOutcome(
        records=int(records_row[0]) if records_row else 0,
        accepted=new,
        duplicates=total - new,
        conflicts=int(conflict_row[0]) if conflict_row else 0,
        rejected=rejected,
    )
