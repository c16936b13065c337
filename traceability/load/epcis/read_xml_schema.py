"""Validation of XML events against the official EPCIS XSDs, when they are given."""

from __future__ import annotations

import copy
import os
import re
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree

from traceability.errors import UnreadableFile
from traceability.load.epcis.items import Issue
from traceability.load.epcis.read_xml_names import split_tag

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
        while parent is not None and split_tag(parent.tag)[1] == "extension":
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
