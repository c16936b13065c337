"""The in-memory supply chain the sample generator builds, plants into and writes out.

Files are rendered from this model only at the end, so a planted change made to the
model (a serial added to a case, a line's quantity raised) shows up consistently in
every file that mentions it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

PERIOD = "2026-Q1"
YEAR = "2026"
QUARTER_START = date(2026, 1, 1)
QUARTER_END = date(2026, 3, 31)

MASS_UNITS_KG = {"KGM": Decimal(1), "GRM": Decimal("0.001"), "MGM": Decimal("0.000001")}


@dataclass(frozen=True)
class PlantedFinding:
    """A discrepancy the generator planted, and the finding it should produce.

    Attributes:
        rule: the rule id from the catalogue that must report it.
        subject: the subject keys (as the report names them) that the finding carries.
    """

    rule: str
    subject: dict[str, str]


@dataclass(frozen=True)
class Sample:
    """A generated quarter of data.

    Attributes:
        folder: where the files were written.
        files: every file written, in a fixed order.
        planted: the planted discrepancies, in catalogue order.
    """

    folder: Path
    files: tuple[Path, ...]
    planted: tuple[PlantedFinding, ...]


def dec(value: Decimal) -> str:
    """Write a decimal in plain notation without trailing zeros.

    >>> dec(Decimal("1.50")), dec(Decimal("2E+2")), dec(Decimal("0.00147456"))
    ('1.5', '200', '0.00147456')
    """
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


class SerialMint:
    """Hands out unique random serial numbers per GTIN, reproducibly from a seed."""

    def __init__(self, seed: int) -> None:
        """Start a mint for one seed."""
        self._seed = seed
        self._rngs: dict[str, random.Random] = {}
        self._used: dict[str, set[str]] = {}

    def new(self, gtin: str, count: int = 1) -> list[str]:
        """Return ``count`` serials never handed out before for ``gtin``."""
        rng = self._rngs.setdefault(gtin, random.Random(f"serials:{self._seed}:{gtin}"))
        used = self._used.setdefault(gtin, set())
        out: list[str] = []
        while len(out) < count:
            serial = f"{rng.getrandbits(48):012X}"
            if serial not in used:
                used.add(serial)
                out.append(serial)
        return out


class Numbers:
    """Reproducible document numbers (declarations, SSCCs, references)."""

    def __init__(self, seed: int) -> None:
        """Start every counter at a seed-dependent offset."""
        rng = random.Random(f"numbers:{seed}")
        names = ("sscc", "sb", "us", "ke", "de", "awb", "bol", "auth")
        self._next = {name: rng.randrange(10**5, 10**6) for name in names}

    def take(self, name: str) -> int:
        """Return the next number of a counter."""
        value = self._next[name]
        self._next[name] = value + 1
        return value


@dataclass(frozen=True)
class Party:
    """A licensed party: a GLN holder, or a licence-number holder with a GLN-coded site."""

    id: str
    name: str
    country: str
    tz: str
    site: str
    prefix_len: int
    gln: str | None = None


@dataclass(frozen=True)
class Product:
    """A row of the product master."""

    gtin: str
    name: str
    prefix_len: int
    trade_uom: str
    substance: str = ""
    substance_base: str = ""
    base_factor: Decimal | None = None
    content: Decimal | None = None
    content_uom: str = ""
    control_class: str = "none"

    @property
    def serialised(self) -> bool:
        """Whether the product is counted in serialised units."""
        return self.trade_uom == "H87"

    @property
    def controlled(self) -> bool:
        """Whether the product falls under a control regime."""
        return self.control_class != "none"

    def base_kg(self, quantity: Decimal) -> Decimal:
        """Convert a quantity in the trade unit to kilograms of base."""
        factor = self.base_factor if self.base_factor is not None else Decimal(1)
        if self.serialised:
            assert self.content is not None
            return quantity * self.content * MASS_UNITS_KG[self.content_uom] * factor
        return quantity * MASS_UNITS_KG[self.trade_uom] * factor


@dataclass
class Lot:
    """A manufactured batch; serials are listed in commissioning order."""

    product: Product
    number: str
    quantity: Decimal
    manufacturer: Party
    made: date
    expiry: date
    serials: list[str] = field(default_factory=list)
    destroyed: list[str] = field(default_factory=list)


@dataclass
class Case:
    """A case SSCC and the packs packed into it.

    ``dl_lot`` names serials whose Digital Link spelling carries a lot qualifier.
    """

    sscc: str
    lot: Lot
    serials: list[str]
    dl_lot: dict[str, str] = field(default_factory=dict)


@dataclass
class Pallet:
    """A pallet SSCC holding cases of one lot."""

    sscc: str
    lot: Lot
    cases: list[Case]

    def count(self) -> int:
        """Number of packs on the pallet."""
        return sum(len(case.serials) for case in self.cases)


@dataclass
class Line:
    """One consignment declaration line."""

    declaration_id: str
    line: int
    direction: str
    declarant: str
    counterparty: str
    origin: str
    destination: str
    shipment_ref: str
    gtin: str
    lot: str
    quantity: Decimal
    uom: str
    declared: date
    authorisation_ref: str = ""


@dataclass
class BulkItem:
    """A quantity of an unserialised lot moving in a shipment (kilograms)."""

    product: Product
    lot: str
    kg: Decimal


@dataclass
class Shipment:
    """One physical shipment and both sides' declarations of it."""

    key: str
    ref: str
    exporter: Party
    importer: Party
    ship: date
    receive: date
    pallets: list[Pallet] = field(default_factory=list)
    bulk: list[BulkItem] = field(default_factory=list)
    loose_shipped: list[tuple[Product, str]] = field(default_factory=list)
    received: list[Pallet] = field(default_factory=list)
    loose_received: list[tuple[Product, str]] = field(default_factory=list)
    export_lines: list[Line] = field(default_factory=list)
    import_lines: list[Line] = field(default_factory=list)


