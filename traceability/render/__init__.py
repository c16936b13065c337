"""Report renderers: one function per format, looked up by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from traceability.diff import Diff, render_diff_json, render_diff_table
from traceability.errors import InputError
from traceability.model import Report
from traceability.render.to_csv import render_csv, render_diff_csv
from traceability.render.to_html import render_diff_html, render_html
from traceability.render.to_json import render_json
from traceability.render.to_md import render_diff_md, render_md
from traceability.render.to_table import render_table

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


def render(obj: Report | Diff | Preflight, fmt: str) -> str:
    """A report, a diff of two reports or a preflight, in one of the registered formats.

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
    try:
        renderer = registry[fmt]
    except KeyError:
        known = ", ".join(sorted(registry))
        raise InputError(f"unknown format {fmt!r}", hint=f"one of {known}") from None
    text: str = renderer(obj)
    return text
