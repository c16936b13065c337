"""The normalise stage: each value of an event in its one stored form.

Vocabulary (:func:`~traceability.load.epcis.terms.bare_cbv`, as SQL), times (a TIMESTAMPTZ
and the local date), lot and expiry from the ILMD, and, in Python, exact quantities with
their units. The SQL columns are computed by the typed parse of the check stage, in the
same pass over the lines; the quantities by the second look at the events that have them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from traceability.load.decimals import Inexact, exact_quantity
from traceability.load.epcis.rejects import Rejected, shown
from traceability.load.epcis.terms import EPC_LISTS, QUANTITY_LISTS, bare_or_cbv_sql
from traceability.load.exact_numbers import BigNumber, number_text
from traceability.load.identifiers import event_uom, invisible_chars, parse_epc

OFFSET = (
    "CASE WHEN regexp_full_match(o.eventTimeZoneOffset, '[+-][0-9]{2}:[0-9]{2}') THEN "
    "(CASE WHEN o.eventTimeZoneOffset[1] = '-' THEN -1 ELSE 1 END) * "
    "(CAST(o.eventTimeZoneOffset[2:3] AS INTEGER) * 60 + "
    "CAST(o.eventTimeZoneOffset[5:6] AS INTEGER)) END"
)
TIME_RE = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:[0-9]{2})"
)


def time_sql(x: str) -> str:
    """SQL: the timestamp ``x`` as a TIMESTAMPTZ (NULL if unreadable); a time written
    without seconds (``2026-01-10T14:00+05:30``, which DuckDB does not cast) is read as at
    second 0. Whether it had seconds is noted by the document checks."""
    return (
        f"TRY_CAST(CASE WHEN substr({x}, 17, 1) = ':' THEN {x} ELSE regexp_replace({x}, "
        "'^([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2})(Z|[+-][0-9]{2}:[0-9]{2})$', "
        "'\\1:00\\2') END AS TIMESTAMPTZ)"
    )


def event_columns() -> str:
    """SQL columns of the parse ``o`` (with its time ``t`` and offset ``off`` in minutes):
    each field of the event the store keeps, normalised."""
    return f"""
        o.eventID AS event_id, NULL::VARCHAR AS event_hash,
        o.type AS event_type, o.action AS action,
        {bare_or_cbv_sql("o.bizStep", "bizStep")} AS biz_step,
        {bare_or_cbv_sql("o.disposition", "disposition")} AS disposition,
        t AS event_time, o.eventTimeZoneOffset AS tz_offset,
        CAST(timezone('UTC', t) + to_minutes(off) AS DATE) AS local_date,
        {time_sql("o.recordTime")} AS record_time,
        o.readPoint ->> '$.id' AS read_point_raw,
        o.bizLocation ->> '$.id' AS biz_location_raw,
        o.parentID AS parent_raw,
        CASE WHEN o.ilmd IS NOT NULL THEN
            coalesce(o.ilmd ->> '$."cbvmda:lotNumber"', o.ilmd ->> '$.lotNumber',
                     o.ilmd ->> '$."gs1ushc:lotNumber"') END AS lot,
        CASE WHEN o.ilmd IS NOT NULL THEN
            TRY_CAST(coalesce(o.ilmd ->> '$."cbvmda:itemExpirationDate"',
                     o.ilmd ->> '$.itemExpirationDate') AS DATE) END AS expiry,
        {time_sql("o.errorDeclaration.declarationTime")} AS error_declared_at,
        tc_cbv(o.errorDeclaration.reason, 'errorReason') AS error_reason,
        o.errorDeclaration.correctiveEventIDs AS corrective_event_ids"""


def exact(quantity: Any, where: str) -> Decimal | None:
    """A quantity as the exact decimal written, if the store holds it exactly.

    Raises:
        Rejected: not a non-negative number (``bad-quantity``), or a number the store
            cannot hold without rounding (:mod:`traceability.load.decimals`).
    """
    if quantity is None:
        return None
    if isinstance(quantity, bool) or not isinstance(quantity, int | Decimal | BigNumber):
        raise Rejected("bad-quantity")
    text = number_text(quantity)
    try:
        value = exact_quantity(text)
    except ValueError:  # NaN or Infinity
        raise Rejected("bad-quantity") from None
    if isinstance(value, Inexact):
        raise Rejected(value.code, f"{where}: {shown(text)} {value.reason}")
    if value < 0:
        raise Rejected("bad-quantity")
    return value


@dataclass
class Quantities:
    """What the quantity lists of one event give: a row per element to store, the notes
    (units mapped or kept as given), and the elements rejected on their own."""

    rows: list[tuple[str, str, str, str | None, str | None, Decimal | None, str | None]]
    notes: list[tuple[str, str, str]]  # (field, code, message)
    rejects: list[tuple[str, str, str]]  # (field, code, message)


def quantity_rows(event: Mapping[str, Any]) -> Quantities:
    """(list, class raw, class key, gtin, lot, quantity, uom) for each quantity element.

    An element whose epcClass is not a valid GS1 class identifier is rejected on its own
    (the event loads without it); a quantity that is not a non-negative number rejects
    the event (how much it is about cannot be told), and so does an event left naming
    nothing valid at all. A unit is mapped to its UN/ECE Rec 20 code where its meaning is
    clear (``KG``, ``LB``), else kept as given; either way with a note.

    Raises:
        Rejected: the event is rejected.
    """
    out = Quantities([], [], [])
    elements = 0
    for name in QUANTITY_LISTS:
        for i, element in enumerate(event.get(name) or []):
            elements += 1
            where = f"{name}[{i}]"
            raw = element.get("epcClass") if isinstance(element, Mapping) else None
            hidden = invisible_chars(raw) if isinstance(raw, str) else []
            if hidden:
                raise Rejected(
                    "invisible-character",
                    f"{where}.epcClass: {shown(raw)} holds {', '.join(hidden)}, which does "
                    "not show: it would match or miss another identifier that looks the same",
                )
            epc = parse_epc(raw) if isinstance(raw, str) else None
            if epc is None or not isinstance(raw, str) or not isinstance(element, Mapping):
                quoted = shown(raw if isinstance(raw, str) else element)
                out.rejects.append(
                    (
                        f"{where}.epcClass",
                        "bad-epc-class",
                        f"{where}.epcClass: {quoted} is not a valid GS1 class identifier; "
                        "the event loads without this element",
                    )
                )
                continue
            quantity = exact(element.get("quantity"), f"{where}.quantity")
            uom_raw = element.get("uom")
            uom: str | None = None
            if isinstance(uom_raw, str):
                uom, how = event_uom(uom_raw)
                if how == "unit-synonym":
                    out.notes.append(
                        (
                            f"{where}.uom",
                            how,
                            f"{where}.uom: {uom_raw!r} read as the UN/ECE Rec 20 unit {uom}",
                        )
                    )
                elif how == "unknown-unit":
                    out.notes.append(
                        (
                            f"{where}.uom",
                            how,
                            f"{where}.uom: {uom_raw!r} is not a unit tracecheck knows; the "
                            "quantity is kept in it as given, and no rule converts it",
                        )
                    )
            elif uom_raw is not None:
                raise Rejected("bad-shape")
            if quantity is not None and uom is None:
                uom = "H87"
            out.rows.append((name, raw, epc.key, epc.gtin, epc.lot, quantity, uom))
    if elements and not out.rows and not event.get("parentID"):
        if not any(event.get(n) for n in EPC_LISTS):
            raise Rejected("bad-epc-class")
    return out
