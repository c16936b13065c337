"""Progress within a file: a loader says how far it has got as it goes.

A loader calls :func:`advance` after each chunk or batch it has stored, with the records
and bytes of the file done so far. :func:`reporting` names, for the files loaded inside
it, the function those calls reach; outside it (or with ``None``) they reach nothing, so
a loader needs no parameter for it and costs nothing when no one listens.

>>> seen = []
>>> with reporting(lambda records, done: seen.append((records, done))):
...     advance(10, 1024)
...     advance(20, None)
>>> advance(30, 4096)  # no one listens here
>>> seen
[(10, 1024), (20, None)]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

#: ``listener(records, bytes_done)``: records of the file done so far, and the bytes of
#: the file read up to the end of them (``None`` when the loader cannot tell: a document
#: is parsed whole before its events are stored).
Listener = Callable[[int, int | None], None]

_listener: ContextVar[Listener | None] = ContextVar("tracecheck_load_progress", default=None)


@contextmanager
def reporting(listener: Listener | None) -> Iterator[None]:
    """Send the :func:`advance` calls made inside the block to ``listener``."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


def advance(records: int, bytes_done: int | None) -> None:
    """Say how far the file being loaded has got (a no-op when no one listens)."""
    listener = _listener.get()
    if listener is not None:
        listener(records, bytes_done)
