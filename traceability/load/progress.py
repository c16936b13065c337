"""Progress within a file: a loader says how far it has got as it goes.

A loader that can tell takes a :data:`Listener` and calls it after each chunk or batch
it has stored, with the records and bytes of the file done so far; the caller passes the
listener in, and a loader given ``None`` tells no one.
"""

from __future__ import annotations

from collections.abc import Callable

#: ``listener(records, bytes_done)``: records of the file done so far, and the bytes of
#: the file read up to the end of them (``None`` when the loader cannot tell: a document
#: is parsed whole before its events are stored).
Listener = Callable[[int, int | None], None]
