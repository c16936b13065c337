"""Report renderers: each format is a module ``to_<name>.py`` found by the registry.

:func:`render` writes a report, a diff of two reports or a preflight as text in any format
of :func:`traceability.render.registry.formats`; :func:`render_bytes` writes the bytes of a
file, the binary formats (``xlsx``) included.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from traceability.diff import Diff
from traceability.errors import InputError
from traceability.model import Report
from traceability.preflight import Preflight
from traceability.render.registry import (
    CAVEATS_SHOWN,
    DEFAULT_WIDTH,
    Format,
    Kind,
    Layout,
    formats,
    names,
)

__all__ = [
    "DIFF_RENDERERS",
    "RENDERERS",
    "Format",
    "Layout",
    "formats",
    "is_binary",
    "kind_of",
    "names",
    "render",
    "render_bytes",
    "render_diff",
]


def kind_of(obj: Report | Diff | Preflight) -> Kind:
    """Which renderer of a format writes ``obj``."""
    if isinstance(obj, Diff):
        return "diff"
    if isinstance(obj, Preflight):
        return "preflight"
    return "report"


def is_binary(fmt: str) -> bool:
    """Whether a format is written as bytes (``xlsx``) rather than text."""
    found = formats().get(fmt)
    return found is not None and found.binary


def render(
    obj: Report | Diff | Preflight,
    fmt: str,
    *,
    width: int = DEFAULT_WIDTH,
    color: bool = False,
    caveats_shown: int | None = CAVEATS_SHOWN,
) -> str:
    """A report, a diff of two reports or a preflight, in one of the text formats.

    ``width``, ``color`` and ``caveats_shown`` are for the ``table`` format: at most this
    many columns (a terminal's width, say), ANSI colours, and how many caveats each finding
    lists (None: all).

    Raises:
        InputError: an unknown format, or a binary one (:func:`render_bytes` writes it).
    """
    kind = kind_of(obj)
    found = formats().get(fmt)
    renderer = found.renderer(kind) if found is not None else None
    if renderer is None:
        known = ", ".join(names(kind, binary=False))
        raise InputError(f"unknown format {fmt!r}", hint=f"one of {known}")
    if found is not None and found.binary:
        raise InputError(f"{fmt} is a binary format", hint="render_bytes writes it")
    text = renderer(obj, Layout(width, color, caveats_shown))
    if not isinstance(text, str):
        raise TypeError(f"the {fmt} format is not marked binary but wrote bytes")
    return text


def render_bytes(obj: Report | Diff | Preflight, fmt: str) -> bytes:
    """A report, a diff or a preflight in any format, as the bytes of a file (a text format
    as UTF-8).

    Raises:
        InputError: an unknown format, or a binary one for what it does not render (a
            preflight in ``xlsx``).
    """
    found = formats().get(fmt)
    renderer = found.renderer(kind_of(obj)) if found is not None and found.binary else None
    if renderer is None:
        return render(obj, fmt).encode("utf-8")
    data = renderer(obj, Layout())
    if not isinstance(data, bytes):
        raise TypeError(f"the {fmt} format is marked binary but wrote text")
    return data


def render_diff(result: Diff, fmt: str) -> str:
    """A diff of two reports in one of the text formats (as :func:`render` writes it)."""
    return render(result, fmt)


def _text_renderers(kind: Kind) -> Mapping[str, Callable[[Any], str]]:
    return {name: partial(render, fmt=name) for name in names(kind, binary=False)}


#: The text formats of a report and of a diff, each as a function of the object alone.
RENDERERS: Mapping[str, Callable[[Report], str]] = _text_renderers("report")
DIFF_RENDERERS: Mapping[str, Callable[[Diff], str]] = _text_renderers("diff")
