"""Report renderers: one function per format, looked up by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from traceability.diff import Diff, render_diff_json
from traceability.errors import InputError
from traceability.model import Report
from traceability.render.to_csv import render_csv, render_diff_csv
from traceability.render.to_html import render_diff_html, render_html
from traceability.render.to_json import render_json
from traceability.render.to_md import render_diff_md, render_md
from traceability.render.to_table import DEFAULT_WIDTH, render_diff_table, render_table
from traceability.render.to_xlsx import render_diff_xlsx, render_xlsx

if TYPE_CHECKING:
    from traceability.preflight import Preflight

Renderer = Callable[[Report], str]

RENDERERS: dict[str, Renderer] = {
    "json": render_json,
    "table": render_table,
    "csv": render_csv,
    "md": render_md,
    "html": render_html,
}

DIFF_RENDERERS: dict[str, Callable[[Diff], str]] = {
    "json": render_diff_json,
    "table": render_diff_table,
    "csv": render_diff_csv,
    "md": render_diff_md,
    "html": render_diff_html,
}

#: Formats written as bytes (a file, not text): ``render_bytes`` writes them.
BINARY_RENDERERS: dict[str, Callable[[Report], bytes]] = {"xlsx": render_xlsx}
DIFF_BINARY_RENDERERS: dict[str, Callable[[Diff], bytes]] = {"xlsx": render_diff_xlsx}


def is_binary(fmt: str) -> bool:
    """Whether a format is written as bytes (``xlsx``) rather than text."""
    return fmt in BINARY_RENDERERS or fmt in DIFF_BINARY_RENDERERS


def render_bytes(obj: Report | Diff | Preflight, fmt: str) -> bytes:
    """A report or a diff in any registered format, as the bytes of a file (a text format
    as UTF-8).

    Raises:
        InputError: an unknown format, or a binary one for what has none (a preflight).
    """
    binary: dict[str, Any] = DIFF_BINARY_RENDERERS if isinstance(obj, Diff) else BINARY_RENDERERS
    if fmt in binary and isinstance(obj, Report | Diff):
        data: bytes = binary[fmt](obj)
        return data
    return render(obj, fmt).encode("utf-8")


def render(
    obj: Report | Diff | Preflight, fmt: str, *, width: int = DEFAULT_WIDTH, color: bool = False
) -> str:
    """A report, a diff of two reports or a preflight, in one of the registered formats.

    ``width`` and ``color`` are for the ``table`` format: at most this many columns (a
    terminal's width, say), and ANSI colours.

    Raises:
        InputError: an unknown format.
    """
    from traceability.preflight import Preflight
    from traceability.render.to_preflight import PREFLIGHT_RENDERERS

    registry: dict[str, Any] = RENDERERS
    if isinstance(obj, Diff):
        registry = DIFF_RENDERERS
    elif isinstance(obj, Preflight):
        registry = PREFLIGHT_RENDERERS
    if fmt not in registry and is_binary(fmt) and isinstance(obj, Report | Diff):
        raise InputError(f"{fmt} is a binary format", hint="render_bytes writes it")
    try:
        renderer = registry[fmt]
    except KeyError:
        known = ", ".join(sorted(registry))
        raise InputError(f"unknown format {fmt!r}", hint=f"one of {known}") from None
    text: str = renderer(obj, width=width, color=color) if fmt == "table" else renderer(obj)
    return text
