"""EPCIS event hash ID: the CBV 2.0 "Event Hash Generator" algorithm.

An event is hashed through a canonical *pre-hash string*: ``key=value`` pairs in a fixed
property order, concatenated without separators, with every value canonicalised
(timestamps to UTC with milliseconds, numbers without trailing zeros, EPCs to the
constrained GS1 Digital Link URI, CBV vocabulary to its ``https://ref.gs1.org/cbv/`` Web
URI, CURIEs and extension names expanded with the document's JSON-LD ``@context``). The
SHA-256 digest of that string, as an RFC 6920 ``ni`` URI, is the event hash ID::

    ni:///sha-256;<64 hex digits>?ver=CBV2.0

The input is an event as a Python mapping in the EPCIS 2.0 JSON shape. An event read
from XML can be hashed by the same code once converted to that shape: lists as JSON
arrays (``epcList`` -> list of strings, ``bizTransactionList`` -> list of
``{"type", "bizTransaction"}`` objects, ...), values as strings or numbers, and
extension names either as CURIEs resolvable through ``context`` or already expanded
in Clark notation (``{namespace}localName``).

Layout of the pre-hash string, following the public reference test vectors:

1. ``eventType``, then the standard fields in canonical order: ``eventTime``,
   ``eventTimeZoneOffset``, ``certificationInfo``, ``epcList``, ``parentID``,
   ``inputEPCList``, ``childEPCs``, ``quantityList``, ``childQuantityList``,
   ``inputQuantityList``, ``outputEPCList``, ``outputQuantityList``, ``action``,
   ``transformationID``, ``bizStep``, ``disposition``, ``persistentDisposition``,
   ``readPoint``, ``bizLocation``, ``sensorElementList``.
2. Then, sorted as whole substrings: ``bizTransactionList``, ``sourceList``,
   ``destinationList``, ``ilmd`` and every user extension.

Within a structure, the standard children come in their canonical order followed by
its extensions, sorted; repeated children (list members) are sorted. ``eventID``,
``recordTime``, ``errorDeclaration`` (so that an error declaration keeps the hash of
the event it corrects) and comments are left out. Empty values and lists add nothing.

Timestamps are normalised in the standard time fields only (``eventTime`` and the
sensor ``time``/``startTime``/``endTime``), as in the reference implementation; numbers
are normalised everywhere, including numeric text (XML has no other kind): each is read
as the nearest binary double, as the reference implementation does (so digits beyond a
double's 15-17 significant ones do not count), and written in plain notation without
exponent.

Two further rules follow the reference vectors. A field inside a standard structure that
is neither standard there nor namespaced is moved, under the path of its structures, to
the sorted tail of the event. An extension name is expanded with the namespace the
document gives it: an XML document's ``urn:epcglobal:cbv:mda`` (the CBV master-data
namespace of the XML binding) is not the JSON-LD context's ``urn:epcglobal:cbv:mda:``,
so ILMD written in that namespace hashes differently from its JSON-LD rendition.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from decimal import Decimal
from typing import Any

from traceability.load.epcis.eventhash_fields import (
    CBV_URNS,
    COMMENT,
    EXCLUDED,
    NUMBER,
    ORDERED,
    ORDERED_NAMES,
    SORTED_STANDARD,
    STANDARD_NAMESPACE_STARTS,
    STANDARD_PREFIXES,
    VALUE,
    Context,
    Leaf,
    Obj,
    Spec,
    Wrapped,
    cbv_term,
    double_text,
    offset_minutes,
    timestamp,
    uri,
)

__all__ = ["STANDARD_PREFIXES", "Context", "event_hash", "prehash"]


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------


class _Renderer:
    """Pre-hash substrings for one event, given its namespace prefixes."""

    __slots__ = ("ignore", "offset", "prefixes", "stack", "strays")

    def __init__(self, prefixes: Mapping[str, str], ignore: Collection[str], offset: int) -> None:
        self.prefixes = prefixes
        self.ignore = frozenset(ignore) | {self.key(name) for name in ignore}
        self.offset = offset
        # The standard structures being rendered, as (name, identity), and the fields
        # found in them that are neither standard there nor namespaced (see ``obj``).
        self.stack: list[tuple[str, int]] = []
        self.strays: list[tuple[tuple[tuple[str, int], ...], str]] = []

    def key(self, name: str) -> str:
        """Expand ``prefix:local`` to ``{namespace}local`` when the prefix is known."""
        prefix, colon, local = name.partition(":")
        if colon and prefix in self.prefixes and not name.startswith("{"):
            return "{" + self.prefixes[prefix] + "}" + local
        return name

    def skipped(self, name: str, expanded: str) -> bool:
        return (
            name.startswith("@")
            or name == "comment"
            or expanded == COMMENT
            or name in self.ignore
            or expanded in self.ignore
        )

    def value(self, value: Any, leaf: Leaf = VALUE) -> str:
        """Canonical text of a single value ("" for an empty one)."""
        if isinstance(value, str):
            text = value.strip()
        elif isinstance(value, bool):
            return "true" if value else "false"
        elif isinstance(value, int | Decimal):
            return double_text(Decimal(value))
        elif isinstance(value, float):
            return double_text(Decimal(repr(value)))
        elif value is None:
            return ""
        else:
            text = str(value).strip()
        if not text:
            return text
        if leaf.time:
            return timestamp(text, self.offset)
        if leaf.verbatim:
            return text
        if leaf.vocab:
            term = cbv_term(leaf.vocab, text)
            if term is not None:
                return leaf.vocab + term
        if NUMBER.fullmatch(text):
            return double_text(Decimal(text))
        if ":" not in text:
            return leaf.vocab + text if leaf.vocab else text
        if text.startswith("urn:epcglobal:cbv:"):
            for urn, web in CBV_URNS:
                if text.startswith(urn):
                    return web + text[len(urn) :]
            return text
        if text.startswith(("urn:epc:", "http://", "https://")):
            return uri(text)
        prefix, _, local = text.partition(":")
        namespace = self.prefixes.get(prefix)
        if namespace is not None and namespace.startswith(STANDARD_NAMESPACE_STARTS):
            return namespace + local
        return text

    def field(self, name: str, value: Any, spec: Spec) -> list[str]:
        """Substrings of a standard field (one per member if it is an array)."""
        if isinstance(value, list | tuple) and not isinstance(spec, Wrapped):
            out = [s for item in value for s in self.field(name, item, spec)]
            out.sort()
            return out
        if isinstance(spec, Wrapped):
            items = value if isinstance(value, list | tuple) else [value]
            child, child_spec = spec.child, spec.spec
            children: list[str] = []
            nested = isinstance(child_spec, Obj) and bool(child_spec.fields)
            if nested:
                self.stack.append((name, id(value)))
            for item in items:
                if isinstance(item, str) and isinstance(child_spec, Leaf):
                    # Fast path for EPC lists: a plain string member.
                    text = self.value(item, child_spec)
                    if text:
                        children.append(child + "=" + text)
                else:
                    children.extend(self.field(child, item, child_spec))
            if nested:
                self.stack.pop()
            if not children:
                return []
            children.sort()
            return [name + "".join(children)]
        if isinstance(spec, Obj) and isinstance(value, Mapping):
            self.stack.append((name, id(value)))
            text = self.obj(value, spec)
            self.stack.pop()
            return [name + text] if text else []
        if isinstance(value, Mapping):
            return self.extension(name, value)
        text = self.value(value, spec if isinstance(spec, Leaf) else VALUE)
        return [name + "=" + text] if text else []

    def obj(self, value: Mapping[str, Any], spec: Obj) -> str:
        """Standard children in order, then extensions sorted, concatenated.

        In a standard structure (not ILMD, whose members are all the user's), a field that
        is neither standard there nor namespaced (``bizRules`` on a sensor report, where
        only the sensor metadata has it) is no extension of that structure: it goes, with
        the path of the structures around it, to the end of the event (see ``event``).
        """
        parts: list[str] = []
        for name, child_spec in spec.fields:
            child = value.get(name)
            if child is not None and name not in self.ignore:
                parts.extend(self.field(name, child, child_spec))
        extensions: list[str] = []
        for name, child in value.items():
            if name in spec.names:
                continue
            found = self.extension(name, child)
            if spec.fields and found and ":" not in name and not name.startswith(("{", "@")):
                path = tuple(self.stack)
                self.strays.extend((path, text) for text in found)
            else:
                extensions.extend(found)
        extensions.sort()
        parts.extend(extensions)
        return "".join(parts)

    def extension(self, name: str, value: Any) -> list[str]:
        """Substrings of a user extension (or any field without a known structure)."""
        expanded = self.key(name)
        if self.skipped(name, expanded):
            return []
        if isinstance(value, list | tuple):
            return [s for item in value for s in self.extension(name, item)]
        if isinstance(value, Mapping):
            children = [s for k, v in value.items() for s in self.extension(k, v)]
            children.sort()
            return [expanded + "".join(children)]
        text = self.value(value)
        return [expanded + "=" + text if text else expanded]

    def event(self, event: Mapping[str, Any]) -> str:
        """The whole pre-hash string."""
        event_type = event.get("type")
        if not isinstance(event_type, str) or not event_type.strip():
            raise ValueError("event has no 'type' (ObjectEvent, AggregationEvent, ...)")
        parts = ["eventType=" + event_type.strip()]
        for name, spec in ORDERED:
            value = event.get(name)
            if value is not None and name not in self.ignore:
                parts.extend(self.field(name, value, spec))
        rest: list[str] = []
        for name, value in event.items():
            if name in ORDERED_NAMES or name in EXCLUDED:
                continue
            sorted_spec = SORTED_STANDARD.get(name)
            if sorted_spec is None:
                rest.extend(self.extension(name, value))
            elif name not in self.ignore and value is not None:
                rest.extend(self.field(name, value, sorted_spec))
        rest.extend(_stray_texts(self.strays))
        rest.sort()
        parts.extend(rest)
        return "".join(parts)


def _stray_texts(strays: Sequence[tuple[tuple[tuple[str, int], ...], str]]) -> list[str]:
    """The stray fields of an event, each under the structures that hold it, as a tree:
    one substring per outermost structure, its parts sorted at each level."""
    tree: dict[Any, Any] = {}
    for path, text in strays:
        node = tree
        for step in path:
            node = node.setdefault(step, {})
        node.setdefault(None, []).append(text)

    def render(node: dict[Any, Any]) -> list[str]:
        out = list(node.get(None, []))
        out += [step[0] + "".join(render(child)) for step, child in node.items() if step]
        out.sort()
        return out

    return render(tree)


def _add_prefixes(prefixes: dict[str, str], context: Any) -> None:
    """Collect ``prefix -> namespace`` definitions from a JSON-LD context value."""
    if isinstance(context, Mapping):
        for term, definition in context.items():
            if not isinstance(term, str) or term.startswith("@"):
                continue
            if isinstance(definition, Mapping):
                definition = definition.get("@id")
            if isinstance(definition, str) and not definition.startswith("@"):
                prefixes[term] = definition
    elif isinstance(context, Sequence) and not isinstance(context, str):
        for item in context:
            _add_prefixes(prefixes, item)


def _renderer(
    event: Mapping[str, Any], context: Context, ignore_fields: Collection[str]
) -> _Renderer:
    prefixes = dict(STANDARD_PREFIXES)
    _add_prefixes(prefixes, context)
    _add_prefixes(prefixes, event.get("@context"))
    offset = offset_minutes(event.get("eventTimeZoneOffset"))
    return _Renderer(prefixes, ignore_fields, offset)


def prehash(
    event: Mapping[str, Any],
    context: Context = None,
    *,
    ignore_fields: Collection[str] = (),
) -> str:
    """Build the canonical pre-hash string of an EPCIS event.

    Args:
        event: one event in the EPCIS 2.0 JSON shape (as parsed from JSON, numbers as
            ``int``, ``float`` or ``Decimal``). An ``@context`` inside the event adds
            to ``context``.
        context: the document's JSON-LD ``@context`` (a URL, an object or a list of
            them); its prefix definitions expand extension names such as
            ``example:myField``. The prefixes of the standard EPCIS context
            (``gs1``, ``cbv``, ``cbvmda``, ...) are always known.
        ignore_fields: names of fields to leave out wherever they occur, as plain names,
            CURIEs or expanded ``{namespace}local`` names. Not part of the GS1
            algorithm: for repositories that declare some of their own fields (a stored
            hash, a capture ID) as not part of the event.

    Returns:
        The pre-hash string.

    Raises:
        ValueError: if the event has no ``type``.

    Examples:
        >>> text = prehash(
        ...     {
        ...         "type": "ObjectEvent",
        ...         "eventTime": "2005-04-03T20:33:31.1165-06:00",
        ...         "eventTimeZoneOffset": "-06:00",
        ...         "epcList": ["urn:epc:id:sgtin:0614141.107346.2017"],
        ...         "action": "OBSERVE",
        ...         "bizStep": "shipping",
        ...         "example:temp": Decimal("4.50"),
        ...     },
        ...     [{"example": "https://ns.example.com/epcis/"}],
        ... )
        >>> for part in text.replace("epc=", "|epc=").replace("action", "|action").split("|"):
        ...     print(part)
        eventType=ObjectEventeventTime=2005-04-04T02:33:31.117ZeventTimeZoneOffset=-06:00epcList
        epc=https://id.gs1.org/01/10614141073464/21/2017
        action=OBSERVEbizStep=https://ref.gs1.org/cbv/BizStep-shipping{https://ns.example.com/epcis/}temp=4.5
    """
    return _renderer(event, context, ignore_fields).event(event)


def event_hash(
    event: Mapping[str, Any],
    context: Context = None,
    *,
    ignore_fields: Collection[str] = (),
) -> str:
    """Compute the EPCIS event hash ID (SHA-256, CBV 2.0) of an event.

    Args:
        event: the event, as for ``prehash``.
        context: the document's JSON-LD ``@context``, as for ``prehash``.
        ignore_fields: extension fields to leave out, as for ``prehash``.

    Returns:
        ``ni:///sha-256;<hex digest>?ver=CBV2.0``.

    Raises:
        ValueError: if the event has no ``type``.

    Examples:
        >>> event_hash({"type": "ObjectEvent", "action": "OBSERVE"})[:14]
        'ni:///sha-256;'
    """
    digest = hashlib.sha256(prehash(event, context, ignore_fields=ignore_fields).encode())
    return f"ni:///sha-256;{digest.hexdigest()}?ver=CBV2.0"
