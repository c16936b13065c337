"""Progress on standard error: a bar on a terminal, a line now and then when it is not one.

:func:`progress` is the one helper: a command gives it the bar's columns, how a call of the
library's callback moves the bar, and the lines to print when standard error is a file or a
pipe (a :class:`Lines`, which says when). With --quiet it shows nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Concatenate, ParamSpec

import click
from rich.console import Console
from rich.progress import Progress, ProgressColumn, TaskID

from traceability.cli.common import QUIET, verbosity

#: Seconds between two progress lines on a standard error that is not a terminal.
PROGRESS_EVERY = 5.0

P = ParamSpec("P")


def silent(*_: Any, **__: Any) -> None:
    """A progress callback that shows nothing (--quiet)."""


class Lines:
    """Progress as lines on standard error when it is not a terminal: at most one every
    ``every`` seconds (the first after ``first``), and one whenever ``last`` is set."""

    def __init__(self, every: float = PROGRESS_EVERY, first: float | None = None) -> None:
        self.every = every
        self.due = time.monotonic() + (every if first is None else first)
        self.spoken = False

    def say(self, text: str, *, last: bool = False) -> None:
        """Print ``text`` when a line is due, or when it is the ``last``."""
        now = time.monotonic()
        if last or now >= self.due:
            click.echo(text, err=True)
            self.due, self.spoken = now + self.every, True


@contextmanager
def progress(
    columns: Sequence[str | ProgressColumn],
    advance: Callable[Concatenate[Progress, TaskID, P], None],
    lines: Callable[P, None] | None = None,
    *,
    description: str = "",
    **fields: Any,
) -> Iterator[Callable[P, None]]:
    """The callback to give the library, within a ``with`` block.

    On a terminal, a transient bar of ``columns`` (its task made with ``description`` and
    ``fields``) that each call moves with ``advance(bar, task, ...)``; elsewhere ``lines``
    (none: nothing is shown); with --quiet, nothing.
    """
    if verbosity() == QUIET:
        yield silent
        return
    console = Console(stderr=True)
    if not console.is_terminal:
        yield lines if lines is not None else silent
        return
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=None, **fields)

        def moved(*args: P.args, **kwargs: P.kwargs) -> None:
            advance(bar, task, *args, **kwargs)

        yield moved
