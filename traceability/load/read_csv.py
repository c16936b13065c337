"""Reading CSV files (UTF-8, header row, comma separator, RFC 4180 quoting)."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from traceability.errors import UnreadableFile
from traceability.load import limits
from traceability.load.chunks import Chunk, Chunker, RawTable, check_columns
from traceability.load.limits import Limits
from traceability.load.outcomes import reject


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
    chunker = Chunker()
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
                    most, hint = limit.max_field_chars, limit.hint("max_field_chars")
                    problem = reject("field-too-large", start, "csv", most=most, hint=hint)
                else:
                    problem = reject("bad-csv", start, detail=exc)
                chunker.chunk.rejects.append(problem)
                start = reader.line_num + 1
                continue
            finally:
                csv.field_size_limit(previous)
            line, start = start, reader.line_num + 1
            if not record or all(not c.strip() for c in record):
                continue
            if len(record) != width:
                problem = reject(
                    "bad-field-count", line, raw=",".join(record), count=len(record), width=width
                )
                chunker.chunk.rejects.append(problem)
            else:
                chunker.chunk.rows.append([c if c.strip() else None for c in record])
                chunker.chunk.lines.append(line)
            if chunker.full():
                yield chunker.take()
        yield chunker.take()
    finally:
        handle.close()


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
