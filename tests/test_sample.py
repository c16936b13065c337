"""Tests for the sample-quarter generator.

The files are read back with plain Python (csv, openpyxl, json) and checked by a small
independent oracle of the rule catalogue: the clean quarter must give it nothing to
report, and each planted discrepancy exactly its own finding.
"""

from __future__ import annotations

import csv
import json
import re
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from biip.gln import Gln
from biip.gtin import Gtin

from traceability.sample import (
    DEMO_PLANTS,
    PLANTABLE,
    Sample,
    generate_quarter,
    write_event_lines,
)

SMALL = {"packs_per_lot": 120, "lots_per_product": 2}
COLUMNS = {
    "products.csv": ["gtin", "name", "substance", "substance_base", "base_factor",
                     "content_per_unit", "content_uom", "trade_uom", "control_class"],
    "batches.csv": ["manufacturer", "site", "gtin", "lot", "quantity", "uom",
                    "manufacture_date", "expiry_date"],
    "consignments.csv": ["declaration_id", "line", "direction", "declarant", "counterparty",
                         "origin_country", "destination_country", "shipment_ref", "gtin", "lot",
                         "quantity", "uom", "declared_date", "authorisation_ref"],
    "authorisations.xlsx": ["authorisation_ref", "kind", "issuing_country", "holder",
                            "counterparty", "gtin", "substance_base", "max_quantity", "uom",
                            "valid_from", "valid_to"],
    "filings.xlsx": ["filing_id", "filer", "country", "period", "flow", "gtin", "substance_base",
                     "counterparty_country", "quantity", "uom"],
    "estimates.csv": ["country", "substance_base", "year", "quantity", "uom"],
}  # fmt: skip
KG = {"KGM": Decimal(1), "kg": Decimal(1), "GRM": Decimal("0.001"), "g": Decimal("0.001")}
COUNTED = {"H87", "EA", "unit"}
Row = dict[str, str]
Subject = frozenset[tuple[str, str]]


# --- reading the files back -------------------------------------------------------


def read_rows(path: Path) -> list[Row]:
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    sheet = openpyxl.load_workbook(path, read_only=True).worksheets[0]
    rows = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def header(path: Path) -> list[str]:
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            return next(csv.reader(handle))
    sheet = openpyxl.load_workbook(path, read_only=True).worksheets[0]
    return [str(v) for v in next(sheet.iter_rows(values_only=True))]


def _check(body: str) -> str:
    total = sum(int(c) * (3 if i % 2 == 0 else 1) for i, c in enumerate(reversed(body)))
    return str(-total % 10)


def epc_key(epc: str) -> str:
    """One key per identified thing, whatever the spelling (URN, any Digital Link domain)."""
    if m := re.fullmatch(r"urn:epc:id:sgtin:(\d+)\.(\d+)\.(.+)", epc):
        body = m[2][0] + m[1] + m[2][1:]
        return f"{body}{_check(body)}/{m[3]}"
    if m := re.fullmatch(r"urn:epc:id:sscc:(\d+)\.(\d+)", epc):
        body = m[2][0] + m[1] + m[2][1:]
        return f"sscc:{body}{_check(body)}"
    if m := re.fullmatch(r"https://[^/]+/01/(\d{14})(?:/10/[^/]+)?/21/(.+)", epc):
        return f"{m[1]}/{m[2]}"
    if m := re.fullmatch(r"https://[^/]+/00/(\d{18})", epc):
        return f"sscc:{m[1]}"
    raise AssertionError(f"unreadable EPC {epc}")


def word(value: str) -> str:
    """The bare CBV word of any accepted spelling."""
    return value.rsplit(":", 1)[-1].rsplit("-", 1)[-1]


