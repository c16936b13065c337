"""What reading an EPCIS document gives: its events one at a time, with their issues.

Both readers (JSON / JSON-LD in :mod:`traceability.load.epcis.read_documents`, XML in
:mod:`traceability.load.epcis.read_xml`) give a :class:`Document`: what kind of document the
file is, notes about the file as a whole, and an iterator of :class:`Item`, one per
event, each the event in the EPCIS 2.0 JSON-LD shape with the problems that reject it
and the warnings that do not.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

Level = Literal["note", "warning"]

#: What a file holds: events to load, or a document of another kind that is skipped.
DocumentKind = Literal["events", "master-data", "capture-job"]


@dataclass(frozen=True)
class Issue:
    """One problem or warning: the field (a dotted path in the event) and a stable code."""

    field: str | None
    code: str
    message: str


@dataclass
class Item:
    """One event of a document, numbered by its position (1, 2, ...)."""

    record: int
    event: Any  # a JSON object for a well-formed event; anything else is rejected
    line: int | None = None  # where the event starts in an XML file
    problems: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)

    def where(self) -> str:
        """``event 3`` or ``event 3 (line 57)``."""
        return f"event {self.record}" + (f" (line {self.line})" if self.line else "")


@dataclass(frozen=True)
class Note:
    """A note or warning about a file, or about one record of it."""

    level: Level
    code: str
    message: str
    record: int | None = None
    location: str | None = None


@dataclass
class Document:
    """An EPCIS document being read: its kind, file notes, and its events as a stream.

    ``notes`` may grow while ``items`` is consumed (the XML reader meets the header's
    master data on the way to the events).
    """

    kind: DocumentKind
    version: str  # "1.2", "2.0", or "" when the document does not say
    context: Any  # the JSON-LD @context of a JSON document; None for XML
    items: Iterator[Item]
    notes: list[Note] = field(default_factory=list)
