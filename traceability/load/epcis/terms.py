"""Names the EPCIS 2.0 standard and its Core Business Vocabulary (CBV 2.0) fix.

Shared by the XML reader and the document checks: the event types, the standard fields
of each, their order in the XML schema, and the CBV terms that may be written as bare
words in EPCIS 2.0 JSON-LD.
"""

from __future__ import annotations

import re
from typing import Final

from traceability.sql import literal

EVENT_TYPES: Final = (
    "ObjectEvent",
    "AggregationEvent",
    "TransactionEvent",
    "TransformationEvent",
    "AssociationEvent",
)

EPC_LISTS: Final = ("epcList", "childEPCs", "inputEPCList", "outputEPCList")
QUANTITY_LISTS: Final = (
    "quantityList",
    "childQuantityList",
    "inputQuantityList",
    "outputQuantityList",
)

#: Fields every event type has, in the order of the XML schema's EPCISEventType.
_BASE: Final = (
    "eventTime",
    "recordTime",
    "eventTimeZoneOffset",
    "eventID",
    "errorDeclaration",
    "certificationInfo",
)
_TAIL: Final = (
    "sourceList",
    "destinationList",
    "sensorElementList",
    "persistentDisposition",
)

#: The standard fields of each event type, in the order of the EPCIS 2.0 XML schema.
FIELD_ORDER: Final[dict[str, tuple[str, ...]]] = {
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
    "TransactionEvent": (
        *_BASE,
        *("bizTransactionList", "parentID", "epcList", "action", "bizStep", "disposition"),
        *("readPoint", "bizLocation", "quantityList", *_TAIL),
    ),
    "TransformationEvent": (
        *_BASE,
        *("inputEPCList", "inputQuantityList", "outputEPCList", "outputQuantityList"),
        *("transformationID", "bizStep", "disposition", "readPoint", "bizLocation"),
        *("bizTransactionList", *_TAIL, "ilmd"),
    ),
    "AssociationEvent": (
        *_BASE,
        *("parentID", "childEPCs", "childQuantityList", "action", "bizStep", "disposition"),
        *("readPoint", "bizLocation", "bizTransactionList", *_TAIL),
    ),
}

#: Every standard event field name (of any type), plus the JSON-LD keys an event may carry.
STANDARD_FIELDS: Final = frozenset(
    {name for order in FIELD_ORDER.values() for name in order} | {"type", "@context", "@id"}
)

#: Fields that are new in EPCIS 2.0 (not in the 1.2 schema).
NEW_IN_2_0: Final = frozenset({"certificationInfo", "sensorElementList", "persistentDisposition"})

#: ILMD names the input contract accepts without a prefix, and the standard name each is.
BARE_ILMD_NAMES: Final = {
    "lotNumber": "cbvmda:lotNumber",
    "itemExpirationDate": "cbvmda:itemExpirationDate",
}

QUANTITY_ELEMENT_FIELDS: Final = frozenset({"epcClass", "quantity", "uom"})

BIZ_STEPS: Final = frozenset(
    """accepting arriving assembling collecting commissioning consigning
    creating_class_instance cycle_counting decommissioning departing destroying
    disassembling dispensing encoding entering_exiting holding inspecting installing
    killing loading other packing picking receiving removing repackaging repairing
    replacing reserving retail_selling sampling sensor_reporting shipping staging_outbound
    stock_taking stocking storing transporting unloading unpacking void_shipping""".split()
)
DISPOSITIONS: Final = frozenset(
    """active available completeness_inferred completeness_verified conformant
    container_closed container_open damaged destroyed dispensed disposed encoded expired
    in_progress in_transit inactive mismatch_class mismatch_instance mismatch_quantity
    needs_replacement no_pedigree_match non_conformant non_sellable_other
    partially_dispensed recalled reserved retail_sold returned sellable_accessible
    sellable_not_accessible stolen unavailable unknown""".split()
)
BIZ_TRANSACTION_TYPES: Final = frozenset(
    "bol cert desadv inv pedigree po poc prodorder recadv rma testprd testres upevt".split()
)
SOURCE_DESTINATION_TYPES: Final = frozenset({"owning_party", "possessing_party", "location"})
ERROR_REASONS: Final = frozenset({"did_not_occur", "incorrect_data"})

#: CBV 1.x URN prefixes, the CBV 2.0 Web URI prefixes and what each vocabulary is called.
CBV_URN_PREFIXES: Final = {
    "bizStep": "urn:epcglobal:cbv:bizstep:",
    "disposition": "urn:epcglobal:cbv:disp:",
    "bizTransactionType": "urn:epcglobal:cbv:btt:",
    "sourceDestinationType": "urn:epcglobal:cbv:sdt:",
    "errorReason": "urn:epcglobal:cbv:er:",
}
CBV_WEB_PREFIXES: Final = {
    "bizStep": "https://ref.gs1.org/cbv/BizStep-",
    "disposition": "https://ref.gs1.org/cbv/Disp-",
    "bizTransactionType": "https://ref.gs1.org/cbv/BTT-",
    "sourceDestinationType": "https://ref.gs1.org/cbv/SDT-",
    "errorReason": "https://ref.gs1.org/cbv/ER-",
}
CBV_TERMS: Final = {
    "bizStep": BIZ_STEPS,
    "disposition": DISPOSITIONS,
    "bizTransactionType": BIZ_TRANSACTION_TYPES,
    "sourceDestinationType": SOURCE_DESTINATION_TYPES,
    "errorReason": ERROR_REASONS,
}


