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

from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from lxml import etree

from traceability.errors import UnreadableFile
from traceability.load.epcis.items import Document, Item, Note
from traceability.load.epcis.read_xml_fields import EventReader
from traceability.load.epcis.read_xml_names import (
    EPCIS_NAMESPACES,
    MASTER_DATA_NAMESPACES,
    split_tag,
    written_attribute,
)
from traceability.load.epcis.read_xml_prolog import (
    dtd_defaults,
    open_xml,
    refuse_doctype,
    refuse_dtd,
    syntax_error,
)
from traceability.load.epcis.read_xml_schema import XSD_VARIABLE, XsdCheck, xsd_check
from traceability.load.epcis.terms import EVENT_TYPES

__all__ = ["XSD_VARIABLE", "looks_like_xml", "read_xml"]


def read_xml(path: Path) -> Document:
    """Open an EPCIS XML document: its kind at once, its events as they are read.

    Raises:
        UnreadableFile: not well-formed XML, not an EPCIS document, or a query definition
            rather than events (also raised while the events are being read).
    """
    refuse_doctype(path)
    f, parser = open_xml(path)
    try:
        _, root = next(parser)
    except etree.XMLSyntaxError as exc:
        f.close()
        raise syntax_error(path, exc) from None
    except StopIteration:
        f.close()
        raise UnreadableFile(f"{path}: empty XML file") from None
    refuse_dtd(path, f, root)
    namespace, local = split_tag(root.tag)
    version = binding = EPCIS_NAMESPACES.get(namespace, "")
    schema_version = written_attribute(root, "schemaVersion") or ""
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
    notes: list[Note] = dtd_defaults(path)
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
    bare = split_tag(root.tag)[1] in EVENT_TYPES
    try:
        for action, el in parser:
            tag = el.tag
            if not isinstance(tag, str):
                continue
            namespace, local = split_tag(tag)
            parent = el.getparent()
            if action == "start":
                if parent is not None and split_tag(parent.tag)[1].lower() == "epcisbody":
                    if local.lower() not in ("eventlist", "queryresults", "extension"):
                        raise UnreadableFile(
                            f"{path}:{el.sourceline}: an EPCIS query ({local}), not events",
                            hint="give tracecheck the query's results, not the query",
                        )
                continue
            if (bare and el is root) or is_event_position(el):
                if local != "extension":
                    record += 1
                    item = Item(record, {}, line=el.sourceline)
                    if xsd is not None:
                        item.warnings.extend(xsd.check(el))
                    item.event = EventReader(item, version, binding).event(el)
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
        raise syntax_error(path, exc) from None
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
        names.append(split_tag(parent.tag)[1])
        parent = parent.getparent()
    return " ".join(names)


def is_event_position(el: Any) -> bool:
    """Whether ``el`` sits in an event list (maybe inside 1.2 ``extension`` wrappers)."""
    parent = el.getparent()
    while parent is not None:
        local = split_tag(parent.tag)[1]
        if local.lower() == "eventlist":
            return True
        if local != "extension":
            return False
        parent = parent.getparent()
    return False


def looks_like_xml(path: Path) -> bool:
    """Whether a file starts (after a byte-order mark and blanks) with ``<``."""
    try:
        with path.open("rb") as f:
            head = f.read(512)
    except OSError:
        return False
    return head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"<")
