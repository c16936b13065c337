"""Reading .xlsx workbooks: the first visible sheet, or the visible sheet named after the kind."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from traceability.errors import UnreadableFile
from traceability.load import limits
from traceability.load.chunks import Chunk, Chunker, RawTable, cell_text, fits
from traceability.load.limits import Limits, shown
from traceability.load.outcomes import Outcome, note, reject


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


def _pick_sheet(path: Path, book: Any, kind: str | None) -> tuple[Any, list[Outcome]]:
    """The sheet to read, and a note for each hidden sheet skipped."""
    sheets = list(book.worksheets)
    visible = [s for s in sheets if getattr(s, "sheet_state", "visible") == "visible"]
    notes = [
        note("hidden-sheet", None, sheet=shown(s.title), state=s.sheet_state)
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
    chunker = Chunker()
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
                chunk.rejects.append(reject("bad-field-count", line, "beyond_header"))
            elif any(c is not None for c in cells) and fits(chunk, line, header, cells, limit):
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
        name = missing[0]
        chunk.rejects.append(reject("formula-without-value", line, field=name, name=shown(name)))
        return None
    listed = ", ".join(shown(n) for n in formulas)
    chunk.notes.append(note("formula-cell", line, names=listed))
    return [v.value if isinstance(v, SheetCell) else v for v in values]


def xlsx_header(path: Path, kind: str | None) -> list[str]:
    """The header row of the sheet an .xlsx workbook would be read from."""
    table = read_xlsx(path, kind)
    table.close()  # without reading past the header
    return table.header
