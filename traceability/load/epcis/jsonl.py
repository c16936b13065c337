"""Reading events: JSON Lines in chunks (the next read on a thread while one is loaded),
and the events of a document as JSON text."""

from __future__ import annotations

import json
import queue
import struct
import threading
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from traceability.errors import UnreadableFile
from traceability.load import limits
from traceability.load.epcis.chunk import Lines
from traceability.load.exact_numbers import BigNumber, number_text


def _number_text(value: Any) -> str:
    if isinstance(value, BigNumber):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | Decimal):
        return number_text(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(k)}:{_number_text(v)}" for k, v in value.items()) + "}"
    return "[" + ",".join(_number_text(v) for v in value) + "]"


def dump_event(event: Mapping[str, Any]) -> str:
    """Compact JSON text for an event, writing exact decimals as the numbers they were.

    >>> dump_event({"quantity": Decimal("12.50"), "uom": "KGM"})
    '{"quantity":12.50,"uom":"KGM"}'
    """
    return _number_text(event)


def jsonl_chunks(path: Path, chunk_bytes: int) -> Iterator[tuple[int, Lines]]:
    """The lines of a JSON Lines file in chunks: (number of the first line, lines).

    The next chunk is read and split on a background thread while the caller works on
    the current one.
    """
    return _read_ahead(_jsonl_chunks(path, chunk_bytes))


def _jsonl_chunks(path: Path, size: int) -> Iterator[tuple[int, Lines]]:
    first = 1
    rest = b""
    limit = limits.current()
    offset = 0  # bytes read so far
    with path.open("rb") as f:
        while True:
            block = f.read(size)
            offset += len(block)
            data = rest + block if rest else block
            if not block:
                if data:
                    chunk = _split(path, first, memoryview(data), limit)
                    chunk.end_byte = offset
                    yield first, chunk
                return
            cut = data.rfind(b"\n")
            if cut < 0:
                rest = data
                if len(rest) > limit.max_line_bytes:
                    limits.refuse_line(path, first, limit)
                continue
            rest = data[cut + 1 :]
            chunk = _split(path, first, memoryview(data)[:cut], limit)
            chunk.end_byte = offset - len(rest)
            yield first, chunk
            first += len(chunk)


_BOM = b"\xef\xbb\xbf"


def _split(path: Path, first: int, data: memoryview, limit: limits.Limits) -> Lines:
    """The lines of ``data`` (text ending before a newline), numbered from ``first``.

    The bytes are checked as UTF-8 and cut at each newline by Arrow, without a Python
    string per line: at a million events, making those strings cost more than DuckDB's
    whole parse of the JSON.
    """
    if first == 1 and data[:3] == _BOM:
        data = data[3:]
    text = pa.LargeStringArray.from_buffers(
        1, pa.py_buffer(struct.pack("<qq", 0, len(data))), pa.py_buffer(data)
    )
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        _decode(path, first, bytes(data))  # names the line
        raise
    lines = pc.split_pattern(text, "\n").flatten()
    limits.check_lines(path, first, pc.binary_length(lines), limit)
    return Lines(first, lines)


def _read_ahead(items: Iterator[tuple[int, Lines]]) -> Iterator[tuple[int, Lines]]:
    """The items of ``items``, each next one produced on a thread while this one is used."""
    ready: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: tuple[bool, Any]) -> None:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def produce() -> None:
        try:
            for item in items:
                put((True, item))
                if stop.is_set():
                    return
            put((False, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put((False, exc))

    worker = threading.Thread(target=produce, name="tracecheck-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            more, item = ready.get()
            if not more:
                if item is not None:
                    raise item
                return
            yield item
    finally:
        stop.set()
        worker.join()


def _decode(path: Path, first: int, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = first + data[: exc.start].count(b"\n")
        raise UnreadableFile(
            f"{path}:{line}: not UTF-8 text", hint="save the file as UTF-8"
        ) from None
