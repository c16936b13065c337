"""Reading XML elements as EPCIS 2.0 JSON-LD values: names, namespaces, vocabulary and
the structures of an event (see :mod:`traceability.load.epcis.read_xml`).

:class:`ElementReader` holds what one event's conversion collects (its problems,
warnings and the namespace prefixes it declares); the event reader of
:mod:`traceability.load.epcis.read_xml_fields` builds on it for the standard fields.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from lxml import etree

from traceability.load.epcis.eventhash_fields import STANDARD_PREFIXES
from traceability.load.epcis.items import Issue, Item
from traceability.load.epcis.terms import BARE_ILMD_NAMES, CBV_TERMS, bare_cbv, canonical_spellings
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
XSI = "{http://www.w3.org/2001/XMLSchema-instance}"
_CBVMDA_XML = "urn:epcglobal:cbv:mda"

#: Namespace -> prefix of the standard EPCIS JSON-LD context (declared there already).
_STANDARD_BY_NAMESPACE = {ns: prefix for prefix, ns in STANDARD_PREFIXES.items()}
_STANDARD_BY_NAMESPACE[_CBVMDA_XML] = "cbvmda"

#: The blanks around a value that XML itself treats as white space. Python's ``strip()``
#: would also remove Unicode spaces and controls (U+0085, U+2028), changing a value unseen.
XML_BLANKS = " \t\r\n"
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_WRAPPERS = ("extension", "baseExtension")


def split_tag(tag: str) -> tuple[str, str]:
    """(namespace, local name) of a Clark-notation tag."""
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return "", tag


def decimal_or_text(text: str) -> Decimal | str:
    """An exact number as written (see :mod:`traceability.load.exact_numbers`), or the text."""
    text = text.strip(XML_BLANKS)
    return written_number(json_spelling(text)) if _NUMBER.fullmatch(text) else text


def written_attribute(el: Any, name: str) -> str | None:
    """The value of an attribute written on ``el``, never a default that a DTD declares.

    lxml's ``el.get()`` answers with a DTD's default (``<!ATTLIST bizTransaction type
    CDATA "po">``) when the attribute is not written; the attributes written are read
    here instead.
    """
    for key, value in el.items():
        if key == name:
            return str(value)
    return None


def element_text(el: Any) -> str:
    return (el.text or "").strip(XML_BLANKS)


def add_member(out: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key``; a key met again becomes a list of its values (XML repeats elements)."""
    if key not in out:
        out[key] = value
    elif isinstance(out[key], list):
        out[key].append(value)
    else:
        out[key] = [out[key], value]


class ElementReader:
    """Converts the elements of one event; collects its problems, warnings and namespaces."""

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
            return raw.strip(XML_BLANKS)
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
        namespace, local = split_tag(tag)
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
        namespace, _ = split_tag(key)
        hint = next((p for p, ns in el.nsmap.items() if ns == namespace and p), None)
        return self.name(key, hint)

    # -- structure --------------------------------------------------------------------

    def children(self, el: Any, where: str) -> Iterator[Any]:
        """Element children, with wrappers unwrapped; stray text and entities noted."""
        if element_text(el) and len(el):
            self.warn(
                where, "xml-stray-text", f"{where}: text {element_text(el)[:40]!r} among elements"
            )
        for child in el:
            if not isinstance(child.tag, str):
                if child.tag is etree.Entity:
                    self.problem(where, "xml-entity", f"{where}: entity references are not read")
                continue
            namespace, local = split_tag(child.tag)
            if local in _WRAPPERS and (not namespace or namespace in EPCIS_NAMESPACES):
                yield from self.children(child, where)
            else:
                yield child

    def is_standard(self, el: Any) -> bool:
        namespace, _ = split_tag(el.tag)
        return not namespace or namespace in EPCIS_NAMESPACES

    def extension_value(self, el: Any) -> Any:
        """A user extension element as JSON: text, or an object of its parts."""
        attributes = {k: v for k, v in el.attrib.items() if not k.startswith(XSI)}
        kids = [c for c in el if isinstance(c.tag, str)]
        if not kids and not attributes:
            return element_text(el)
        out: dict[str, Any] = {}
        for key, value in attributes.items():
            add_member(out, self.attribute_name(el, key), value.strip(XML_BLANKS))
        if element_text(el) and not kids:
            out["@value"] = element_text(el)
        for child in kids:
            add_member(out, self.element_name(child), self.extension_value(child))
        return out

    def object(self, el: Any, where: str, standard: dict[str, Any]) -> dict[str, Any]:
        """A structure whose standard children are text (by ``standard``: name -> vocab)."""
        out: dict[str, Any] = {}
        for child in self.children(el, where):
            _, local = split_tag(child.tag)
            if written_attribute(child, XSI + "nil") in ("true", "1"):
                continue
            if not self.is_standard(child):
                add_member(out, self.element_name(child), self.extension_value(child))
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
        add_member(out, split_tag(el.tag)[1], self.extension_value(el))

    def in_extension(self, el: Any) -> bool:
        """Whether ``el`` sits inside an ``extension`` wrapper of the event, or the event
        inside the event list's inner ``extension`` (where 1.2 puts AssociationEvent)."""
        parent = el.getparent()
        while parent is not None and parent is not self.root:
            if split_tag(parent.tag)[1] == "extension":
                return True
            parent = parent.getparent()
        outer = self.root.getparent()
        inner = outer.getparent() if outer is not None else None
        return inner is not None and all(split_tag(e.tag)[1] == "extension" for e in (outer, inner))
