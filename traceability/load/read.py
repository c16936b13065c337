"""Reading tabular files into batches of text values with their line numbers.

One module per syntax (:mod:`~traceability.load.read_csv`,
:mod:`~traceability.load.read_jsonl`, :mod:`~traceability.load.read_parquet`,
:mod:`~traceability.load.read_xlsx`), each returning the same
:class:`~traceability.load.chunks.RawTable` (see :mod:`traceability.load.chunks`). Files
are read as the chunks are taken, so what a reader holds in memory is one chunk, however
long the file.
"""

from __future__ import annotations

from traceability.load.chunks import (
    CHUNK_ROWS,
    LINE,
    Chunk,
    RawTable,
    cell_text,
    check_columns,
    column,
    decimal_text,
)
from traceability.load.read_csv import read_csv, read_csv_header
from traceability.load.read_jsonl import HUGE_NUMBER, LONE_SURROGATE, TOO_DEEP, read_jsonl
from traceability.load.read_parquet import parquet_columns, read_parquet
from traceability.load.read_xlsx import SheetCell, read_xlsx, xlsx_header

__all__ = [
    "CHUNK_ROWS",
    "HUGE_NUMBER",
    "LINE",
    "LONE_SURROGATE",
    "TOO_DEEP",
    "Chunk",
    "RawTable",
    "SheetCell",
    "cell_text",
    "check_columns",
    "column",
    "decimal_text",
    "parquet_columns",
    "read_csv",
    "read_csv_header",
    "read_jsonl",
    "read_parquet",
    "read_xlsx",
    "xlsx_header",
]
