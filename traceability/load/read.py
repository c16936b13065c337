"""Reading tabular files into batches of text values with their line numbers.

Every reader returns the same thing, a :class:`RawTable`: the header as written, then the
records a chunk at a time (:data:`CHUNK_ROWS` records), each a text value per cell (or None
for an empty cell) with the line (CSV, JSON Lines), sheet row (xlsx) or row number
(Parquet) of each record, the structural rejections among them (a ragged CSV row, a JSON
line that is not an object) and notes (a formula cell, a key given twice). Files are read
as the chunks are taken, so what a reader holds in memory is one chunk, however long the
file. Numbers become exact decimal text here, so nothing downstream ever sees a binary
float.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

from traceability.errors import UnreadableFile
from traceability.load import limits
from traceability.load.limits import Limits, shown

LINE = "_line"

#: Records read, checked and stored together: what the loader holds in memory at once.
CHUNK_ROWS = 20_000


@dataclass(frozen=True)
class StructuralReject:
    """A record that could not be split into fields at all, or whose field is unreadable."""

    line: int
    code: str
    message: str
    raw: str | None
    field: str | None = None


@dataclass(frozen=True)
class RecordNote:
    """Something about a record (or, with no line, the file) that was read all the same."""

    line: int | None
    code: str
    message: str


@dataclass
class Chunk:
    """Consecutive records of a file as text, before any checks."""

    rows: list[list[str | None]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    rejects: list[StructuralReject] = field(default_factory=list)
    notes: list[RecordNote] = field(default_factory=list)

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
        notes: Sequence[RecordNote] = (),
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


class _Chunker:
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


def _not_utf8(path: Path) -> UnreadableFile:
    """The refusal of a file that is not UTF-8, naming the line of its first bad byte."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line, offset = 1, 0
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                line += block[: exc.start].count(b"\n")
                return UnreadableFile(
                    f"{path}:{line}: not UTF-8 text (byte {offset + exc.start})",
                    hint="save the file as UTF-8",
                )
            line += block.count(b"\n")
            offset += len(block)
    return UnreadableFile(f"{path}:{line}: not UTF-8 text", hint="save the file as UTF-8")


def _text_lines(path: Path, handle: Iterable[str]) -> Iterator[str]:
    """The lines of a CSV text, refusing the file at a NUL byte or a byte not UTF-8."""
    number = 0
    try:
        for text in handle:
            number += 1
            if "\x00" in text:
                raise UnreadableFile(f"{path}:{number}: contains NUL bytes: not a CSV text file")
            yield text
    except UnicodeDecodeError:
        raise _not_utf8(path) from None


def read_csv(path: Path) -> RawTable:
    """Read a CSV file (UTF-8, header row, comma separator, RFC 4180 quoting).

    A field longer than the limit rejects its record; more columns than the limit, or a
    header field longer than it, refuse the file (see :mod:`traceability.load.limits`).
    The file is read as the chunks are taken; a NUL byte or a byte that is not UTF-8
    refuses it there.
    """
    limit = limits.current()
    handle = path.open(encoding="utf-8-sig", newline="")
    previous = csv.field_size_limit(limit.max_field_chars)
    try:
        reader = csv.reader(_text_lines(path, handle), strict=True)
        header = _csv_header(path, reader, limit)
    except BaseException:
        handle.close()
        raise
    finally:
        csv.field_size_limit(previous)
    chunks = _csv_chunks(path, handle, reader, len(header), limit)
    return RawTable(header, chunks, close=handle.close)


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


def _csv_header(path: Path, reader: Any, limit: Limits) -> list[str]:
    try:
        header: list[str] = next(reader)
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
    return [h.strip() for h in header]


def _csv_chunks(
    path: Path, handle: io.TextIOBase, reader: Any, width: int, limit: Limits
) -> Iterator[Chunk]:
    chunker = _Chunker()
    start = reader.line_num + 1
    try:
        while True:
            # The limit is the csv module's global setting: set it while this reader reads.
            previous = csv.field_size_limit(limit.max_field_chars)
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                if _too_large(exc):
                    message = f"{_field_too_large(limit)} ({limit.hint('max_field_chars')})"
                    reject = StructuralReject(start, "field-too-large", message, None)
                else:
                    message = f"cannot split into fields: {exc}"
                    reject = StructuralReject(start, "bad-csv", message, None)
                chunker.chunk.rejects.append(reject)
                start = reader.line_num + 1
                continue
            finally:
                csv.field_size_limit(previous)
            line, start = start, reader.line_num + 1
            if not record or all(not c.strip() for c in record):
                continue
            if len(record) != width:
                message = f"{len(record)} fields where the header has {width}"
                raw = ",".join(record)
                chunker.chunk.rejects.append(
                    StructuralReject(line, "bad-field-count", message, raw)
                )
            else:
                chunker.chunk.rows.append([c if c.strip() else None for c in record])
                chunker.chunk.lines.append(line)
            if chunker.full():
                yield chunker.take()
        yield chunker.take()
    finally:
        handle.close()


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


