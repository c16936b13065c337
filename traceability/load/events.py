"""EPCIS 2.0 events (JSON Lines, and JSON / JSON-LD documents) into the event tables.

The bulk work runs in DuckDB: each event is one line of JSON text, staged a chunk at a
time as Arrow; a typed parse, the checks, vocabulary and identifier normalisation and the
fan-out into EPC, quantity, transaction and party rows are set-based SQL, with each
step's result held as Arrow for the next (see :func:`_keep`). Python touches only the events
that need it: those without an ``eventID`` (their EPCIS event hash is computed), those
with quantity lists (JSON numbers are re-read from the text as exact decimals, since DuckDB
reads JSON numbers as binary floats; a quantity the store cannot hold exactly rejects its
event), those that may give a key twice (see :func:`_keys_twice`), and those whose
identifiers hold an invisible character (to name the field).
"""

from __future__ import annotations

import json
import queue
import struct
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import astuple, dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, cast, overload

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from jsonschema.exceptions import best_match

from traceability.errors import UnreadableFile
from traceability.kinds import validator
from traceability.load import event_versions, limits, progress
from traceability.load.decimals import Inexact, exact_quantity
from traceability.load.epcis_documents import (
    Recorder,
    check_lines,
    jsonl_check_condition,
    load_json,
    read_document,
    repeated_key_issues,
    write_notes,
)
from traceability.load.epcis_items import Note
from traceability.load.epcis_terms import CBV_TERMS
from traceability.load.epcis_xml import looks_like_xml
from traceability.load.eventhash import event_hash
from traceability.load.exact_numbers import BigNumber, number_text
from traceability.load.identifiers import INVISIBLE_SQL, event_uom, invisible_chars, parse_epc
from traceability.load.identifiers_sql import EPC_MACROS
from traceability.store import append_rows

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
    '"quantityList": "JSON", "childQuantityList": "JSON", "inputQuantityList": "JSON", '
    '"outputQuantityList": "JSON", '
    '"readPoint": "JSON", "bizLocation": "JSON", "@context": "JSON", '
    '"bizTransactionList": "JSON", "sourceList": "JSON", "destinationList": "JSON", '
    '"ilmd": "JSON", '
    '"errorDeclaration": {"declarationTime": "VARCHAR", "reason": "VARCHAR", '
    '"correctiveEventIDs": "VARCHAR[]"}'
    "}"
)

#: The lists of typed members: parsed as JSON text first (so that a member giving a key
#: twice can be seen, see :func:`_keys_twice`), then typed: (list, member, type).
_MEMBER_LISTS = (
    ("bizTransactionList", "bizTransaction", '[{"type": "VARCHAR", "bizTransaction": "VARCHAR"}]'),
    ("sourceList", "source", '[{"type": "VARCHAR", "source": "VARCHAR"}]'),
    ("destinationList", "destination", '[{"type": "VARCHAR", "destination": "VARCHAR"}]'),
)
_MEMBER_NAMES = tuple(name for name, _, _ in _MEMBER_LISTS)

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


def _time(x: str) -> str:
    """SQL: the timestamp ``x`` as a TIMESTAMPTZ (NULL if unreadable); a time written
    without seconds (``2026-01-10T14:00+05:30``, which DuckDB does not cast) is read as at
    second 0. Whether it had seconds is noted by the document checks."""
    return (
        f"TRY_CAST(CASE WHEN substr({x}, 17, 1) = ':' THEN {x} ELSE regexp_replace({x}, "
        "'^([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2})(Z|[+-][0-9]{2}:[0-9]{2})$', "
        "'\\1:00\\2') END AS TIMESTAMPTZ)"
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
    if isinstance(value, BigNumber):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | Decimal):
        return number_text(value)
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
    """The events of an EPCIS document (JSON, JSON-LD or XML) as JSON text, and its context.

    The events are read whole, unchecked; :func:`load_events` streams and checks them.
    """
    document = read_document(path)
    return [dump_event(item.event) for item in document.items], document.context


#: Events are staged and processed this many bytes of JSON Lines at a time, so memory
#: stays bounded whatever the size of the file. Each chunk costs a fixed amount besides
#: its rows (at 1M events, 64 MiB chunks took 41 s, 128 MiB 35 s, 512 MiB 34 s); 128 MiB
#: also had the lowest peak memory of those (2.3 GiB under a 2 GB DuckDB limit).
CHUNK_BYTES = 128 * 1024 * 1024

#: Lines per Arrow record batch of a staged chunk. DuckDB scans the batches of an Arrow
#: table on all its threads, whereas it scans a table of fewer than 122,880 rows (a row
#: group) on one; so the per-line and per-EPC work reads the staged lines, not a temp table.
_BATCH_LINES = 2048
#: Rows per Arrow record batch of the intermediate results of a chunk.
_BATCH_ROWS = 16384

_LINES_SCHEMA = pa.schema([("rec", pa.int64()), ("line", pa.large_string())])


class Chunk(Sequence[str]):
    """One chunk of events: the number of its first record and its lines as Arrow.

    ``table`` has the columns (rec, line) in record batches of ``_BATCH_LINES``; the
    lines, as a sequence, are read from it.
    """

    def __init__(self, first: int, lines: pa.Array | list[str]) -> None:
        self.first = first
        #: Bytes of the file up to the end of this chunk, when read from a file.
        self.end_byte: int | None = None
        n = len(lines)
        table = pa.Table.from_arrays(
            [pa.array(range(first, first + n), pa.int64()), pa.array(lines, pa.large_string())],
            schema=_LINES_SCHEMA,
        )
        self.table = pa.Table.from_batches(
            table.to_batches(max_chunksize=_BATCH_LINES), schema=_LINES_SCHEMA
        )

    def __len__(self) -> int:
        return int(self.table.num_rows)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        column = self.table.column("line")
        if isinstance(index, slice):
            return [column[i].as_py() for i in range(len(self))[index]]
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        return cast(str, column[index].as_py())


def jsonl_chunks(path: Path, chunk_bytes: int | None = None) -> Iterator[tuple[int, Chunk]]:
    """The lines of a JSON Lines file in chunks: (number of the first line, lines).

    The next chunk is read and split on a background thread while the caller works on
    the current one.
    """
    return _read_ahead(_jsonl_chunks(path, chunk_bytes or CHUNK_BYTES))


def _jsonl_chunks(path: Path, size: int) -> Iterator[tuple[int, Chunk]]:
    first = 1
    rest = b""
    limit = limits.current()
    offset = 0  # bytes read so far
    with path.open("rb") as f:
        while True:
            block = f.read(size)
            offset += len(block)
            data = rest + block if rest else block
            if not block:
                if data:
                    chunk = _split(path, first, memoryview(data), limit)
                    chunk.end_byte = offset
                    yield first, chunk
                return
            cut = data.rfind(b"\n")
            if cut < 0:
                rest = data
                if len(rest) > limit.max_line_bytes:
                    limits.refuse_line(path, first, limit)
                continue
            rest = data[cut + 1 :]
            chunk = _split(path, first, memoryview(data)[:cut], limit)
            chunk.end_byte = offset - len(rest)
            yield first, chunk
            first += len(chunk)


_BOM = b"\xef\xbb\xbf"


def _split(path: Path, first: int, data: memoryview, limit: limits.Limits) -> Chunk:
    """The lines of ``data`` (text ending before a newline), numbered from ``first``.

    The bytes are checked as UTF-8 and cut at each newline by Arrow, without a Python
    string per line: at a million events, making those strings cost more than DuckDB's
    whole parse of the JSON.
    """
    if first == 1 and data[:3] == _BOM:
        data = data[3:]
    text = pa.LargeStringArray.from_buffers(
        1, pa.py_buffer(struct.pack("<qq", 0, len(data))), pa.py_buffer(data)
    )
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        _decode(path, first, bytes(data))  # names the line
        raise
    lines = pc.split_pattern(text, "\n").flatten()
    limits.check_lines(path, first, pc.binary_length(lines), limit)
    return Chunk(first, lines)


