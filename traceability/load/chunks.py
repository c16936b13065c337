"""The shared form of every tabular reader's output: records as text, a chunk at a time.

Every reader returns a :class:`RawTable`: the header as written, then the records a chunk
at a time (:data:`CHUNK_ROWS` records), each a text value per cell (or None for an empty
cell) with the line (CSV, JSON Lines), sheet row (xlsx) or row number (Parquet) of each
record, the structural rejections among them (a ragged CSV row, a JSON line that is not
an object) and notes (a formula cell, a key given twice), as
:class:`~traceability.load.outcomes.Outcome` records. Numbers become exact decimal text
here, so nothing downstream ever sees a binary float.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

from traceability.errors import UnreadableFile
from traceability.load.limits import Limits, shown
from traceability.load.outcomes import Outcome, reject

LINE = "_line"

#: Records read, checked and stored together: what the loader holds in memory at once.
CHUNK_ROWS = 20_000


@dataclass
class Chunk:
    """Consecutive records of a file as text, before any checks."""

    rows: list[list[str | None]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    rejects: list[Outcome] = field(default_factory=list)
    notes: list[Outcome] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows) + len(self.rejects)

    def arrow(self, width: int) -> pa.Table:
        """The records as an Arrow table of ``width`` text columns plus the line column.

        The columns are named by position (:func:`column`), never by the header: a name
        from a file can be empty, repeated, or the line column's own name, and it never
        becomes an SQL identifier.
        """
        data = {column(i): pa.array([r[i] for r in self.rows], pa.string()) for i in range(width)}
        data[LINE] = pa.array(self.lines, pa.int64())
        return pa.table(data)


class RawTable:
    """A file's header, and its records chunk by chunk as they are read.

    The chunks can be taken once: the file is read as they are.
    """

    def __init__(
        self,
        header: list[str],
        chunks: Iterator[Chunk],
        unit: str = "line",
        notes: Sequence[Outcome] = (),
        close: Callable[[], None] | None = None,
    ) -> None:
        self.header = header
        self.unit = unit  # what the lines count: line, row (Parquet) or sheet row (xlsx)
        self.notes = list(notes)  # about the whole file (hidden sheets skipped)
        self._chunks: Iterator[Chunk] | None = chunks
        self._close = close

    def close(self) -> None:
        """Close the file, whether or not every chunk was taken."""
        chunks, self._chunks = self._chunks, None
        if chunks is not None and hasattr(chunks, "close"):
            chunks.close()
        if self._close is not None:
            self._close()

    def chunks(self) -> Iterator[Chunk]:
        """The records, :data:`CHUNK_ROWS` at a time (fewer in the last chunk)."""
        if self._chunks is None:
            raise RuntimeError("the records of a RawTable can be read once")
        chunks, self._chunks = self._chunks, None
        return chunks

    def batches(self) -> Iterator[pa.Table]:
        """Each chunk's records as the Arrow table the loader checks."""
        for chunk in self.chunks():
            yield chunk.arrow(len(self.header))


class Chunker:
    """Collects records into chunks of :data:`CHUNK_ROWS`."""

    def __init__(self) -> None:
        self.chunk = Chunk()

    def full(self) -> bool:
        return len(self.chunk) >= CHUNK_ROWS

    def take(self) -> Chunk:
        chunk, self.chunk = self.chunk, Chunk()
        return chunk


def column(index: int) -> str:
    """The name of the frame column holding the file's column ``index`` (from 0).

    >>> column(0)
    'c1'
    """
    return f"c{index + 1}"


def decimal_text(value: Decimal | int) -> str:
    """Plain (non-scientific) text for an exact number.

    >>> decimal_text(Decimal("1.5E-5"))
    '0.000015'
    >>> decimal_text(Decimal("2.50"))
    '2.50'
    """
    if isinstance(value, int):
        return str(value)
    return format(value, "f")


def cell_text(value: Any) -> str | None:
    """Text for one cell value read from JSON, Parquet or a spreadsheet.

    Floats come from spreadsheets (every Excel number is a binary float): they are read at
    Excel's own precision of 15 significant digits, so ``0.1`` stays ``0.1``.

    >>> cell_text(0.1 + 0.2)
    '0.3'
    >>> cell_text(12.0)
    '12'
    >>> cell_text(dt.date(2026, 3, 31))
    '2026-03-31'
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, Decimal | int):
        return decimal_text(value)
    if isinstance(value, float):
        return decimal_text(Decimal(format(value, ".15g")).normalize())
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return json.dumps(value, default=str)


def check_columns(path: Path, count: int, limit: Limits, what: str = "columns") -> None:
    """Refuse a file with more columns than the limit."""
    if count > limit.max_columns:
        raise UnreadableFile(
            f"{path}: {count:,} {what}, more than the limit of {limit.max_columns:,}",
            hint=limit.hint("max_columns"),
        )


def fits(
    chunk: Chunk, line: int, header: Sequence[str], cells: list[str | None], limit: Limits
) -> bool:
    """Whether every field is within the length limit; if not, the record is rejected."""
    most = limit.max_field_chars
    for name, cell in zip(header, cells, strict=False):
        if cell is not None and len(cell) > most:
            hint = limit.hint("max_field_chars")
            problem = reject(
                "field-too-large", line, field=name, name=shown(name), most=most, hint=hint
            )
            chunk.rejects.append(problem)
            return False
    return True
