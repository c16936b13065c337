"""Reading JSON Lines of flat records; JSON numbers are read as exact decimals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from traceability.errors import UnreadableFile
from traceability.load import limits
from traceability.load.chunks import Chunk, Chunker, RawTable, cell_text, check_columns, fits
from traceability.load.limits import Limits, shown
from traceability.load.outcomes import Outcome, message, note, reject

#: The reason given for JSON nested more deeply than Python can follow.
TOO_DEEP = "nested too deeply to be read"
#: The reason given for a JSON number Python cannot read: more than 4,300 digits (its
#: limit on converting text to an integer), or an exponent beyond what Decimal holds.
HUGE_NUMBER = message("bad-json", "huge_number")
#: The reason given for a JSON string escape that is half a UTF-16 surrogate pair.
LONE_SURROGATE = message("bad-json", "lone_surrogate")


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
        return None, message("bad-json", "decode", detail=exc.msg)
    except RecursionError:
        return None, message("bad-json", "too_deep")
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
    chunker = Chunker()
    for line, text in _json_records(path, limit):
        chunk = chunker.chunk
        keys = _Keys()
        obj, problem = (None, None) if text is None else _parse(text, keys)
        if text is None:
            most, hint = limit.max_line_bytes, limit.hint("max_line_bytes")
            chunk.rejects.append(reject("line-too-long", line, most=most, hint=hint))
        elif problem is not None:
            # the reason is the message: bad-json's, made by _parse
            chunk.rejects.append(Outcome("reject", "bad-json", line, problem, raw=text[:500]))
        elif not isinstance(obj, dict):
            chunk.rejects.append(reject("bad-json", line, "not_an_object", raw=text[:500]))
        elif "\\u" in text and _lone_surrogate(obj):
            chunk.rejects.append(reject("bad-json", line, "lone_surrogate", raw=text[:500]))
        elif _repeated_keys(chunk, line, keys, text):
            pass
        else:
            try:
                cells = [cell_text(obj.get(name)) for name in header]
            except RecursionError:
                chunk.rejects.append(reject("bad-json", line, "too_deep"))
            else:
                if fits(chunk, line, header, cells, limit):
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
        chunk.rejects.append(
            reject("duplicate-key-conflict", line, field=key, raw=text[:500], name=shown(key))
        )
        return True
    for key in keys.repeated:
        chunk.notes.append(note("duplicate-key", line, name=shown(key)))
    return False
