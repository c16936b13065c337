"""Planted discrepancies: each one a minimal change that exactly one rule must report.

Every plant touches its own shipment, lot, serial, authorisation or return, so any
combination can be planted together. Plants on records run before the returns are
derived (the returns then stay consistent with the changed records); plants on the
returns and estimates run after.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import ROUND_FLOOR, Decimal

from . import gs1
from .ledger import trade_quantity
from .model import (
    Commission,
    Filing,
    Line,
    Lot,
    Pallet,
    PlantedFinding,
    Product,
    Scenario,
    Shipment,
)
from .scenario import awb_ref

Plant = Callable[[Scenario], PlantedFinding]

UNKNOWN_LOT = "EPH25118"


def _last(sc: Scenario) -> int:
    return len(sc.lots["pse"]) - 1


def _epc(product: Product, serial: str) -> str:
    return gs1.sgtin_urn(product.gtin, product.prefix_len, serial)


def _line(lines: list[Line], gtin: str, lot: str | None = None) -> Line:
    return next(ln for ln in lines if ln.gtin == gtin and (lot is None or ln.lot == lot))


def _first_pallet(sh: Shipment, lot: Lot) -> Pallet:
    return next(pl for pl in sh.pallets if pl.lot is lot)


def _bump(sh: Shipment, product: Product, lot: Lot, extra: Decimal) -> None:
    """Raise both sides' declared quantity of a lot in a shipment."""
    _line(sh.export_lines, product.gtin, lot.number).quantity += extra
    _line(
        sh.import_lines, product.gtin, lot.number if sh.importer.country == "KE" else ""
    ).quantity += extra


def over_export(sc: Scenario) -> PlantedFinding:
    """Raise one bulk shipment (both sides, and its events) 25 kg past the lot's make."""
    lot = sc.lots["eph"][_last(sc)]
    sh = sc.shipments[f"de-bulk-{_last(sc)}"]
    exported = sum(
        (ln.quantity for ln in sc.lines() if ln.direction == "export" and ln.lot == lot.number),
        Decimal(0),
    )
    extra = lot.quantity - exported + 25
    next(item for item in sh.bulk if item.lot == lot.number).kg += extra
    _line(sh.export_lines, lot.product.gtin, lot.number).quantity += extra
    _line(sh.import_lines, lot.product.gtin).quantity += extra * 1000
    return PlantedFinding("over-export", {"gtin": lot.product.gtin, "lot": lot.number})


def over_commission(sc: Scenario) -> PlantedFinding:
    """Commission five serials more than the lot's declared quantity (left in stock)."""
    lot = sc.lots["pse"][_last(sc)]
    serials = sc.mint.new(lot.product.gtin, 5)
    day = lot.made + timedelta(days=1)
    sc.commissions.append(Commission(f"commission:{lot.number}:extra", lot, serials, day, 450))
    return PlantedFinding("over-commission", {"gtin": lot.product.gtin, "lot": lot.number})


def unknown_lot(sc: Scenario) -> PlantedFinding:
    """Ship one bulk consignment from an older lot that was never declared."""
    sh = sc.shipments["ke-bulk-0"]
    old = sh.bulk[0].lot
    for item in sh.bulk:
        item.lot = UNKNOWN_LOT
    for line in sh.export_lines + sh.import_lines:
        if line.lot == old:
            line.lot = UNKNOWN_LOT
    return PlantedFinding("unknown-lot", {"gtin": sh.bulk[0].product.gtin, "lot": UNKNOWN_LOT})


def batch_conflict(sc: Scenario) -> PlantedFinding:
    """Declare an uncontrolled lot a second time with 50 packs more."""
    lot = sc.lots["pcm"][0]
    sc.conflicting_batches.append((lot, lot.quantity + 50))
    return PlantedFinding("batch-conflict", {"gtin": lot.product.gtin, "lot": lot.number})


