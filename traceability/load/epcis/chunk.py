"""The object a chunk of events travels in, from stage to stage, and the load it is part of.

A :class:`Chunk` holds a chunk's staged lines and every table a stage derives from them
(``tc_ev``, ``tc_epc``, ``tc_ids``, ...), by name, as Arrow; each stage takes the chunk,
adds or replaces tables, and hands it on. The SQL of a stage names those tables, and
:meth:`Chunk.sql` puts them in the query's scope. The caches that outlive a chunk (the
identifiers resolved so far, the hashes of the event keys stored) live on the
:class:`LoadState` that every chunk of a file shares.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast, overload

import duckdb
import pyarrow as pa

from traceability.load.progress import Listener

#: Lines per Arrow record batch of a staged chunk. DuckDB scans the batches of an Arrow
#: table on all its threads, whereas it scans a table of fewer than 122,880 rows (a row
#: group) on one; so the per-line and per-EPC work reads the staged lines, not a temp table.
BATCH_LINES = 2048
#: Rows per Arrow record batch of the intermediate results of a chunk.
BATCH_ROWS = 16384

_LINES_SCHEMA = pa.schema([("rec", pa.int64()), ("line", pa.large_string())])
_NOT_GTIN = pa.schema([("p", pa.string())])


class Lines(Sequence[str]):
    """The lines of one chunk of events: the number of its first record and its lines.

    ``table`` has the columns (rec, line) in record batches of ``BATCH_LINES``; the
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
            table.to_batches(max_chunksize=BATCH_LINES), schema=_LINES_SCHEMA
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


@dataclass
class KnownIds:
    """Identifiers resolved earlier in a load, with their keys, shared by all its files.

    A key depends on the identifier's text alone, so what one file resolved holds for the
    next: a folder of small files naming the same read points, locations and parties
    runs the general parser (about 0.1 s to plan, whatever the rows) once, not per file.
    """

    #: At most this many resolved identifiers (and as many prefixes) are remembered.
    limit: int = 100_000
    #: (raw, key) of the identifiers resolved so far, or None.
    ids: pa.Table | None = None
    #: (p) of the EPC prefixes found to hold no GTIN (GIAI, GSRN, ...): those with one are
    #: in the store's ``epc_prefixes``, so between them no prefix is parsed twice.
    not_gtin: pa.Table = field(default_factory=_NOT_GTIN.empty_table)

    def add_not_gtin(self, prefixes: pa.Table) -> None:
        """Remember prefixes (p) found to hold no GTIN, forgetting all past ``limit``."""
        if not prefixes.num_rows:
            return
        table = pa.concat_tables([self.not_gtin, prefixes.select(["p"]).cast(_NOT_GTIN)])
        self.not_gtin = table if table.num_rows <= self.limit else _NOT_GTIN.empty_table()


@dataclass
class LoadState:
    """What the chunks of one file share: where their rows go, how they were read, who
    hears of progress, and the caches that save work on later chunks."""

    load_id: int
    source: str
    #: True: the chunks are the lines of a JSON Lines file (numbered by line); False: the
    #: events of a document (numbered by position), checked when the document was read.
    lines: bool
    #: The document's ``@context``, for the event hash (None for JSON Lines).
    context: Any = None
    #: Hears ``(records, bytes_done)`` after each chunk is stored.
    listener: Listener | None = None
    #: Identifiers resolved by earlier chunks, and earlier files of the load.
    known: KnownIds = field(default_factory=KnownIds)
    #: 63-bit hashes of every event key stored (h), or None before the first chunk.
    key_hashes: pa.Table | None = None


@dataclass
class Found:
    """What the stages found in Python about a chunk's events, for the write stage.

    ``problems``: (rec, code, message) of the events rejected (an empty code clears a
    suspicion); ``quantities``: a row per quantity element to store; ``notes`` and
    ``member_rejects``: (rec, field, code, message) of events that load.
    """

    problems: list[tuple[int, str, str | None]] = field(default_factory=list)
    quantities: list[tuple[Any, ...]] = field(default_factory=list)
    notes: list[tuple[int, str, str, str]] = field(default_factory=list)
    member_rejects: list[tuple[int, str, str, str]] = field(default_factory=list)


