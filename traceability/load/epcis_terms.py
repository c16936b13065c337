"""Names the EPCIS 2.0 standard and its Core Business Vocabulary (CBV 2.0) fix.

Shared by the XML reader and the document checks: the event types, the standard fields
of each, their order in the XML schema, and the CBV terms that may be written as bare
words in EPCIS 2.0 JSON-LD.
"""

from __future__ import annotations

from typing import Final

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


def bare_cbv(vocabulary: str, value: str) -> str:
    """The EPCIS 2.0 JSON-LD spelling of a CBV term: the bare word for a standard term.

    A CBV 1.x URN or CBV 2.0 Web URI of a standard term becomes its bare word; anything
    else (a user vocabulary URI, a term CBV does not define) is returned unchanged.

    >>> bare_cbv("bizStep", "urn:epcglobal:cbv:bizstep:shipping")
    'shipping'
    >>> bare_cbv("disposition", "https://ref.gs1.org/cbv/Disp-in_transit")
    'in_transit'
    >>> bare_cbv("bizStep", "urn:example:step:x")
    'urn:example:step:x'
    """
    text = value.strip()
    for prefix in (CBV_URN_PREFIXES[vocabulary], CBV_WEB_PREFIXES[vocabulary]):
        if text.startswith(prefix) and text[len(prefix) :] in CBV_TERMS[vocabulary]:
            return text[len(prefix) :]
    return text