def mirror_quantity_gap(sc: Scenario) -> PlantedFinding:
    """Import side declares less than was exported.

    Packs (up to 12, and at most 1 % of the country's yearly imports, so the country-level
    filing mirror stays within its 2 % tolerance); when the US takes too few packs for one
    to be under 2 %, 1 % of a German bulk shipment instead.
    """
    pse = sc.products["pse"]
    sh = sc.shipments[f"us-{_last(sc)}"]
    us_total = sum(
        (ln.quantity for s in sc.shipments.values() if s.importer.country == "US"
         for ln in s.import_lines if ln.gtin == pse.gtin),
        Decimal(0),
    )  # fmt: skip
    if us_total <= 50:
        bulk = sc.shipments[f"de-bulk-{_last(sc)}"]
        line = bulk.import_lines[0]
        line.quantity -= line.quantity / 100
        return PlantedFinding("mirror-quantity-gap", {"shipment_ref": bulk.ref, "gtin": line.gtin})
    shortfall = max(Decimal(1), min(Decimal(12), (us_total / 100).to_integral_value(ROUND_FLOOR)))
    _line(sh.import_lines, pse.gtin).quantity -= shortfall
    return PlantedFinding("mirror-quantity-gap", {"shipment_ref": sh.ref, "gtin": pse.gtin})


def mirror_party_mismatch(sc: Scenario) -> PlantedFinding:
    """The importer declares the goods as coming from the UAE, not India."""
    sh = sc.shipments["pcm-de"]
    for line in sh.import_lines:
        line.origin = "AE"
    return PlantedFinding("mirror-party-mismatch", {"shipment_ref": sh.ref})


def export_without_import(sc: Scenario) -> PlantedFinding:
    """Drop the import declaration of an early-January shipment."""
    sh = sc.shipments["pcm-us"]
    sh.import_lines = []
    return PlantedFinding("export-without-import", {"shipment_ref": sh.ref})


def import_without_export(sc: Scenario) -> PlantedFinding:
    """An import declared from the exporter that the exporter never declared or shipped."""
    ke, exporter = sc.parties["ke"], sc.parties["exporter"]
    ref = awb_ref(sc.numbers)
    sc.extra_lines.append(
        Line(
            declaration_id=f"KE-IDF-2026-{sc.numbers.take('ke'):06d}",
            line=1,
            direction="import",
            declarant=ke.id,
            counterparty=exporter.id,
            origin="IN",
            destination="KE",
            shipment_ref=ref,
            gtin=sc.products["pcm"].gtin,
            lot="",
            quantity=Decimal(240),
            uom="H87",
            declared=date(2026, 3, 18),
        )
    )
    return PlantedFinding("import-without-export", {"shipment_ref": ref})


def late_arrival(sc: Scenario) -> PlantedFinding:
    """The import is declared 72 days after the export."""
    sh = sc.shipments["pcm-ke"]
    for line in sh.import_lines:
        line.declared = sh.ship + timedelta(days=72)
    return PlantedFinding("late-arrival", {"shipment_ref": sh.ref})


def serial_not_commissioned(sc: Scenario) -> PlantedFinding:
    """Pack a serial that was never commissioned into a case kept in stock."""
    lot = sc.lots["pse"][0]
    serial = sc.mint.new(lot.product.gtin)[0]
    sc.stock[lot.number][-1].cases[-1].serials.append(serial)
    return PlantedFinding("serial-not-commissioned", {"epc": _epc(lot.product, serial)})


def serial_duplicate(sc: Scenario) -> PlantedFinding:
    """Commission one shipped serial a second time (a label reprint); the batch says +1."""
    lot = sc.lots["pcm"][_last(sc)]
    serial = sc.pallets[lot.number][0].cases[0].serials[1]
    lot.quantity += 1
    day = lot.made + timedelta(days=1)
    sc.commissions.append(Commission(f"recommission:{lot.number}", lot, [serial], day, 465))
    return PlantedFinding("serial-duplicate", {"epc": _epc(lot.product, serial)})


def serial_after_decommission(sc: Scenario) -> PlantedFinding:
    """Pack a destroyed pack into a shipped case; both declarations count it."""
    lot = sc.lots["pcm"][0]
    serial = lot.destroyed[0]
    sh = sc.shipments["us-0"]
    _first_pallet(sh, lot).cases[0].serials.append(serial)
    _bump(sh, lot.product, lot, Decimal(1))
    return PlantedFinding("serial-after-decommission", {"epc": _epc(lot.product, serial)})


