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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from traceability.errors import UnreadableFile
from traceability.load import limits
from traceability.load.limits import Limits

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
        """The records as a polars frame of text columns plus the line column.

        The columns are named by position (:func:`column`), never by the header: a name
        from a file can be empty, repeated, or the line column's own name, and it never
        becomes an SQL identifier.
        """
        data: dict[str, Any] = {
            column(i): [r[i] for r in self.rows] for i in range(len(self.header))
        }
        data[LINE] = self.lines
        schema: dict[str, Any] = {column(i): pl.Utf8 for i in range(len(self.header))}
        schema[LINE] = pl.Int64
        return pl.DataFrame(data, schema=schema)


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
    """Read a CSV file (UTF-8, header row, comma separator, RFC 4180 quoting).

    A field longer than the limit rejects its record; more columns than the limit, or a
    header field longer than it, refuse the file (see :mod:`traceability.load.limits`).
    """
    text = _decode(path, path.read_bytes())
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise UnreadableFile(f"{path}:{line}: contains NUL bytes: not a CSV text file")
    limit = limits.current()
    previous = csv.field_size_limit(limit.max_field_chars)
    try:
        return _read_csv_text(path, text, limit)
    finally:
        csv.field_size_limit(previous)


def _too_large(exc: csv.Error) -> bool:
    return "field larger than field limit" in str(exc)


def _field_too_large(limit: Limits) -> str:
    return f"a field is longer than {limit.max_field_chars:,} characters"


def check_columns(path: Path, count: int, limit: Limits, what: str = "columns") -> None:
    """Refuse a file with more columns than the limit."""
    if count > limit.max_columns:
        raise UnreadableFile(
            f"{path}: {count:,} {what}, more than the limit of {limit.max_columns:,}",
            hint=limit.hint("max_columns"),
        )


def _read_csv_text(path: Path, text: str, limit: Limits) -> RawTable:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise UnreadableFile(f"{path}: empty file, no header row") from None
    except csv.Error as exc:
        if _too_large(exc):
            raise UnreadableFile(
                f"{path}:1: cannot read the header row: {_field_too_large(limit)}",
                hint=limit.hint("max_field_chars"),
            ) from None
        raise UnreadableFile(f"{path}:1: cannot read the header row: {exc}") from None
    check_columns(path, len(header), limit)
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
            if _too_large(exc):
                message = f"{_field_too_large(limit)} ({limit.hint('max_field_chars')})"
                table.rejects.append(StructuralReject(start, "field-too-large", message, None))
            else:
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


#: The reason given for JSON nested more deeply than Python can follow.
TOO_DEEP = "nested too deeply to be read"
#: The reason given for a JSON number Python cannot read: more than 4,300 digits (its
#: limit on converting text to an integer), or an exponent beyond what Decimal holds.
HUGE_NUMBER = "not valid JSON: a number is too long or too large to read"
#: The reason given for a JSON string escape that is half a UTF-16 surrogate pair.
LONE_SURROGATE = "not valid JSON: a \\u escape is half of a surrogate pair, not a character"


def _lone_surrogate(value: Any) -> bool:
    """Whether parsed JSON holds a lone surrogate (``"\\ud800"``), which is not text."""
    try:
        json.dumps(value, ensure_ascii=False, default=str).encode("utf-8")
    except UnicodeEncodeError:
        return True
    except RecursionError:
        return False  # too deep to look into: the record is rejected for that instead
    return False


def _json_records(path: Path, limit: Limits) -> Iterator[tuple[int, str | None]]:
    """(number, text) of each non-blank line; the text is None for a line over the limit,
    which is skipped a block at a time rather than read whole."""
    most = limit.max_line_bytes
    with path.open("rb") as f:
        number = 0
        while raw := f.readline(most + 1):
            number += 1
            if len(raw) > most and not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):
                    raw = f.readline(1 << 20)
                yield number, None
                continue
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                raise UnreadableFile(
                    f"{path}:{number}: not UTF-8 text", hint="save the file as UTF-8"
                ) from None
            if text.strip():
                yield number, text