@dataclass
class Quarter:
    products: dict[str, Row]
    batches: list[Row]
    lines: list[Row]
    auths: list[Row]
    filings: list[Row]
    estimates: list[Row]
    events: list[dict[str, Any]]

    @classmethod
    def read(cls, folder: Path) -> Quarter:
        events = [json.loads(line) for line in (folder / "events.jsonl").open(encoding="utf-8")]
        return cls(
            {r["gtin"]: r for r in read_rows(folder / "products.csv")},
            read_rows(folder / "batches.csv"),
            read_rows(folder / "consignments.csv"),
            read_rows(folder / "authorisations.xlsx"),
            read_rows(folder / "filings.xlsx"),
            read_rows(folder / "estimates.csv"),
            events,
        )

    def trade(self, row: Row) -> Decimal:
        """A line's quantity in its product's trade unit."""
        product = self.products[row["gtin"]]
        if row["uom"] in COUNTED:
            return Decimal(row["quantity"])
        return Decimal(row["quantity"]) * KG[row["uom"]] / KG[product["trade_uom"]]

    def base(self, gtin: str, trade: Decimal) -> Decimal:
        """Kilograms of base in a trade quantity."""
        p = self.products[gtin]
        factor = Decimal(p["base_factor"] or 1)
        if p["trade_uom"] == "H87":
            return trade * Decimal(p["content_per_unit"]) * KG[p["content_uom"]] * factor
        return trade * KG[p["trade_uom"]] * factor

    def batch_quantity(self) -> dict[tuple[str, str], Decimal]:
        out: dict[tuple[str, str], Decimal] = {}
        for b in self.batches:
            key = (b["gtin"], b["lot"])
            out[key] = min(out.get(key, Decimal(b["quantity"])), Decimal(b["quantity"]))
        return out


def when(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["eventTime"])


def local_date(event: dict[str, Any]) -> date:
    """The event's date on the local clock its ``eventTimeZoneOffset`` names."""
    tz = event["eventTimeZoneOffset"]
    offset = timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])) * (1 if tz[0] == "+" else -1)
    return (when(event).astimezone(UTC).replace(tzinfo=None) + offset).date()


def lgtin(epc_class: str) -> tuple[str, str]:
    """(gtin, lot) of an LGTIN class URN."""
    prefix, item, lot = epc_class.removeprefix("urn:epc:class:lgtin:").split(".", 2)
    body = item[0] + prefix + item[1:]
    return body + _check(body), lot


def sgln_gln(urn: str) -> str:
    prefix, location, _ = urn.removeprefix("urn:epc:id:sgln:").split(".")
    return prefix + location + _check(prefix + location)


def ref_of(event: dict[str, Any]) -> str:
    return str(event["bizTransactionList"][0]["bizTransaction"]).rsplit(":", 1)[-1]


# --- the oracle -----------------------------------------------------------------------


def S(**kw: str) -> Subject:
    return frozenset((k, epc_key(v) if k == "epc" else v) for k, v in kw.items())