def serial_shipped_twice(sc: Scenario) -> PlantedFinding:
    """Ship a pack already in transit to the US again to Kenya, before the US receipt."""
    lot = sc.lots["pcm"][0]
    serial = _first_pallet(sc.shipments["us-0"], lot).cases[-1].serials[0]
    sh = sc.shipments["ke-0"]
    sh.loose_shipped.append((lot.product, serial))
    sh.loose_received.append((lot.product, serial))
    _bump(sh, lot.product, lot, Decimal(1))
    return PlantedFinding("serial-shipped-twice", {"epc": _epc(lot.product, serial)})


def serial_lot_mismatch(sc: Scenario) -> PlantedFinding:
    """Pack a stock serial under a Digital Link that names another lot."""
    lots = sc.lots["pse"]
    if len(lots) < 2:
        raise ValueError("serial-lot-mismatch needs lots_per_product >= 2")
    case = sc.stock[lots[0].number][1].cases[0]
    serial = case.serials[0]
    case.dl_lot[serial] = lots[1].number
    return PlantedFinding("serial-lot-mismatch", {"epc": _epc(lots[0].product, serial)})


def serial_count_mismatch(sc: Scenario) -> PlantedFinding:
    """Take one pack out of each of two cases before they ship; declarations unchanged."""
    lot = sc.lots["pse"][0]
    sh = sc.shipments["ke-0"]
    for case in _first_pallet(sh, lot).cases[:2]:
        case.serials.pop()
    subject = {"shipment_ref": sh.ref, "gtin": lot.product.gtin, "lot": lot.number}
    return PlantedFinding("serial-count-mismatch", subject)


def shipped_not_received(sc: Scenario) -> PlantedFinding:
    """One pallet of an early shipment never shows up in the importer's receiving."""
    sh = sc.shipments["us-0"]
    last = [pl for pl in sh.pallets if pl.lot.product.controlled][-1]
    sh.received = [pl for pl in sh.received if pl is not last]
    return PlantedFinding("shipped-not-received", {"shipment_ref": sh.ref})


def received_not_shipped(sc: Scenario) -> PlantedFinding:
    """The importer receives a pack that never left the exporter's stock."""
    lot = sc.lots["pse"][_last(sc)]
    serial = sc.stock[lot.number][0].cases[0].serials[0]
    sc.shipments[f"us-{_last(sc)}"].loose_received.append((lot.product, serial))
    return PlantedFinding("received-not-shipped", {"epc": _epc(lot.product, serial)})


def expired_shipped(sc: Scenario) -> PlantedFinding:
    """Shorten a lot's expiry to fall between its US and its Kenyan shipment."""
    lot = sc.lots["pcm"][_last(sc)]
    lot.expiry = sc.shipments[f"us-{_last(sc)}"].ship + timedelta(days=1)
    return PlantedFinding("expired-shipped", {"gtin": lot.product.gtin, "lot": lot.number})


def authorisation_missing(sc: Scenario) -> PlantedFinding:
    """A controlled import quotes no permit."""
    line = sc.shipments["de-bulk-0"].import_lines[0]
    line.authorisation_ref = ""
    return PlantedFinding("authorisation-missing", {"declaration_id": line.declaration_id})


def authorisation_mismatch(sc: Scenario) -> PlantedFinding:
    """The quoted export authorisation names another importer as counterparty."""
    line = _line(sc.shipments["ke-0"].export_lines, sc.products["pse"].gtin)
    sc.authorisations[line.authorisation_ref].counterparty = sc.parties["us"].id
    subject = {"authorisation_ref": line.authorisation_ref, "declaration_id": line.declaration_id}
    return PlantedFinding("authorisation-mismatch", subject)


def authorisation_expired(sc: Scenario) -> PlantedFinding:
    """The import permit ran out the day before the goods left."""
    sh = sc.shipments[f"ke-{_last(sc)}"]
    line = _line(sh.import_lines, sc.products["pse"].gtin)
    sc.authorisations[line.authorisation_ref].valid_to = sh.ship - timedelta(days=1)
    subject = {"authorisation_ref": line.authorisation_ref, "declaration_id": line.declaration_id}
    return PlantedFinding("authorisation-expired", subject)