#: The one definition of a vocabulary value's normal form, from which both the Python
#: function (:func:`bare_cbv`) and the SQL macro (:data:`CBV_MACRO`) are made:
#:
#: - the characters in ``VOCABULARY_SPACE`` around the value are dropped (as Python's
#:   ``str.strip()`` does for XML text; other spaces are kept, they are part of the value);
#: - ``CBV_PREFIX_PATTERN``, matched once at the start without regard to ASCII case, is
#:   cut off: a CBV 1.x URN prefix, a CBV 2.0 Web URI (http or https) or CURIE
#:   (``cbv:BizStep-``, ``gs1:``) prefix, or the bare type word (``BizStep-shipping``);
#: - what is left, in lower case, is the bare term if the vocabulary defines it;
#: - anything else (a user vocabulary URI, a word CBV does not define, a value holding a
#:   character outside ASCII, whose case Python and SQL would fold differently) is kept as
#:   written, trimmed.
VOCABULARY_SPACE: Final = " \t\r\n"
CBV_PREFIX_PATTERN: Final = (
    r"^(urn:epcglobal:cbv:(bizstep|disp|btt|sdt|er):"
    r"|(https?://ref\.gs1\.org/cbv/|cbv:|gs1:)?(bizstep|disp|btt|sdt|er)-)"
)
_PREFIX = re.compile(CBV_PREFIX_PATTERN, re.IGNORECASE)


def canonical_spellings(vocabulary: str, binding: str = "json") -> frozenset[str]:
    """Every spelling of a standard term that needs no note, exactly as the standard
    writes it: in JSON (``binding="json"``) the bare word, the CBV 2.0 Web URI and the
    ``cbv:`` CURIE; in XML (``"xml"``, where a value is a URI) the CBV 1.x URN and the
    Web URI.

    >>> "cbv:BizStep-shipping" in canonical_spellings("bizStep")
    True
    >>> "Shipping" in canonical_spellings("bizStep"), "shipping" in canonical_spellings(
    ...     "bizStep", "xml")
    (False, False)
    """
    web = CBV_WEB_PREFIXES[vocabulary]
    if binding == "xml":
        prefixes: tuple[str, ...] = (CBV_URN_PREFIXES[vocabulary], web)
    else:
        prefixes = ("", web, "cbv:" + web.rsplit("/", 1)[1])
    return frozenset(p + term for term in CBV_TERMS[vocabulary] for p in prefixes)


def bare_cbv(vocabulary: str, value: str) -> str:
    """The one normalised form of a vocabulary value: the bare word of a standard term.

    Whitespace around the value is dropped; a standard term written with any CBV prefix
    (CBV 1.x URN, CBV 2.0 Web URI, CURIE) and in any case becomes its bare word; anything
    else (a user vocabulary URI, a word CBV does not define) is kept as written, trimmed.
    The loader's SQL (:data:`CBV_MACRO`) is made from the same definition, and a property
    test holds the two equal.

    >>> bare_cbv("bizStep", "urn:epcglobal:cbv:bizstep:shipping")
    'shipping'
    >>> bare_cbv("disposition", " https://ref.gs1.org/cbv/Disp-IN_TRANSIT ")
    'in_transit'
    >>> bare_cbv("bizStep", "Shipping")
    'shipping'
    >>> bare_cbv("bizStep", "urn:example:step:x")
    'urn:example:step:x'
    """
    text = value.strip(VOCABULARY_SPACE)
    if not text.isascii():
        return text
    word = _PREFIX.sub("", text, count=1).lower()
    return word if word in CBV_TERMS[vocabulary] else text


def _sql_list(values: frozenset[str]) -> str:
    return "[" + ", ".join(literal(v) for v in sorted(values)) + "]"


#: ``VOCABULARY_SPACE`` as a regular-expression class (the SQL string holds no escapes).
_SPACE_CLASS = (
    "[" + "".join({"\t": r"\t", "\r": r"\r", "\n": r"\n"}.get(c, c) for c in VOCABULARY_SPACE) + "]"
)

#: SQL macros for the same rule as :func:`bare_cbv`: ``tc_cbv(x, vocabulary)`` with the
#: vocabulary's name ('bizStep', 'disposition', ...). ``strlen`` counts bytes and
#: ``length`` characters: they are equal exactly when the text is ASCII.
CBV_MACRO: Final = (
    "CREATE OR REPLACE TEMP MACRO tc_cbv_word(t) AS "
    f"lower(regexp_replace(t, {literal(CBV_PREFIX_PATTERN)}, '', 'i'));\n"
    "CREATE OR REPLACE TEMP MACRO tc_cbv_trim(x) AS "
    f"regexp_replace(x, '^{_SPACE_CLASS}+|{_SPACE_CLASS}+$', '', 'g');\n"
    "CREATE OR REPLACE TEMP MACRO tc_cbv_bare(t, vocabulary) AS CASE WHEN strlen(t) = length(t) "
    "AND list_contains(CASE "
    + " ".join(
        f"WHEN vocabulary = '{name}' THEN {_sql_list(terms)}" for name, terms in CBV_TERMS.items()
    )
    + " END, tc_cbv_word(t)) THEN tc_cbv_word(t) ELSE t END;\n"
    "CREATE OR REPLACE TEMP MACRO tc_cbv(x, vocabulary) AS tc_cbv_bare(tc_cbv_trim(x), vocabulary)"
)


def bare_or_cbv_sql(column: str, vocabulary: str) -> str:
    """SQL: ``tc_cbv(column, vocabulary)``, skipped for a value that is a bare CBV term
    already (a regular expression per row costs more than looking the value up)."""
    terms = ", ".join(literal(t) for t in sorted(CBV_TERMS[vocabulary]))
    return (
        f"CASE WHEN {column} IN ({terms}) THEN {column} ELSE tc_cbv({column}, '{vocabulary}') END"
    )