def serial_findings(q: Quarter) -> dict[str, set[Subject]]:
    """Replay the events in time order, with aggregation as a state in time."""
    out: dict[str, set[Subject]] = defaultdict(set)
    children: dict[str, set[str]] = defaultdict(set)
    lot_of: dict[str, tuple[str, date]] = {}
    commissioned: Counter[str] = Counter()
    destroyed: set[str] = set()
    in_transit: set[str] = set()
    ever_shipped: set[str] = set()
    shipped: dict[str, set[str]] = defaultdict(set)
    received: dict[str, set[str]] = defaultdict(set)
    counts: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)

    def expand(keys: list[str]) -> list[str]:
        out_keys: list[str] = []
        for key in keys:
            out_keys += expand(sorted(children[key])) if key.startswith("sscc:") else [key]
        return out_keys

    def moved(key: str, epc: str = "") -> None:
        if key not in commissioned:
            out["serial-not-commissioned"].add(S(epc=epc or _dl(key)))
        if key in destroyed:
            out["serial-after-decommission"].add(S(epc=_dl(key)))
        m = re.search(r"/10/([^/]+)/21/", epc)
        if m and lot_of.get(key, ("",))[0] != m[1]:
            out["serial-lot-mismatch"].add(S(epc=_dl(key)))

    for e in sorted(q.events, key=when):
        step = word(e.get("bizStep", ""))
        epcs = e.get("epcList", [])
        keys = [epc_key(x) for x in epcs]
        if step == "commissioning":
            for key in keys:
                commissioned[key] += 1
                lot_of[key] = (
                    e["ilmd"]["cbvmda:lotNumber"],
                    date.fromisoformat(e["ilmd"]["cbvmda:itemExpirationDate"]),
                )
        elif e["type"] == "AggregationEvent":
            kids = [epc_key(x) for x in e.get("childEPCs", [])]
            parent = epc_key(e["parentID"])
            if e["action"] == "ADD":
                children[parent] |= set(kids)
                for raw, key in zip(e["childEPCs"], kids, strict=True):
                    if not key.startswith("sscc:"):
                        moved(key, raw)
            else:
                children[parent] -= set(kids)
        elif step == "destroying":
            destroyed |= set(keys)
        elif step in ("shipping", "receiving"):
            ref = ref_of(e)
            for raw, key in zip(epcs, keys, strict=True):
                for serial in expand([key]):
                    moved(serial, raw if serial == key else "")
                    if step == "shipping":
                        if serial in in_transit:
                            out["serial-shipped-twice"].add(S(epc=_dl(serial)))
                        in_transit.add(serial)
                        ever_shipped.add(serial)
                        shipped[ref].add(serial)
                        lot, expiry = lot_of.get(serial, ("", date.max))
                        counts[(ref, serial.split("/")[0], lot)] += 1
                        if local_date(e) > expiry:
                            out["expired-shipped"].add(S(gtin=serial.split("/")[0], lot=lot))
                    else:
                        if serial not in ever_shipped:
                            out["received-not-shipped"].add(S(epc=_dl(serial)))
                        in_transit.discard(serial)
                        received[ref].add(serial)
            if step == "shipping":
                for item in e.get("quantityList", []):
                    gtin, lot = lgtin(item["epcClass"])
                    counts[(ref, gtin, lot)] += Decimal(str(item["quantity"]))
    for key, n in commissioned.items():
        if n > 1:
            out["serial-duplicate"].add(S(epc=_dl(key)))
    per_lot = Counter((k.split("/")[0], lot_of[k][0]) for k in commissioned.elements())
    for (gtin, lot), made in q.batch_quantity().items():
        if per_lot[(gtin, lot)] > made:
            out["over-commission"].add(S(gtin=gtin, lot=lot))
    for ref, serials in shipped.items():
        if serials - set().union(*received.values()):
            out["shipped-not-received"].add(S(shipment_ref=ref))
    declared: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    with_events = {ref for ref, _, _ in counts}
    for row in q.lines:
        if row["direction"] == "export" and row["shipment_ref"] in with_events:
            declared[(row["shipment_ref"], row["gtin"], row["lot"])] += q.trade(row)
    for ref, gtin, lot in set(declared) | set(counts):
        if declared[(ref, gtin, lot)] != counts[(ref, gtin, lot)]:
            out["serial-count-mismatch"].add(S(shipment_ref=ref, gtin=gtin, lot=lot))
    return out


def _dl(key: str) -> str:
    gtin, serial = key.split("/", 1)
    return f"https://id.gs1.org/01/{gtin}/21/{serial}"


def lot_findings(q: Quarter) -> dict[str, set[Subject]]:
    out: dict[str, set[Subject]] = defaultdict(set)
    made = q.batch_quantity()
    quantities: dict[tuple[str, str], set[str]] = defaultdict(set)
    for b in q.batches:
        quantities[(b["gtin"], b["lot"])].add(b["quantity"])
    out["batch-conflict"] = {
        S(gtin=g, lot=lot) for (g, lot), qs in quantities.items() if len(qs) > 1
    }
    exported: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    named: set[tuple[str, str]] = set()
    for row in q.lines:
        if row["lot"]:
            named.add((row["gtin"], row["lot"]))
        if row["direction"] == "export":
            exported[(row["gtin"], row["lot"])] += q.trade(row)
    for e in q.events:
        if "ilmd" in e:
            gtins = {epc_key(x).split("/")[0] for x in e.get("epcList", [])}
            named |= {(g, e["ilmd"]["cbvmda:lotNumber"]) for g in gtins}
        named |= {lgtin(item["epcClass"]) for item in e.get("quantityList", [])}
    out["unknown-lot"] = {S(gtin=g, lot=lot) for g, lot in named if (g, lot) not in made}
    out["over-export"] = {
        S(gtin=g, lot=lot)
        for (g, lot), n in exported.items()
        if (g, lot) in made and n > made[(g, lot)]
    }
    return out


