"""Authorisations and estimates for the sample quarter, issued with headroom.

Every controlled shipment line gets an export authorisation and an import permit of its
own (some written per GTIN, some per substance in kilograms of base), valid around the
ship date; every importing country gets an annual estimate far above its imports.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_CEILING, Decimal

from .model import Authorisation, Estimate, Line, Numbers, Product, Scenario, Shipment


def ceil_to(value: Decimal, step: Decimal) -> Decimal:
    """Round up to a multiple of ``step``.

    >>> ceil_to(Decimal("0.59"), Decimal("0.5")), ceil_to(Decimal(400), Decimal(100))
    (Decimal('1.0'), Decimal('400'))
    """
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


def authorise(sc: Scenario, numbers: Numbers) -> None:
    """Issue an export authorisation and an import permit per controlled shipment line."""
    for sh in sc.shipments.values():
        for export, imported in zip(sh.export_lines, _import_for(sh), strict=True):
            product = sc.product_by_gtin(export.gtin)
            if not product.controlled:
                continue
            trade = export.quantity
            base = product.base_kg(trade)
            country = sh.importer.country
            per_gtin_import = country == "US"
            per_gtin_export = product.serialised or country == "KE"
            ea = _auth(
                sc, numbers, "export-authorisation", sh, product, per_gtin_export, trade, base
            )
            ip = _auth(sc, numbers, "import-permit", sh, product, per_gtin_import, trade, base)
            export.authorisation_ref = ea.ref
            for line in imported:
                line.authorisation_ref = ip.ref


def _import_for(sh: Shipment) -> list[list[Line]]:
    """The import lines that mirror each export line (by gtin, and by lot where given)."""
    return [
        [
            line
            for line in sh.import_lines
            if line.gtin == export.gtin and line.lot in ("", export.lot)
        ]
        for export in sh.export_lines
    ]


def _auth(
    sc: Scenario,
    numbers: Numbers,
    kind: str,
    sh: Shipment,
    product: Product,
    per_gtin: bool,
    trade: Decimal,
    base: Decimal,
) -> Authorisation:
    exporting = kind == "export-authorisation"
    holder, other = (sh.exporter, sh.importer) if exporting else (sh.importer, sh.exporter)
    n = numbers.take("auth")
    ref = {
        "IN": f"NCB/EA/2026/{n:06d}",
        "US": f"DEA-IP-2026-{n:06d}",
        "KE": f"PPB/IP/2026/{n:06d}",
        "DE": f"BfArM-EG-2026-{n:06d}",
    }[holder.country]
    if per_gtin:
        step = Decimal(100) if product.serialised else Decimal(50)
        quantity, uom = ceil_to(trade * Decimal("1.5"), step), product.trade_uom
    else:
        step = Decimal(50) if not product.serialised else Decimal("0.5")
        quantity, uom = ceil_to(base * Decimal("2.5"), step), "KGM"
    before, after = (30, 90) if exporting else (60, 120)
    auth = Authorisation(
        ref=ref,
        kind=kind,
        issuing_country=holder.country,
        holder=holder.id,
        counterparty=other.id,
        gtin=product.gtin if per_gtin else "",
        substance_base="" if per_gtin else product.substance_base,
        max_quantity=quantity,
        uom=uom,
        valid_from=sh.ship - timedelta(days=before),
        valid_to=sh.ship + timedelta(days=after),
    )
    sc.authorisations[ref] = auth
    return auth


def estimate(sc: Scenario) -> None:
    """Annual estimates well above the base scenario's imports (kilograms of base)."""
    imported: dict[tuple[str, str], Decimal] = {}
    for line in sc.lines():
        product = sc.product_by_gtin(line.gtin)
        if line.direction != "import" or not product.substance_base:
            continue
        key = (line.destination, product.substance_base)
        trade = line.quantity / 1000 if line.uom == "GRM" else line.quantity
        imported[key] = imported.get(key, Decimal(0)) + product.base_kg(trade)
    for country in ("DE", "KE", "US"):
        for substance in ("ephedrine", "pseudoephedrine"):
            quantity = imported.get((country, substance), Decimal(0))
            kg = ceil_to(quantity * 6 + 5, Decimal(5))
            sc.estimates.append(Estimate(country, substance, kg))