#: Each query runs as this code, in a namespace holding the chunk's tables by name.
#: DuckDB finds a table that a query names among the variables of the Python code running
#: it (a replacement scan) and reads its record batches on every thread. Registering the
#: tables (``con.register``) would put a view in the catalog, which, inside the load's one
#: transaction, holds on to every chunk's tables until the end (measured: eight 80 MB
#: tables registered and unregistered in one transaction peaked at 731 MiB, read this
#: way at 263 MiB).
_EXECUTE = compile("result = con.execute(sql, params)", "<chunk query>", "exec")
#: A relation's Arrow result is collected on every thread; execute() then fetching Arrow
#: from the connection would run the query on one.
_COLLECT = compile(
    "result = con.sql(sql, params=params).to_arrow_table(batch)", "<chunk query>", "exec"
)


class Chunk:
    """One chunk of events on its way through the stages, with its named tables.

    ``tables`` starts with ``tc_lines`` (rec, line), the staged lines; the stages add the
    rest. Arrow rather than temp tables: a temp table dropped inside a transaction keeps
    its memory until the transaction ends, so one per chunk would pile up over a large
    file; and DuckDB scans a temp table of fewer than 122,880 rows on one thread only.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, lines: Lines, load: LoadState) -> None:
        self.con = con
        self.lines = lines
        self.load = load
        self.tables: dict[str, pa.Table] = {"tc_lines": lines.table}
        self.found = Found()
        #: Events rejected and stored in ``rejects`` by the write stage.
        self.rejected = 0

    #: SQL reading the staged lines as (rec, line).
    LINES = "SELECT rec, line FROM tc_lines"

    def _run(self, code: Any, sql: str, params: object, **extra: Any) -> Any:
        scope: dict[str, Any] = {**self.tables, "con": self.con, "sql": sql, "params": params}
        scope.update(extra)
        exec(code, scope)  # noqa: S102 - a constant statement; see _EXECUTE
        return scope["result"]

    def sql(self, sql: str, params: object = None) -> duckdb.DuckDBPyConnection:
        """Execute ``sql`` with the chunk's tables in scope."""
        return cast(duckdb.DuckDBPyConnection, self._run(_EXECUTE, sql, params))

    def keep(self, name: str, sql: str, params: object = None) -> pa.Table:
        """Run a query and keep its result, as Arrow, as the chunk's table ``name``."""
        table = cast(pa.Table, self._run(_COLLECT, sql, params, batch=BATCH_ROWS))
        self.tables[name] = table
        return table

    def count(self, sql: str) -> int:
        """The number a ``SELECT count(*) ...`` query gives."""
        row = self.sql(sql).fetchone()
        return int(row[0]) if row else 0

    def rows(self, name: str) -> int:
        """The number of rows of the chunk's table ``name``."""
        return int(self.tables[name].num_rows)

    def put(self, name: str, table: pa.Table) -> None:
        """Add a table made in Python to the chunk's tables."""
        self.tables[name] = table

    def drop(self, *names: str) -> None:
        """Forget tables no later step reads."""
        for name in names:
            del self.tables[name]

    def amend(self, fixes: pa.Table, *columns: str) -> None:
        """Recompute some columns of ``tc_ev`` from per-event ``fixes`` (one row per ``rec``).

        Each of ``columns`` is ``expression AS name`` over ``e`` (the event) and ``f`` (its
        fix, NULL where it has none).
        """
        self.put("tc_fix", fixes)
        self.keep(
            "tc_ev",
            f"SELECT e.* REPLACE ({', '.join(columns)}) "
            "FROM tc_ev e LEFT JOIN tc_fix f ON f.rec = e.rec ORDER BY e.rec",
        )
        self.drop("tc_fix")


def rows_table(rows: Sequence[Sequence[Any]], schema: Mapping[str, pa.DataType]) -> pa.Table:
    """An Arrow table from Python row tuples, one column per ``schema`` entry, in order."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    return pa.table(
        {
            name: pa.array(col, type=t)
            for (name, t), col in zip(schema.items(), columns, strict=True)
        }
    )
