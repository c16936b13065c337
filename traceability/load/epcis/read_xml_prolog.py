"""What an XML file is refused for before its events are read: a DOCTYPE that declares
entities or names an external DTD, and the XML reader's own limits; and the notes on the
attribute defaults a DOCTYPE declares (none is applied). See
:mod:`traceability.load.epcis.read_xml`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import IO, Any

from lxml import etree

from traceability.errors import UnreadableFile
from traceability.load.epcis.items import Note


def open_xml(path: Path) -> tuple[IO[bytes], Any]:
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


def syntax_error(path: Path, exc: etree.XMLSyntaxError) -> UnreadableFile:
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


def refuse_dtd(path: Path, f: IO[bytes], root: Any) -> None:
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


def dtd_defaults(path: Path) -> list[Note]:
    """A note for each attribute default that a document's DOCTYPE declares: none is
    applied (the parser is not asked to add them, and :func:`written_attribute` does not read
    them), so the document is read as written."""
    declaration = doctype(_prolog_text(path))
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


def doctype(text: str) -> str | None:
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


def refuse_doctype(path: Path) -> None:
    """Refuse a document whose DOCTYPE declares entities or names an external DTD, read
    from the file's text before any XML parser sees it.

    Read this way, the refusal and its words do not depend on the XML library: recent
    libxml2 versions stop an entity bomb in the parse itself, before a check of the
    parsed DOCTYPE could name it. :func:`refuse_dtd` checks the parsed DOCTYPE too.
    """
    declaration = doctype(_prolog_text(path))
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