def mirror_findings(q: Quarter) -> dict[str, set[Subject]]:
    out: dict[str, set[Subject]] = defaultdict(set)
    sides: dict[str, dict[str, list[Row]]] = defaultdict(lambda: {"export": [], "import": []})
    for row in q.lines:
        sides[row["shipment_ref"]][row["direction"]].append(row)
    for ref, side in sides.items():
        exp, imp = side["export"], side["import"]
        if not imp:
            out["export-without-import"].add(S(shipment_ref=ref))
        if not exp:
            out["import-without-export"].add(S(shipment_ref=ref))
        if not (exp and imp):
            continue
        totals: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
        for i, rows in enumerate((exp, imp)):
            for row in rows:
                totals[row["gtin"]][i] += q.trade(row)
        out["mirror-quantity-gap"] |= {
            S(shipment_ref=ref, gtin=g) for g, (a, b) in totals.items() if a != b
        }
        parties = {
            (r["declarant"], r["counterparty"], r["origin_country"], r["destination_country"])
            for r in exp
        }
        parties |= {
            (r["counterparty"], r["declarant"], r["origin_country"], r["destination_country"])
            for r in imp
        }
        if len(parties) > 1:
            out["mirror-party-mismatch"].add(S(shipment_ref=ref))
        gaps = [
            (date.fromisoformat(i["declared_date"]) - date.fromisoformat(x["declared_date"])).days
            for x in exp
            for i in imp
        ]
        if any(g > 60 or g < 0 for g in gaps):
            out["late-arrival"].add(S(shipment_ref=ref))
    return out


def filing_findings(q: Quarter) -> dict[str, set[Subject]]:
    out: dict[str, set[Subject]] = defaultdict(set)
    filed: dict[tuple[str, str], dict[tuple[str, str], Decimal]] = defaultdict(dict)
    for f in q.filings:
        filed[(f["filer"], f["gtin"] or f["substance_base"])][
            (f["flow"], f["counterparty_country"])
        ] = Decimal(f["quantity"])

    def measure(label: str, gtin: str, trade: Decimal) -> Decimal:
        if label == gtin:
            return trade
        return q.base(gtin, trade) if q.products[gtin]["substance_base"] == label else Decimal(0)

    site_owner = {b["site"]: b["manufacturer"] for b in q.batches}
    destroyed = [
        (epc_key(x).split("/")[0], site_owner[sgln_gln(e["readPoint"]["id"])])
        for e in q.events if word(e.get("bizStep", "")) == "destroying" for x in e["epcList"]
    ]  # fmt: skip
    first_batch: dict[tuple[str, str], Row] = {}
    for b in q.batches:
        first_batch.setdefault((b["gtin"], b["lot"]), b)
    for (filer, label), flows in filed.items():
        records: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for b in first_batch.values():
            if b["manufacturer"] == filer and b["manufacture_date"].startswith("2026-0"):
                records[("manufacture", "")] += measure(label, b["gtin"], Decimal(b["quantity"]))
        for row in q.lines:
            if row["declarant"] == filer:
                cc = (
                    row["origin_country"]
                    if row["direction"] == "import"
                    else row["destination_country"]
                )
                records[(row["direction"], cc)] += measure(label, row["gtin"], q.trade(row))
        for gtin, owner in destroyed:
            if owner == filer:
                records[("destruction", "")] += measure(label, gtin, Decimal(1))
        records = defaultdict(Decimal, {k: v for k, v in records.items() if v})
        checked = {k for k in flows if k[0] in ("manufacture", "import", "export", "destruction")}
        if any(flows.get(k, Decimal(0)) != records[k] for k in checked | set(records)):
            out["filing-mismatch"].add(S(party=filer, substance_base=label))
        outflows = ("export", "domestic-supply", "destruction", "loss")
        balance = sum(
            v * (-1 if flow in outflows else 1)
            for (flow, _), v in flows.items()
            if flow != "closing-stock"
        )
        if balance != flows[("closing-stock", "")]:
            out["stock-imbalance"].add(S(party=filer, substance_base=label))
    countries = {f["filer"]: f["country"] for f in q.filings}
    gtin_of = {label: label for (_, label) in filed if label.isdigit()}
    mirror: dict[tuple[str, str, str], list[Decimal]] = defaultdict(
        lambda: [Decimal(0), Decimal(0)]
    )
    for f in q.filings:
        if f["flow"] in ("import", "export"):
            qty = Decimal(f["quantity"])
            substance = f["substance_base"]
            if f["gtin"]:
                qty, substance = (
                    q.base(gtin_of[f["gtin"]], qty),
                    q.products[f["gtin"]]["substance_base"],
                )
            here, there = countries[f["filer"]], f["counterparty_country"]
            pair = (here, there) if f["flow"] == "export" else (there, here)
            mirror[(*pair, substance)][0 if f["flow"] == "export" else 1] += qty
    for (src, dst, substance), (sent, got) in mirror.items():
        if abs(sent - got) > Decimal("0.02") * max(sent, got):
            subject = S(country_from=src, country_to=dst, substance_base=substance)
            out["filing-mirror-gap"].add(subject)
    active = {b["manufacturer"] for b in q.batches} | {r["declarant"] for r in q.lines}
    out["missing-filing"] = {S(party=p) for p in active if p not in countries}
    return out


