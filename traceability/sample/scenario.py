"""Build the consistent base quarter: parties, products, lots, packing, shipments.

Every shipment leaves and arrives inside the quarter, every serial that moves was
commissioned once, every declared quantity equals what the events show, and every
controlled movement quotes a valid authorisation with headroom. No rule of the
catalogue should find anything on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal

from . import gs1
from .model import (
    QUARTER_START,
    BulkItem,
    Case,
    Commission,
    Line,
    Lot,
    Numbers,
    Pallet,
    Party,
    Product,
    Scenario,
    SerialMint,
    Shipment,
    Unpack,
)
from .permits import authorise, estimate

BULK_LOT_KG = Decimal(200)
BULK_TO_DE_KG = Decimal(100)
BULK_TO_KE_KG = Decimal(50)
DESTROYED_PER_FIRST_LOT = 3


def _parties() -> dict[str, Party]:
    def party(prefix: str, name: str, country: str, tz: str, licence: str = "") -> Party:
        party_gln = gs1.gln(prefix, 0)
        return Party(
            id=licence or party_gln,
            name=name,
            country=country,
            tz=tz,
            site=gs1.gln(prefix, 10),
            prefix_len=len(prefix),
            gln=None if licence else party_gln,
        )

    return {
        "exporter": party("8901234", "Deccan Pharmaceuticals Ltd", "IN", "+05:30"),
        "api": party("8905678", "Konkan Fine Chemicals Pvt Ltd", "IN", "+05:30"),
        "us": party("0614141", "Hudson Valley Pharma Distribution Inc", "US", "-05:00"),
        "de": party("4012345", "Rheinland Arzneimittel GmbH", "DE", "+01:00"),
        "ke": party("6161234", "Savannah Pharmaceuticals Ltd", "KE", "+03:00", "PPB/WHL/0457"),
    }


def _products() -> dict[str, Product]:
    hcl = Decimal("0.8192")
    return {
        "pse": Product(
            gtin=gs1.gtin14("8901234", 1),
            name="Sinudec 60 mg tablets, 3 x 10",
            prefix_len=7,
            trade_uom="H87",
            substance="pseudoephedrine hydrochloride",
            substance_base="pseudoephedrine",
            base_factor=hcl,
            content=Decimal("1.8"),
            content_uom="GRM",
            control_class="INCB-Table-I",
        ),
        "eph": Product(
            gtin=gs1.gtin14("8901234", 2),
            name="Ephedrine hydrochloride BP, bulk",
            prefix_len=7,
            trade_uom="KGM",
            substance="ephedrine hydrochloride",
            substance_base="ephedrine",
            base_factor=hcl,
            content=Decimal(1),
            content_uom="KGM",
            control_class="INCB-Table-I",
        ),
        "pcm": Product(
            gtin=gs1.gtin14("8901234", 3),
            name="Paracetamol 500 mg tablets, 20",
            prefix_len=7,
            trade_uom="H87",
        ),
        "api": Product(
            gtin=gs1.gtin14("8905678", 1),
            name="Pseudoephedrine hydrochloride USP, bulk",
            prefix_len=7,
            trade_uom="KGM",
            substance="pseudoephedrine hydrochloride",
            substance_base="pseudoephedrine",
            base_factor=hcl,
            content=Decimal(1),
            content_uom="KGM",
            control_class="INCB-Table-I",
        ),
    }


def _years_later(day: date, years: int) -> date:
    """The last day of the month before ``day``'s month, ``years`` later."""
    return date(day.year + years, day.month, 1) - timedelta(days=1)