def read_jsonl(path: Path) -> RawTable:
    """Read JSON Lines of flat records; JSON numbers are read as exact decimals.

    A line or a field longer than its limit rejects its record; more distinct keys than
    the column limit refuse the file (see :mod:`traceability.load.limits`).
    """
    limit = limits.current()
    header: list[str] = []
    index: dict[str, int] = {}
    records: list[tuple[int, dict[str, Any]]] = []
    table = RawTable(header=header, rows=[], lines=[])
    for line, text in _json_records(path, limit):
        if text is None:
            message = (
                f"the line is longer than {limit.max_line_bytes:,} bytes "
                f"({limit.hint('max_line_bytes')})"
            )
            table.rejects.append(StructuralReject(line, "line-too-long", message, None))
            continue
        try:
            obj = json.loads(text, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            table.rejects.append(
                StructuralReject(line, "bad-json", f"not valid JSON: {exc.msg}", text[:500])
            )
            continue
        except RecursionError:
            table.rejects.append(
                StructuralReject(line, "bad-json", f"not read: {TOO_DEEP}", text[:500])
            )
            continue
        except (ValueError, ArithmeticError):  # int digits limit, Decimal exponent range
            table.rejects.append(StructuralReject(line, "bad-json", HUGE_NUMBER, text[:500]))
            continue
        if not isinstance(obj, dict):
            table.rejects.append(
                StructuralReject(line, "bad-json", "not a JSON object", text[:500])
            )
            continue
        if "\\u" in text and _lone_surrogate(obj):
            table.rejects.append(StructuralReject(line, "bad-json", LONE_SURROGATE, text[:500]))
            continue
        for key in obj:
            if key not in index:
                index[key] = len(header)
                header.append(key)
        check_columns(path, len(header), limit, "distinct keys")
        records.append((line, obj))
    for line, obj in records:
        try:
            cells = [cell_text(obj.get(name)) for name in header]
        except RecursionError:
            table.rejects.append(StructuralReject(line, "bad-json", f"not read: {TOO_DEEP}", None))
            continue
        if not _fits(table, line, header, cells, limit):
            continue
        table.rows.append(cells)
        table.lines.append(line)
    return table


def _fits(
    table: RawTable, line: int, header: list[str], cells: list[str | None], limit: Limits
) -> bool:
    """Whether every field is within the length limit; if not, the record is rejected."""
    most = limit.max_field_chars
    for name, cell in zip(header, cells, strict=False):
        if cell is not None and len(cell) > most:
            message = (
                f"{limits.shown(name)}: longer than {most:,} characters "
                f"({limit.hint('max_field_chars')})"
            )
            table.rejects.append(StructuralReject(line, "field-too-large", message, None))
            return False
    return True


def read_parquet(path: Path) -> RawTable:
    """Read a Parquet file; decimal columns keep their exact values."""
    import pyarrow.parquet as pq

    limit = limits.current()
    parquet_columns(path)  # refuses a file with more columns than the limit
    try:
        arrow = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise UnreadableFile(f"{path}: not a readable Parquet file ({exc})") from None
    header = [str(n).strip() for n in arrow.column_names]
    columns = [arrow.column(i).to_pylist() for i in range(arrow.num_columns)]
    table = RawTable(header=header, rows=[], lines=[], unit="row")
    for r in range(arrow.num_rows):
        cells = [cell_text(col[r]) for col in columns]
        if _fits(table, r + 1, header, cells, limit):
            table.rows.append(cells)
            table.lines.append(r + 1)
    return table


def _check_archive(path: Path, limit: Limits) -> None:
    """Refuse a workbook whose parts unpack to more than the limit (a zip bomb).

    The sizes come from the zip's directory, before anything is unpacked; Python's zip
    reader never unpacks more than a part's stated size (a part that holds more fails
    its checksum), so the stated sizes bound what reading the workbook can unpack.
    """
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise UnreadableFile(f"{path}: not a readable .xlsx workbook ({exc})") from None
    if unpacked > limit.max_xlsx_bytes:
        raise UnreadableFile(
            f"{path}: the workbook unpacks to {unpacked:,} bytes, more than the limit of "
            f"{limit.max_xlsx_bytes:,}",
            hint=limit.hint("max_xlsx_bytes"),
        )


def _sheet_rows(path: Path, sheet: Any, limit: Limits) -> Iterator[tuple[int, Sequence[Any]]]:
    """(sheet row, values) of each row, refusing a sheet longer than the row limit.

    The size a sheet declares is not trusted (it is dropped), so a row is as wide as its
    last cell, and rows a sheet jumps over come as empty rows, each counted.
    """
    if hasattr(sheet, "reset_dimensions"):
        sheet.reset_dimensions()
    for line, values in enumerate(sheet.iter_rows(values_only=True), start=1):
        if line > limit.max_xlsx_rows:
            raise UnreadableFile(
                f"{path}: the sheet '{sheet.title}' goes on past row "
                f"{limit.max_xlsx_rows:,}, the limit",
                hint=limit.hint("max_xlsx_rows"),
            )
        if len(values) > limit.max_columns:
            raise UnreadableFile(
                f"{path}: sheet row {line} has cells up to column {len(values):,}, more than "
                f"the limit of {limit.max_columns:,} columns",
                hint=limit.hint("max_columns"),
            )
        yield line, values


def read_xlsx(path: Path, kind: str | None = None) -> RawTable:
    """Read the first sheet (or the sheet named after the kind) of an .xlsx workbook.

    The workbook's unpacked size, its rows and columns and each cell are bounded by the
    limits of :mod:`traceability.load.limits`; anything the spreadsheet reader cannot
    read (damaged parts, XML that is not well-formed or expands entities without bound)
    refuses the file.
    """
    from openpyxl import load_workbook

    limit = limits.current()
    _check_archive(path, limit)
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zip, XML and openpyxl errors of many types for a bad file
        raise UnreadableFile(f"{path}: not a readable .xlsx workbook ({_cause(exc)})") from None
    try:
        return _read_sheet(path, book, kind, limit)
    except (UnreadableFile, RecursionError, MemoryError):
        raise
    except Exception as exc:  # the sheet's XML is read lazily, as the rows are taken
        raise UnreadableFile(f"{path}: not a readable .xlsx workbook ({_cause(exc)})") from None
    finally:
        book.close()


def _cause(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def _read_sheet(path: Path, book: Any, kind: str | None, limit: Limits) -> RawTable:
    names = book.sheetnames
    sheet = book[kind] if kind in names else book[names[0]]
    rows = _sheet_rows(path, sheet, limit)
    header_row: Sequence[Any] | None = None
    for _, values in rows:
        if any(v is not None and str(v).strip() for v in values):
            header_row = values
            break
    if header_row is None:
        raise UnreadableFile(f"{path}: the sheet '{sheet.title}' is empty")
    width = max(i + 1 for i, v in enumerate(header_row) if v is not None and str(v).strip())
    header = [str(v).strip() if v is not None else "" for v in header_row[:width]]
    table = RawTable(header=header, rows=[], lines=[], unit="sheet row")
    for line, values in rows:
        if not values:  # a row the sheet jumps over
            continue
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
        if _fits(table, line, header, cells, limit):
            table.rows.append(cells)
            table.lines.append(line)
    return table


def read_csv_header(path: Path) -> list[str]:
    """The header row of a CSV file (which must end within the file's first MiB)."""
    with path.open("rb") as f:
        first = f.readline(limits.CSV_HEADER_BYTES + 1)
    if len(first) > limits.CSV_HEADER_BYTES and not first.endswith(b"\n"):
        raise UnreadableFile(
            f"{path}:1: the header row goes on past the first "
            f"{limits.CSV_HEADER_BYTES:,} bytes of the file",
            hint="is this a CSV file of the input contract?",
        )
    text = _decode(path, first)
    limit = limits.current()
    previous = csv.field_size_limit(limits.CSV_HEADER_BYTES)
    try:
        row = next(csv.reader([text]), [])
    except csv.Error as exc:
        raise UnreadableFile(f"{path}:1: cannot read the header row: {exc}") from None
    finally:
        csv.field_size_limit(previous)
    check_columns(path, len(row), limit)
    return [h.strip() for h in row]


def parquet_columns(path: Path) -> list[str]:
    """Column names of a Parquet file (refused beyond the column limit)."""
    import pyarrow.parquet as pq

    try:
        names = [str(n) for n in pq.read_schema(path).names]
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise UnreadableFile(f"{path}: not a readable Parquet file ({exc})") from None
    check_columns(path, len(names), limits.current())
    return names


def xlsx_header(path: Path, kind: str | None) -> list[str]:
    """The header row of the sheet an .xlsx workbook would be read from."""
    return read_xlsx(path, kind).header