def authorisation_findings(q: Quarter) -> dict[str, set[Subject]]:
    out: dict[str, set[Subject]] = defaultdict(set)
    auths = {a["authorisation_ref"]: a for a in q.auths}
    used: dict[str, Decimal] = defaultdict(Decimal)
    for row in q.lines:
        product = q.products[row["gtin"]]
        if product["control_class"] in ("", "none"):
            continue
        auth = auths.get(row["authorisation_ref"])
        if auth is None:
            out["authorisation-missing"].add(S(declaration_id=row["declaration_id"]))
            continue
        subject = S(
            authorisation_ref=auth["authorisation_ref"], declaration_id=row["declaration_id"]
        )
        export = row["direction"] == "export"
        country = row["origin_country"] if export else row["destination_country"]
        kind = "export-authorisation" if export else "import-permit"
        product_ok = (
            auth["gtin"] == row["gtin"] or auth["substance_base"] == product["substance_base"]
        )
        if (
            auth["holder"],
            auth["counterparty"],
            auth["issuing_country"],
            auth["kind"],
            product_ok,
        ) != (row["declarant"], row["counterparty"], country, kind, True):
            out["authorisation-mismatch"].add(subject)
        if not auth["valid_from"] <= row["declared_date"] <= auth["valid_to"]:
            out["authorisation-expired"].add(subject)
        trade = q.trade(row)
        amount = trade if auth["gtin"] else q.base(row["gtin"], trade)
        if auth["uom"] not in COUNTED and auth["gtin"]:
            amount = trade * KG[product["trade_uom"]] / KG[auth["uom"]]
        used[auth["authorisation_ref"]] += amount
    out["authorisation-exceeded"] = {
        S(authorisation_ref=r) for r, n in used.items() if n > Decimal(auths[r]["max_quantity"])
    }
    imported: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for row in q.lines:
        substance = q.products[row["gtin"]]["substance_base"]
        if row["direction"] == "import" and substance:
            imported[(row["destination_country"], substance)] += q.base(row["gtin"], q.trade(row))
    limits = {
        (e["country"], e["substance_base"]): Decimal(e["quantity"]) * KG[e["uom"]]
        for e in q.estimates
    }
    out["estimate-exceeded"] = {
        S(country_to=c, substance_base=s) for (c, s), n in imported.items() if n > limits[(c, s)]
    }
    return out


def findings(folder: Path) -> dict[str, set[Subject]]:
    q = Quarter.read(folder)
    out: dict[str, set[Subject]] = defaultdict(set)
    for oracle in (
        serial_findings,
        lot_findings,
        mirror_findings,
        filing_findings,
        authorisation_findings,
    ):
        for rule, subjects in oracle(q).items():
            out[rule] |= subjects
    return {rule: subjects for rule, subjects in out.items() if subjects}


def planted(sample: Sample) -> dict[str, set[Subject]]:
    out: dict[str, set[Subject]] = defaultdict(set)
    for p in sample.planted:
        out[p.rule].add(S(**p.subject))
    return dict(out)


# --- tests ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    return generate_quarter(tmp_path_factory.mktemp("clean"))


def test_clean_quarter_gives_the_oracle_nothing_to_report(clean: Sample) -> None:
    assert findings(clean.folder) == {}
    assert clean.planted == ()


@pytest.mark.parametrize("rule", PLANTABLE)
def test_each_plant_alone_fires_exactly_its_rule(tmp_path: Path, rule: str) -> None:
    sample = generate_quarter(tmp_path, plant=[rule], **SMALL)
    assert [p.rule for p in sample.planted] == [rule]
    assert findings(tmp_path) == planted(sample)


@pytest.mark.parametrize("lots", [1, 3])
def test_all_plants_together_fire_each_rule_on_its_own_subject(tmp_path: Path, lots: int) -> None:
    rules = [r for r in PLANTABLE if lots > 1 or r != "serial-lot-mismatch"]
    sample = generate_quarter(tmp_path, plant=rules, packs_per_lot=150, lots_per_product=lots)
    assert findings(tmp_path) == planted(sample)


