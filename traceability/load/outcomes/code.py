"""The entry of one code in the table of codes: its kind, its message and its meaning."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

#: What a code does to its record: rejects it, or lets it load with a note.
Kind = Literal["reject", "note"]

#: What a code can be about.
APPLIES_TO = ("events", "tables", "files", "all")


@dataclass(frozen=True)
class Code:
    """One code: what happens to the record, the message written, what it means and why.

    ``template`` is the message, a :meth:`str.format` text whose fields the writer of the
    outcome fills (``{field}``, ``{value}``...); ``variants`` holds the other messages of the
    same code by name (the line of a JSON Lines file that is not an object is ``bad-json``
    with the variant ``not-an-object``).
    """

    code: str
    kind: Kind
    applies_to: str  # "events", "tables", "files" or "all"
    meaning: str
    why: str
    template: str
    variants: Mapping[str, str] = field(default_factory=dict)

    @property
    def outcome(self) -> Kind:
        """The kind, by the name the table of checks gave it."""
        return self.kind

    def message(self, variant: str | None = None, **values: object) -> str:
        """The message of this code (or of one of its variants), its fields filled.

        >>> Code("x", "note", "all", "m", "w", "{field}: {count:,} rows").message(
        ...     field="lot", count=1200)
        'lot: 1,200 rows'

        Raises:
            KeyError: an unknown variant, or a field the template names and ``values`` lacks.
        """
        template = self.template if variant is None else self.variants[variant]
        return template.format(**values)


def reject(
    code: str,
    applies_to: str,
    meaning: str,
    why: str,
    template: str,
    variants: Mapping[str, str] | None = None,
) -> Code:
    """A code that rejects its record."""
    return Code(code, "reject", applies_to, meaning, why, template, dict(variants or {}))


def note(
    code: str,
    applies_to: str,
    meaning: str,
    why: str,
    template: str,
    variants: Mapping[str, str] | None = None,
) -> Code:
    """A code that lets its record load, with a note."""
    return Code(code, "note", applies_to, meaning, why, template, dict(variants or {}))
