"""Write the scenario as files in the input contract's shapes (CSV, XLSX, JSON Lines).

Every quantity is written as an exact decimal string and every date in ISO 8601.
Spreadsheets are written byte-for-byte reproducibly (fixed timestamps inside the
archive), so the same seed always gives the same files.
"""

from __future__ import annotations

import csv
import datetime as dt
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.writer.excel import ExcelWriter

from .events import render_events
from .model import Scenario, dec

PRODUCTS = ("gtin", "name", "substance", "substance_base", "base_factor", "content_per_unit",
            "content_uom", "trade_uom", "control_class")  # fmt: skip
BATCHES = ("manufacturer", "site", "gtin", "lot", "quantity", "uom", "manufacture_date",
           "expiry_date")  # fmt: skip
CONSIGNMENTS = ("declaration_id", "line", "direction", "declarant", "counterparty",
                "origin_country", "destination_country", "shipment_ref", "gtin", "lot",
                "quantity", "uom", "declared_date", "authorisation_ref")  # fmt: skip
AUTHORISATIONS = ("authorisation_ref", "kind", "issuing_country", "holder", "counterparty",
                  "gtin", "substance_base", "max_quantity", "uom", "valid_from",
                  "valid_to")  # fmt: skip
FILINGS = ("filing_id", "filer", "country", "period", "flow", "gtin", "substance_base",
           "counterparty_country", "quantity", "uom")  # fmt: skip
ESTIMATES = ("country", "substance_base", "year", "quantity", "uom")

FILE_NAMES = (
    "products.csv",
    "batches.csv",
    "consignments.csv",
    "authorisations.xlsx",
    "filings.xlsx",
    "estimates.csv",
    "events.jsonl",
)

_FIXED = dt.datetime(2026, 4, 1)


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Write a UTF-8 CSV with a header row (RFC 4180 quoting)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(rows)


class _FixedTimeZip(zipfile.ZipFile):
    """A zip archive whose members all carry one fixed timestamp."""

    def writestr(
        self,
        zinfo_or_arcname: str | zipfile.ZipInfo,
        data: Any,
        compress_type: int | None = None,
        compresslevel: int | None = None,
    ) -> None:
        if isinstance(zinfo_or_arcname, str):
            info = zipfile.ZipInfo(zinfo_or_arcname, date_time=_FIXED.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            zinfo_or_arcname = info
        super().writestr(zinfo_or_arcname, data, compress_type, compresslevel)

    def write(
        self,
        filename: Any,
        arcname: Any = None,
        compress_type: int | None = None,
        compresslevel: int | None = None,
    ) -> None:
        # openpyxl writes each worksheet to a temporary file and adds it with write(),
        # which would stamp it with that file's modification time.
        name = str(arcname) if arcname is not None else Path(filename).name
        self.writestr(name, Path(filename).read_bytes(), compress_type, compresslevel)


def write_xlsx(
    path: Path, title: str, columns: Sequence[str], rows: Iterable[Sequence[str]]
) -> None:
    """Write a one-sheet workbook of text cells, reproducibly."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title
    sheet.append(list(columns))
    for row in rows:
        sheet.append(list(row))
    workbook.properties.creator = "tracecheck sample"
    workbook.properties.created = _FIXED
    workbook.properties.modified = _FIXED
    with _FixedTimeZip(path, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(workbook, archive).save()


def write_all(sc: Scenario, folder: Path) -> tuple[Path, ...]:
    """Write every file of the scenario into ``folder`` and return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / name for name in FILE_NAMES}
    write_csv(paths["products.csv"], PRODUCTS, _products(sc))
    write_csv(paths["batches.csv"], BATCHES, _batches(sc))
    write_csv(paths["consignments.csv"], CONSIGNMENTS, _consignments(sc))
    write_xlsx(paths["authorisations.xlsx"], "authorisations", AUTHORISATIONS, _authorisations(sc))
    write_xlsx(paths["filings.xlsx"], "filings", FILINGS, _filings(sc))
    write_csv(paths["estimates.csv"], ESTIMATES, _estimates(sc))
    with paths["events.jsonl"].open("w", encoding="utf-8", newline="\n") as handle:
        for line in render_events(sc):
            handle.write(line + "\n")
    return tuple(paths.values())


def _products(sc: Scenario) -> list[list[str]]:
    return [
        [p.gtin, p.name, p.substance, p.substance_base,
         dec(p.base_factor) if p.base_factor is not None else "",
         dec(p.content) if p.content is not None else "", p.content_uom, p.trade_uom,
         p.control_class]
        for p in sc.products.values()
    ]  # fmt: skip


def _batches(sc: Scenario) -> list[list[str]]:
    rows = []
    pairs = [(lot, lot.quantity) for lots in sc.lots.values() for lot in lots]
    for lot, quantity in pairs + sc.conflicting_batches:
        rows.append(
            [lot.manufacturer.id, lot.manufacturer.site, lot.product.gtin, lot.number,
             dec(quantity), lot.product.trade_uom, lot.made.isoformat(), lot.expiry.isoformat()]
        )  # fmt: skip
    return rows


def _consignments(sc: Scenario) -> list[list[str]]:
    return [
        [ln.declaration_id, str(ln.line), ln.direction, ln.declarant, ln.counterparty, ln.origin,
         ln.destination, ln.shipment_ref, ln.gtin, ln.lot, dec(ln.quantity), ln.uom,
         ln.declared.isoformat(), ln.authorisation_ref]
        for ln in sc.lines()
    ]  # fmt: skip


def _authorisations(sc: Scenario) -> list[list[str]]:
    return [
        [a.ref, a.kind, a.issuing_country, a.holder, a.counterparty, a.gtin, a.substance_base,
         dec(a.max_quantity), a.uom, a.valid_from.isoformat(), a.valid_to.isoformat()]
        for a in sc.authorisations.values()
    ]  # fmt: skip


def _filings(sc: Scenario) -> list[list[str]]:
    return [
        [f.filing_id, f.filer.id, f.filer.country, "2026-Q1", f.flow, f.gtin, f.substance_base,
         f.counterparty_country, dec(f.quantity), f.uom]
        for f in sc.filings
    ]  # fmt: skip


def _estimates(sc: Scenario) -> list[list[str]]:
    return [[e.country, e.substance_base, "2026", dec(e.kg), "KGM"] for e in sc.estimates]