def test_demo_plants_are_a_varied_handful() -> None:
    assert 5 <= len(DEMO_PLANTS) <= 7
    assert set(DEMO_PLANTS) <= set(PLANTABLE)


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    def files(folder: Path, seed: int) -> dict[str, bytes]:
        sample = generate_quarter(folder, seed=seed, plant=DEMO_PLANTS, **SMALL)
        return {p.name: p.read_bytes() for p in sample.files}

    first, again = files(tmp_path / "a", 7), files(tmp_path / "b", 7)
    assert first == again
    other = files(tmp_path / "c", 8)
    assert other["events.jsonl"] != first["events.jsonl"]


def test_workbook_members_carry_one_fixed_timestamp(clean: Sample) -> None:
    # The equality above only fails when the two runs straddle a second; this fails always.
    for path in clean.files:
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as archive:
                stamps = {(info.filename, info.date_time) for info in archive.infolist()}
            assert {stamp for _, stamp in stamps} == {(2026, 4, 1, 0, 0, 0)}, stamps


def test_every_table_has_exactly_the_contract_columns(clean: Sample) -> None:
    names = {p.name for p in clean.files}
    assert names == set(COLUMNS) | {"events.jsonl"}
    for path in clean.files:
        if path.name in COLUMNS:
            assert header(path) == COLUMNS[path.name], path.name


def test_identifiers_carry_valid_check_digits(clean: Sample) -> None:
    q = Quarter.read(clean.folder)
    gtins = set(q.products) | {b["gtin"] for b in q.batches} | {r["gtin"] for r in q.lines}
    for gtin in gtins:
        assert len(gtin) == 14 and Gtin.parse(gtin)
    parties = {b["manufacturer"] for b in q.batches} | {r["declarant"] for r in q.lines}
    glns = {p for p in parties if p.isdigit()} | {b["site"] for b in q.batches}
    assert len(glns) >= 4 and parties - glns == {"PPB/WHL/0457"}
    for gln in glns:
        assert Gln.parse(gln)
    for e in q.events:
        for epc in e.get("epcList", []) + e.get("childEPCs", []):
            key = epc_key(epc)
            digits = key.split("/")[0].removeprefix("sscc:")
            assert _check(digits[:-1]) == digits[-1], epc


def test_quantities_are_exact_decimals_and_dates_iso(clean: Sample) -> None:
    q = Quarter.read(clean.folder)
    for rows, field in ((q.batches, "quantity"), (q.lines, "quantity"), (q.auths, "max_quantity"),
                        (q.filings, "quantity"), (q.estimates, "quantity")):  # fmt: skip
        for row in rows:
            assert re.fullmatch(r"-?\d+(\.\d+)?", row[field]), row
            Decimal(row[field])
    for row in q.lines:
        assert date(2026, 1, 1) <= date.fromisoformat(row["declared_date"]) <= date(2026, 3, 31)
    assert {f["period"] for f in q.filings} == {"2026-Q1"}


def test_every_event_line_is_epcis_json_with_the_named_fields(clean: Sample) -> None:
    text = (clean.folder / "events.jsonl").read_text(encoding="utf-8")
    steps: Counter[str] = Counter()
    ids = set()
    for line in text.splitlines():
        e = json.loads(line, parse_float=Decimal)
        assert e["type"] in ("ObjectEvent", "AggregationEvent")
        assert re.fullmatch(r"urn:uuid:[0-9a-f-]{36}", e["eventID"])
        assert re.fullmatch(r"2026-\d\d-\d\dT\d\d:\d\d:\d\d(\.000Z|[+-]\d\d:\d\d)", e["eventTime"])
        assert re.fullmatch(r"[+-]\d\d:\d\d", e["eventTimeZoneOffset"])
        assert e["action"] in ("ADD", "OBSERVE", "DELETE") and "@context" in e
        ids.add(e["eventID"])
        steps[word(e["bizStep"])] += 1
        if word(e["bizStep"]) == "commissioning":
            assert set(e["ilmd"]) == {"cbvmda:lotNumber", "cbvmda:itemExpirationDate"}
        if word(e["bizStep"]) == "shipping":
            assert all(
                x.startswith("urn:epc:id:sscc:") or "/00/" in x for x in e.get("epcList", [])
            )
            assert e["sourceList"] and e["destinationList"]
        for item in e.get("quantityList", []):
            assert item["epcClass"].startswith("urn:epc:class:lgtin:") and item["uom"] == "KGM"
            assert isinstance(item["quantity"], int | Decimal)
    assert len(ids) == len(text.splitlines())
    assert {"commissioning", "packing", "shipping", "receiving", "unpacking", "destroying"} <= set(
        steps
    )
    assert "urn:epc:id:sgtin:" in text and "https://id.gs1.org/01/" in text and "/00/" in text


