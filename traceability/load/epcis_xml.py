"""EPCIS 1.2 and 2.0 XML documents, streamed, as events in the EPCIS 2.0 JSON-LD shape.

The file is read with lxml's ``iterparse``: each event element is converted when its end
tag is read and then dropped from the tree, so memory stays bounded by one event (plus the
chunk of converted events the loader holds), whatever the size of the document.

The parser resolves no entities, loads no DTD, applies no attribute default that a
DOCTYPE declares (each such default is noted, ``dtd-default-ignored``) and never touches
the network (an XML file cannot make tracecheck read another file or a URL).
``huge_tree`` stays off: it lifts libxml2's limits on a single text node (10 MB) and on
nesting depth, which no EPCIS event comes near and which guard against hostile input;
the size of the document as a whole is not limited by it.

Conversion follows the EPCIS 2.0 XML ↔ JSON-LD mapping:

- EPCIS 1.2 ``extension`` and ``baseExtension`` wrappers are unwrapped (in the event
  list, in events and in their parts), so a 1.2 event and its 2.0 rendition give the same
  JSON; events in ``EPCISQueryDocument`` query results are read like those of a document;
- CBV terms written as CBV 1.x URNs become their bare CBV 2.0 words (``shipping``);
- quantities and the numeric attributes of sensor reports become exact decimals;
- user extensions (elements in a namespace of their own, in the event, ILMD, sensor
  elements, read points ...) are kept as ``prefix:localName`` members with the prefix
  declared in an ``@context`` of the event; ILMD in the CBV master-data namespace keeps
  its standard ``cbvmda:`` prefix. Extension values are text, as in the standard mapping.

An entity reference makes an event meaningless (its text is not there) and rejects it.
Deviations whose meaning is clear are warnings: an element with no namespace of its own
(kept under its bare name), standard elements out of the XSD's sequence, 2.0 fields in a
1.2 document or outside the wrappers 1.2 puts them in, a vocabulary term written bare, in
another case or with spaces, stray text in a wrapper. With the official XSDs
given (``TRACECHECK_EPCIS_XSD``), each event is also validated against them, for
warnings only (see :class:`XsdCheck`). Master-data documents and capture-job reports are
recognised and skipped; a query definition or anything that is not EPCIS is refused as a
file.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterator
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import IO, Any

from lxml import etree

from traceability.errors import UnreadableFile
from traceability.load.epcis.terms import (
    BARE_ILMD_NAMES,
    CBV_TERMS,
    EPC_LISTS,
    EVENT_TYPES,
    FIELD_ORDER,
    NEW_IN_2_0,
    QUANTITY_LISTS,
    STANDARD_FIELDS,
    bare_cbv,
    canonical_spellings,
)
from traceability.load.epcis_items import Document, Issue, Item, Note
from traceability.load.eventhash import STANDARD_PREFIXES
from traceability.load.exact_numbers import json_spelling, written_number

EPCIS_NAMESPACES = {
    "urn:epcglobal:epcis:xsd:1": "1.2",
    "urn:epcglobal:epcis:xsd:2": "2.0",
    "urn:epcglobal:epcis-query:xsd:1": "1.2",
    "urn:epcglobal:epcis-query:xsd:2": "2.0",
}
MASTER_DATA_NAMESPACES = (
    "urn:epcglobal:epcis-masterdata:xsd:1",
    "urn:epcglobal:epcis-masterdata:xsd:2",
)
_XSI = "{http://www.w3.org/2001/XMLSchema-instance}"
_CBVMDA_XML = "urn:epcglobal:cbv:mda"

#: Namespace -> prefix of the standard EPCIS JSON-LD context (declared there already).
_STANDARD_BY_NAMESPACE = {ns: prefix for prefix, ns in STANDARD_PREFIXES.items()}
_STANDARD_BY_NAMESPACE[_CBVMDA_XML] = "cbvmda"

#: The blanks around a value that XML itself treats as white space. Python's ``strip()``
#: would also remove Unicode spaces and controls (U+0085, U+2028), changing a value unseen.
_XML_BLANKS = " \t\r\n"
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SENSOR_NUMBERS = frozenset(
    {"value", "minValue", "maxValue", "meanValue", "sDev", "percRank", "percValue"}
)
_SIMPLE = frozenset(
    {"eventTime", "recordTime", "eventTimeZoneOffset", "eventID", "action", "parentID"}
    | {"transformationID", "certificationInfo"}
)
_PARTY_LISTS = {"sourceList": "source", "destinationList": "destination"}
#: Position of each standard field in the EPCIS 2.0 XSD sequence, by event type.
_RANKS = {t: {name: i for i, name in enumerate(order)} for t, order in FIELD_ORDER.items()}
_WRAPPERS = ("extension", "baseExtension")
#: Fields that EPCIS 1.2 puts in a wrapper, and which one.
_WRAPPED_IN_1_2 = {
    "eventID": "baseExtension",
    "errorDeclaration": "baseExtension",
    **dict.fromkeys(
        ("quantityList", "childQuantityList", "sourceList", "destinationList", "ilmd"),
        "extension",
    ),
}
#: Of those, the ones a 1.2 TransformationEvent (itself an extension) holds directly.
_DIRECT_IN_TRANSFORMATION = frozenset({"sourceList", "destinationList", "ilmd"})


def _split(tag: str) -> tuple[str, str]:
    """(namespace, local name) of a Clark-notation tag."""
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return "", tag


def _decimal_or_text(text: str) -> Decimal | str:
    """An exact number as written (see :mod:`traceability.load.exact_numbers`), or the text."""
    text = text.strip(_XML_BLANKS)
    return written_number(json_spelling(text)) if _NUMBER.fullmatch(text) else text


def _attribute(el: Any, name: str) -> str | None:
    """The value of an attribute written on ``el``, never a default that a DTD declares.

    lxml's ``el.get()`` answers with a DTD's default (``<!ATTLIST bizTransaction type
    CDATA "po">``) when the attribute is not written; the attributes written are read
    here instead.
    """
    for key, value in el.items():
        if key == name:
            return str(value)
    return None


def _text(el: Any) -> str:
    return (el.text or "").strip(_XML_BLANKS)


class _EventReader:
    """Converts one event element; collects its problems, warnings and namespaces."""

    def __init__(self, item: Item, version: str, binding: str = "") -> None:
        self.item = item
        self.version = version
        self.binding = binding  # "2.0" for a document in the EPCIS 2.0 namespace
        self.context: dict[str, str] = {}
        self.by_namespace: dict[str, str] = {}
        self.order: list[tuple[str, int | None]] = []
        self.root: Any = None

    # -- issues -----------------------------------------------------------------------

    def problem(self, field: str, code: str, message: str) -> None:
        self.item.problems.append(Issue(field, code, message))

    def warn(self, field: str | None, code: str, message: str) -> None:
        self.item.warnings.append(Issue(field, code, message))

    def vocab(self, where: str, vocabulary: str, raw: str) -> str:
        """A vocabulary value in its one normalised form (:func:`bare_cbv`); a spelling
        the XML binding does not use (a bare word or CURIE, another case, spaces around
        it) is noted."""
        if not vocabulary:
            return raw.strip(_XML_BLANKS)
        value = bare_cbv(vocabulary, raw)
        if value in CBV_TERMS[vocabulary] and raw not in canonical_spellings(vocabulary, "xml"):
            self.warn(
                where,
                "vocabulary-spelling",
                f"{where}: {raw!r} read as the CBV term {value!r} (XML writes a standard term "
                "as its URN or Web URI, in its own case, without spaces around it)",
            )
        return value

    # -- names ------------------------------------------------------------------------

    def name(self, tag: str, hint: str | None) -> str:
        """``prefix:local`` for a namespaced name, declaring the prefix when needed."""
        namespace, local = _split(tag)
        if not namespace:
            return local
        if namespace == _CBVMDA_XML:
            # cbvmda: as the loader reads ILMD, bound to the namespace as the XML wrote it
            # (the JSON-LD context's is urn:epcglobal:cbv:mda:, and the event hash tells
            # the two apart, as the reference vectors do).
            self.context["cbvmda"] = _CBVMDA_XML
            return f"cbvmda:{local}"
        prefix = _STANDARD_BY_NAMESPACE.get(namespace) or self.by_namespace.get(namespace)
        if prefix is None:
            base = hint if hint and re.fullmatch(r"[A-Za-z_][\w.-]*", hint) else "ns"
            prefix, n = base, 1
            while prefix in self.context or prefix in STANDARD_PREFIXES:
                n += 1
                prefix = f"{base}{n}"
            self.context[prefix] = namespace
            self.by_namespace[namespace] = prefix
        return f"{prefix}:{local}"

    def element_name(self, el: Any) -> str:
        return self.name(el.tag, el.prefix)

    def attribute_name(self, el: Any, key: str) -> str:
        namespace, _ = _split(key)
        hint = next((p for p, ns in el.nsmap.items() if ns == namespace and p), None)
        return self.name(key, hint)

    # -- structure --------------------------------------------------------------------

    def children(self, el: Any, where: str) -> Iterator[Any]:
        """Element children, with wrappers unwrapped; stray text and entities noted."""
        if _text(el) and len(el):
            self.warn(where, "xml-stray-text", f"{where}: text {_text(el)[:40]!r} among elements")
        for child in el:
            if not isinstance(child.tag, str):
                if child.tag is etree.Entity:
                    self.problem(where, "xml-entity", f"{where}: entity references are not read")
                continue
            namespace, local = _split(child.tag)
            if local in _WRAPPERS and (not namespace or namespace in EPCIS_NAMESPACES):
                yield from self.children(child, where)
            else:
                yield child

    def is_standard(self, el: Any) -> bool:
        namespace, _ = _split(el.tag)
        return not namespace or namespace in EPCIS_NAMESPACES

    def extension_value(self, el: Any) -> Any:
        """A user extension element as JSON: text, or an object of its parts."""
        attributes = {k: v for k, v in el.attrib.items() if not k.startswith(_XSI)}
        kids = [c for c in el if isinstance(c.tag, str)]
        if not kids and not attributes:
            return _text(el)
        out: dict[str, Any] = {}
        for key, value in attributes.items():
            _add(out, self.attribute_name(el, key), value.strip(_XML_BLANKS))
        if _text(el) and not kids:
            out["@value"] = _text(el)
        for child in kids:
            _add(out, self.element_name(child), self.extension_value(child))
        return out

    def object(self, el: Any, where: str, standard: dict[str, Any]) -> dict[str, Any]:
        """A structure whose standard children are text (by ``standard``: name -> vocab)."""
        out: dict[str, Any] = {}
        for child in self.children(el, where):
            _, local = _split(child.tag)
            if _attribute(child, _XSI + "nil") in ("true", "1"):
                continue
            if not self.is_standard(child):
                _add(out, self.element_name(child), self.extension_value(child))
            elif local in standard:
                vocabulary = standard[local]
                out[local] = self.vocab(f"{where}.{local}", vocabulary, child.text or "")
            else:
                self.unknown(f"{where}.{local}", child, out)
        return out

    def unknown(self, where: str, el: Any, out: dict[str, Any] | None = None) -> None:
        """An element that is neither standard nor namespaced: kept as given (under its
        bare name), with a warning; its meaning is the sender's, and nothing the event
        says depends on it. Bare ``lotNumber`` / ``itemExpirationDate`` in ILMD are read
        as the CBV master-data names (noted by the document checks)."""
        if out is None:  # where a list member belongs: nothing to keep it in
            self.warn(
                where,
                "unknown-field",
                f"{where}: not an EPCIS field (line {el.sourceline}), skipped; a list "
                "holds only its own members",
            )
            return
        if where.removeprefix("ilmd.") not in BARE_ILMD_NAMES or not where.startswith("ilmd."):
            inside = self.version != "2.0" and self.in_extension(el)
            self.warn(
                where,
                "xml-unknown-field" if inside else "unknown-field",
                f"{where}: not an EPCIS field (line {el.sourceline}), kept as given; a "
                "user field should have a namespace of its own",
            )
        _add(out, _split(el.tag)[1], self.extension_value(el))

    # -- the event --------------------------------------------------------------------

    def in_extension(self, el: Any) -> bool:
        """Whether ``el`` sits inside an ``extension`` wrapper of the event, or the event
        inside the event list's inner ``extension`` (where 1.2 puts AssociationEvent)."""
        parent = el.getparent()
        while parent is not None and parent is not self.root:
            if _split(parent.tag)[1] == "extension":
                return True
            parent = parent.getparent()
        outer = self.root.getparent()
        inner = outer.getparent() if outer is not None else None
        return inner is not None and all(_split(e.tag)[1] == "extension" for e in (outer, inner))

    def event(self, el: Any) -> dict[str, Any]:
        self.root = el
        namespace, local = _split(el.tag)
        event_type = local if not namespace or namespace in EPCIS_NAMESPACES else el.tag
        out: dict[str, Any] = {"type": event_type}
        for child in self.children(el, event_type):
            _, name = _split(child.tag)
            if not self.is_standard(child):
                _add(out, self.element_name(child), self.extension_value(child))
                continue
            if name not in STANDARD_FIELDS:
                self.unknown(name, child, out)
                continue
            self.order.append((name, child.sourceline))
            if self.version == "1.2" and child.getparent() is el:
                self.check_wrapper(event_type, name, child)
            value = self.field(name, child)
            if name == "certificationInfo" and name in out:
                _add(out, name, value)
            else:
                if name in out:
                    self.warn(name, "xml-repeated-field", f"{name}: given more than once")
                out[name] = value
        self.check_order(event_type)
        if self.version == "1.2":
            for name in sorted(NEW_IN_2_0 & out.keys()):
                self.warn(name, "epcis-version", f"{name}: an EPCIS 2.0 field in a 1.2 document")
        if self.context:
            out = {"@context": dict(self.context), **out}
        return out

    def field(self, name: str, el: Any) -> Any:
        if name in _SIMPLE:
            return _text(el)
        if name in ("bizStep", "disposition"):
            return self.vocab(name, name, el.text or "")
        if name in EPC_LISTS:
            return [_text(c) for c in self.children(el, name) if self.member(c, name, "epc")]
        if name in QUANTITY_LISTS:
            return [
                self.quantity(c, name)
                for c in self.children(el, name)
                if self.member(c, name, "quantityElement")
            ]
        if name in ("readPoint", "bizLocation"):
            return self.object(el, name, {"id": ""})
        if name == "bizTransactionList":
            return [
                self.typed(c, "bizTransaction", "bizTransactionType")
                for c in self.children(el, name)
                if self.member(c, name, "bizTransaction")
            ]
        if name in _PARTY_LISTS:
            member = _PARTY_LISTS[name]
            return [
                self.typed(c, member, "sourceDestinationType")
                for c in self.children(el, name)
                if self.member(c, name, member)
            ]
        if name == "errorDeclaration":
            return self.error_declaration(el)
        if name == "persistentDisposition":
            out: dict[str, Any] = {}
            for child in self.children(el, name):
                _, local = _split(child.tag)
                if local in ("set", "unset") and self.is_standard(child):
                    value = self.vocab(f"{name}.{local}", "disposition", child.text or "")
                    out.setdefault(local, []).append(value)
                else:
                    self.unknown(f"{name}.{local}", child, out)
            return out
        if name == "sensorElementList":
            return [
                self.sensor_element(c)
                for c in self.children(el, name)
                if self.member(c, name, "sensorElement")
            ]
        if name == "ilmd":
            return self.object(el, name, {})
        raise AssertionError(name)  # every standard field is handled above

    def member(self, el: Any, where: str, expected: str) -> bool:
        """Whether ``el`` is the list member expected; anything else is a problem."""
        if self.is_standard(el) and _split(el.tag)[1] == expected:
            return True
        self.unknown(f"{where}.{_split(el.tag)[1]}", el)
        return False

    def quantity(self, el: Any, where: str) -> dict[str, Any]:
        out = self.object(el, where, {"epcClass": "", "quantity": "", "uom": ""})
        if out.get("quantity") == "":
            del out["quantity"]
        elif isinstance(out.get("quantity"), str):
            out["quantity"] = _decimal_or_text(out["quantity"])
        return out

    def typed(self, el: Any, member: str, vocabulary: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        written = _attribute(el, "type")
        if written is not None:
            out["type"] = self.vocab(f"{_split(el.tag)[1]}.type", vocabulary, written)
        out[member] = _text(el)
        return out

    def error_declaration(self, el: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for child in self.children(el, "errorDeclaration"):
            _, local = _split(child.tag)
            if not self.is_standard(child):
                _add(out, self.element_name(child), self.extension_value(child))
            elif local == "declarationTime":
                out[local] = _text(child)
            elif local == "reason":
                out[local] = self.vocab("errorDeclaration.reason", "errorReason", child.text or "")
            elif local == "correctiveEventIDs":
                out[local] = [
                    _text(c)
                    for c in self.children(child, "errorDeclaration.correctiveEventIDs")
                    if self.member(c, "errorDeclaration.correctiveEventIDs", "correctiveEventID")
                ]
            else:
                self.unknown(f"errorDeclaration.{local}", child, out)
        return out

    def sensor_element(self, el: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for child in self.children(el, "sensorElementList.sensorElement"):
            _, local = _split(child.tag)
            if not self.is_standard(child):
                _add(out, self.element_name(child), self.extension_value(child))
            elif local == "sensorMetadata":
                out[local] = self.sensor_attributes(child)
            elif local == "sensorReport":
                out.setdefault(local, []).append(self.sensor_attributes(child))
            else:
                self.unknown(f"sensorElementList.sensorElement.{local}", child, out)
        return out

    def sensor_attributes(self, el: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, raw in el.attrib.items():
            if key.startswith(_XSI):
                continue
            name = self.attribute_name(el, key)
            value: Any = raw.strip(_XML_BLANKS)
            if name in _SENSOR_NUMBERS:
                value = _decimal_or_text(raw)
            elif name == "booleanValue" and value in ("true", "false", "1", "0"):
                value = value in ("true", "1")
            elif name in ("type", "exception") and value.startswith("gs1:"):
                value = value[4:]
            out[name] = value
        for child in self.children(el, "sensorElementList.sensorElement"):
            _add(out, self.element_name(child), self.extension_value(child))
        return out

    def check_wrapper(self, event_type: str, name: str, el: Any) -> None:
        """A field that EPCIS 1.2 puts in an ``extension`` or ``baseExtension`` wrapper,
        given directly in a 1.2 document (as 2.0 writes it): read, with a warning."""
        wrapper = _WRAPPED_IN_1_2.get(name)
        if wrapper is None or (
            name in _DIRECT_IN_TRANSFORMATION and event_type == ("TransformationEvent")
        ):
            return
        self.warn(
            name,
            "epcis-version",
            f"{name} (line {el.sourceline}): given as EPCIS 2.0 writes it, outside the "
            f"{wrapper} that a 1.2 document puts it in (read all the same)",
        )

    def check_order(self, event_type: str) -> None:
        """The standard fields in the sequence of the EPCIS 2.0 XSD.

        The sequence is part of the XML binding, but an element's meaning does not depend
        on its place: an event out of it is read all the same, with a warning.
        """
        rank = _RANKS.get(event_type)
        if rank is None:
            return
        last, last_name = -1, ""
        for name, line in self.order:
            position = rank.get(name, last)
            if position < last:
                message = (
                    f"{name} (line {line}) comes after {last_name}; the EPCIS 2.0 XML schema "
                    f"puts it before"
                )
                self.warn(name, "xml-element-order", message + " (read all the same)")
                return
            last, last_name = position, name


def _add(out: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key``; a key met again becomes a list of its values (XML repeats elements)."""
    if key not in out:
        out[key] = value
    elif isinstance(out[key], list):
        out[key].append(value)
    else:
        out[key] = [out[key], value]


def _is_event_position(el: Any) -> bool:
    """Whether ``el`` sits in an event list (maybe inside 1.2 ``extension`` wrappers)."""
    parent = el.getparent()
    while parent is not None:
        local = _split(parent.tag)[1]
        if local.lower() == "eventlist":
            return True
        if local != "extension":
            return False
        parent = parent.getparent()
    return False


def _open(path: Path) -> tuple[IO[bytes], Any]:
    try:
        f = path.open("rb")
    except OSError as exc:
        raise UnreadableFile(f"{path}: cannot be read ({exc.strerror})") from None
    parser = etree.iterparse(
        f,
        events=("start", "end"),
        resolve_entities=False,
        load_dtd=False,
        attribute_defaults=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    return f, parser


#: libxml2's own limits (``huge_tree`` off), as its messages name them, and what they mean.
_XML_LIMITS = (
    ("amplification", "entities that expand without bound (a 'billion laughs' document)"),
    ("entity reference loop", "entities that expand into one another"),
    ("depth", "elements nested more than 256 levels deep"),
    ("text node", "more than 10,000,000 bytes of text in one element"),
    ("XML_PARSE_HUGE", "a name, attribute or value beyond the XML reader's size limits"),
)


def _syntax_error(path: Path, exc: etree.XMLSyntaxError) -> UnreadableFile:
    line = exc.lineno or (exc.position[0] if exc.position else None)
    where = f"{path}:{line}" if line else str(path)
    message = " ".join((exc.msg or "").split())  # libxml2's messages can hold line breaks
    for needle, meaning in _XML_LIMITS:
        if needle.lower() in message.lower():
            return UnreadableFile(
                f"{where}: refused: {meaning}",
                hint="a fixed limit of the XML reader, far beyond any EPCIS document",
            )
    return UnreadableFile(f"{where}: not well-formed XML: {message}")


def _refuse_dtd(path: Path, f: IO[bytes], root: Any) -> None:
    """Refuse a document whose DOCTYPE declares entities or names an external DTD.

    EPCIS documents are described by XML Schemas, never by a DTD: a DTD in a document
    sent to tracecheck can only try to make it read files or URLs (external entities,
    an external DTD) or exhaust its memory (entities that expand into one another). The
    parser reads none of it; the document is refused, saying why. A bare
    ``<!DOCTYPE name>`` declares nothing and is accepted.
    """
    info = root.getroottree().docinfo
    dtd = info.internalDTD
    entities = [str(e.name) for e in dtd.iterentities()] if dtd is not None else []
    if info.system_url or info.public_id:
        reason = f"names an external DTD ({info.system_url or info.public_id})"[:200]
    elif entities:
        more = f" and {len(entities) - 5} more" if len(entities) > 5 else ""
        reason = f"declares entities ({', '.join(entities[:5])}{more})"
    else:
        return
    f.close()
    raise UnreadableFile(
        f"{path}: refused: the DOCTYPE {reason}; tracecheck reads no DTD and expands no entity",
        hint="EPCIS documents need no DOCTYPE: remove it",
    )


_ATTLIST = re.compile(r"<!ATTLIST\s+([^\s>]+)((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>")
_ATTRIBUTE_DEFAULT = re.compile(
    r"([^\s\"'()|]+)\s+(?:\([^)]*\)|[A-Z]+)\s+(?:#FIXED\s+)?(?:\"([^\"]*)\"|'([^']*)')"
)


def _dtd_defaults(path: Path) -> list[Note]:
    """A note for each attribute default that a document's DOCTYPE declares: none is
    applied (the parser is not asked to add them, and :func:`_attribute` does not read
    them), so the document is read as written."""
    declaration = _doctype(_prolog_text(path))
    notes = []
    for element, body in _ATTLIST.findall(_COMMENT.sub("", declaration or "")):
        for name, double, single in _ATTRIBUTE_DEFAULT.findall(body):
            value = double if double or not single else single
            notes.append(
                Note(
                    "warning",
                    "dtd-default-ignored",
                    f"the DOCTYPE declares {value[:200]!r} as the default of attribute "
                    f"{name[:200]!r} of <{element[:200]}>; it is not applied, the document is "
                    "read as written",
                    location="DOCTYPE",
                )
            )
    return notes


#: How much of a file's start is read for its DOCTYPE before the XML parser sees it.
_PROLOG_BYTES = 1 << 20
_ENTITY = re.compile(r"<!ENTITY\s+(?:%\s+)?([^\s\"'>]+)")
_LITERAL = r"(?:\"([^\"]*)\"|'([^']*)')"
_EXTERNAL_ID = re.compile(rf"\s(?:SYSTEM\s+{_LITERAL}|PUBLIC\s+{_LITERAL}\s+{_LITERAL})")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


def _prolog_text(path: Path) -> str:
    """The start of a file as text, for reading its prolog (markup is ASCII in any
    encoding tracecheck reads, so a byte-for-byte decoding serves where it is not UTF-16)."""
    try:
        with path.open("rb") as f:
            head = f.read(_PROLOG_BYTES)
    except OSError:
        return ""
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return head.decode("utf-16", errors="replace")
    return head.decode("latin-1")


def _doctype(text: str) -> str | None:
    """The DOCTYPE declaration of a document's prolog (``<!DOCTYPE`` up to its ``>``), or
    None when the prolog has none. A DOCTYPE that does not end within the text read is
    returned whole as read."""
    i = 1 if text[:1] == "\ufeff" else 0
    while True:
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        if text.startswith("<?", i):
            end = text.find("?>", i)
        elif text.startswith("<!--", i):
            end = text.find("-->", i)
        elif text.startswith("<!DOCTYPE", i):
            break
        else:
            return None
        if end < 0:
            return None
        i = text.index(">", end) + 1
    j, quote, depth = i + 9, "", 0
    while j < len(text):
        c = text[j]
        if quote:
            quote = "" if c == quote else quote
        elif c in "\"'":
            quote = c
        elif text.startswith("<!--", j):
            end = text.find("-->", j)
            if end < 0:
                break
            j = end + 2
        elif c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
        elif c == ">" and depth <= 0:
            return text[i : j + 1]
        j += 1
    return text[i:]


def _refuse_doctype(path: Path) -> None:
    """Refuse a document whose DOCTYPE declares entities or names an external DTD, read
    from the file's text before any XML parser sees it.

    Read this way, the refusal and its words do not depend on the XML library: recent
    libxml2 versions stop an entity bomb in the parse itself, before a check of the
    parsed DOCTYPE could name it. :func:`_refuse_dtd` checks the parsed DOCTYPE too.
    """
    declaration = _doctype(_prolog_text(path))
    if declaration is None:
        return
    subset_at = declaration.find("[")
    head = declaration if subset_at < 0 else declaration[:subset_at]
    external = _EXTERNAL_ID.search(head)
    entities = list(dict.fromkeys(_ENTITY.findall(_COMMENT.sub("", declaration))))
    if external:
        system = next((g for g in external.groups()[::-1] if g is not None), "")
        reason = f"names an external DTD ({system})"[:200]
    elif entities:
        more = f" and {len(entities) - 5} more" if len(entities) > 5 else ""
        reason = f"declares entities ({', '.join(entities[:5])}{more})"
    elif not declaration.endswith(">"):
        reason = f"is longer than {_PROLOG_BYTES:,} bytes"
    else:
        return
    raise UnreadableFile(
        f"{path}: refused: the DOCTYPE {reason}; tracecheck reads no DTD and expands no entity",
        hint="EPCIS documents need no DOCTYPE: remove it",
    )


def read_xml(path: Path) -> Document:
    """Open an EPCIS XML document: its kind at once, its events as they are read.

    Raises:
        UnreadableFile: not well-formed XML, not an EPCIS document, or a query definition
            rather than events (also raised while the events are being read).
    """
    _refuse_doctype(path)
    f, parser = _open(path)
    try:
        _, root = next(parser)
    except etree.XMLSyntaxError as exc:
        f.close()
        raise _syntax_error(path, exc) from None
    except StopIteration:
        f.close()
        raise UnreadableFile(f"{path}: empty XML file") from None
    _refuse_dtd(path, f, root)
    namespace, local = _split(root.tag)
    version = binding = EPCIS_NAMESPACES.get(namespace, "")
    schema_version = _attribute(root, "schemaVersion") or ""
    if schema_version.startswith(("1.", "2.")) and version:
        version = "2.0" if schema_version.startswith("2") else "1.2"
    if namespace in MASTER_DATA_NAMESPACES or local == "EPCISMasterDataDocument":
        f.close()
        note = Note("note", "master-data-skipped", "an EPCIS master-data document: skipped")
        return Document("master-data", version, None, iter(()), [note])
    if local == "EPCISCaptureJob":
        f.close()
        note = Note("note", "capture-job-skipped", "an EPCIS capture-job report: no events")
        return Document("capture-job", version, None, iter(()), [note])
    if local not in ("EPCISDocument", "EPCISQueryDocument") and local not in EVENT_TYPES:
        f.close()
        raise UnreadableFile(f"{path}: not an EPCIS document (the root element is <{local}>)")
    notes: list[Note] = _dtd_defaults(path)
    xsd = None if local in EVENT_TYPES else xsd_check(binding)
    items = _events(path, f, parser, root, (version, binding), notes, xsd)
    return Document("events", version, None, items, notes)


def _events(
    path: Path,
    f: IO[bytes],
    parser: Any,
    root: Any,
    versions: tuple[str, str],
    notes: list[Note],
    xsd: XsdCheck | None,
) -> Iterator[Item]:
    record = 0
    version, binding = versions
    bare = _split(root.tag)[1] in EVENT_TYPES
    try:
        for action, el in parser:
            tag = el.tag
            if not isinstance(tag, str):
                continue
            namespace, local = _split(tag)
            parent = el.getparent()
            if action == "start":
                if parent is not None and _split(parent.tag)[1].lower() == "epcisbody":
                    if local.lower() not in ("eventlist", "queryresults", "extension"):
                        raise UnreadableFile(
                            f"{path}:{el.sourceline}: an EPCIS query ({local}), not events",
                            hint="give tracecheck the query's results, not the query",
                        )
                continue
            if (bare and el is root) or _is_event_position(el):
                if local != "extension":
                    record += 1
                    item = Item(record, {}, line=el.sourceline)
                    if xsd is not None:
                        item.warnings.extend(xsd.check(el))
                    item.event = _EventReader(item, version, binding).event(el)
                    yield item
                _drop(el, parent)
            elif local in ("EPCISMasterData", "VocabularyList") and "Header" in _ancestors(el):
                vocabularies = len(el.findall(".//{*}Vocabulary"))
                notes.append(
                    Note(
                        "note",
                        "header-master-data-skipped",
                        f"the header's master data ({vocabularies} vocabularies) is not read",
                        location=f"line {el.sourceline}",
                    )
                )
                el.clear()
            elif local == "EPCISHeader":
                el.clear()
        if record == 0:
            notes.append(Note("note", "no-events", "the document holds no events"))
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(path, exc) from None
    finally:
        f.close()


def _drop(el: Any, parent: Any) -> None:
    """Free a converted event (or 1.2 wrapper) and what came before it in its list."""
    el.clear()
    if parent is not None:
        while el.getprevious() is not None:
            del parent[0]


def _ancestors(el: Any) -> str:
    names = []
    parent = el.getparent()
    while parent is not None:
        names.append(_split(parent.tag)[1])
        parent = parent.getparent()
    return " ".join(names)


# --------------------------------------------------------------------------------------
# Validation against the official XSDs, when they are given
# --------------------------------------------------------------------------------------

#: Environment variable naming a folder that holds the official EPCIS XSDs, if any.
XSD_VARIABLE = "TRACECHECK_EPCIS_XSD"
_XSD_FILES = {"1.2": "EPCglobal-epcis-1_2.xsd", "2.0": "EPCglobal-epcis-2_0.xsd"}
_MAX_XSD_WARNINGS = 5  # per event
_XSD_ELEMENT = re.compile(r"Element '(?:\{[^}]*\})?([^']+)'")


class XsdCheck:
    """Validates one event at a time against the EPCIS XSD of a document's namespace.

    A whole document cannot be validated in bounded memory, so each event is copied
    into a small document of its own (``EPCISDocument``/``EPCISBody``/``EventList``,
    with the 1.2 ``extension`` wrappers it sat in) and that is validated; the copy keeps
    the line numbers of the file. The header is not validated. Every deviation is a
    warning: what makes an event unreadable is rejected by the reader's own checks,
    whether or not the schemas are given, so a load gives the same events either way.
    """

    def __init__(self, schema: Any, version: str) -> None:
        self.schema = schema
        self.version = version
        namespace = "urn:epcglobal:epcis:xsd:" + ("2" if version == "2.0" else "1")
        self.document = etree.Element(
            f"{{{namespace}}}EPCISDocument",
            schemaVersion=version,
            creationDate="2000-01-01T00:00:00Z",
            nsmap={"epcis": namespace},
        )
        self.body = etree.SubElement(self.document, "EPCISBody")

    def check(self, event: Any) -> list[Issue]:
        """The deviations of one event element from the XSD, as warnings."""
        # The prefixes in scope at the event are declared again: values such as
        # xsi:type="xsd:integer" name them, and a copy keeps only those its names use.
        scope = {prefix: ns for prefix, ns in event.nsmap.items() if prefix}
        holder = events = etree.SubElement(self.body, "EventList", nsmap=scope)
        wrappers = 0
        parent = event.getparent()
        while parent is not None and _split(parent.tag)[1] == "extension":
            wrappers += 1
            parent = parent.getparent()
        for _ in range(wrappers):
            holder = etree.SubElement(holder, "extension")
        holder.append(copy.deepcopy(event))
        try:
            if self.schema.validate(self.document):
                return []
            out = []
            for entry in list(self.schema.error_log)[:_MAX_XSD_WARNINGS]:
                m = _XSD_ELEMENT.search(entry.message)
                field = m[1] if m else None
                out.append(
                    Issue(
                        field,
                        "xsd",
                        f"line {entry.line}: {entry.message.strip()[:300]} "
                        f"(EPCIS {self.version} XSD)",
                    )
                )
            return out
        finally:
            self.body.remove(events)


def xsd_check(binding: str) -> XsdCheck | None:
    """The XSD check for documents of an EPCIS namespace, if ``TRACECHECK_EPCIS_XSD`` is set.

    Raises:
        UnreadableFile: the folder holds no such XSD, or it cannot be read as a schema.
    """
    folder = os.environ.get(XSD_VARIABLE)
    if not folder or binding not in _XSD_FILES:
        return None
    return XsdCheck(_schema(folder, binding), binding)


@cache
def _schema(folder: str, version: str) -> Any:
    name = _XSD_FILES[version]
    found = sorted(Path(folder).rglob(name))
    if not found:
        raise UnreadableFile(
            f"{folder}: no {name} in this folder (from {XSD_VARIABLE})",
            hint="point it at the folder of the official EPCIS XSDs",
        )
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    try:
        return etree.XMLSchema(etree.parse(str(found[0]), parser))
    except (OSError, etree.XMLSyntaxError, etree.XMLSchemaParseError) as exc:
        raise UnreadableFile(f"{found[0]}: cannot be read as an XML schema ({exc})") from None


def looks_like_xml(path: Path) -> bool:
    """Whether a file starts (after a byte-order mark and blanks) with ``<``."""
    try:
        with path.open("rb") as f:
            head = f.read(512)
    except OSError:
        return False
    return head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"<")