def _same(a: Any, b: Any) -> bool:
    """Whether two parsed JSON values are the same value (``1`` is not ``true``).

    >>> _same(Decimal("1.0"), Decimal("1.00")), _same(1, True), _same("a", "a")
    (True, False, True)
    """
    return type(a) is type(b) and a == b


class _Keys:
    """Parses JSON objects, keeping the last value of a repeated key and saying which."""

    def __init__(self) -> None:
        self.repeated: dict[str, bool] = {}  # key -> whether every value was the same

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            first: dict[str, Any] = {}
            for key, value in pairs:
                if key in first:
                    same = _same(first[key], value) and self.repeated.get(key, True)
                    self.repeated[key] = same
                else:
                    first[key] = value
        return obj


def _integer(text: str) -> int | Decimal:
    """A JSON integer; ``-0`` keeps its sign (as text it is a negative quantity).

    >>> _integer("-0"), _integer("12")
    (Decimal('-0'), 12)
    """
    return Decimal(text) if text == "-0" else int(text)


def _parse(text: str, keys: _Keys | None = None) -> tuple[Any, str | None]:
    """(value, None) for a JSON text, or (None, the reason it cannot be read)."""
    try:
        if keys is None:
            return json.loads(text, parse_float=Decimal, parse_int=_integer), None
        obj = json.loads(text, parse_float=Decimal, parse_int=_integer, object_pairs_hook=keys)
        return obj, None
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON: {exc.msg}"
    except RecursionError:
        return None, f"not read: {TOO_DEEP}"
    except (ValueError, ArithmeticError):  # int digits limit, Decimal exponent range
        return None, HUGE_NUMBER


def read_jsonl(path: Path) -> RawTable:
    """Read JSON Lines of flat records; JSON numbers are read as exact decimals.

    The file is read twice: once for the header (every key of every record, in order of
    first appearance), then chunk by chunk for the records. A line or a field longer
    than its limit rejects its record; more distinct keys than the column limit refuse the
    file (see :mod:`traceability.load.limits`). A key given twice in one object is a note
    when both values are the same, and rejects the record when they differ.
    """
    limit = limits.current()
    header: list[str] = []
    index: set[str] = set()
    for _, text in _json_records(path, limit):
        obj = _parse(text)[0] if text is not None else None
        if isinstance(obj, dict):
            for key in obj:
                if key not in index:
                    index.add(key)
                    header.append(key)
            check_columns(path, len(header), limit, "distinct keys")
    return RawTable(header, _jsonl_chunks(path, header, limit))


def _jsonl_chunks(path: Path, header: list[str], limit: Limits) -> Iterator[Chunk]:
    chunker = _Chunker()
    for line, text in _json_records(path, limit):
        chunk = chunker.chunk
        keys = _Keys()
        obj, problem = (None, None) if text is None else _parse(text, keys)
        if text is None:
            message = (
                f"the line is longer than {limit.max_line_bytes:,} bytes "
                f"({limit.hint('max_line_bytes')})"
            )
            chunk.rejects.append(StructuralReject(line, "line-too-long", message, None))
        elif problem is not None:
            chunk.rejects.append(StructuralReject(line, "bad-json", problem, text[:500]))
        elif not isinstance(obj, dict):
            chunk.rejects.append(
                StructuralReject(line, "bad-json", "not a JSON object", text[:500])
            )
        elif "\\u" in text and _lone_surrogate(obj):
            chunk.rejects.append(StructuralReject(line, "bad-json", LONE_SURROGATE, text[:500]))
        elif _repeated_keys(chunk, line, keys, text):
            pass
        else:
            try:
                cells = [cell_text(obj.get(name)) for name in header]
            except RecursionError:
                message = f"not read: {TOO_DEEP}"
                chunk.rejects.append(StructuralReject(line, "bad-json", message, None))
            else:
                if _fits(chunk, line, header, cells, limit):
                    chunk.rows.append(cells)
                    chunk.lines.append(line)
        if chunker.full():
            yield chunker.take()
    yield chunker.take()


def _repeated_keys(chunk: Chunk, line: int, keys: _Keys, text: str) -> bool:
    """Note keys given twice with one value; reject the record (True) if values differ."""
    differ = [k for k, same in keys.repeated.items() if not same]
    if differ:
        key = differ[0]
        message = f"{shown(key)}: given more than once with different values"
        chunk.rejects.append(
            StructuralReject(line, "duplicate-key-conflict", message, text[:500], key)
        )
        return True
    for key in keys.repeated:
        message = f"{shown(key)}: given more than once with the same value; read once"
        chunk.notes.append(RecordNote(line, "duplicate-key", message))
    return False


