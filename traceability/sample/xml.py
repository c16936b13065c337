"""Write EPCIS 2.0 JSON events as EPCIS XML documents, 2.0 or 1.2, as partners send them.

Many pharmaceutical partners still exchange EPCIS XML, in the 2.0 namespace or in the 1.2
one. :func:`xml_document` turns events in the EPCIS 2.0 JSON shape (as
:func:`~traceability.sample.events.render_events` writes them, read back with
``json.loads(..., parse_float=Decimal)``) into such a document, following the XSD sequences:

- EPCIS 2.0 (``urn:epcglobal:epcis:xsd:2``) writes every field directly in the event, in the
  order of the 2.0 XSD;
- EPCIS 1.2 (``urn:epcglobal:epcis:xsd:1``) puts ``eventID`` and ``errorDeclaration`` in the
  event's ``baseExtension`` and ``quantityList`` / ``childQuantityList``, ``sourceList``,
  ``destinationList`` and ``ilmd`` in its ``extension``, and always writes the
  ``epcList`` / ``childEPCs`` the 1.2 XSD requires (empty for bulk events).

CBV values are written as URIs (CBV 1.x URNs by default, or GS1 web URIs); ILMD members
named ``cbvmda:...`` go in the CBV master-data namespace and bare names stay without a
namespace. A :class:`Layout` asks for what partners' systems get wrong: the event's elements
in another order, the 2.0 layout in a 1.2 document, vocabulary exactly as given.

Example:
    >>> event = {"type": "ObjectEvent", "eventID": "urn:uuid:e1",
    ...          "eventTime": "2026-01-10T14:00:00+05:30", "eventTimeZoneOffset": "+05:30",
    ...          "quantityList": [{"epcClass": "urn:epc:class:lgtin:8901234.000002.B7",
    ...                            "quantity": Decimal("12.5"), "uom": "KGM"}],
    ...          "action": "OBSERVE", "bizStep": "shipping"}
    >>> [child.tag for child in event_element(event, "2.0")]
    ['eventTime', 'eventTimeZoneOffset', 'eventID', 'action', 'bizStep', 'quantityList']
    >>> twelve = event_element(event, "1.2")
    >>> [child.tag for child in twelve][2:]
    ['baseExtension', 'epcList', 'action', 'bizStep', 'extension']
    >>> twelve.findtext("bizStep"), twelve.findtext("extension/quantityList//quantity")
    ('urn:epcglobal:cbv:bizstep:shipping', '12.5')
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, TypeAlias

from lxml import etree

XmlVersion: TypeAlias = Literal["2.0", "1.2"]
#: How CBV values are written: as CBV 1.x URNs, as GS1 web URIs, or exactly as given.
Spelling: TypeAlias = Literal["urn", "web", "as-given"]

NAMESPACES: dict[str, str] = {
    "2.0": "urn:epcglobal:epcis:xsd:2",
    "1.2": "urn:epcglobal:epcis:xsd:1",
}
CBVMDA = "urn:epcglobal:cbv:mda"

_BASE = ("eventTime", "recordTime", "eventTimeZoneOffset", "eventID", "errorDeclaration")
_TAIL = ("sourceList", "destinationList", "sensorElementList")

#: The fields of each event type in the order of the EPCIS 2.0 XSD.
ORDER_2_0: dict[str, tuple[str, ...]] = {
    "ObjectEvent": (
        *_BASE,
        *("epcList", "action", "bizStep", "disposition", "readPoint", "bizLocation"),
        *("bizTransactionList", "quantityList", *_TAIL, "ilmd"),
    ),
    "AggregationEvent": (
        *_BASE,
        *("parentID", "childEPCs", "action", "bizStep", "disposition", "readPoint"),
        *("bizLocation", "bizTransactionList", "childQuantityList", *_TAIL),
    ),
}

#: The 1.2 XSD: fields directly in the event, in ``baseExtension`` and in ``extension``.
ORDER_1_2: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "ObjectEvent": (
        ("eventTime", "recordTime", "eventTimeZoneOffset", "baseExtension", "epcList", "action")
        + ("bizStep", "disposition", "readPoint", "bizLocation", "bizTransactionList")
        + ("extension",),
        ("eventID", "errorDeclaration"),
        ("quantityList", "sourceList", "destinationList", "ilmd"),
    ),
    "AggregationEvent": (
        ("eventTime", "recordTime", "eventTimeZoneOffset", "baseExtension", "parentID")
        + ("childEPCs", "action", "bizStep", "disposition", "readPoint", "bizLocation")
        + ("bizTransactionList", "extension"),
        ("eventID", "errorDeclaration"),
        ("childQuantityList", "sourceList", "destinationList"),
    ),
}

#: Each CBV vocabulary: (CBV 1.x URN prefix, CBV 2.0 web URI and CURIE name).
_VOCABULARIES: dict[str, tuple[str, str]] = {
    "bizStep": ("urn:epcglobal:cbv:bizstep:", "BizStep"),
    "disposition": ("urn:epcglobal:cbv:disp:", "Disp"),
    "bizTransactionType": ("urn:epcglobal:cbv:btt:", "BTT"),
    "sourceDestinationType": ("urn:epcglobal:cbv:sdt:", "SDT"),
    "errorReason": ("urn:epcglobal:cbv:er:", "ER"),
}
_WORD = re.compile(r"[a-z_]+")
_IGNORED = frozenset({"@context", "type"})


@dataclass(frozen=True)
class Layout:
    """How one event is written.

    Attributes:
        order: field names in the order to write them instead of the XSD's (fields not
            named follow in the XSD's order); in a 1.2 layout ``baseExtension`` and
            ``extension`` name the wrappers.
        unwrapped: in a 1.2 document, write the event as 2.0 does (the 2.0 fields directly
            in the event, no wrappers), as systems that upgraded half-way do.
        vocabulary: how CBV values are spelled; ``as-given`` writes the event's text.
    """

    order: Sequence[str] | None = None
    unwrapped: bool = False
    vocabulary: Spelling = "urn"


CANONICAL = Layout()


def cbv_uri(vocabulary: str, value: str, spelling: Spelling) -> str:
    """A CBV value in the spelling asked for; a value not in a CBV spelling is kept.

    >>> cbv_uri("bizStep", "shipping", "urn")
    'urn:epcglobal:cbv:bizstep:shipping'
    >>> cbv_uri("disposition", "cbv:Disp-in_transit", "web")
    'https://ref.gs1.org/cbv/Disp-in_transit'
    >>> cbv_uri("bizStep", "https://ref.gs1.org/cbv/BizStep-packing", "urn")
    'urn:epcglobal:cbv:bizstep:packing'
    >>> cbv_uri("bizStep", "urn:example:step:x", "urn")
    'urn:example:step:x'
    """
    if spelling == "as-given":
        return value
    urn, name = _VOCABULARIES[vocabulary]
    word = None
    for prefix in ("", urn, f"https://ref.gs1.org/cbv/{name}-", f"cbv:{name}-"):
        if value.startswith(prefix) and _WORD.fullmatch(value[len(prefix) :]):
            word = value[len(prefix) :]
            break
    if word is None:
        return value
    return urn + word if spelling == "urn" else f"https://ref.gs1.org/cbv/{name}-{word}"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int | str):
        return str(value)
    raise ValueError(f"not a text value: {value!r}")


def _leaf(name: str, value: Any) -> Any:
    el = etree.Element(name)
    el.text = _text(value)
    return el


class _Writer:
    def __init__(self, version: XmlVersion, layout: Layout) -> None:
        self.version = version
        self.layout = layout

    def vocab(self, vocabulary: str, value: Any) -> str:
        return cbv_uri(vocabulary, _text(value), self.layout.vocabulary)

    def field(self, name: str, value: Any) -> Any:
        if name in ("bizStep", "disposition"):
            return _leaf(name, self.vocab(name, value))
        if name in ("epcList", "childEPCs"):
            el = etree.Element(name)
            for epc in value:
                el.append(_leaf("epc", epc))
            return el
        if name in ("quantityList", "childQuantityList"):
            el = etree.Element(name)
            for element in value:
                el.append(self.quantity(element))
            return el
        if name in ("readPoint", "bizLocation"):
            el = etree.Element(name)
            el.append(_leaf("id", value["id"]))
            extra = sorted(set(value) - {"id"})
            if extra:
                raise ValueError(f"{name}: cannot write {', '.join(extra)}")
            return el
        if name == "bizTransactionList":
            el = etree.Element(name)
            for member in value:
                el.append(self.typed("bizTransaction", member, "bizTransactionType"))
            return el
        if name in ("sourceList", "destinationList"):
            member_name = name.removesuffix("List")
            el = etree.Element(name)
            for member in value:
                el.append(self.typed(member_name, member, "sourceDestinationType"))
            return el
        if name == "ilmd":
            return self.ilmd(value)
        if name == "errorDeclaration":
            return self.error_declaration(value)
        if name == "sensorElementList":
            return self.sensor_elements(value)
        return _leaf(name, value)

    def quantity(self, element: Mapping[str, Any]) -> Any:
        el = etree.Element("quantityElement")
        for part in ("epcClass", "quantity", "uom"):
            if part in element:
                el.append(_leaf(part, element[part]))
        extra = sorted(set(element) - {"epcClass", "quantity", "uom"})
        if extra:
            raise ValueError(f"quantityElement: cannot write {', '.join(extra)}")
        return el

    def typed(self, name: str, member: Mapping[str, Any], vocabulary: str) -> Any:
        el = _leaf(name, member[name])
        if "type" in member:
            el.set("type", self.vocab(vocabulary, member["type"]))
        return el

    def ilmd(self, value: Mapping[str, Any]) -> Any:
        el = etree.Element("ilmd")
        for key, member in value.items():
            prefix, _, local = key.rpartition(":")
            if prefix == "cbvmda":
                el.append(_leaf(f"{{{CBVMDA}}}{local}", member))
            elif not prefix:
                el.append(_leaf(local, member))
            else:
                raise ValueError(f"ilmd: no namespace known for {key!r}")
        return el

    def error_declaration(self, value: Mapping[str, Any]) -> Any:
        el = etree.Element("errorDeclaration")
        el.append(_leaf("declarationTime", value["declarationTime"]))
        if "reason" in value:
            el.append(_leaf("reason", self.vocab("errorReason", value["reason"])))
        if "correctiveEventIDs" in value:
            ids = etree.SubElement(el, "correctiveEventIDs")
            for event_id in value["correctiveEventIDs"]:
                ids.append(_leaf("correctiveEventID", event_id))
        return el

    @staticmethod
    def sensor_elements(value: Sequence[Mapping[str, Any]]) -> Any:
        el = etree.Element("sensorElementList")
        for element in value:
            sensor = etree.SubElement(el, "sensorElement")
            if "sensorMetadata" in element:
                meta = etree.SubElement(sensor, "sensorMetadata")
                for key, attr in element["sensorMetadata"].items():
                    meta.set(key, _text(attr))
            for report in element.get("sensorReport", []):
                part = etree.SubElement(sensor, "sensorReport")
                for key, attr in report.items():
                    part.set(key, _text(attr))
        return el

    def event(self, event: Mapping[str, Any]) -> Any:
        kind = event.get("type")
        if kind not in ORDER_2_0:
            raise ValueError(f"cannot write a {kind!r} as XML")
        unknown = sorted(set(event) - set(ORDER_2_0[kind]) - _IGNORED)
        if unknown:
            raise ValueError(f"{kind}: cannot write {', '.join(unknown)}")
        root = etree.Element(kind)
        if self.version == "2.0" or self.layout.unwrapped:
            children = [(n, self.field(n, event[n])) for n in ORDER_2_0[kind] if n in event]
        else:
            children = self.wrapped(kind, event)
        for _, child in self.ordered(children):
            root.append(child)
        return root

    def wrapped(self, kind: str, event: Mapping[str, Any]) -> list[tuple[str, Any]]:
        """The children of a 1.2 event: base extension, event fields, extension.

        Fields 1.2 does not have (``sensorElementList``) go in the extension's own
        ``extension``, where the 1.2 XSD admits fields of later versions.
        """
        direct, base, extended = ORDER_1_2[kind]
        later = [n for n in ORDER_2_0[kind] if n in event and n not in (*direct, *base, *extended)]
        out: list[tuple[str, Any]] = []
        for name in direct:
            if name in ("baseExtension", "extension"):
                names = base if name == "baseExtension" else extended
                present = [n for n in names if n in event]
                if present or (name == "extension" and later):
                    wrapper = etree.Element(name)
                    for n in present:
                        wrapper.append(self.field(n, event[n]))
                    if name == "extension" and later:
                        inner = etree.SubElement(wrapper, "extension")
                        for n in later:
                            inner.append(self.field(n, event[n]))
                    out.append((name, wrapper))
            elif name in event:
                out.append((name, self.field(name, event[name])))
            elif name in ("epcList", "childEPCs"):
                out.append((name, self.field(name, [])))  # required by the 1.2 XSD
        return out

    def ordered(self, children: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
        order = self.layout.order
        if order is None:
            return children
        rank = {name: i for i, name in enumerate(order)}
        indexed = enumerate(children)
        return [c for _, c in sorted(indexed, key=lambda p: (rank.get(p[1][0], len(rank)), p[0]))]


def event_element(
    event: Mapping[str, Any], version: XmlVersion = "2.0", layout: Layout = CANONICAL
) -> Any:
    """One event as an XML element (unqualified, as the EPCIS XSDs have them).

    Raises:
        ValueError: a field this writer does not know (rather than drop it silently).
    """
    return _Writer(version, layout).event(event)


def xml_document(
    events: Iterable[Mapping[str, Any] | tuple[Mapping[str, Any], Layout]],
    version: XmlVersion = "2.0",
    *,
    creation_date: str,
) -> bytes:
    """An ``EPCISDocument`` of the events (each with its own :class:`Layout`, if given),
    as UTF-8 bytes with an XML declaration.

    Raises:
        ValueError: a field this writer does not know.
    """
    namespace = NAMESPACES[version]
    root = etree.Element(
        f"{{{namespace}}}EPCISDocument",
        nsmap={"epcis": namespace, "cbvmda": CBVMDA},
        schemaVersion=version,
        creationDate=creation_date,
    )
    event_list = etree.SubElement(etree.SubElement(root, "EPCISBody"), "EventList")
    for entry in events:
        event, layout = entry if isinstance(entry, tuple) else (entry, CANONICAL)
        el = event_element(event, version, layout)
        el.tail = "\n"
        el.text = "\n"
        for child in el:
            child.tail = "\n"
        event_list.append(el)
    out: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return out
