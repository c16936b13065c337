"""The parts of the event hash (:mod:`traceability.load.epcis.eventhash`) that are data:
the standard prefixes, the structure of each standard field in canonical order, and the
canonical text of single values (numbers, URIs, timestamps, time zone offsets).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, Final

from traceability.load.epcis.terms import CBV_TERMS, bare_cbv
from traceability.load.identifiers import canonical_uri

Context = Sequence[Any] | Mapping[str, Any] | str | None

CBV: Final = "https://ref.gs1.org/cbv/"
GS1_VOC: Final = "https://gs1.org/voc/"

#: Prefixes of the standard EPCIS 2.0 JSON-LD context; a document's context adds to them.
STANDARD_PREFIXES: Final[Mapping[str, str]] = {
    "epcis": "https://ref.gs1.org/epcis/",
    "cbv": CBV,
    "cbvmda": "urn:epcglobal:cbv:mda:",
    "gs1": GS1_VOC,
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "dcterms": "http://purl.org/dc/terms/",
}

#: CBV 1.x vocabulary URNs and the CBV 2.0 Web URI each prefix becomes.
CBV_URNS: Final = (
    ("urn:epcglobal:cbv:bizstep:", CBV + "BizStep-"),
    ("urn:epcglobal:cbv:disp:", CBV + "Disp-"),
    ("urn:epcglobal:cbv:btt:", CBV + "BTT-"),
    ("urn:epcglobal:cbv:sdt:", CBV + "SDT-"),
    ("urn:epcglobal:cbv:er:", CBV + "ER-"),
)

#: Value CURIEs are expanded only for namespaces of GS1 standard vocabularies.
STANDARD_NAMESPACE_STARTS: Final = ("https://ref.gs1.org/", "https://gs1.org/")

#: Event fields that never enter the pre-hash string.
EXCLUDED: Final = frozenset({"type", "eventID", "recordTime", "errorDeclaration"})
COMMENT: Final = "{http://www.w3.org/2000/01/rdf-schema#}comment"

NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:[.,]([0-9]+))?\s*(?:([Zz])|([+-])([0-9]{2}):?([0-9]{2}))?"
)
_OFFSET = re.compile(r"([+-])([0-9]{2}):?([0-9]{2})|[Zz]")
#: Exponent beyond which a number is left in scientific notation (avoids huge strings).
_MAX_PLAIN_EXPONENT: Final = 1000


# --------------------------------------------------------------------------------------
# Structure of the standard fields
# --------------------------------------------------------------------------------------


class Spec:
    """How a standard field is rendered; see the subclasses."""

    __slots__ = ()


class Leaf(Spec):
    """A single value: a timestamp, a vocabulary term (``vocab`` = base URI), a value
    taken as written (``verbatim``, only trimmed) or any other value."""

    __slots__ = ("time", "verbatim", "vocab")

    def __init__(self, vocab: str = "", *, time: bool = False, verbatim: bool = False) -> None:
        self.vocab = vocab
        self.time = time
        self.verbatim = verbatim


class Obj(Spec):
    """An object: standard children in canonical order, then its extensions sorted."""

    __slots__ = ("fields", "names")

    def __init__(self, *fields: tuple[str, Spec]) -> None:
        self.fields = fields
        self.names = frozenset(name for name, _ in fields)


class Wrapped(Spec):
    """A JSON array that XML wraps in a list element (``epcList`` of ``epc``, ...)."""

    __slots__ = ("child", "spec")

    def __init__(self, child: str, spec: Spec) -> None:
        self.child = child
        self.spec = spec


VALUE: Final = Leaf()
_TIME: Final = Leaf(time=True)
_EPCS: Final = Wrapped("epc", VALUE)
_QUANTITIES: Final = Wrapped(
    "quantityElement", Obj(("epcClass", VALUE), ("quantity", VALUE), ("uom", VALUE))
)
_PLACE: Final = Obj(("id", VALUE))
_DISPOSITION: Final = Leaf(CBV + "Disp-")
_SENSOR_METADATA: Final = Obj(
    ("time", _TIME),
    ("startTime", _TIME),
    ("endTime", _TIME),
    ("deviceID", VALUE),
    ("deviceMetadata", VALUE),
    ("rawData", VALUE),
    ("dataProcessingMethod", VALUE),
    ("bizRules", VALUE),
)
_SENSOR_REPORT: Final = Obj(
    ("type", Leaf(GS1_VOC)),
    ("exception", Leaf(GS1_VOC)),
    ("deviceID", VALUE),
    ("deviceMetadata", VALUE),
    ("rawData", VALUE),
    ("dataProcessingMethod", VALUE),
    ("time", _TIME),
    ("microorganism", VALUE),
    ("chemicalSubstance", VALUE),
    ("value", VALUE),
    ("component", Leaf(CBV + "Comp-")),
    ("stringValue", VALUE),
    ("booleanValue", VALUE),
    ("hexBinaryValue", VALUE),
    ("uriValue", VALUE),
    ("minValue", VALUE),
    ("maxValue", VALUE),
    ("meanValue", VALUE),
    ("sDev", VALUE),
    ("percRank", VALUE),
    ("percValue", VALUE),
    ("uom", VALUE),
    ("coordinateReferenceSystem", VALUE),
)


def _party_list(name: str) -> Wrapped:
    return Wrapped("", Obj(("type", Leaf(CBV + "SDT-")), (name, VALUE)))


#: Standard event fields in canonical order.
ORDERED: Final[tuple[tuple[str, Spec], ...]] = (
    ("eventTime", _TIME),
    ("eventTimeZoneOffset", Leaf(verbatim=True)),
    ("certificationInfo", VALUE),
    ("epcList", _EPCS),
    ("parentID", VALUE),
    ("inputEPCList", _EPCS),
    ("childEPCs", _EPCS),
    ("quantityList", _QUANTITIES),
    ("childQuantityList", _QUANTITIES),
    ("inputQuantityList", _QUANTITIES),
    ("outputEPCList", _EPCS),
    ("outputQuantityList", _QUANTITIES),
    ("action", VALUE),
    ("transformationID", VALUE),
    ("bizStep", Leaf(CBV + "BizStep-")),
    ("disposition", _DISPOSITION),
    ("persistentDisposition", Obj(("set", _DISPOSITION), ("unset", _DISPOSITION))),
    ("readPoint", _PLACE),
    ("bizLocation", _PLACE),
    (
        "sensorElementList",
        Wrapped(
            "sensorElement",
            Obj(("sensorMetadata", _SENSOR_METADATA), ("sensorReport", _SENSOR_REPORT)),
        ),
    ),
)
ORDERED_NAMES: Final = frozenset(name for name, _ in ORDERED)

#: Standard fields rendered by their structure but sorted in with the extensions.
SORTED_STANDARD: Final[Mapping[str, Spec]] = {
    "bizTransactionList": Wrapped("", Obj(("type", Leaf(CBV + "BTT-")), ("bizTransaction", VALUE))),
    "sourceList": _party_list("source"),
    "destinationList": _party_list("destination"),
    "ilmd": Obj(),
}


# --------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------


def double_text(number: Decimal) -> str:
    """A number as the reference vectors write it: its nearest binary double, in plain text.

    The reference implementation reads every number (and numeric text) as a double, so
    digits beyond a double's precision are rounded (a 24-digit ``stringValue`` in the
    vectors); a number beyond a double's range is written exactly.

    >>> double_text(Decimal("111100001111000011110000"))
    '111100001111000003641344'
    >>> double_text(Decimal("12.40"))
    '12.4'
    """
    double = float(number)
    if not math.isfinite(double):
        return _number_text(number)
    if double == int(double):
        return str(int(double))
    return _number_text(Decimal(repr(double)))


def _number_text(number: Decimal) -> str:
    """Plain decimal text without exponent, trailing zeros or sign of zero; exact.

    (``Decimal.normalize`` is not used: it rounds to the context precision.)
    """
    if not number.is_finite():
        return str(number)
    if number.is_zero():
        return "0"
    if abs(number.adjusted()) > _MAX_PLAIN_EXPONENT:
        return str(number)
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


@lru_cache(maxsize=1 << 16)
def uri(text: str) -> str:
    """``canonical_uri`` of an EPC-like value, cached (read points etc. repeat a lot)."""
    try:
        return canonical_uri(text)
    except ValueError:
        return text


#: The base Web URI of each CBV vocabulary the loader reads, and the vocabulary's name.
_VOCABULARY_BY_BASE: Final = {
    CBV + "BizStep-": "bizStep",
    CBV + "Disp-": "disposition",
    CBV + "BTT-": "bizTransactionType",
    CBV + "SDT-": "sourceDestinationType",
    CBV + "ER-": "errorReason",
}


@lru_cache(maxsize=1 << 12)
def cbv_term(base: str, text: str) -> str | None:
    """The bare word of the standard CBV term ``text`` names, read as the loader reads
    it (:func:`~traceability.load.epcis.terms.bare_cbv`: any CBV prefix, any case), or
    None. So an event hashes the same whichever way its syntax spells a term: the XML
    reader hands on the bare word, JSON the term as written.

    >>> cbv_term(CBV + "BizStep-", "urn:epcglobal:cbv:bizstep:Shipping")
    'shipping'
    >>> cbv_term(CBV + "BizStep-", "urn:example:step:x") is None
    True
    """
    vocabulary = _VOCABULARY_BY_BASE.get(base)
    if vocabulary is None:
        return None
    word = bare_cbv(vocabulary, text)
    return word if word in CBV_TERMS[vocabulary] else None


def timestamp(text: str, default_offset: int) -> str:
    """UTC with milliseconds; the 4th decimal rounds half up; unparseable stays as is.

    A timestamp without offset is read in ``default_offset`` minutes east of UTC.
    """
    m = _TIMESTAMP.fullmatch(text)
    if m is None:
        return text
    fraction = m[7] or ""
    millis = int((fraction + "000")[:3])
    if len(fraction) > 3 and fraction[3] >= "5":
        millis += 1
    if m[8]:
        offset = 0
    elif m[9]:
        offset = (int(m[10]) * 60 + int(m[11])) * (-1 if m[9] == "-" else 1)
    else:
        offset = default_offset
    try:
        moment = datetime(
            int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6])
        ) + timedelta(milliseconds=millis, minutes=-offset)
    except (ValueError, OverflowError):
        return text
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
        f"{moment.minute:02d}:{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )


def offset_minutes(value: Any) -> int:
    """Minutes east of UTC of an ``eventTimeZoneOffset``; 0 when absent or unreadable."""
    if not isinstance(value, str):
        return 0
    m = _OFFSET.fullmatch(value.strip())
    if m is None or m[1] is None:
        return 0
    return (int(m[2]) * 60 + int(m[3])) * (-1 if m[1] == "-" else 1)
