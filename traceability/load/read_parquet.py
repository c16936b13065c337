"""Reading Parquet files; decimal columns keep their exact values."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from traceability.errors import UnreadableFile
from traceability.load import limits
from traceability.load.chunks import CHUNK_ROWS, Chunk, RawTable, cell_text, check_columns, fits
from traceability.load.limits import Limits


def read_parquet(path: Path) -> RawTable:
    """Read a Parquet file; decimal columns keep their exact values."""
    import pyarrow.parquet as pq

    limit = limits.current()
    parquet_columns(path)  # refuses a file with more columns than the limit
    try:
        source = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise UnreadableFile(f"{path}: not a readable Parquet file ({exc})") from None
    header = [str(n).strip() for n in source.schema_arrow.names]
    return RawTable(header, _parquet_chunks(path, source, header, limit), unit="row")


def _parquet_chunks(path: Path, source: Any, header: list[str], limit: Limits) -> Iterator[Chunk]:
    number = 0
    try:
        for batch in source.iter_batches(batch_size=CHUNK_ROWS):
            columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
            chunk = Chunk()
            for r in range(batch.num_rows):
                number += 1
                cells = [cell_text(col[r]) for col in columns]
                if fits(chunk, number, header, cells, limit):
                    chunk.rows.append(cells)
                    chunk.lines.append(number)
            yield chunk
    except (UnreadableFile, RecursionError):
        raise
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise UnreadableFile(f"{path}: not a readable Parquet file ({exc})") from None
    finally:
        source.close()


def parquet_columns(path: Path) -> list[str]:
    """Column names of a Parquet file (refused beyond the column limit)."""
    import pyarrow.parquet as pq

    try:
        names = [str(n) for n in pq.read_schema(path).names]
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise UnreadableFile(f"{path}: not a readable Parquet file ({exc})") from None
    check_columns(path, len(names), limits.current())
    return names