@dataclass
class Authorisation:
    """An export authorisation or import permit."""

    ref: str
    kind: str
    issuing_country: str
    holder: str
    counterparty: str
    gtin: str
    substance_base: str
    max_quantity: Decimal
    uom: str
    valid_from: date
    valid_to: date


@dataclass
class Commission:
    """A commissioning event: serials of a lot, at a local day and minute."""

    key: str
    lot: Lot
    serials: list[str]
    day: date
    minute: int


@dataclass
class Unpack:
    """An unpacking event at an importer."""

    key: str
    party: Party
    day: date
    minute: int
    parent: str
    cases: list[Case] = field(default_factory=list)
    packs: list[tuple[Product, str]] = field(default_factory=list)


@dataclass
class Filing:
    """One line of a periodic return."""

    filing_id: str
    filer: Party
    flow: str
    quantity: Decimal
    uom: str
    substance_base: str = ""
    gtin: str = ""
    counterparty_country: str = ""


@dataclass
class Estimate:
    """An annual estimate of legitimate imports (kilograms of base)."""

    country: str
    substance_base: str
    kg: Decimal


@dataclass
class Scenario:
    """Everything the generator writes, before it is written."""

    seed: int
    parties: dict[str, Party]
    products: dict[str, Product]
    mint: SerialMint
    numbers: Numbers
    lots: dict[str, list[Lot]] = field(default_factory=dict)
    pallets: dict[str, list[Pallet]] = field(default_factory=dict)
    stock: dict[str, list[Pallet]] = field(default_factory=dict)
    commissions: list[Commission] = field(default_factory=list)
    shipments: dict[str, Shipment] = field(default_factory=dict)
    extra_lines: list[Line] = field(default_factory=list)
    conflicting_batches: list[tuple[Lot, Decimal]] = field(default_factory=list)
    authorisations: dict[str, Authorisation] = field(default_factory=dict)
    unpacks: list[Unpack] = field(default_factory=list)
    opening: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    filings: list[Filing] = field(default_factory=list)
    estimates: list[Estimate] = field(default_factory=list)

    def lines(self) -> list[Line]:
        """Every consignment line, in a stable order."""
        out = [line for s in self.shipments.values() for line in s.export_lines + s.import_lines]
        out.extend(self.extra_lines)
        return sorted(out, key=lambda ln: (ln.declared, ln.declaration_id, ln.line))

    def product_by_gtin(self, gtin: str) -> Product:
        """Look a product up by its GTIN."""
        return next(p for p in self.products.values() if p.gtin == gtin)


def day_offset(start: date, days: int) -> date:
    """Shift a date by whole days."""
    return start + timedelta(days=days)