def _fits(
    chunk: Chunk, line: int, header: Sequence[str], cells: list[str | None], limit: Limits
) -> bool:
    """Whether every field is within the length limit; if not, the record is rejected."""
    most = limit.max_field_chars
    for name, cell in zip(header, cells, strict=False):
        if cell is not None and len(cell) > most:
            message = (
                f"{shown(name)}: longer than {most:,} characters ({limit.hint('max_field_chars')})"
            )
            chunk.rejects.append(StructuralReject(line, "field-too-large", message, None, name))
            return False
    return True


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
                if _fits(chunk, number, header, cells, limit):
                    chunk.rows.append(cells)
                    chunk.lines.append(number)
            yield chunk
    except (UnreadableFile, RecursionError):
        raise
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise UnreadableFile(f"{path}: not a readable Parquet file ({exc})") from None
    finally:
        source.close()


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


@dataclass(frozen=True)
class SheetCell:
    """One cell as the workbook saved it: its value, and whether a formula computed it.

    ``cached`` is False for a formula cell saved without the value it computes (a
    workbook written by a program that does not compute formulas).
    """

    value: Any
    formula: bool = False
    cached: bool = True


def _cell_parser() -> Any:
    """openpyxl's worksheet parser, also telling formula cells apart.

    openpyxl reads either a formula cell's saved value (``data_only``) or its formula,
    never whether a value came from a formula; this parser reads the saved value and
    marks the cell. It hooks into openpyxl's parser (``openpyxl.worksheet._reader``, the
    one its read-only sheets use), which the pinned major version keeps.
    """
    from openpyxl.worksheet._reader import FORMULA_TAG, VALUE_TAG, WorkSheetParser

    class Parser(WorkSheetParser):  # type: ignore[misc]
        def parse_cell(self, element: Any) -> dict[str, Any]:
            cell: dict[str, Any] = super().parse_cell(element)
            if element.find(FORMULA_TAG) is not None:
                saved = element.find(VALUE_TAG)
                # openpyxl and other writers that compute nothing save an empty <v/>; an
                # empty text result is saved as an empty value of type "str".
                cached = saved is not None and (bool(saved.text) or element.get("t") == "str")
                cell["value"] = SheetCell(cell["value"], formula=True, cached=cached)
            return cell

    return Parser


def _sheet_rows(
    path: Path, book: Any, sheet: Any, limit: Limits
) -> Iterator[tuple[int, list[Any]]]:
    """(sheet row, values) of each row the sheet holds, refusing a sheet past the limits.

    The size a sheet declares is not trusted (it is not read), so a row is as wide as its
    last cell; rows the sheet jumps over are counted towards the row limit. A formula
    cell's value comes as a :class:`SheetCell`.
    """
    parser_class = _cell_parser()
    with sheet._get_source() as source:
        parser = parser_class(
            source,
            sheet._shared_strings,
            data_only=True,
            epoch=book.epoch,
            date_formats=book._date_formats,
            timedelta_formats=book._timedelta_formats,
        )
        for line, cells in parser.parse():
            if line > limit.max_xlsx_rows:
                raise UnreadableFile(
                    f"{path}: the sheet '{sheet.title}' goes on past row "
                    f"{limit.max_xlsx_rows:,}, the limit",
                    hint=limit.hint("max_xlsx_rows"),
                )
            width = max((c["column"] for c in cells), default=0)
            if width > limit.max_columns:
                raise UnreadableFile(
                    f"{path}: sheet row {line} has cells up to column {width:,}, more than "
                    f"the limit of {limit.max_columns:,} columns",
                    hint=limit.hint("max_columns"),
                )
            values: list[Any] = [None] * width
            for c in cells:
                values[c["column"] - 1] = c["value"]
            yield line, values


