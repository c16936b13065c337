"""The report formats, found by discovery: each ``render/to_<name>.py`` defines one ``FORMAT``.

A :class:`Format` names the format, the suffix of its files, whether it is written as bytes
(a binary file such as ``xlsx``) or as text, and its renderers: of a report, of a diff of two
reports and of a preflight (the last two optional). :func:`formats` imports every module of
this package whose name starts with ``to_`` and collects their ``FORMAT``; everything that
lists formats (``--format`` choices and help, :func:`traceability.render.render`, the binary
formats, file suffixes) reads it. Adding a format is one module and its test.

Each renderer takes the object and a :class:`Layout`: the width, colours and caveats per
finding that only a terminal view uses. A format whose output does not depend on them wraps
its functions with :func:`fixed`.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    from traceability.diff import Diff
    from traceability.model import Report
    from traceability.preflight import Preflight

#: The width of a text view when none is given: a file, a pipe.
DEFAULT_WIDTH = 100
#: How many caveats a finding lists in a terminal view by default (the JSON has them all).
CAVEATS_SHOWN = 5

#: What a format renders: a report, a diff of two reports, or a preflight.
Kind = Literal["report", "diff", "preflight"]
KINDS: tuple[Kind, ...] = ("report", "diff", "preflight")

T = TypeVar("T")
R = TypeVar("R", str, bytes)


@dataclass(frozen=True)
class Layout:
    """How a text view is laid out: at most ``width`` columns, ANSI colours or not, and how
    many caveats each finding lists (None: all). Only the terminal table uses them."""

    width: int = DEFAULT_WIDTH
    color: bool = False
    caveats_shown: int | None = CAVEATS_SHOWN


@dataclass(frozen=True)
class Format:
    """One report format and its renderers.

    ``report`` returns text, or bytes when ``binary``; so does ``diff``. ``preflight``
    returns text. A renderer left None means the format does not render that kind.
    """

    name: str
    suffix: str
    binary: bool
    report: Callable[[Report, Layout], str | bytes]
    diff: Callable[[Diff, Layout], str | bytes] | None
    preflight: Callable[[Preflight, Layout], str] | None

    def renderer(self, kind: Kind) -> Callable[[Any, Layout], str | bytes] | None:
        """The renderer of ``kind``, or None when the format has none."""
        found: Callable[[Any, Layout], str | bytes] | None = getattr(self, kind)
        return found


def fixed(render: Callable[[T], R]) -> Callable[[T, Layout], R]:
    """A renderer whose output is the same whatever the layout (all but the table's)."""

    def rendered(obj: T, layout: Layout) -> R:
        return render(obj)

    rendered.__name__ = rendered.__qualname__ = render.__name__
    rendered.__doc__ = render.__doc__
    return rendered


class FormatError(Exception):
    """A ``to_*`` module without a proper ``FORMAT``: a mistake in the package itself."""


def discover(folder: Path, package: str) -> Mapping[str, Format]:
    """The ``FORMAT`` of each ``to_<name>`` module of ``package`` (whose modules are in
    ``folder``), by name in sorted order.

    Raises:
        FormatError: a ``to_*`` module defines no :class:`Format`, or one named otherwise.
    """
    found: dict[str, Format] = {}
    for module in pkgutil.iter_modules([str(folder)]):
        if not module.name.startswith("to_"):
            continue
        where = f"{package}.{module.name}"
        fmt = getattr(importlib.import_module(where), "FORMAT", None)
        if not isinstance(fmt, Format):
            raise FormatError(f"{where} defines no FORMAT = Format(...)")
        if fmt.name != module.name.removeprefix("to_"):
            raise FormatError(f"{where} names its format {fmt.name!r}, not its module's")
        found[fmt.name] = fmt
    return MappingProxyType(dict(sorted(found.items())))


@cache
def formats() -> Mapping[str, Format]:
    """Every format of this package, by name in sorted order (see :func:`discover`)."""
    return discover(Path(__file__).parent, __package__ or "traceability.render")


def names(kind: Kind, *, binary: bool = True) -> list[str]:
    """The formats that render ``kind``, sorted (without the binary ones unless ``binary``).

    >>> names("report", binary=False)
    ['csv', 'html', 'json', 'md', 'table']
    """
    return [
        f.name
        for f in formats().values()
        if f.renderer(kind) is not None and (binary or not f.binary)
    ]