def _read_ahead(items: Iterator[tuple[int, Chunk]]) -> Iterator[tuple[int, Chunk]]:
    """The items of ``items``, each next one produced on a thread while this one is used."""
    ready: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: tuple[bool, Any]) -> None:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def produce() -> None:
        try:
            for item in items:
                put((True, item))
                if stop.is_set():
                    return
            put((False, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put((False, exc))

    worker = threading.Thread(target=produce, name="tracecheck-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            more, item = ready.get()
            if not more:
                if item is not None:
                    raise item
                return
            yield item
    finally:
        stop.set()
        worker.join()


def _decode(path: Path, first: int, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = first + data[: exc.start].count(b"\n")
        raise UnreadableFile(
            f"{path}:{line}: not UTF-8 text", hint="save the file as UTF-8"
        ) from None


def _stage(chunk: Chunk) -> str:
    """Stage one chunk of lines; return the SQL that reads it as (rec, line)."""
    tables = _tables()
    tables.clear()
    tables["tc_lines"] = chunk.table
    return "SELECT rec, line FROM tc_lines"


_scope = threading.local()


def _tables() -> dict[str, Any]:
    """The Arrow tables of the chunk being loaded on this thread, by name."""
    tables: dict[str, Any] = _scope.__dict__.setdefault("tables", {})
    return tables


def _run(
    con: duckdb.DuckDBPyConnection, sql: str, params: object = None
) -> duckdb.DuckDBPyConnection:
    """Execute ``sql`` with the chunk's Arrow tables in scope: tc_lines, tc_ev, tc_epc, ...

    DuckDB finds a table that a query names among the local variables of the Python
    function running it (a replacement scan), and reads its record batches on every
    thread. ``con.register`` would do the same through a view in the catalog, which,
    inside the load's one transaction, holds on to every chunk's tables until the end.
    """
    return cast(duckdb.DuckDBPyConnection, _bind(con, sql, params, relation=False))


def _bind(
    con: duckdb.DuckDBPyConnection, sql: str, params: object, *, relation: bool
) -> duckdb.DuckDBPyConnection | duckdb.DuckDBPyRelation:
    tables = _tables()
    tc_lines = tables.get("tc_lines")  # noqa: F841 - each of these is read by the SQL
    tc_ev = tables.get("tc_ev")  # noqa: F841
    tc_epc = tables.get("tc_epc")  # noqa: F841
    tc_pfx = tables.get("tc_pfx")  # noqa: F841
    tc_odd = tables.get("tc_odd")  # noqa: F841
    tc_ids = tables.get("tc_ids")  # noqa: F841
    tc_skip = tables.get("tc_skip")  # noqa: F841
    tc_fix = tables.get("tc_fix")  # noqa: F841
    tc_qty = tables.get("tc_qty")  # noqa: F841
    tc_fast = tables.get("tc_fast")  # noqa: F841
    tc_raws = tables.get("tc_raws")  # noqa: F841
    tc_known = tables.get("tc_known")  # noqa: F841
    tc_new_ids = tables.get("tc_new_ids")  # noqa: F841
    tc_keys = tables.get("tc_keys")  # noqa: F841
    tc_known_keys = tables.get("tc_known_keys")  # noqa: F841
    tc_seen = tables.get("tc_seen")  # noqa: F841
    tc_bad_members = tables.get("tc_bad_members")  # noqa: F841
    tc_wanted = tables.get("tc_wanted")  # noqa: F841
    if relation:
        return con.sql(sql, params=params)
    return con.execute(sql, params)


def _keep(con: duckdb.DuckDBPyConnection, name: str, sql: str, params: object = None) -> None:
    """Run a query and keep its result, as Arrow, as the chunk's table ``name``.

    Arrow rather than a temp table: a temp table dropped inside a transaction keeps its
    memory until the transaction ends, so one per chunk would pile up over a large file;
    and DuckDB scans a temp table of fewer than 122,880 rows on one thread only.
    """
    # A relation's Arrow result is collected on every thread; execute() then fetching
    # Arrow from the connection would run the query on one.
    result = cast(duckdb.DuckDBPyRelation, _bind(con, sql, params, relation=True))
    _tables()[name] = result.to_arrow_table(_BATCH_ROWS)


def _parse(con: duckdb.DuckDBPyConnection, source: str, *, lines: bool) -> None:
    """Typed parse of every staged line, with its checks, as ``tc_ev``.

    Each value is computed once, in layers: the typed parse, then the time values, then
    the checks. Vocabulary spellings are normalised only when they are not bare already.
    The EPC lists are not kept, only how their EPCs will be read (see :func:`_epc_columns`):
    :func:`_epc_pass` and :func:`_insert` read them from the lines again.
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
    # The scan costs a tenth of the parse, so it is made only where it can find something:
    # a top-level field of the event whose typed value came out NULL (or, for the two
    # objects read as JSON, not an object).
    suspect = " OR ".join(
        f"({'' if n in _MEMBER_NAMES else 'o.'}{n} IS NULL AND list_contains(keys, '{n}'))"
        if n not in ("readPoint", "bizLocation")
        else f"(list_contains(keys, '{n}') AND json_type(o.{n}) IS DISTINCT FROM 'OBJECT')"
        for n in _SHAPED_FIELDS
    )
    # JSON Lines events that the document checks could reject are flagged for them.
    recheck = jsonl_check_condition("keys", "text") if lines else "false"
    # Blank means spaces only, as before; trim() would copy every line to find that out.
    _keep(
        con,
        "tc_ev",
        f"""
        WITH parsed AS (
            SELECT rec, line, try(json_transform(line, '{_PARSE_STRUCT}')) AS o
            FROM ({source}) WHERE NOT regexp_full_match(line, ' *')
        ), keyed AS (
            SELECT *, CASE WHEN o IS NOT NULL THEN json_keys(line) END AS keys,
                   {_typed_members()}
            FROM parsed
        ), timed AS (
            SELECT *, {_time("o.eventTime")} AS t, {_OFFSET} AS off
            FROM keyed
        ), checked AS (
            SELECT *,
                   CASE
                     WHEN o IS NULL THEN 'bad-json'
                     WHEN NOT (starts_with(line, '{{') OR regexp_matches(line, '^ +\\{{'))
                       THEN 'not-an-object'
                     WHEN o.type IS NULL OR o.type NOT IN ({types}) THEN 'bad-event-type'
                     WHEN t IS NULL OR NOT regexp_full_match(o.eventTime, '{_TIME_RE}')
                       THEN 'bad-event-time'
                     WHEN off IS NULL THEN 'bad-time-zone-offset'
                     WHEN o.type IN ('ObjectEvent', 'AggregationEvent', 'TransactionEvent')
                          AND (o.action IS NULL OR o.action NOT IN ('ADD', 'OBSERVE', 'DELETE'))
                       THEN 'bad-action'
                     WHEN o.errorDeclaration IS NOT NULL
                          AND {_time("o.errorDeclaration.declarationTime")} IS NULL
                       THEN 'bad-error-declaration'
                     WHEN ({suspect}) AND {shape} THEN 'check-shape'
                   END AS problem,
                   ({qty_present}) AS has_quantities
            FROM timed
        ), shaped AS (
        SELECT rec, o.eventID AS event_id, NULL::VARCHAR AS event_hash,
               o.type AS event_type, o.action AS action,
               {_bare_or_cbv("o.bizStep", "bizStep")} AS biz_step,
               {_bare_or_cbv("o.disposition", "disposition")} AS disposition,
               t AS event_time, o.eventTimeZoneOffset AS tz_offset,
               CAST(timezone('UTC', t) + to_minutes(off) AS DATE) AS local_date,
               {_time("o.recordTime")} AS record_time,
               o.readPoint ->> '$.id' AS read_point_raw,
               o.bizLocation ->> '$.id' AS biz_location_raw,
               o.parentID AS parent_raw,
               CASE WHEN o.ilmd IS NOT NULL THEN
                   coalesce(o.ilmd ->> '$."cbvmda:lotNumber"', o.ilmd ->> '$.lotNumber',
                            o.ilmd ->> '$."gs1ushc:lotNumber"') END AS lot,
               CASE WHEN o.ilmd IS NOT NULL THEN
                   TRY_CAST(coalesce(o.ilmd ->> '$."cbvmda:itemExpirationDate"',
                            o.ilmd ->> '$.itemExpirationDate') AS DATE) END AS expiry,
               {_time("o.errorDeclaration.declarationTime")} AS error_declared_at,
               tc_cbv(o.errorDeclaration.reason, 'errorReason') AS error_reason,
               o.errorDeclaration.correctiveEventIDs AS corrective_event_ids,
               CASE WHEN o IS NOT NULL THEN md5(json(line)::VARCHAR) END AS content_hash,
               bizTransactionList, sourceList, destinationList,
               has_quantities, problem, NULL::VARCHAR AS problem_detail, o, line AS text,
               keys,
               {_epc_columns()}
        FROM checked
        ), flagged AS (
            SELECT *, problem IS NULL AND {event_versions.extra_fields_sql("keys", "o")} AS extra,
                   problem IS NULL AND {recheck} AS recheck,
                   left(epcs[1], length(epcs[1]) - length({_serial("epcs[1]")})) AS first_prefix
            FROM shaped
        ), rested AS (
            SELECT *, replace(array_to_string(epcs, ''), first_prefix, '') AS epcs_rest
            FROM flagged
        ), fast AS (
            SELECT *,
                   CASE WHEN {_all_plain("epcs", "first_prefix", "epcs_rest")}
                        THEN first_prefix END AS epc_prefix
            FROM rested
        ), seen AS (
            SELECT * REPLACE (
                       CASE WHEN problem IS NULL AND {_invisible()}
                            THEN 'invisible-character' ELSE problem END AS problem),
                   problem IS NULL AND ({_keys_twice() if lines else "false"}) AS keys_twice
            FROM fast
        )
        SELECT * EXCLUDE (o, text, keys, epcs, first_prefix, epcs_rest, has_epcs),
               has_epcs AND epc_prefix IS NULL AS epc_general,
               CASE WHEN problem IS NOT NULL OR event_id IS NULL OR has_quantities OR extra
                         OR recheck OR keys_twice THEN text END AS line
        FROM seen
        """,
    )


#: The identifier fields of an event, as read by the typed parse; an identifier holding
#: an invisible character (see :func:`~traceability.load.identifiers.invisible_chars`)
#: rejects its event. The EPCs of an event on the fast path are plain already.
_IDENTIFIERS = (
    "o.eventID",
    "o.parentID",
    "read_point_raw",
    "biz_location_raw",
    "lot",
    "array_to_string(list_transform(bizTransactionList, x -> x.bizTransaction), ' ')",
    "array_to_string(list_transform(sourceList, x -> x.source), ' ')",
    "array_to_string(list_transform(destinationList, x -> x.destination), ' ')",
    "array_to_string(o.errorDeclaration.correctiveEventIDs, ' ')",
    "CASE WHEN epc_prefix IS NULL THEN array_to_string("
    + "flatten(["
    + ", ".join(f"coalesce(o.{n}, [])" for n in EPC_LISTS)
    + "]), ' ') END",
)


def _invisible() -> str:
    """SQL: whether an identifier of the parsed event ``o`` holds an invisible character."""
    return f"regexp_matches(concat_ws(' ', {', '.join(_IDENTIFIERS)}), '{INVISIBLE_SQL}')"


def _typed_members() -> str:
    """SQL columns: each list of typed members, typed from its JSON text."""
    return ", ".join(f"try(json_transform(o.{n}, '{t}')) AS {n}" for n, _, t in _MEMBER_LISTS)


def _keys_twice() -> str:
    """SQL: whether a JSON Lines event may give a key twice where the typed parse would
    keep one silently; such events are read again in Python (:func:`_python_pass`).

    The top-level names are known from the parse; ``readPoint`` and ``bizLocation``
    are checked as the small objects they are (``{"id":"..."}`` exactly, else a second
    look), ``ilmd`` by its names, and each list of typed members (``bizTransactionList``,
    ``sourceList``, ``destinationList``) by the length of its JSON text, which the parse
    gives minified: it is the length of its members' values plus that of their names and
    punctuation exactly when no member holds anything else (a key given twice, a field
    of another type, an escaped character), and otherwise the event has a second look.
    Events with quantities, without an eventID, with fields beyond the standard ones or
    with fields the document checks read are read in Python anyway, and every event read
    there is tested for keys given twice at any depth.
    """

    def small(field: str, raw: str) -> str:
        return f"(o.{field} IS NOT NULL AND strlen(o.{field}) <> 9 + coalesce(strlen({raw}), -99))"

    def members(name: str, member: str) -> str:
        # {"type":"T","M":"V"}: 2 braces, 9 + len(T), len("M") + 5 + len(V), 1 comma
        size = (
            "2 + CASE WHEN x.type IS NULL THEN 0 ELSE 9 + strlen(x.type) END "
            f"+ CASE WHEN x.{member} IS NULL THEN 0 "
            f"ELSE {len(member) + 5} + strlen(x.{member}) END "
            f"+ CASE WHEN x.type IS NULL OR x.{member} IS NULL THEN 0 ELSE 1 END"
        )
        return (
            f"(o.{name} IS NOT NULL AND strlen(o.{name}) <> 1 + greatest(len({name}), 1) "
            f"+ coalesce(list_sum(list_transform({name}, x -> {size})), 0))"
        )

    lists = " OR ".join(members(name, member) for name, member, _ in _MEMBER_LISTS)
    return (
        "len(keys) <> len(list_distinct(keys)) "
        f"OR {lists} "
        f"OR {small('readPoint', 'read_point_raw')} OR {small('bizLocation', 'biz_location_raw')} "
        "OR (o.ilmd IS NOT NULL AND (strpos(o.ilmd[2:], '{') > 0 "
        "OR len(json_keys(o.ilmd)) <> len(list_distinct(json_keys(o.ilmd))))) OR extra OR recheck"
    )


#: The common SGTIN spellings whose serial needs no decoding: a URN or a Digital Link URI
#: ending in a plain serial. Such an EPC is stored as the id of its prefix and its serial;
#: the GTIN is worked out once per distinct prefix (a handful per file) instead of once per
#: serial (millions). Each EPC is cut, with plain string functions, into a candidate prefix
#: and serial (after the last '.' of a URN, after the last '/' otherwise); the cut is right
#: for every EPC of these spellings, and whatever else it cuts fails FAST_PREFIX (checked
#: once per distinct prefix) or FAST_SERIAL and goes to the general parser.
FAST_PREFIX = r"urn:epc:id:sgtin:[0-9]+\.[0-9]+\.|https?://[^?#]+/01/[0-9]{8,14}/21/"
FAST_SERIAL = r"[A-Za-z0-9_.-]{1,20}"
FAST_SGTIN = f"^({FAST_PREFIX})({FAST_SERIAL})$"
_EPC_STRUCT = "{" + ", ".join(f'"{n}": "VARCHAR[]"' for n in EPC_LISTS) + "}"
_PARSE_STRUCT = _STRUCT[:-1] + ", " + _EPC_STRUCT[1:]


def _serial(x: str) -> str:
    """SQL: the candidate serial of the EPC ``x`` (after the last '.' of a URN, else '/')."""
    return (
        f"CASE WHEN starts_with({x}, 'urn:') THEN split_part({x}, '.', -1) "
        f"ELSE split_part({x}, '/', -1) END"
    )


_SERIAL = _serial("x")


def _epc_columns() -> str:
    """SQL columns of the parse ``o`` for its EPCs: ``epc_list`` and ``epcs``, the one EPC
    list of an event that has one, and ``has_epcs``, whether any list names an EPC.

    The usual event names its objects in one list, each EPC a plain serial after the same
    candidate prefix (:func:`_all_plain`). The parse marks it with that prefix
    (``epc_prefix``); once the prefix is known to be valid, its EPCs are stored straight
    from the line, with no row per EPC held in between. Any other event with EPCs
    (``epc_general``) goes the general way, a row per EPC (``tc_epc``).
    """
    one = " + ".join(f"(o.{n} IS NOT NULL)::INTEGER" for n in EPC_LISTS) + " = 1"
    the_list = "coalesce(" + ", ".join(f"o.{n}" for n in EPC_LISTS) + ")"
    name = " ".join(f"WHEN o.{n} IS NOT NULL THEN '{n}'" for n in EPC_LISTS)
    named = " OR ".join(f"len(o.{n}) > 0" for n in EPC_LISTS)
    return (
        f"CASE WHEN {one} THEN CASE {name} END END AS epc_list, "
        f"CASE WHEN {one} THEN {the_list} END AS epcs, "
        f"coalesce({named}, false) AS has_epcs"
    )


def _all_plain(epcs: str, prefix: str, rest: str) -> str:
    """SQL: whether the list ``epcs`` is not empty and each of its EPCs is ``prefix``
    followed by a plain serial, cut where the general cut (:func:`_serial`) cuts.

    ``rest`` is the EPCs run together without the prefix
    (``replace(array_to_string(epcs, ''), prefix, '')``), computed by the caller once.
    A regular expression per EPC would cost more than the rest of the parse, so the test
    is made on the whole list at once: every EPC starts with the prefix and is 1 to 20
    bytes longer, and ``rest`` holds only characters of a plain serial (no '.' after a
    URN prefix, no '/' after a Digital Link one, so the cut is at the prefix's end). A
    prefix that passes ``FAST_PREFIX`` is over 20 characters long, so no serial of 20
    holds another one, and ``rest`` is the serials run together. A prefix that does not
    pass sends its event the general way. Each pattern is a constant: a pattern chosen
    per row is compiled per row.
    """
    return f"""(len({epcs}) > 0 AND strlen({prefix}) > 0
        AND list_bool_and(list_transform({epcs}, x -> coalesce(
            starts_with(x, {prefix}) AND strlen(x) - strlen({prefix}) BETWEEN 1 AND 20, false)))
        AND NOT CASE WHEN starts_with({prefix}, 'urn:')
                     THEN regexp_matches({rest}, '[^A-Za-z0-9_-]')
                     ELSE regexp_matches({rest}, '[^A-Za-z0-9_.-]') END)"""


def _quote(column: str) -> str:
    """SQL for the text of a column in single quotes, for messages."""
    return f"coalesce('''' || replace({column}, '''', '''''') || '''', 'a value that is not text')"


#: The members of EPC lists that the general parser rejects: each is rejected on its own
#: (the event loads without it), named by its list and position.
_BAD_MEMBERS = """
SELECT rec, list, pos, raw FROM tc_odd
WHERE raw IS NULL OR raw IN (SELECT raw FROM tc_ids WHERE key IS NULL)
"""

#: Events rejected for an invalid parentID: what the event packs into or unpacks from
#: cannot be told.
_BAD_PARENTS = f"""
SELECT rec, 'parentID: ' || {_quote("parent_raw")} AS detail FROM tc_ev
JOIN tc_ids ON tc_ids.raw = tc_ev.parent_raw WHERE tc_ids.key IS NULL
"""

#: Events rejected for their identifiers: an invalid parentID, or EPCs none of which is
#: valid in an event that names no other object (no valid parent, no quantities): what it
#: is about cannot be told.
_BAD_EPCS = f"""
WITH bad AS (
    SELECT rec, arg_min(list || '[' || pos || ']: ' || {_quote("raw")},
                        list || lpad(pos::VARCHAR, 9, '0')) AS detail,
           count(*) AS n
    FROM tc_bad_members GROUP BY rec
), named AS (SELECT rec, count(*) AS n FROM tc_epc GROUP BY rec)
SELECT b.rec, b.detail FROM bad b JOIN named USING (rec) JOIN tc_ev e USING (rec)
WHERE b.n = named.n AND NOT e.has_quantities AND e.parent_raw IS NULL
UNION ALL
{_BAD_PARENTS}"""


def create_epc_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Create the SQL EPC parsers on a connection, unless it has them already."""
    try:
        con.execute("SELECT tc_epc_key(NULL)")
        return
    except duckdb.CatalogException:
        pass
    for macro in EPC_MACROS:
        con.execute(macro)


def _epc_pass(con: duckdb.DuckDBPyConnection, source: str) -> None:
    """Resolve every EPC and identifier of the staged events to its canonical key.

    Keeps ``tc_pfx`` (the distinct candidate prefixes, with the GTIN of the valid ones:
    those of the events on the fast path, see :func:`_epc_columns`, and of ``tc_epc``),
    ``tc_epc`` (one row per EPC of the other events not rejected: candidate prefix and
    serial, and whether the serial is plain), ``tc_odd`` (the EPCs for the general
    parser, as received) and ``tc_ids`` (distinct identifiers with their keys: odd EPCs,
    read points, locations, parents, parties), and marks events holding an invalid
    identifier as ``bad-epc`` with the first offending value. The EPCs of the events on
    the fast path are read again and stored by :func:`_store_fast_epcs`.
    """
    create_epc_macros(con)
    # The prefixes of the events on the fast path; prefixes stored before need no second
    # look, and the general parser runs only on new ones.
    _keep(
        con,
        "tc_pfx",
        "SELECT p, x.gtin FROM (SELECT DISTINCT epc_prefix AS p FROM tc_ev "
        "WHERE problem IS NULL AND epc_prefix IS NOT NULL) "
        "LEFT JOIN epc_prefixes x ON x.prefix = p",
    )
    _resolve_prefixes(con)
    # The other events with EPCs, and those whose prefix is not valid, a row per EPC.
    names = ", ".join(f"'{n}'" for n in EPC_LISTS)
    lists = ", ".join(f"o.{n}" for n in EPC_LISTS)
    _keep(
        con,
        "tc_epc",
        f"""
        WITH parsed AS (
            SELECT rec, try(json_transform(line, '{_EPC_STRUCT}')) AS o
            FROM ({source}) WHERE rec IN (
                SELECT rec FROM tc_ev WHERE problem IS NULL AND (epc_general OR epc_prefix IN
                    (SELECT p FROM tc_pfx WHERE gtin IS NULL)))
        ), lists AS (
            SELECT rec, generate_subscripts([{lists}], 1) AS k, unnest([{lists}]) AS l
            FROM parsed
        ), epcs AS (
            SELECT rec, [{names}][k] AS list, generate_subscripts(l, 1) - 1 AS pos,
                   unnest(l) AS x
            FROM lists WHERE l IS NOT NULL
        )
        SELECT rec, list, pos, left(x, length(x) - length(s)) AS p, s,
               regexp_full_match(s, '{FAST_SERIAL}') AS plain
        FROM (SELECT *, {_SERIAL} AS s FROM epcs)
        """,
    )
    if _tables()["tc_epc"].num_rows:
        _keep(
            con,
            "tc_pfx",
            "SELECT p, gtin FROM tc_pfx UNION ALL "
            "SELECT p, x.gtin FROM (SELECT DISTINCT p FROM tc_epc "
            "WHERE plain AND p NOT IN (SELECT p FROM tc_pfx)) "
            "LEFT JOIN epc_prefixes x ON x.prefix = p",
        )
        _resolve_prefixes(con)
    _keep(
        con,
        "tc_odd",
        "SELECT rec, list, pos, p || s AS raw FROM tc_epc "
        "WHERE p IS NULL OR NOT plain OR p NOT IN (SELECT p FROM tc_pfx WHERE gtin IS NOT NULL)",
    )
    parties = " UNION ".join(
        f"SELECT DISTINCT unnest({f}).{r} FROM tc_ev WHERE problem IS NULL"
        for f, r in (("sourceList", "source"), ("destinationList", "destination"))
    )
    _keep(
        con,
        "tc_raws",
        f"""
        SELECT raw
        FROM (SELECT raw FROM tc_odd
              UNION SELECT read_point_raw FROM tc_ev
              UNION SELECT biz_location_raw FROM tc_ev
              UNION SELECT parent_raw FROM tc_ev
              UNION {parties}) AS t(raw)
        WHERE raw IS NOT NULL
        """,
    )
    _resolve_identifiers(con)
    _keep(con, "tc_bad_members", _BAD_MEMBERS)
    # Counting each event's EPCs costs a pass over them all: only where one is invalid.
    _keep(con, "tc_bad", _BAD_EPCS if _tables()["tc_bad_members"].num_rows else _BAD_PARENTS)
    bad = _tables().pop("tc_bad")
    if bad.num_rows:
        _amend(
            con,
            bad,
            "CASE WHEN f.rec IS NULL OR e.problem IS NOT NULL THEN e.problem "
            "ELSE 'bad-epc' END AS problem",
            "CASE WHEN f.rec IS NULL OR e.problem IS NOT NULL THEN e.problem_detail "
            "ELSE f.detail END AS problem_detail",
        )


#: Identifiers resolved earlier in a load are remembered, up to this many, so that a chunk
#: naming only known read points, locations and parties runs no parser at all.
_KNOWN_IDS = 100_000


def _resolve_identifiers(con: duckdb.DuckDBPyConnection) -> None:
    """Keep ``tc_ids``: each identifier of ``tc_raws`` with its key (NULL: not valid).

    Planning the general parser costs about 0.1 s whatever the rows, so it runs only on
    identifiers neither known from an earlier chunk of the load nor read by the SSCC
    shortcut.
    """
    tables = _tables()
    known = _scope.__dict__.get("known_ids")
    tables["tc_known"] = known
    if known is None:
        _keep(con, "tc_new_ids", "SELECT raw FROM tc_raws")
    else:
        _keep(con, "tc_new_ids", "SELECT raw FROM tc_raws ANTI JOIN tc_known USING (raw)")
    if tables["tc_new_ids"].num_rows:
        _keep(con, "tc_new_ids", "SELECT raw, tc_sscc_urn_key(raw) AS key FROM tc_new_ids")
        if _count(con, "SELECT count(*) FROM tc_new_ids WHERE key IS NULL"):
            _keep(
                con,
                "tc_new_ids",
                "SELECT raw, coalesce(key, tc_epc_key(raw)) AS key FROM tc_new_ids",
            )
    else:
        _keep(con, "tc_new_ids", "SELECT raw, NULL::VARCHAR AS key FROM tc_new_ids")
    if known is None:
        _keep(con, "tc_ids", "SELECT raw, key FROM tc_new_ids")
    else:
        _keep(
            con,
            "tc_ids",
            "SELECT raw, key FROM tc_known SEMI JOIN tc_raws USING (raw) "
            "UNION ALL SELECT raw, key FROM tc_new_ids",
        )
    new = tables.pop("tc_new_ids")
    if known is not None and known.num_rows + new.num_rows <= _KNOWN_IDS:
        known = pa.concat_tables([known, new])
    else:
        known = tables["tc_ids"]
    _scope.known_ids = known if known.num_rows <= _KNOWN_IDS else None
    del tables["tc_known"], tables["tc_raws"]


def _resolve_prefixes(con: duckdb.DuckDBPyConnection) -> None:
    """Work out the GTIN of each prefix of ``tc_pfx`` without one (NULL: not valid)."""
    if _count(con, "SELECT count(*) FROM tc_pfx WHERE gtin IS NULL"):
        _keep(
            con,
            "tc_pfx",
            f"SELECT p, coalesce(gtin, CASE WHEN regexp_full_match(p, '{FAST_PREFIX}') "
            "THEN tc_epc_gtin(p || 'X') END) AS gtin FROM tc_pfx",
        )


def _rows_table(rows: Sequence[Sequence[Any]], schema: dict[str, pa.DataType]) -> pa.Table:
    """An Arrow table from Python row tuples, one column per ``schema`` entry, in order."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    return pa.table(
        {
            name: pa.array(col, type=t)
            for (name, t), col in zip(schema.items(), columns, strict=True)
        }
    )


def _amend(con: duckdb.DuckDBPyConnection, fixes: object, *columns: str) -> None:
    """Recompute some columns of ``tc_ev`` from per-event ``fixes`` (one row per ``rec``).

    Each of ``columns`` is ``expression AS name`` over ``e`` (the event) and ``f`` (its
    fix, NULL where it has none).
    """
    _tables()["tc_fix"] = fixes
    _keep(
        con,
        "tc_ev",
        f"SELECT e.* REPLACE ({', '.join(columns)}) "
        "FROM tc_ev e LEFT JOIN tc_fix f ON f.rec = e.rec ORDER BY e.rec",
    )
    del _tables()["tc_fix"]


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = _run(con, sql).fetchone()
    return int(row[0]) if row else 0


_MESSAGES = {
    "bad-json": "not valid JSON",
    "not-an-object": "not a JSON object",
    "bad-event-type": "type: not one of " + ", ".join(EVENT_TYPES),
    "bad-event-time": "eventTime: missing, or not a date-time with an offset "
    "(2026-03-31T23:30:00-05:00)",
    "bad-time-zone-offset": "eventTimeZoneOffset: missing, or not written +HH:MM / -HH:MM",
    "bad-action": "action: missing, or not one of ADD, OBSERVE, DELETE",
    "bad-epc": "an EPC is not a valid GS1 identifier (check digit, length or form)",
    "bad-error-declaration": "errorDeclaration.declarationTime: not a date-time",
    "bad-quantity": "a quantity is not a non-negative number",
    "unknown-unit": "a uom is not a known UN/ECE Recommendation 20 unit",
    "bad-epc-class": "an epcClass is not a valid GS1 class identifier",
    "bad-shape": "a field does not have the shape EPCIS gives it",
    "invisible-character": "an identifier holds a character that does not show (a control "
    "character, a zero-width space or joiner, or a bidirectional mark)",
}


class _Rejected(ValueError):
    """The event is rejected: ``str()`` is the reject code, ``message`` says why."""

    def __init__(self, code: str, message: str | None = None) -> None:
        super().__init__(code)
        self.message = message


def _exact(quantity: Any, where: str) -> Decimal | None:
    """A quantity as the exact decimal written, if the store holds it exactly.

    Raises:
        _Rejected: not a non-negative number (``bad-quantity``), or a number the store
            cannot hold without rounding (:mod:`traceability.load.decimals`).
    """
    if quantity is None:
        return None
    if isinstance(quantity, bool) or not isinstance(quantity, int | Decimal | BigNumber):
        raise _Rejected("bad-quantity")
    text = number_text(quantity)
    try:
        value = exact_quantity(text)
    except ValueError:  # NaN or Infinity
        raise _Rejected("bad-quantity") from None
    if isinstance(value, Inexact):
        raise _Rejected(value.code, f"{where}: {_shown(text)} {value.reason}")
    if value < 0:
        raise _Rejected("bad-quantity")
    return value


@dataclass
class _Quantities:
    """What the quantity lists of one event give: a row per element to store, the notes
    (units mapped or kept as given), and the elements rejected on their own."""

    rows: list[tuple[str, str, str, str | None, str | None, Decimal | None, str | None]]
    notes: list[tuple[str, str, str]]  # (field, code, message)
    rejects: list[tuple[str, str, str]]  # (field, code, message)


def _quantity_rows(event: Mapping[str, Any]) -> _Quantities:
    """(list, class raw, class key, gtin, lot, quantity, uom) for each quantity element.

    An element whose epcClass is not a valid GS1 class identifier is rejected on its own
    (the event loads without it); a quantity that is not a non-negative number rejects
    the event (how much it is about cannot be told), and so does an event left naming
    nothing valid at all. A unit is mapped to its UN/ECE Rec 20 code where its meaning is
    clear (``KG``, ``LB``), else kept as given; either way with a note.

    Raises:
        _Rejected: the event is rejected.
    """
    out = _Quantities([], [], [])
    elements = 0
    for name in QUANTITY_LISTS:
        for i, element in enumerate(event.get(name) or []):
            elements += 1
            where = f"{name}[{i}]"
            raw = element.get("epcClass") if isinstance(element, Mapping) else None
            hidden = invisible_chars(raw) if isinstance(raw, str) else []
            if hidden:
                raise _Rejected(
                    "invisible-character",
                    f"{where}.epcClass: {_shown(raw)} holds {', '.join(hidden)}, which does "
                    "not show: it would match or miss another identifier that looks the same",
                )
            epc = parse_epc(raw) if isinstance(raw, str) else None
            if epc is None or not isinstance(raw, str) or not isinstance(element, Mapping):
                shown = _shown(raw if isinstance(raw, str) else element)
                out.rejects.append(
                    (
                        f"{where}.epcClass",
                        "bad-epc-class",
                        f"{where}.epcClass: {shown} is not a valid GS1 class identifier; "
                        "the event loads without this element",
                    )
                )
                continue
            quantity = _exact(element.get("quantity"), f"{where}.quantity")
            uom_raw = element.get("uom")
            uom: str | None = None
            if isinstance(uom_raw, str):
                uom, how = event_uom(uom_raw)
                if how == "unit-synonym":
                    out.notes.append(
                        (
                            f"{where}.uom",
                            how,
                            f"{where}.uom: {uom_raw!r} read as the UN/ECE Rec 20 unit {uom}",
                        )
                    )
                elif how == "unknown-unit":
                    out.notes.append(
                        (
                            f"{where}.uom",
                            how,
                            f"{where}.uom: {uom_raw!r} is not a unit tracecheck knows; the "
                            "quantity is kept in it as given, and no rule converts it",
                        )
                    )
            elif uom_raw is not None:
                raise _Rejected("bad-shape")
            if quantity is not None and uom is None:
                uom = "H87"
            out.rows.append((name, raw, epc.key, epc.gtin, epc.lot, quantity, uom))
    if elements and not out.rows and not event.get("parentID"):
        if not any(event.get(n) for n in EPC_LISTS):
            raise _Rejected("bad-epc-class")
    return out


def _identifiers(event: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(field, value) of each identifier of an event (see ``_IDENTIFIERS``)."""
    yield "eventID", event.get("eventID")
    yield "parentID", event.get("parentID")
    for name in ("readPoint", "bizLocation"):
        value = event.get(name)
        if isinstance(value, Mapping):
            yield f"{name}.id", value.get("id")
    ilmd = event.get("ilmd")
    if isinstance(ilmd, Mapping):
        for name in ("cbvmda:lotNumber", "lotNumber", "gs1ushc:lotNumber"):
            yield f"ilmd.{name}", ilmd.get(name)
    for name, member in (
        ("bizTransactionList", "bizTransaction"),
        ("sourceList", "source"),
        ("destinationList", "destination"),
    ):
        values = event.get(name)
        for i, value in enumerate(values if isinstance(values, list) else []):
            if isinstance(value, Mapping):
                yield f"{name}[{i}].{member}", value.get(member)
    declaration = event.get("errorDeclaration")
    if isinstance(declaration, Mapping):
        ids = declaration.get("correctiveEventIDs")
        for i, value in enumerate(ids if isinstance(ids, list) else []):
            yield f"errorDeclaration.correctiveEventIDs[{i}]", value
    for name in EPC_LISTS:
        values = event.get(name)
        for i, value in enumerate(values if isinstance(values, list) else []):
            yield f"{name}[{i}]", value


def _invisible_message(event: Any) -> str:
    """Why an event is rejected for an invisible character: the field and the character."""
    if isinstance(event, Mapping):
        for where, value in _identifiers(event):
            hidden = invisible_chars(value) if isinstance(value, str) else []
            if hidden:
                return (
                    f"{where}: {_shown(value)} holds {', '.join(hidden)}, which does not "
                    "show: it would match or miss another identifier that looks the same"
                )
    return _MESSAGES["invisible-character"]


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return repr(text[:200])


@dataclass
class _PythonPass:
    """What the Python pass over a chunk found: the events it rejects (rec, code, message;
    an empty code clears a suspicion), the quantity rows, and per-field notes and rejects
    of events that load (rec, field, code, message)."""

    problems: list[tuple[int, str, str | None]]
    quantities: list[tuple[Any, ...]]
    notes: list[tuple[int, str, str, str]]
    rejects: list[tuple[int, str, str, str]]


def _python_pass(con: duckdb.DuckDBPyConnection, context: Any) -> _PythonPass:
    """Hash events without an eventID, read exact quantities, find the keys given twice
    and name the identifier that holds an invisible character."""
    rows = _run(
        con,
        "SELECT rec, line, problem, event_id IS NULL, has_quantities FROM tc_ev "
        "WHERE problem IN ('check-shape', 'invisible-character') "
        "OR (problem IS NULL AND (event_id IS NULL OR has_quantities OR keys_twice)) "
        "ORDER BY rec",
    ).fetchall()
    problems: list[tuple[int, str, str | None]] = []
    quantities: list[tuple[Any, ...]] = []
    notes: list[tuple[int, str, str, str]] = []
    rejects: list[tuple[int, str, str, str]] = []
    hashes: list[tuple[int, str]] = []
    for rec, line, problem, needs_hash, has_quantities in rows:
        doc: Any = None
        try:
            doc = load_json(line)
        except ValueError:
            pass
        except RecursionError:
            if problem is None and not needs_hash and not has_quantities:
                continue  # here only for keys given twice: DuckDB reads it at any depth
            raise  # the load is refused, saying that the JSON is nested too deeply
        if problem == "invisible-character":
            problems.append((rec, problem, _invisible_message(doc)))
            continue
        if problem is None and isinstance(doc, Mapping):  # every event read here
            twice, same = repeated_key_issues(doc)
            if twice:
                problems.append((rec, twice[0].code, twice[0].message))
                continue
            notes += [(rec, w.field or "", w.code, w.message) for w in same]
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
                found = _quantity_rows(doc)
            except _Rejected as exc:
                problems.append((rec, str(exc), exc.message))
                continue
            for name, raw, key, gtin, lot, quantity, uom in found.rows:
                text = None if quantity is None else format(quantity, "f")
                quantities.append((rec, name, raw, key, gtin, lot, text, uom))
            notes += [(rec, *n) for n in found.notes]
            rejects += [(rec, *r) for r in found.rejects]
        if needs_hash:
            event_context = doc.get("@context", context)
            try:
                hashes.append((rec, event_hash(doc, event_context)))
            except Exception as exc:  # noqa: BLE001 - a malformed event must not stop the load
                problems.append((rec, "bad-event", f"cannot compute the event hash: {exc}"))
    if hashes:
        frame = _rows_table(hashes, {"rec": pa.int64(), "h": pa.string()})
        _amend(con, frame, "coalesce(f.h, e.event_hash) AS event_hash")
    return _PythonPass(problems, quantities, notes, rejects)


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
    chunks: Iterable[tuple[int, Sequence[str]]]
    recorder = None
    if document or looks_like_xml(path):
        doc = read_document(path)
        context = doc.context
        recorder = Recorder(load_id, source)
        chunks = recorder.chunks(doc, dump_event, CHUNK_BYTES)
    else:
        chunks = jsonl_chunks(path)
    _scope.known_ids = _scope.key_hashes = None
    try:
        total = _load_chunks(con, chunks, context, load_id, source, lines=recorder is None)
    finally:
        _scope.known_ids = _scope.key_hashes = None
    if recorder is not None:
        rejected = recorder.finish(con)
        total = replace(total, records=total.records + rejected, rejected=total.rejected + rejected)
    return total


def _load_chunks(
    con: duckdb.DuckDBPyConnection,
    chunks: Iterable[tuple[int, Sequence[str]]],
    context: Any,
    load_id: int,
    source: str,
    *,
    lines: bool,
) -> EventOutcome:
    """Load every chunk; ``lines``: the chunks are the lines of a JSON Lines file."""
    total = EventOutcome(0, 0, 0, 0, 0)
    for first, texts in chunks:
        chunk = texts if isinstance(texts, Chunk) else Chunk(first, list(texts))
        out, repeats = _load_chunk(con, _stage(chunk), context, load_id, source, lines=lines)
        conflicts = 0
        if repeats:
            conflicts = event_versions.after_chunk(con, load_id, source, chunk.first, len(chunk))
        out = replace(out, conflicts=out.conflicts + conflicts)
        total = EventOutcome(*(a + b for a, b in zip(astuple(total), astuple(out), strict=True)))
        progress.advance(total.records, chunk.end_byte)
    return total


def _load_chunk(
    con: duckdb.DuckDBPyConnection,
    staged: str,
    context: Any,
    load_id: int,
    source: str,
    *,
    lines: bool = False,
) -> tuple[EventOutcome, bool]:
    """Check and store one staged chunk: its counts, and whether a key in it may have been
    stored before or twice (its versions then need sorting)."""
    _parse(con, staged, lines=lines)
    found_in_python = _python_pass(con, context)
    problems, quantities = found_in_python.problems, found_in_python.quantities
    if lines:  # JSON Lines: the checks a document's events get (see jsonl_check_condition)
        found, notes = check_lines(
            _run(con, "SELECT rec, line FROM tc_ev WHERE recheck ORDER BY rec").fetchall()
        )
        taken = {rec for rec, code, _ in problems if code}
        problems += [p for p in found if p[0] not in taken]
        write_notes(con, load_id, source, notes)
    if problems:
        fixes = {rec: p for rec, p, _ in problems}  # the last word on each event counts
        _amend(
            con,
            pa.table(
                {
                    "rec": pa.array(list(fixes), pa.int64()),
                    "p": pa.array(list(fixes.values()), pa.string()),
                }
            ),
            "CASE WHEN f.rec IS NULL THEN e.problem ELSE NULLIF(f.p, '') END AS problem",
        )
    _epc_pass(con, staged)
    bad = _store_rejects(con, load_id, source, {r: m for r, _, m in problems if m})
    append_rows(con, "rejects", _member_rejects(con, load_id, source, found_in_python.rejects))
    rejected: set[int] = set()
    if bad and found_in_python.notes:
        noted = sorted({n[0] for n in found_in_python.notes})
        rejected = {
            r[0]
            for r in _run(
                con,
                "SELECT rec FROM tc_ev WHERE problem IS NOT NULL AND list_contains(?, rec)",
                [noted],
            ).fetchall()
        }
    where = "line" if lines else "event"
    write_notes(
        con,
        load_id,
        source,
        [
            Note("warning", code, message, rec, f"{where} {rec} {field}")
            for rec, field, code, message in found_in_python.notes
            if rec not in rejected
        ],
    )
    return _insert(con, load_id, source, quantities, rejected=bad)


def _store_rejects(
    con: duckdb.DuckDBPyConnection, load_id: int, source: str, detail: dict[int, str]
) -> int:
    """Store the chunk's rejected events in ``rejects`` in one statement; their number.

    Set-based, so that a file of rejected events costs no Python object per event
    (``detail``: the messages of the problems found in Python, by record).
    """
    tc_ev = _tables()["tc_ev"]  # noqa: F841 - read by the SQL
    tc_detail = pa.table(  # noqa: F841
        {"rec": pa.array(list(detail), pa.int64()), "m": pa.array(list(detail.values()))}
    )
    tc_messages = pa.table({"code": list(_MESSAGES), "m": list(_MESSAGES.values())})  # noqa: F841
    row = con.execute(
        """
        INSERT INTO rejects
        SELECT ?, ?, e.rec, NULL, e.problem,
               CASE WHEN e.problem = 'bad-epc' AND coalesce(e.problem_detail, '') <> ''
                    THEN e.problem_detail
                         || ' is not a valid GS1 identifier (check digit, length or form)'
                    ELSE coalesce(nullif(d.m, ''), t.m, e.problem) END,
               nullif(left(coalesce(e.line, ''), 2000), '')
        FROM tc_ev e LEFT JOIN tc_detail d USING (rec) LEFT JOIN tc_messages t
            ON t.code = e.problem
        WHERE e.problem IS NOT NULL
        ORDER BY e.rec
        """,
        [load_id, source],
    ).fetchone()
    return int(row[0]) if row else 0


def _member_rejects(
    con: duckdb.DuckDBPyConnection,
    load_id: int,
    source: str,
    elements: list[tuple[int, str, str, str]],
) -> list[tuple[Any, ...]]:
    """Reject rows for the list members rejected on their own (invalid EPCs, quantity
    elements with an invalid class) of the events that load, each with its event's text
    so that a finding about the event's other subjects can name it."""
    members = _run(
        con,
        "SELECT m.rec, m.list || '[' || m.pos || ']' AS field, m.raw FROM tc_bad_members m "
        "JOIN tc_ev e USING (rec) WHERE e.problem IS NULL ORDER BY m.rec, m.list, m.pos",
    ).fetchall()
    rows = [
        (
            rec,
            field,
            "bad-epc",
            f"{field}: {_shown(raw)} is not a valid GS1 identifier (check "
            "digit, length or form); the event loads without it",
        )
        for rec, field, raw in members
    ]
    if elements:
        rejected = {
            r[0] for r in _run(con, "SELECT rec FROM tc_ev WHERE problem IS NOT NULL").fetchall()
        }
        rows += [element for element in elements if element[0] not in rejected]
    if not rows:
        return []
    wanted = sorted({r[0] for r in rows})
    _tables()["tc_wanted"] = pa.table({"rec": pa.array(wanted, pa.int64())})
    texts = dict(
        _run(con, "SELECT rec, line FROM tc_lines SEMI JOIN tc_wanted USING (rec)").fetchall()
    )
    del _tables()["tc_wanted"]
    return [
        (load_id, source, rec, field, code, message, (texts.get(rec) or "")[:2000] or None)
        for rec, field, code, message in rows
    ]


def _bare_or_cbv(column: str, vocabulary: str) -> str:
    """SQL: ``tc_cbv(column, vocabulary)``, skipped for a value that is a bare CBV term
    already (a regular expression per row costs more than looking the value up)."""
    terms = ", ".join(f"'{t}'" for t in sorted(CBV_TERMS[vocabulary]))
    return (
        f"CASE WHEN {column} IN ({terms}) THEN {column} ELSE tc_cbv({column}, '{vocabulary}') END"
    )


def _store_fast_epcs(con: duckdb.DuckDBPyConnection, load_id: int) -> None:
    """Store the EPCs of the events on the fast path (see :func:`_epc_columns`), read from
    each event's line and stored as they are unnested.

    One statement per list that the chunk uses, each parsing only that list: a list
    picked out of the four with coalesce() would be copied first.
    """
    _keep(
        con,
        "tc_fast",
        "SELECT e.rec, e.epc_list, x.prefix_id, length(e.epc_prefix) AS plen "
        "FROM tc_ev e JOIN epc_prefixes x ON x.prefix = e.epc_prefix "
        "WHERE e.problem IS NULL AND NOT EXISTS (SELECT 1 FROM tc_skip s WHERE s.rec = e.rec)",
    )
    present = {r[0] for r in _run(con, "SELECT DISTINCT epc_list FROM tc_fast").fetchall()}
    for name in (n for n in EPC_LISTS if n in present):
        _run(
            con,
            f"""
            INSERT INTO epc_rows
            SELECT CAST($load AS BIGINT) * 10000000000 + rec, '{name}', prefix_id,
                   substr(x, plen + 1), NULL, NULL
            FROM (
                SELECT f.rec, f.prefix_id, f.plen,
                       unnest(json_transform(l.line, '{{"{name}": "VARCHAR[]"}}')."{name}") AS x
                FROM tc_lines l JOIN tc_fast f ON f.rec = l.rec WHERE f.epc_list = '{name}'
            )
            """,
            {"load": load_id},
        )
    del _tables()["tc_fast"]


def _key_hash(key: str) -> str:
    """SQL: a 63-bit hash of an event key, as a BIGINT (DuckDB turns a filter on an Arrow
    column into a Python int, which a UBIGINT above 2**63 overflows)."""
    return f"(hash({key}) >> 1)::BIGINT"


def _repeated_keys(con: duckdb.DuckDBPyConnection) -> bool:
    """Keep ``tc_seen``, the events of the chunk whose key may have been stored before,
    and return whether any key may be stored twice (so versions need sorting).

    The load holds a 63-bit hash of every key stored (read from the store when the file
    starts, then added to chunk by chunk). Looking each chunk's keys up among the hashes
    reads 8 bytes per stored event, where joining with the stored events read their
    keys and content hashes: a cost that grew with the square of the file. A hash in
    common is only a candidate; the stored events are then read for those few.
    """
    tables = _tables()
    _keep(
        con,
        "tc_keys",
        f"SELECT rec, {_key_hash('coalesce(event_id, event_hash)')} AS h "
        "FROM tc_ev WHERE problem IS NULL",
    )
    keys = tables["tc_keys"]
    known = _scope.__dict__.get("key_hashes")
    if known is None:
        _keep(con, "tc_known_keys", f"SELECT {_key_hash('event_key')} AS h FROM events")
        known = tables["tc_known_keys"]
    tables["tc_known_keys"] = known
    _keep(con, "tc_seen", "SELECT rec FROM tc_keys SEMI JOIN tc_known_keys USING (h)")
    twice = _count(con, "SELECT count(*) - count(DISTINCT h) FROM tc_keys")
    _scope.key_hashes = pa.concat_tables([known, keys.select(["h"])])
    del tables["tc_known_keys"], tables["tc_keys"]
    return bool(tables["tc_seen"].num_rows or twice)


def _insert(
    con: duckdb.DuckDBPyConnection,
    load_id: int,
    source: str,
    quantities: list[tuple[Any, ...]],
    *,
    rejected: int,
) -> tuple[EventOutcome, bool]:
    repeats = _repeated_keys(con)
    # Events whose key was stored before: only they are looked for among the stored events.
    stored = """
        UNION ALL
        SELECT e.rec FROM tc_ev e JOIN events x
            ON x.event_key = coalesce(e.event_id, e.event_hash) AND x.content_hash = e.content_hash
        WHERE e.problem IS NULL AND e.rec IN (SELECT rec FROM tc_seen)"""
    # What not to store: rejected events, events stored before with the same content, and
    # later copies of an event within this file. Usually a handful of rows.
    _keep(
        con,
        "tc_skip",
        f"""
        SELECT rec FROM tc_ev WHERE problem IS NOT NULL
        {stored if _tables()["tc_seen"].num_rows else ""}
        UNION ALL
        SELECT rec FROM (
            SELECT rec, row_number() OVER (PARTITION BY k, content_hash ORDER BY rec) AS n
            FROM (SELECT rec, coalesce(event_id, event_hash) AS k, content_hash FROM tc_ev
                  WHERE problem IS NULL) t
            WHERE k IN (SELECT coalesce(event_id, event_hash) FROM tc_ev WHERE problem IS NULL
                        GROUP BY 1 HAVING count(*) > 1)
        ) WHERE n > 1
        """,
    )
    # The events to store, as a subquery (a view would be one more catalog entry per chunk).
    tc_new = (
        "(SELECT *, coalesce(event_id, event_hash) AS event_key, "
        f"CAST({int(load_id)} AS BIGINT) * 10000000000 + rec AS event_row "
        "FROM tc_ev e WHERE NOT EXISTS (SELECT 1 FROM tc_skip s WHERE s.rec = e.rec)) AS tc_new"
    )
    total = _count(con, "SELECT count(*) FROM tc_ev WHERE problem IS NULL")
    _run(
        con,
        f"""
        INSERT INTO events
        SELECT event_row, event_key, event_id, event_hash, event_type, action, biz_step,
               disposition,
               event_time, tz_offset, local_date, record_time,
               coalesce(rp.key, read_point_raw), coalesce(bl.key, biz_location_raw),
               parent_raw, pa.key, lot, expiry, error_declared_at, error_reason,
               corrective_event_ids, content_hash, ?, ?, rec
        FROM {tc_new}
        LEFT JOIN tc_ids rp ON rp.raw = read_point_raw
        LEFT JOIN tc_ids bl ON bl.raw = biz_location_raw
        LEFT JOIN tc_ids pa ON pa.raw = parent_raw
        """,
        [load_id, source],
    )
    _run(con, f"INSERT INTO event_payloads SELECT event_row, line FROM {tc_new} WHERE extra")
    _run(
        con,
        "INSERT INTO epc_prefixes SELECT nextval('epc_prefix_ids'), p, gtin FROM tc_pfx "
        "WHERE gtin IS NOT NULL AND p NOT IN (SELECT prefix FROM epc_prefixes)",
    )
    _store_fast_epcs(con, load_id)
    _run(
        con,
        """
        INSERT INTO epc_rows
        SELECT CAST(? AS BIGINT) * 10000000000 + e.rec, e.list, x.prefix_id, e.s, NULL, NULL
        FROM tc_epc e JOIN epc_prefixes x ON x.prefix = e.p
        WHERE e.plain AND NOT EXISTS (SELECT 1 FROM tc_skip s WHERE s.rec = e.rec)
        """,
        [load_id],
    )
    _run(
        con,
        """
        INSERT INTO epc_rows
        SELECT CAST(? AS BIGINT) * 10000000000 + e.rec, e.list, NULL, NULL, e.raw, i.key
        FROM tc_odd e JOIN tc_ids i ON i.raw = e.raw
        WHERE i.key IS NOT NULL AND NOT EXISTS (SELECT 1 FROM tc_skip s WHERE s.rec = e.rec)
        """,
        [load_id],
    )
    _run(
        con,
        f"""
        INSERT INTO event_biz_transactions
        SELECT event_row, {_bare_or_cbv("b.type", "bizTransactionType")}, b.bizTransaction,
               coalesce(NULLIF(regexp_extract(b.bizTransaction,
                        '^urn:epcglobal:cbv:bt:[^:]*:(.+)$', 1), ''), b.bizTransaction)
        FROM (SELECT event_row, unnest(bizTransactionList) AS b
              FROM {tc_new} WHERE bizTransactionList IS NOT NULL)
        WHERE b.bizTransaction IS NOT NULL
        """,
    )
    parties = " UNION ALL ".join(
        f"SELECT event_row, '{role}' AS role, p.type AS type, p.{role} AS value "
        f"FROM (SELECT event_row, unnest({role}List) AS p FROM {tc_new} "
        f"WHERE {role}List IS NOT NULL)"
        for role in ("source", "destination")
    )
    _run(
        con,
        f"""
        INSERT INTO event_parties
        SELECT event_row, role, {_bare_or_cbv("p.type", "sourceDestinationType")}, p.value,
               coalesce(i.key, p.value), i.gln
        FROM ({parties}) p
        LEFT JOIN (
            SELECT raw, key, NULLIF(regexp_extract(key, '/41[47]/([0-9]{{13}})', 1), '') AS gln
            FROM tc_ids
        ) i ON i.raw = p.value
        WHERE p.value IS NOT NULL
        """,
    )
    if quantities:
        text = pa.string()
        _tables()["tc_qty"] = _rows_table(
            quantities,
            {
                "rec": pa.int64(),
                "list": text,
                "raw": text,
                "key": text,
                "gtin": text,
                "lot": text,
                "quantity": text,
                "uom": text,
            },
        )
        _run(
            con,
            f"""
            INSERT INTO event_quantities
            SELECT tc_new.event_row, q.list, q.raw, q.key, q.gtin, q.lot,
                   CAST(q.quantity AS DECIMAL(38,12)), q.uom
            FROM tc_qty q JOIN {tc_new} USING (rec)
            """,
        )
    new = _count(con, f"SELECT count(*) FROM {tc_new}")
    # Events stored before under the same key with other content are sorted (conflict,
    # correction, same event written differently) once the chunk is stored:
    # event_versions.after_chunk, called by _load_chunks.
    records_row = _run(con, "SELECT count(*) FROM tc_ev").fetchone()
    _tables().clear()
    outcome = EventOutcome(
        records=int(records_row[0]) if records_row else 0,
        accepted=new,
        duplicates=total - new,
        conflicts=0,
        rejected=rejected,
    )
    return outcome, repeats
