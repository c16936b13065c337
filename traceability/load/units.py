"""Units of measure: the spellings accepted, UN/ECE Recommendation 20 codes and dimensions."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from traceability.load.gs1_keys import WHITESPACE

# Units of measure
# --------------------------------------------------------------------------------------

#: Accepted spellings (matched case-insensitively, whitespace stripped) -> UN/ECE Rec 20.
UOM_SPELLINGS: dict[str, str] = {
    "kgm": "KGM",
    "kg": "KGM",
    "grm": "GRM",
    "g": "GRM",
    "mgm": "MGM",
    "mg": "MGM",
    "ltr": "LTR",
    "l": "LTR",
    "mlt": "MLT",
    "ml": "MLT",
    "h87": "H87",
    "ea": "H87",
    "unit": "H87",
    "units": "H87",
}

#: Kilograms per unit, for the mass codes.
UOM_MASS_KG: dict[str, Decimal] = {
    "KGM": Decimal("1"),
    "GRM": Decimal("0.001"),
    "MGM": Decimal("0.000001"),
    "LBR": Decimal("0.45359237"),  # the international pound, exactly
}

#: Litres per unit, for the volume codes.
UOM_VOLUME_L: dict[str, Decimal] = {
    "LTR": Decimal("1"),
    "MLT": Decimal("0.001"),
}


def normalise_uom(raw: str) -> str | None:
    """Map a unit spelling to its UN/ECE Recommendation 20 code.

    Args:
        raw: e.g. ``"kg"``, ``"KGM"``, ``" mL "``, ``"EA"``.

    Returns:
        The code, or None for an unknown unit.

    Examples:
        >>> normalise_uom(" mL ")
        'MLT'
        >>> normalise_uom("Kg")
        'KGM'
        >>> normalise_uom("dozen") is None
        True
    """
    t = raw.strip(WHITESPACE)
    return UOM_SPELLINGS.get(t.lower()) if t.isascii() else None


#: Unit spellings in events whose meaning is clear though they are not UN/ECE Rec 20
#: codes (quantities in EPCIS are meant to carry Rec 20 codes), with the code each means.
EVENT_UOM_SYNONYMS: dict[str, str] = {**UOM_SPELLINGS, "lb": "LBR", "lbs": "LBR", "lbr": "LBR"}
#: The Rec 20 codes tracecheck converts (the rules' unit table holds each of them).
KNOWN_UOM_CODES: frozenset[str] = frozenset(EVENT_UOM_SYNONYMS.values())


def event_uom(raw: str) -> tuple[str, str | None]:
    """The unit an event quantity is stored in, and the note its spelling calls for.

    A Rec 20 code that tracecheck converts is kept (no note); another spelling of one, in
    any case (``KG``, ``lb``), is mapped (``unit-synonym``); anything else is kept as
    given, trimmed (``unknown-unit``): the quantity is stored, and no rule converts it.

    >>> event_uom("KGM"), event_uom("LB"), event_uom(" dozen ")
    (('KGM', None), ('LBR', 'unit-synonym'), ('dozen', 'unknown-unit'))
    """
    if raw in KNOWN_UOM_CODES:
        return raw, None
    text = raw.strip(WHITESPACE)
    code = EVENT_UOM_SYNONYMS.get(text.lower()) if text.isascii() else None
    if code is not None:
        return code, "unit-synonym"
    return text, "unknown-unit"


def uom_dimension(code: str) -> Literal["mass", "volume", "count"]:
    """Return the dimension of a normalised unit code.

    Args:
        code: a code from ``UOM_SPELLINGS`` values.

    Returns:
        ``"mass"``, ``"volume"`` or ``"count"``.

    Raises:
        KeyError: for an unknown code.

    Examples:
        >>> uom_dimension("GRM"), uom_dimension("LTR"), uom_dimension("H87")
        ('mass', 'volume', 'count')
    """
    if code in UOM_MASS_KG:
        return "mass"
    if code in UOM_VOLUME_L:
        return "volume"
    if code == "H87":
        return "count"
    raise KeyError(code)
