"""Quarterly returns derived from the scenario's own records.

Each licensed party files what its batches, consignments and destroying events add
up to, so ``filing-mismatch``, ``stock-imbalance`` and ``filing-mirror-gap`` have
nothing to find unless a plant changes a return afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_FLOOR, Decimal

from .model import (
    MASS_UNITS_KG,
    QUARTER_END,
    QUARTER_START,
    Filing,
    Line,
    Party,
    Product,
    Scenario,
)

_UNIT_SPELLINGS = {"kg": "KGM", "g": "GRM", "mg": "MGM", "EA": "H87", "unit": "H87"}
API_DOMESTIC_SUPPLY_KG = Decimal(300)


def normalise_uom(uom: str) -> str:
    """Map the accepted spellings of a unit to its UN/ECE code.

    >>> normalise_uom("kg"), normalise_uom("EA"), normalise_uom("GRM")
    ('KGM', 'H87', 'GRM')
    """
    return _UNIT_SPELLINGS.get(uom, uom)


def trade_quantity(product: Product, line: Line) -> Decimal:
    """A consignment line's quantity in the product's trade unit."""
    uom = normalise_uom(line.uom)
    if uom == "H87":
        return line.quantity
    return line.quantity * MASS_UNITS_KG[uom] / MASS_UNITS_KG[product.trade_uom]


def _measure(label: str) -> Callable[[Product, Decimal], Decimal | None]:
    """How a return counts a product: units of one GTIN, or kilograms of one base."""

    def by_gtin(product: Product, quantity: Decimal) -> Decimal | None:
        return quantity if product.gtin == label else None

    def by_substance(product: Product, quantity: Decimal) -> Decimal | None:
        return product.base_kg(quantity) if product.substance_base == label else None

    return by_gtin if label.isdigit() else by_substance


def _in_quarter(line: Line) -> bool:
    return QUARTER_START <= line.declared <= QUARTER_END


def derive_filings(sc: Scenario) -> None:
    """Fill ``sc.filings`` with every party's return for the quarter."""
    order = list(sc.parties)
    for (party_key, label), opening in sc.opening.items():
        party = sc.parties[party_key]
        filing_id = f"QR-2026Q1-{party.country}-{order.index(party_key) + 1:03d}"
        flows = _flows(sc, party, label, opening, party_key)
        unit = "H87" if label.isdigit() else "KGM"
        for flow, country, quantity in flows:
            sc.filings.append(
                Filing(
                    filing_id=filing_id,
                    filer=party,
                    flow=flow,
                    quantity=quantity,
                    uom=unit,
                    substance_base="" if label.isdigit() else label,
                    gtin=label if label.isdigit() else "",
                    counterparty_country=country,
                )
            )


def _flows(
    sc: Scenario, party: Party, label: str, opening: Decimal, party_key: str
) -> list[tuple[str, str, Decimal]]:
    measure = _measure(label)
    made = Decimal(0)
    destroyed = Decimal(0)
    for lots in sc.lots.values():
        for lot in lots:
            if lot.manufacturer != party or not QUARTER_START <= lot.made <= QUARTER_END:
                continue
            made += measure(lot.product, lot.quantity) or 0
            destroyed += measure(lot.product, Decimal(len(lot.destroyed))) or 0
    moved: dict[tuple[str, str], Decimal] = {}
    for line in sc.lines():
        if line.declarant != party.id or not _in_quarter(line):
            continue
        product = sc.product_by_gtin(line.gtin)
        quantity = measure(product, trade_quantity(product, line))
        if quantity is None:
            continue
        country = line.origin if line.direction == "import" else line.destination
        moved[(line.direction, country)] = (
            moved.get((line.direction, country), Decimal(0)) + quantity
        )
    imported = sum((q for (d, _), q in moved.items() if d == "import"), Decimal(0))
    exported = sum((q for (d, _), q in moved.items() if d == "export"), Decimal(0))
    if party_key == "api":
        supplied = API_DOMESTIC_SUPPLY_KG
    elif label.isdigit():
        supplied = (imported / 2).to_integral_value(rounding=ROUND_FLOOR)
    else:
        supplied = imported / 2
    flows: list[tuple[str, str, Decimal]] = [("opening-stock", "", opening)]
    if made:
        flows.append(("manufacture", "", made))
    flows += [(d, country, q) for (d, country), q in sorted(moved.items())]
    if supplied:
        flows.append(("domestic-supply", "", supplied))
    if destroyed:
        flows.append(("destruction", "", destroyed))
    closing = opening + made + imported - exported - supplied - destroyed
    flows.append(("closing-stock", "", closing))
    return flows