def authorisation_exceeded(sc: Scenario) -> PlantedFinding:
    """Lower an export authorisation's maximum below what was shipped under it."""
    line = _line(sc.shipments["us-0"].export_lines, sc.products["pse"].gtin)
    auth = sc.authorisations[line.authorisation_ref]
    used = sum((ln.quantity for ln in sc.lines() if ln.authorisation_ref == auth.ref), Decimal(0))
    auth.max_quantity = used - max(Decimal(1), (used / 10).to_integral_value(ROUND_FLOOR))
    return PlantedFinding("authorisation-exceeded", {"authorisation_ref": auth.ref})


def _filing(sc: Scenario, party: str, substance: str, flow: str) -> Filing:
    filer = sc.parties[party]
    return next(
        f for f in sc.filings
        if f.filer == filer and f.substance_base == substance and f.flow == flow
    )  # fmt: skip


def stock_imbalance(sc: Scenario) -> PlantedFinding:
    """The exporter's closing stock is 50 packs' worth of base short."""
    _filing(sc, "exporter", "pseudoephedrine", "closing-stock").quantity -= sc.products[
        "pse"
    ].base_kg(Decimal(50))
    subject = {"party": sc.parties["exporter"].id, "substance_base": "pseudoephedrine"}
    return PlantedFinding("stock-imbalance", subject)


def filing_mismatch(sc: Scenario) -> PlantedFinding:
    """The exporter files 10 kg of salt more manufacture than its batches (stock balanced)."""
    extra = sc.products["eph"].base_kg(Decimal(10))
    _filing(sc, "exporter", "ephedrine", "manufacture").quantity += extra
    _filing(sc, "exporter", "ephedrine", "closing-stock").quantity += extra
    subject = {"party": sc.parties["exporter"].id, "substance_base": "ephedrine"}
    return PlantedFinding("filing-mismatch", subject)


def missing_filing(sc: Scenario) -> PlantedFinding:
    """The bulk manufacturer files no return for a quarter it manufactured in."""
    party = sc.parties["api"]
    sc.filings = [f for f in sc.filings if f.filer != party]
    return PlantedFinding("missing-filing", {"party": party.id})


def estimate_exceeded(sc: Scenario) -> PlantedFinding:
    """Lower Germany's ephedrine estimate to 80 % of what it imported."""
    eph = sc.products["eph"]
    imported = sum(
        (eph.base_kg(trade_quantity(eph, ln)) for ln in sc.lines()
         if ln.direction == "import" and ln.destination == "DE" and ln.gtin == eph.gtin),
        Decimal(0),
    )  # fmt: skip
    estimate = next(
        e for e in sc.estimates if e.country == "DE" and e.substance_base == "ephedrine"
    )
    estimate.kg = (imported * Decimal("0.8")).to_integral_value(ROUND_FLOOR)
    return PlantedFinding("estimate-exceeded", {"country_to": "DE", "substance_base": "ephedrine"})


# Applied in this order, whatever order they were asked for in: a later plant may
# measure what an earlier one changed (over-export tops up past the unknown lot).
RECORD_PLANTS: dict[str, Plant] = {
    "unknown-lot": unknown_lot,
    "over-export": over_export,
    "over-commission": over_commission,
    "expired-shipped": expired_shipped,
    "serial-duplicate": serial_duplicate,
    "batch-conflict": batch_conflict,
    "mirror-quantity-gap": mirror_quantity_gap,
    "mirror-party-mismatch": mirror_party_mismatch,
    "export-without-import": export_without_import,
    "import-without-export": import_without_export,
    "late-arrival": late_arrival,
    "serial-not-commissioned": serial_not_commissioned,
    "serial-after-decommission": serial_after_decommission,
    "serial-lot-mismatch": serial_lot_mismatch,
    "serial-shipped-twice": serial_shipped_twice,
    "serial-count-mismatch": serial_count_mismatch,
    "shipped-not-received": shipped_not_received,
    "received-not-shipped": received_not_shipped,
    "authorisation-missing": authorisation_missing,
    "authorisation-mismatch": authorisation_mismatch,
    "authorisation-expired": authorisation_expired,
    "authorisation-exceeded": authorisation_exceeded,
}
RETURN_PLANTS: dict[str, Plant] = {
    "filing-mismatch": filing_mismatch,
    "stock-imbalance": stock_imbalance,
    "missing-filing": missing_filing,
    "estimate-exceeded": estimate_exceeded,
}