def test_serials_per_lot_equal_the_batch_quantity(clean: Sample) -> None:
    q = Quarter.read(clean.folder)
    per_lot: Counter[tuple[str, str]] = Counter()
    for e in q.events:
        if word(e["bizStep"]) == "commissioning" and "epcList" in e:
            for epc in e["epcList"]:
                per_lot[(epc_key(epc).split("/")[0], e["ilmd"]["cbvmda:lotNumber"])] += 1
    serialised = {
        k: v for k, v in q.batch_quantity().items() if q.products[k[0]]["trade_uom"] == "H87"
    }
    assert per_lot == Counter(serialised) and len(per_lot) == 4


def test_each_shipment_declares_equal_quantities_on_both_sides(clean: Sample) -> None:
    q = Quarter.read(clean.folder)
    sides: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for row in q.lines:
        sides[(row["shipment_ref"], row["gtin"], row["direction"])] += q.trade(row)
    refs = {(ref, gtin) for ref, gtin, _ in sides}
    assert len(refs) > 10 and {r["uom"] for r in q.lines} >= {"GRM", "KGM", "kg", "H87", "EA"}
    for ref, gtin in refs:
        assert sides[(ref, gtin, "export")] == sides[(ref, gtin, "import")] > 0


def test_filed_stock_balances_and_returns_cover_every_party(clean: Sample) -> None:
    q = Quarter.read(clean.folder)
    returns: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for f in q.filings:
        sign = (
            -1
            if f["flow"] in ("export", "domestic-supply", "destruction", "loss", "closing-stock")
            else 1
        )
        returns[(f["filer"], f["gtin"] or f["substance_base"])] += sign * Decimal(f["quantity"])
    assert len(returns) == 7 and all(v == 0 for v in returns.values())


def test_planted_subject_values_appear_in_the_files(tmp_path: Path) -> None:
    sample = generate_quarter(tmp_path, plant=PLANTABLE, **SMALL)
    text = "".join(p.read_text(encoding="utf-8") for p in sample.files if p.suffix != ".xlsx")
    q = Quarter.read(tmp_path)
    text += json.dumps([q.auths, q.filings])
    keys = {epc_key(x) for e in q.events for x in e.get("epcList", []) + e.get("childEPCs", [])}
    assert len(sample.planted) == len(PLANTABLE)
    for finding in sample.planted:
        for name, value in finding.subject.items():
            assert (epc_key(value) in keys) if name == "epc" else (value in text), (finding, name)


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no-such-rule"):
        generate_quarter(tmp_path, plant=["no-such-rule"])
    with pytest.raises(ValueError):
        generate_quarter(tmp_path, packs_per_lot=10)
    with pytest.raises(ValueError):
        generate_quarter(tmp_path, lots_per_product=1, plant=["serial-lot-mismatch"])


@pytest.mark.parametrize("count", [0, 1, 7, 401])
def test_write_event_lines_writes_a_consistent_chain(tmp_path: Path, count: int) -> None:
    path = tmp_path / "bench.jsonl"
    assert write_event_lines(path, events=count, serials_per_event=5, seed=3) == count
    events = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(events) == count == len({e["eventID"] for e in events})
    seen: dict[str, list[str]] = defaultdict(list)
    for e in events:
        for epc in e.get("epcList", []) + e.get("childEPCs", []):
            seen[epc].append(word(e["bizStep"]))
    for steps in seen.values():
        expected = ["commissioning", "packing", "shipping", "receiving"]
        assert steps == expected[: len(steps)]
    assert all(len(s) == 4 for s in list(seen.values())[: 5 * (count // 4)])


def test_write_event_lines_is_about_1_7_kb_per_event_and_reproducible(tmp_path: Path) -> None:
    first, again = tmp_path / "first.jsonl", tmp_path / "again.jsonl"
    write_event_lines(first, events=400)
    write_event_lines(again, events=400)
    assert 1400 < first.stat().st_size / 400 < 2000
    assert first.read_bytes() == again.read_bytes()
