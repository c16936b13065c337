"""Reading tabular files into a table of text values with their line numbers.

Every reader returns the same thing: the header as written, one text value per cell (or
None for an empty cell), the line (CSV, JSON Lines), sheet row (xlsx) or row number
(Parquet) of each record, and structural rejections (a ragged CSV row, a JSON line that is
not an object). Numbers become exact decimal text here, so nothing downstream ever sees a
binary float.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from traceability.errors import UnreadableFile

LINE = "_line"


@dataclass(frozen=True)
class StructuralReject:
    """A record that could not be split into fields at all."""

    line: int
    code: str
    message: str
    raw: str | None


@dataclass
class RawTable:
    """A file's records as text, before any checks."""

    header: list[str]
    rows: list[list[str | None]]
    lines: list[int]
    rejects: list[StructuralReject] = field(default_factory=list)
    unit: str = "line"  # what `lines` counts: line, row (Parquet) or sheet row (xlsx)

    def frame(self) -> pl.DataFrame:
        """The records as a polars frame of text columns plus the line column."""
        data: dict[str, Any] = {
            name: [r[i] for r in self.rows] for i, name in enumerate(self.header)
        }
        data[LINE] = self.lines
        schema: dict[str, Any] = {name: pl.Utf8 for name in self.header}
        schema[LINE] = pl.Int64
        return pl.DataFrame(data, schema=schema)


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


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UnreadableFile(
            f"{path}:{line}: not UTF-8 text (byte {exc.start})",
            hint="save the file as UTF-8",
        ) from None


def read_csv(path: Path) -> RawTable:
    """Read a CSV file (UTF-8, header row, comma separator, RFC 4180 quoting)."""
    text = _decode(path, path.read_bytes())
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise UnreadableFile(f"{path}:{line}: contains NUL bytes: not a CSV text file")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise UnreadableFile(f"{path}: empty file, no header row") from None
    except csv.Error as exc:
        raise UnreadableFile(f"{path}:1: cannot read the header row: {exc}") from None
    header = [h.strip() for h in header]
    table = RawTable(header=header, rows=[], lines=[])
    width = len(header)
    start = reader.line_num + 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            table.rejects.append(
                StructuralReject(start, "bad-csv", f"cannot split into fields: {exc}", None)
            )
            start = reader.line_num + 1
            continue
        line, start = start, reader.line_num + 1
        if not record or all(not c.strip() for c in record):
            continue
        if len(record) != width:
            table.rejects.append(
                StructuralReject(
                    line,
                    "bad-field-count",
                    f"{len(record)} fields where the header has {width}",
                    ",".join(record),
                )
            )
            continue
        table.rows.append([c if c.strip() else None for c in record])
        table.lines.append(line)
    return table


def _json_records(path: Path) -> Iterator[tuple[int, str]]:
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                raise UnreadableFile(
                    f"{path}:{number}: not UTF-8 text", hint="save the file as UTF-8"
                ) from None
            if text.strip():
                yield number, text


def read_jsonl(path: Path) -> RawTable:
    """Read JSON Lines of flat records; JSON numbers are read as exact decimals."""
    header: list[str] = []
    index: dict[str, int] = {}
    records: list[tuple[int, dict[str, Any]]] = []
    table = RawTable(header=header, rows=[], lines=[])
    for line, text in _json_records(path):
        try:
            obj = json.loads(text, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            table.rejects.append(
                StructuralReject(line, "bad-json", f"not valid JSON: {exc.msg}", text[:500])
            )
            continue
        if not isinstance(obj, dict):
            table.rejects.append(
                StructuralReject(line, "bad-json", "not a JSON object", text[:500])
            )
            continue
        for key in obj:
            if key not in index:
                index[key] = len(header)
                header.append(key)
        records.append((line, obj))
    for line, obj in records:
        table.rows.append([cell_text(obj.get(name)) for name in header])
        table.lines.append(line)
    return table


def read_parquet(path: Path) -> RawTable:
    """Read a Parquet file; decimal columns keep their exact values."""
    import pyarrow.parquet as pq

    try:
        arrow = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise UnreadableFile(f"{path}: not a readable Parquet file ({exc})") from None
    header = [str(n).strip() for n in arrow.column_names]
    columns = [arrow.column(i).to_pylist() for i in range(arrow.num_columns)]
    rows = [[cell_text(col[r]) for col in columns] for r in range(arrow.num_rows)]
    return RawTable(header=header, rows=rows, lines=list(range(1, arrow.num_rows + 1)), unit="row")


def read_xlsx(path: Path, kind: str | None = None) -> RawTable:
    """Read the first sheet (or the sheet named after the kind) of an .xlsx workbook."""
    import zipfile

    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise UnreadableFile(f"{path}: not a readable .xlsx workbook ({exc})") from None
    try:
        names = book.sheetnames
        sheet = book[kind] if kind in names else book[names[0]]
        rows = sheet.iter_rows(values_only=True)
        header_row: tuple[Any, ...] | None = None
        header_line = 0
        for values in rows:
            header_line += 1
            if any(v is not None and str(v).strip() for v in values):
                header_row = values
                break
        if header_row is None:
            raise UnreadableFile(f"{path}: the sheet '{sheet.title}' is empty")
        width = max(i + 1 for i, v in enumerate(header_row) if v is not None and str(v).strip())
        header = [str(v).strip() if v is not None else "" for v in header_row[:width]]
        table = RawTable(header=header, rows=[], lines=[], unit="sheet row")
        for line, values in enumerate(rows, start=header_line + 1):
            cells = [cell_text(v) for v in values[:width]]
            cells += [None] * (width - len(cells))
            extra = [v for v in values[width:] if v is not None and str(v).strip()]
            if extra:
                table.rejects.append(
                    StructuralReject(
                        line, "bad-field-count", "cells beyond the header's last column", None
                    )
                )
                continue
            if all(c is None for c in cells):
                continue
            table.rows.append(cells)
            table.lines.append(line)
        return table
    finally:
        book.close()


def read_csv_header(path: Path) -> list[str]:
    """The header row of a CSV file."""
    with path.open("rb") as f:
        first = f.readline(1 << 20)
    text = _decode(path, first)
    row = next(csv.reader([text]), [])
    return [h.strip() for h in row]


def parquet_columns(path: Path) -> list[str]:
    """Column names of a Parquet file."""
    import pyarrow.parquet as pq

    try:
        return [str(n) for n in pq.read_schema(path).names]
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise UnreadableFile(f"{path}: not a readable Parquet file ({exc})") from None


def xlsx_header(path: Path, kind: str | None) -> list[str]:
    """The header row of the sheet an .xlsx workbook would be read from."""
    return read_xlsx(path, kind).header