def read_xlsx(path: Path, kind: str | None = None) -> RawTable:
    """Read the first visible sheet (or the visible sheet named after the kind) of a workbook.

    Hidden sheets are never read; each is noted (``hidden-sheet``). A formula cell is read
    as the value the sender's spreadsheet computed and saved with it, with a note
    (``formula-cell``); a formula saved without a value rejects its record
    (``formula-without-value``), since tracecheck does not evaluate formulas.

    The workbook's unpacked size, its rows and columns and each cell are bounded by the
    limits of :mod:`traceability.load.limits`; anything the spreadsheet reader cannot
    read (damaged parts, XML that is not well-formed or expands entities without bound)
    refuses the file. The sheet is read as the chunks are taken.
    """
    from openpyxl import load_workbook

    limit = limits.current()
    _check_archive(path, limit)
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zip, XML and openpyxl errors of many types for a bad file
        raise UnreadableFile(f"{path}: not a readable .xlsx workbook ({_cause(exc)})") from None
    try:
        sheet, notes = _pick_sheet(path, book, kind)
        rows = _guarded(path, _sheet_rows(path, book, sheet, limit))
        header = _xlsx_header(path, sheet, rows)
    except BaseException:
        book.close()
        raise
    chunks = _xlsx_chunks(book, rows, header, limit)
    return RawTable(header, chunks, unit="sheet row", notes=notes, close=book.close)


def _guarded(path: Path, rows: Iterator[tuple[int, list[Any]]]) -> Iterator[tuple[int, list[Any]]]:
    """The rows, with any error of the spreadsheet reader refusing the file."""
    try:
        yield from rows
    except (UnreadableFile, RecursionError, MemoryError):
        raise
    except Exception as exc:  # the sheet's XML is read lazily, as the rows are taken
        raise UnreadableFile(f"{path}: not a readable .xlsx workbook ({_cause(exc)})") from None


def _cause(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def _pick_sheet(path: Path, book: Any, kind: str | None) -> tuple[Any, list[RecordNote]]:
    """The sheet to read, and a note for each hidden sheet skipped."""
    sheets = list(book.worksheets)
    visible = [s for s in sheets if getattr(s, "sheet_state", "visible") == "visible"]
    notes = [
        RecordNote(
            None,
            "hidden-sheet",
            f"the sheet {shown(s.title)} is {s.sheet_state}: not read",
        )
        for s in sheets
        if s not in visible
    ]
    if not visible:
        raise UnreadableFile(f"{path}: every sheet of the workbook is hidden")
    named = [s for s in visible if s.title == kind]
    return (named or visible)[0], notes


def _xlsx_header(path: Path, sheet: Any, rows: Iterator[tuple[int, list[Any]]]) -> list[str]:
    for _, values in rows:
        values = [v.value if isinstance(v, SheetCell) else v for v in values]
        if any(v is not None and str(v).strip() for v in values):
            width = max(i + 1 for i, v in enumerate(values) if v is not None and str(v).strip())
            return [str(v).strip() if v is not None else "" for v in values[:width]]
    raise UnreadableFile(f"{path}: the sheet '{sheet.title}' is empty")


def _xlsx_chunks(
    book: Any, rows: Iterator[tuple[int, list[Any]]], header: list[str], limit: Limits
) -> Iterator[Chunk]:
    width = len(header)
    chunker = _Chunker()
    try:
        for line, values in rows:
            chunk = chunker.chunk
            if any(isinstance(v, SheetCell) for v in values):
                computed = _formula_values(chunk, line, header, values)
                if computed is None:
                    continue
                values = computed
            cells = [cell_text(v) for v in values[:width]]
            cells += [None] * (width - len(cells))
            if any(v is not None and str(v).strip() for v in values[width:]):
                message = "cells beyond the header's last column"
                chunk.rejects.append(StructuralReject(line, "bad-field-count", message, None))
            elif any(c is not None for c in cells) and _fits(chunk, line, header, cells, limit):
                chunk.rows.append(cells)
                chunk.lines.append(line)
            if chunker.full():
                yield chunker.take()
        yield chunker.take()
    finally:
        book.close()


def _formula_values(
    chunk: Chunk, line: int, header: list[str], values: list[Any]
) -> list[Any] | None:
    """A row's values with formula cells read as their saved values, noted; None (and the
    record rejected) when a formula cell was saved without its value."""
    names = [header[i] if i < len(header) else f"column {i + 1}" for i in range(len(values))]
    formulas = [names[i] for i, v in enumerate(values) if isinstance(v, SheetCell)]
    missing = [names[i] for i, v in enumerate(values) if isinstance(v, SheetCell) and not v.cached]
    if missing:
        message = (
            f"{shown(missing[0])}: a formula saved without its value; tracecheck does not "
            "compute formulas (save the workbook in a spreadsheet, or write the value)"
        )
        chunk.rejects.append(
            StructuralReject(line, "formula-without-value", message, None, missing[0])
        )
        return None
    listed = ", ".join(shown(n) for n in formulas)
    message = f"{listed}: formula cell(s); the value the sender's spreadsheet saved is read"
    chunk.notes.append(RecordNote(line, "formula-cell", message))
    return [v.value if isinstance(v, SheetCell) else v for v in values]


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
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
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
    table = read_xlsx(path, kind)
    table.close()  # without reading past the header
    return table.header
