"""EPCIS 2.0 events (JSON Lines, and JSON / JSON-LD / XML documents) into the event tables.

The events of a file are loaded a chunk at a time, each chunk passing through the stages
in turn, as a :class:`~traceability.load.epcis.chunk.Chunk` carrying its tables:

1. read (:mod:`~traceability.load.epcis.jsonl`): JSON Lines cut into chunks on a
   background thread, or a document's events as JSON text;
2. check (:mod:`~traceability.load.epcis.stage_check`): a typed parse of every line in
   SQL with its checks and normalised columns (:mod:`~traceability.load.epcis.normalise`),
   then a second look in Python at the few events that need it
   (:mod:`~traceability.load.epcis.second_look`);
3. identify (:mod:`~traceability.load.epcis.identify`): every EPC and identifier to its
   key, the common SGTIN spellings by a fast path;
4. write (:mod:`~traceability.load.epcis.rejects`, :mod:`~traceability.load.epcis.write`):
   rejects and notes, then events, EPCs, parties, transactions and quantities.

The bulk work runs in DuckDB, set-based; Python touches only the events that need it.
The stages overlap: the next chunk is read on one thread and the one after the current is
checked on another, while the current chunk is identified and written.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import astuple, replace
from pathlib import Path
from typing import Any

import duckdb

from traceability.load.epcis import versions as event_versions
from traceability.load.epcis.check_record import Recorder
from traceability.load.epcis.chunk import Chunk, KnownIds, Lines, LoadState
from traceability.load.epcis.identify import identify
from traceability.load.epcis.jsonl import dump_event, jsonl_chunks
from traceability.load.epcis.read_documents import read_document
from traceability.load.epcis.read_xml import looks_like_xml
from traceability.load.epcis.second_look import look
from traceability.load.epcis.stage_check import check
from traceability.load.epcis.terms import CBV_MACRO
from traceability.load.epcis.write import EventOutcome, write_events, write_rejects
from traceability.load.progress import Listener
from traceability.store import session_cursor

__all__ = [
    "CHUNK_BYTES",
    "KNOWN_IDS",
    "EventOutcome",
    "KnownIds",
    "jsonl_chunks",
    "known_ids",
    "load_events",
]

#: Events are staged and processed this many bytes of JSON Lines at a time, so memory
#: stays bounded whatever the size of the file. Each chunk costs a fixed amount besides
#: its rows (at 1M events, 64 MiB chunks took 41 s, 128 MiB 35 s, 512 MiB 34 s); 128 MiB
#: also had the lowest peak memory of those (2.3 GiB under a 2 GB DuckDB limit).
CHUNK_BYTES = 128 * 1024 * 1024

#: Identifiers resolved earlier in a load are remembered, up to this many, so that a chunk
#: naming only known read points, locations and parties runs no parser at all.
KNOWN_IDS = 100_000


def known_ids() -> KnownIds:
    """A cache of resolved identifiers for the files of one load to share."""
    return KnownIds(limit=KNOWN_IDS)


def load_events(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    document: bool,
    load_id: int,
    source: str,
    progress: Listener | None = None,
    known: KnownIds | None = None,
) -> EventOutcome:
    """Check and store the events of one file, a chunk at a time.

    Rejected events go to ``rejects``. A document's events are numbered by their position
    in ``eventList``; a JSON Lines file's by their line. ``progress`` hears
    ``(records, bytes_done)`` after each chunk. ``known`` is the load's cache of resolved
    identifiers, when its files share one (see :func:`known_ids`).
    """
    chunks: Iterable[tuple[int, Sequence[str]]]
    recorder = None
    context: Any = None
    if document or looks_like_xml(path):
        doc = read_document(path)
        context = doc.context
        recorder = Recorder(load_id, source)
        chunks = recorder.chunks(doc, dump_event, CHUNK_BYTES)
    else:
        chunks = jsonl_chunks(path, CHUNK_BYTES)
    load = LoadState(
        load_id,
        source,
        lines=recorder is None,
        context=context,
        listener=progress,
        known=known_ids() if known is None else known,
    )
    total = _load_chunks(con, chunks, load)
    if recorder is not None:
        rejected = recorder.finish(con)
        total = replace(total, records=total.records + rejected, rejected=total.rejected + rejected)
    return total


def _load_chunks(
    con: duckdb.DuckDBPyConnection,
    chunks: Iterable[tuple[int, Sequence[str]]],
    load: LoadState,
) -> EventOutcome:
    """Load every chunk, adding up what each gave.

    The check stage of the next chunk runs on a thread, on a cursor of its own, while
    this one is identified and written: it reads only the chunk's own lines, never the
    store, so the two never see each other's work. Without it one of the two cores sat
    idle through every write and the Python of every stage.
    """
    total = EventOutcome(0, 0, 0, 0, 0)
    with _Checker(con, load) as checker:
        ahead = None
        for first, texts in chunks:
            lines = texts if isinstance(texts, Lines) else Lines(first, list(texts))
            following = checker.submit(lines)
            if ahead is not None:
                total = _stored(con, checker.result(ahead), load, total)
            ahead = following
        if ahead is not None:
            total = _stored(con, checker.result(ahead), load, total)
    return total


class _Checker:
    """Runs the check stage of chunks on a thread, each on a cursor that has the loader's
    time zone and vocabulary macros."""

    def __init__(self, con: duckdb.DuckDBPyConnection, load: LoadState) -> None:
        self.con, self.load = con, load
        self.cursor = session_cursor(con)
        for macro in CBV_MACRO.split(";\n"):
            self.cursor.execute(macro)
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracecheck-check")

    def submit(self, lines: Lines) -> Future[Chunk]:
        return self.pool.submit(check, Chunk(self.cursor, lines, self.load))

    def result(self, future: Future[Chunk]) -> Chunk:
        chunk = future.result()
        chunk.con = self.con  # the later stages write: on the load's own connection
        return chunk

    def __enter__(self) -> _Checker:
        return self

    def __exit__(self, *exc: object) -> None:
        # A check still running when a later stage fails is waited for, so that the
        # load's transaction never ends (or its connection closes) under it.
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.cursor.close()


def _stored(
    con: duckdb.DuckDBPyConnection, chunk: Chunk, load: LoadState, total: EventOutcome
) -> EventOutcome:
    """Finish a checked chunk (second look, identify, write) and add what it gave."""
    out, repeats = _load_chunk(chunk)
    lines = chunk.lines
    conflicts = 0
    if repeats:
        conflicts = event_versions.after_chunk(
            con, load.load_id, load.source, lines.first, len(lines)
        )
    out = replace(out, conflicts=out.conflicts + conflicts)
    total = EventOutcome(*(a + b for a, b in zip(astuple(total), astuple(out), strict=True)))
    if load.listener is not None:
        load.listener(total.records, lines.end_byte)
    return total


def _load_chunk(chunk: Chunk) -> tuple[EventOutcome, bool]:
    """Store one checked chunk: its counts, and whether a key in it may have been stored
    before or twice (its versions then need sorting)."""
    chunk = look(chunk)
    chunk = write_rejects(identify(chunk))
    return write_events(chunk)
