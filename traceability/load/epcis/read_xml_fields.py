"""The standard fields of an XML event, read as EPCIS 2.0 JSON-LD (see
:mod:`traceability.load.epcis.read_xml`): :class:`EventReader` converts one event
element, field by field, noting the deviations from the XML binding it meets.
"""

from __future__ import annotations

from typing import Any

from traceability.load.epcis.read_xml_names import (
    EPCIS_NAMESPACES,
    XML_BLANKS,
    XSI,
    ElementReader,
    add_member,
    decimal_or_text,
    element_text,
    split_tag,
    written_attribute,
)
from traceability.load.epcis.terms import (
    EPC_LISTS,
    FIELD_ORDER,
    NEW_IN_2_0,
    QUANTITY_LISTS,
    STANDARD_FIELDS,
)

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


class FieldReader(ElementReader):
    """Reads the value of each standard field of an event."""

    def field(self, name: str, el: Any) -> Any:
        if name in _SIMPLE:
            return element_text(el)
        if name in ("bizStep", "disposition"):
            return self.vocab(name, name, el.text or "")
        if name in EPC_LISTS:
            return [element_text(c) for c in self.children(el, name) if self.member(c, name, "epc")]
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
                _, local = split_tag(child.tag)
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
        if self.is_standard(el) and split_tag(el.tag)[1] == expected:
            return True
        self.unknown(f"{where}.{split_tag(el.tag)[1]}", el)
        return False

    def quantity(self, el: Any, where: str) -> dict[str, Any]:
        out = self.object(el, where, {"epcClass": "", "quantity": "", "uom": ""})
        if out.get("quantity") == "":
            del out["quantity"]
        elif isinstance(out.get("quantity"), str):
            out["quantity"] = decimal_or_text(out["quantity"])
        return out

    def typed(self, el: Any, member: str, vocabulary: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        written = written_attribute(el, "type")
        if written is not None:
            out["type"] = self.vocab(f"{split_tag(el.tag)[1]}.type", vocabulary, written)
        out[member] = element_text(el)
        return out

    def error_declaration(self, el: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for child in self.children(el, "errorDeclaration"):
            _, local = split_tag(child.tag)
            if not self.is_standard(child):
                add_member(out, self.element_name(child), self.extension_value(child))
            elif local == "declarationTime":
                out[local] = element_text(child)
            elif local == "reason":
                out[local] = self.vocab("errorDeclaration.reason", "errorReason", child.text or "")
            elif local == "correctiveEventIDs":
                out[local] = [
                    element_text(c)
                    for c in self.children(child, "errorDeclaration.correctiveEventIDs")
                    if self.member(c, "errorDeclaration.correctiveEventIDs", "correctiveEventID")
                ]
            else:
                self.unknown(f"errorDeclaration.{local}", child, out)
        return out

    def sensor_element(self, el: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for child in self.children(el, "sensorElementList.sensorElement"):
            _, local = split_tag(child.tag)
            if not self.is_standard(child):
                add_member(out, self.element_name(child), self.extension_value(child))
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
            if key.startswith(XSI):
                continue
            name = self.attribute_name(el, key)
            value: Any = raw.strip(XML_BLANKS)
            if name in _SENSOR_NUMBERS:
                value = decimal_or_text(raw)
            elif name == "booleanValue" and value in ("true", "false", "1", "0"):
                value = value in ("true", "1")
            elif name in ("type", "exception") and value.startswith("gs1:"):
                value = value[4:]
            out[name] = value
        for child in self.children(el, "sensorElementList.sensorElement"):
            add_member(out, self.element_name(child), self.extension_value(child))
        return out


class EventReader(FieldReader):
    """Converts one event element; collects its problems, warnings and namespaces."""

    def event(self, el: Any) -> dict[str, Any]:
        self.root = el
        namespace, local = split_tag(el.tag)
        event_type = local if not namespace or namespace in EPCIS_NAMESPACES else el.tag
        out: dict[str, Any] = {"type": event_type}
        for child in self.children(el, event_type):
            _, name = split_tag(child.tag)
            if not self.is_standard(child):
                add_member(out, self.element_name(child), self.extension_value(child))
                continue
            if name not in STANDARD_FIELDS:
                self.unknown(name, child, out)
                continue
            self.order.append((name, child.sourceline))
            if self.version == "1.2" and child.getparent() is el:
                self.check_wrapper(event_type, name, child)
            value = self.field(name, child)
            if name == "certificationInfo" and name in out:
                add_member(out, name, value)
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
