"""What the checks of a document's events find, recorded: rejected events and notes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import duckdb

from traceability.load.epcis.check import check_event
from traceability.load.epcis.items import Document, Note
from traceability.load.outcomes import Outcome, write_outcomes

#: The most event text a document's chunk holds (JSON Lines chunks may be larger).
DOCUMENT_CHUNK_BYTES = 16 * 1024 * 1024


class Recorder:
    """Turns a document into chunks of event text, keeping what it rejects and notes.

    Events rejected here are sent on as blank lines (which the event pipeline skips) so
    that every event keeps its number; their rejections are written by :meth:`finish`.
    """

    def __init__(self, load_id: int, source: str) -> None:
        self.load_id = load_id
        self.source = source
        self.rejects: list[Outcome] = []
        self.notes: list[Note] = []

    def chunks(
        self, document: Document, dump: Callable[[Any], str], chunk_bytes: int
    ) -> Iterator[tuple[int, list[str]]]:
        """(first record number, event texts) a chunk at a time.

        A document's chunks are at most :data:`DOCUMENT_CHUNK_BYTES`: the event texts are
        built here in Python, and a smaller chunk keeps the peak memory of a large XML
        document well under 1 GiB (see ``bench/xml_ingest.py``) at no cost in speed.
        """
        chunk_bytes = min(chunk_bytes, DOCUMENT_CHUNK_BYTES)
        first, lines, size = 1, [], 0
        for item in document.items:
            check_event(item, document, from_json=item.line is None)
            for w in item.warnings:
                where = item.where() + (f" {w.field}" if w.field else "")
                self.notes.append(Note("warning", w.code, w.message, item.record, where))
            text = dump(item.event)
            if item.problems:
                problem = item.problems[0]
                message = problem.message + (f" (line {item.line})" if item.line else "")
                self.rejects.append(
                    Outcome(
                        "reject", problem.code, item.record, message, problem.field, text[:2000]
                    )
                )
                text = ""
            lines.append(text)
            size += len(text) + 1
            if size >= chunk_bytes:
                yield first, lines
                first, lines, size = first + len(lines), [], 0
        if lines:
            yield first, lines
        self.notes[:0] = document.notes

    def finish(self, con: duckdb.DuckDBPyConnection) -> int:
        """Write the rejections and notes; return the number of events rejected here."""
        write_outcomes(con, self.load_id, self.source, self.rejects)
        write_notes(con, self.load_id, self.source, self.notes)
        return len(self.rejects)


def write_notes(
    con: duckdb.DuckDBPyConnection, load_id: int, source: str, notes: list[Note]
) -> None:
    """Store notes in ``load_notes`` through the writer."""
    write_outcomes(
        con,
        load_id,
        source,
        [Outcome("note", n.code, n.record, n.message, n.location, None, n.level) for n in notes],
    )