def _chunks(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def build(seed: int, packs_per_lot: int, lots_per_product: int) -> Scenario:
    """Build the consistent base scenario.

    Args:
        seed: drives serial numbers, document numbers and spellings.
        packs_per_lot: packs manufactured per serialised lot (at least 120).
        lots_per_product: lots per product made in the quarter (at least 1).

    Returns:
        The scenario, with no discrepancy planted.
    """
    mint = SerialMint(seed)
    numbers = Numbers(seed)
    sc = Scenario(seed, _parties(), _products(), mint, numbers)
    exporter = sc.parties["exporter"]
    made_days = [
        QUARTER_START + timedelta(days=2 + (k * 56) // lots_per_product)
        for k in range(lots_per_product)
    ]
    for key, prefix in (("pse", "PSE26"), ("pcm", "PCM26"), ("eph", "EPH26")):
        product = sc.products[key]
        sc.lots[key] = []
        for k, made in enumerate(made_days):
            bulk = not product.serialised
            lot = Lot(
                product=product,
                number=f"{prefix}{k + 1:03d}",
                quantity=BULK_LOT_KG if bulk else Decimal(packs_per_lot),
                manufacturer=exporter,
                made=made,
                expiry=_years_later(made, 5 if bulk else 3),
            )
            sc.lots[key].append(lot)
            if bulk:
                continue
            lot.serials = mint.new(product.gtin, packs_per_lot)
            per_event = max(1, packs_per_lot // 12)
            for j, chunk in enumerate(_chunks(lot.serials, per_event)):
                sc.commissions.append(
                    Commission(f"commission:{lot.number}:{j}", lot, chunk, made, 7 * 60 + 10 * j)
                )
            if k == 0:
                lot.destroyed = lot.serials[:DESTROYED_PER_FIRST_LOT]
            _pack(sc, lot, numbers)
    api_made = QUARTER_START + timedelta(days=19)
    sc.lots["api"] = [
        Lot(
            product=sc.products["api"],
            number="KPS26014",
            quantity=Decimal(500),
            manufacturer=sc.parties["api"],
            made=api_made,
            expiry=_years_later(api_made, 5),
        )
    ]
    _ship(sc, numbers, made_days)
    authorise(sc, numbers)
    _unpack(sc)
    _opening_stock(sc, packs_per_lot)
    estimate(sc)
    return sc


def _pack(sc: Scenario, lot: Lot, numbers: Numbers) -> None:
    """Pack a lot's surviving packs into cases, and cases onto pallets."""
    loose = lot.serials[len(lot.destroyed) :]
    case_size = min(20, max(2, len(lot.serials) // 60))
    prefix = sc.parties["exporter"].site[:7]
    cases = [
        Case(gs1.sscc(prefix, numbers.take("sscc"), extension=1), lot, chunk)
        for chunk in _chunks(loose, case_size)
    ]
    per_pallet = max(5, len(cases) // 12)
    sc.pallets[lot.number] = [
        Pallet(gs1.sscc(prefix, numbers.take("sscc")), lot, cases[i : i + per_pallet])
        for i in range(0, len(cases), per_pallet)
    ]


def awb_ref(numbers: Numbers) -> str:
    """A new air waybill number (airline prefix 098, mod-7 check digit)."""
    serial = numbers.take("awb") + 3_000_000
    return f"AWB-098-{serial}{serial % 7}"


def _allocate(sc: Scenario) -> dict[str, dict[str, list[Pallet]]]:
    """Split each serialised lot's pallets between shipments; the rest stays in stock."""
    out: dict[str, dict[str, list[Pallet]]] = {}
    for key in ("pse", "pcm"):
        for k, lot in enumerate(sc.lots[key]):
            pallets = sc.pallets[lot.number]
            n = len(pallets)
            first_pcm = key == "pcm" and k == 0
            sizes = [("us", n * (3 if first_pcm else 4) // 12), ("ke", n * 3 // 12)]
            if first_pcm:
                sizes += [(name, 1) for name in ("pcm-us", "pcm-ke", "pcm-de", "pcm-de-late")]
            shares: dict[str, list[Pallet]] = {}
            pos = 0
            for name, size in sizes:
                shares[name] = pallets[pos : pos + size]
                pos += size
            sc.stock[lot.number] = pallets[pos:]
            out[lot.number] = shares
    return out


def _ship(sc: Scenario, numbers: Numbers, made_days: list[date]) -> None:
    """Allocate pallets and bulk to shipments and declare both sides of each."""
    p = sc.parties
    shares = _allocate(sc)
    for k, made in enumerate(made_days):
        for dest, ship_after, transit in (("us", 7, 6), ("ke", 9, 5)):
            sh = _new(sc, f"{dest}-{k}", awb_ref(numbers), p[dest], made, ship_after, transit)
            for key in ("pse", "pcm"):
                sh.pallets += shares[sc.lots[key][k].number][dest]
        bulk_routes = (("de", 8, 12, BULK_TO_DE_KG), ("ke", 10, 8, BULK_TO_KE_KG))
        for dest, ship_after, transit, kg in bulk_routes:
            ref = f"BOL-2026-{numbers.take('bol') % 10000:04d}"
            sh = _new(sc, f"{dest}-bulk-{k}", ref, p[dest], made, ship_after, transit)
            sh.bulk.append(BulkItem(sc.products["eph"], sc.lots["eph"][k].number, kg))
    first = shares[sc.lots["pcm"][0].number]
    for dest, ship_after, transit in (("us", 4, 5), ("ke", 5, 5), ("de", 6, 5)):
        sh = _new(sc, f"pcm-{dest}", awb_ref(numbers), p[dest], made_days[0], ship_after, transit)
        sh.pallets += first[f"pcm-{dest}"]
    late = _new(sc, "pcm-de-late", awb_ref(numbers), p["de"], date(2026, 3, 23), 0, 4)
    late.pallets += first["pcm-de-late"]
    for sh in sc.shipments.values():
        sh.received = list(sh.pallets)
        _declare(sc, sh, numbers)


def _new(
    sc: Scenario, key: str, ref: str, importer: Party, made: date, after: int, transit: int
) -> Shipment:
    ship = made + timedelta(days=after)
    sh = Shipment(key, ref, sc.parties["exporter"], importer, ship, ship + timedelta(days=transit))
    sc.shipments[key] = sh
    return sh


def _declare(sc: Scenario, sh: Shipment, numbers: Numbers) -> None:
    """Write the exporter's and the importer's declaration lines for a shipment."""
    totals: dict[tuple[Product, str], Decimal] = {}
    for pallet in sh.pallets:
        item = (pallet.lot.product, pallet.lot.number)
        totals[item] = totals.get(item, Decimal(0)) + pallet.count()
    for bulk in sh.bulk:
        totals[(bulk.product, bulk.lot)] = (
            totals.get((bulk.product, bulk.lot), Decimal(0)) + bulk.kg
        )
    exp, imp = sh.exporter, sh.importer
    export_id = f"SB/{numbers.take('sb'):07d}"
    country = imp.country
    import_id = {
        "US": f"HVP-{numbers.take('us'):07d}-1",
        "KE": f"KE-IDF-2026-{numbers.take('ke'):06d}",
        "DE": f"26DE{numbers.take('de'):014d}",
    }[country]
    merged: dict[str, Decimal] = {}
    for (product, lot), quantity in totals.items():
        sh.export_lines.append(
            Line(
                declaration_id=export_id,
                line=len(sh.export_lines) + 1,
                direction="export",
                declarant=exp.id,
                counterparty=imp.id,
                origin=exp.country,
                destination=country,
                shipment_ref=sh.ref,
                gtin=product.gtin,
                lot=lot,
                quantity=quantity,
                uom=product.trade_uom,
                declared=sh.ship,
            )
        )
        merged[product.gtin] = merged.get(product.gtin, Decimal(0)) + quantity
    if country == "KE":
        for (product, lot), quantity in totals.items():
            uom = "kg" if not product.serialised else "H87"
            _import_line(sh, import_id, product.gtin, lot, quantity, uom)
    else:
        for gtin, quantity in merged.items():
            serialised = sc.product_by_gtin(gtin).serialised
            uom = ("EA" if country == "US" else "H87") if serialised else "GRM"
            _import_line(sh, import_id, gtin, "", quantity if serialised else quantity * 1000, uom)


def _import_line(sh: Shipment, decl: str, gtin: str, lot: str, qty: Decimal, uom: str) -> None:
    sh.import_lines.append(
        Line(
            declaration_id=decl,
            line=len(sh.import_lines) + 1,
            direction="import",
            declarant=sh.importer.id,
            counterparty=sh.exporter.id,
            origin=sh.exporter.country,
            destination=sh.importer.country,
            shipment_ref=sh.ref,
            gtin=gtin,
            lot=lot,
            quantity=qty,
            uom=uom,
            declared=sh.receive,
        )
    )


def _unpack(sc: Scenario) -> None:
    """A few unpacking events at the importers late in the quarter."""
    us_pallet = sc.shipments["us-0"].pallets[0]
    ke_pallet = next(pl for pl in sc.shipments["ke-0"].pallets if not pl.lot.product.controlled)
    de_pallet = sc.shipments["pcm-de-late"].pallets[0]
    p = sc.parties
    first_case = us_pallet.cases[0]
    packs = [(us_pallet.lot.product, serial) for serial in first_case.serials]
    sc.unpacks += [
        Unpack(
            "unpack:us:pallet", p["us"], date(2026, 3, 25), 540, us_pallet.sscc, us_pallet.cases
        ),
        Unpack("unpack:us:case", p["us"], date(2026, 3, 25), 570, first_case.sscc, packs=packs),
        Unpack(
            "unpack:ke:pallet", p["ke"], date(2026, 3, 26), 600, ke_pallet.sscc, ke_pallet.cases
        ),
        Unpack(
            "unpack:de:pallet", p["de"], date(2026, 3, 27), 900, de_pallet.sscc, de_pallet.cases
        ),
    ]


def _opening_stock(sc: Scenario, packs_per_lot: int) -> None:
    """Stock each licensed party held at the start of the quarter, per filed substance."""
    pse = sc.products["pse"]
    sc.opening = {
        ("exporter", "pseudoephedrine"): pse.base_kg(Decimal(packs_per_lot)),
        ("exporter", "ephedrine"): sc.products["eph"].base_kg(Decimal(120)),
        ("api", "pseudoephedrine"): Decimal("312.5"),
        ("us", pse.gtin): Decimal(640),
        ("ke", "pseudoephedrine"): Decimal("0.35"),
        ("ke", "ephedrine"): Decimal("12.5"),
        ("de", "ephedrine"): Decimal(40),
    }
