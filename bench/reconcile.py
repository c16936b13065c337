"""Reconciliation benchmark: the whole rule catalogue on a large, consistent quarter.

Writes N EPCIS events (25 packs to a commissioning event and to a case, 10 cases to a pallet,
2 pallets to a shipment, shipped, received and partly unpacked) and M declaration lines to
match (both sides of every shipment in the events and of bulk shipments without events,
batches, authorisations, and returns derived from those records), with a few discrepancies
planted; loads them (seconds and peak RSS), then measures, each in a fresh process with the
same DuckDB memory limit and 2 threads:

- ``reconcile`` over the whole catalogue (target: at most 30 s and 4 GiB peak RSS on
  2 cores at 1M events and 300k declaration lines);
- each stage of it apart, in one process, as ``reconcile`` runs them: the base tables one
  by one (the views together), then each rule, with seconds and peak memory;
- (one size only) over-export, mirror-quantity-gap and serial-not-commissioned written in
  plain Python, as an analyst otherwise would, with whether their findings agree with the
  SQL rules' and the ratio Python / SQL (target: at least 10 times at 1M events; the SQL
  side of serial-not-commissioned counts the base tables it reads, what a run of it
  alone builds).

Peak memory of a stage: the process's peak RSS during the stage, as Linux keeps it
(``VmHWM``), reset before each stage by writing ``5`` to ``/proc/self/clear_refs``; exact,
nothing sampled, and including what earlier stages left in memory (the base tables DuckDB
holds). DuckDB's own figure, ``duckdb_memory()`` after the stage, is in the JSON as
``held``: it cannot see a stage's peak, only what stays. Load and the whole ``reconcile``
are processes of their own: their peak is the process's.

``--sizes`` draws the scale curve instead: for each number of events (declaration lines
0.3 per event) generate, load, reconcile and the stages; then a table of stage by size
(seconds, peak MiB) with each stage's growth exponent between consecutive sizes,
log(t2/t1) / log(n2/n1) (1 linear, 2 quadratic), naming every stage whose exponent on the
largest step is above 1.15 as growing faster than linear. ``--json`` also prints every
figure as one line of JSON.

    python bench/reconcile.py                                    # 1M events, 300k lines
    python bench/reconcile.py --events 50000 --declarations 15000 --keep
    python bench/reconcile.py --sizes 100000,300000,1000000,3000000 --json
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from _common import StagePeak, growth, load_average, machine, workdir

from traceability.config import Config
from traceability.engine.report import rule_parameters
from traceability.load import load
from traceability.reconcile import latest_date, reconcile, run_rule
from traceability.rules import all_rules, base_needed, base_statements, run_statement
from traceability.sample import files, gs1
from traceability.sample.model import MASS_UNITS_KG as MASS
from traceability.sample.model import Party, Product, dec
from traceability.sample.permits import ceil_to
from traceability.sample.scenario import build
from traceability.store import connect, table_counts

THREADS = 2
DECLARATIONS_PER_EVENT = 0.3  # 300k declaration lines at 1M events
COMPARED = ("over-export", "mirror-quantity-gap", "serial-not-commissioned")
KINDS = ("consignments", "batches", "authorisations", "filings")
PACKS, CASES, PALLETS, LOT = 25, 10, 2, 10  # a case, a pallet, a shipment; shipments a lot
SHIPMENT_EVENTS = 2 * PALLETS * CASES + PALLETS + 3  # + shipping, receiving, unpacking
START, SPAN = datetime(2026, 1, 4, 3, 0), timedelta(days=76)  # UTC; all within 2026-Q1
TZ = {"IN": "+05:30", "US": "-05:00", "KE": "+03:00", "DE": "+01:00"}
PREFIX = {"US": "0614141", "KE": "6161234", "DE": "4012345"}
IMPORT_UOM = {"US": ("EA", "GRM"), "KE": ("H87", "kg"), "DE": ("H87", "GRM")}  # packs, bulk
VOLUME = {"LTR": Decimal(1), "MLT": Decimal("0.001")}
OBSERVED = {"commissioning": ("ADD", "active"), "shipping": ("OBSERVE", "in_transit")}
OBSERVED["receiving"] = ("OBSERVE", "in_progress")
DAY, HOUR, IST = timedelta(days=1), timedelta(hours=1), timedelta(hours=5, minutes=30)
CONTEXT = '"@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]'


def importers(count: int) -> list[Party]:
    """Importers in the US, Kenya (licence-number parties with a GLN site) and Germany."""
    out = []
    for i in range(count):
        cc, j = ("US", "KE", "DE")[i % 3], i // 3
        owner, site = gs1.gln(PREFIX[cc], 2 * j + 2), gs1.gln(PREFIX[cc], 2 * j + 3)
        pid = f"PPB/WHL/{j:05d}" if cc == "KE" else owner
        out.append(Party(pid, f"Importer {i}", cc, TZ[cc], site, 7, None if cc == "KE" else owner))
    return out


class Books:
    """The declarations, written as the shipments are made, and the returns they add up to."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.doc, self.counts = folder, 0, Counter[str]()
        self.files = {k: (folder / f"{k}.csv").open("w") for k in KINDS}
        heads = (files.CONSIGNMENTS, files.BATCHES, files.AUTHORISATIONS, files.FILINGS)
        for kind, head in zip(KINDS, heads, strict=True):
            self.files[kind].write(",".join(head) + "\n")
        self.flows: dict[tuple[Party, str], Counter[tuple[str, str]]] = defaultdict(Counter)
        self.imported: Counter[tuple[str, str]] = Counter()

    def write(self, kind: str, row: str) -> None:
        self.files[kind].write(row + "\n")
        self.counts[kind] += 1

    def batch(self, maker: Party, p: Product, lot: str, qty: Decimal, made: date) -> None:
        expiry = date(made.year + (3 if p.serialised else 5), made.month, 1)
        row = f"{maker.id},{maker.site},{p.gtin},{lot},{dec(qty)},{p.trade_uom}"
        self.write("batches", f"{row},{made},{expiry}")
        if p.controlled:
            self.flows[maker, p.substance_base]["manufacture", ""] += p.base_kg(qty)

    def permit(self, kind: str, holder: Party, other: Party, p: Product, qty: Decimal) -> str:
        """An authorisation with headroom, per gtin or per substance, as the sample issues."""
        export, self.doc = kind[0] == "e", self.doc + 1
        by_gtin = (p.serialised or other.country == "KE") if export else holder.country == "US"
        step = Decimal(100 if p.serialised else 50) if by_gtin else Decimal("0.5")
        top = ceil_to(qty * Decimal("1.5") if by_gtin else p.base_kg(qty) * Decimal("2.5"), step)
        what = f"{p.gtin},," if by_gtin else f",{p.substance_base},"
        what += f"{dec(top)},{p.trade_uom if by_gtin else 'KGM'},2025-10-01,2026-12-31"
        ref = f"{kind[:6].upper()}-{holder.country}-{self.doc:08d}"
        self.write("authorisations", f"{ref},{kind},{holder.country},{holder.id},{other.id},{what}")
        return ref

    def shipment(
        self, ref: str, ex: Party, im: Party, p: Product, lot: str, day: date, short: int
    ) -> None:
        """Both sides' lines of a shipment; ``short``: units or kg less declared imported."""
        cc, qty = im.country, Decimal(PACKS * CASES * PALLETS if p.serialised else 50)
        ea = self.permit("export-authorisation", ex, im, p, qty) if p.controlled else ""
        ip = self.permit("import-permit", im, ex, p, qty) if p.controlled else ""
        arrived, uom = qty - short, IMPORT_UOM[cc][0 if p.serialised else 1]
        back, self.doc = day + timedelta(days=4 if p.serialised else 8), self.doc + 1
        row = f"SB/{self.doc:08d},1,export,{ex.id},{im.id},IN,{cc},{ref},{p.gtin},{lot}"
        self.write("consignments", f"{row},{dec(qty)},{p.trade_uom},{day},{ea}")
        row = f"{cc}/{self.doc:08d},1,import,{im.id},{ex.id},IN,{cc},{ref},{p.gtin}"
        row += f",{lot if cc == 'KE' else ''},{dec(arrived * (1000 if uom == 'GRM' else 1))}"
        self.write("consignments", f"{row},{uom},{back},{ip}")
        if p.controlled:
            self.flows[ex, p.substance_base]["export", cc] += p.base_kg(qty)
            self.flows[im, p.substance_base]["import", "IN"] += p.base_kg(arrived)
            self.imported[cc, p.substance_base] += p.base_kg(arrived)

    def close(self, products: list[Product]) -> None:
        """Returns (the records, half the imports supplied, a closing stock that balances),
        estimates well above the imports, and the product master."""
        for n, ((party, substance), flows) in enumerate(self.flows.items()):
            opening = Decimal(100) + sum(q for (f, _), q in flows.items() if f == "export")
            supplied = Decimal(flows["import", "IN"]) / 2
            moved = sorted((flow, cc, q) for (flow, cc), q in flows.items() if q)
            closing = opening + sum(q if f != "export" else -q for f, _, q in moved) - supplied
            lines = [("opening-stock", "", opening), *moved, ("domestic-supply", "", supplied)]
            for flow, cc, q in [*lines, ("closing-stock", "", closing)]:
                if q or flow.endswith("stock"):
                    row = f"QR-2026Q1-{n:06d},{party.id},{party.country},2026-Q1,{flow}"
                    self.write("filings", f"{row},,{substance},{cc},{dec(q)},KGM")
        for handle in self.files.values():
            handle.close()
        top = {k: dec(ceil_to(q * 6 + 5, Decimal(5))) for k, q in self.imported.items()}
        estimates = [(c, s, 2026, q, "KGM") for (c, s), q in top.items()]
        files.write_csv(self.folder / "estimates.csv", files.ESTIMATES, estimates)
        columns = [c.replace("_per_unit", "") for c in files.PRODUCTS]  # content_per_unit
        rows = [[str(vars(p).get(c) or "") for c in columns] for p in products]
        files.write_csv(self.folder / "products.csv", files.PRODUCTS, rows)


def at(site: str) -> str:
    return f'"readPoint":{{"id":"{site}"}},"bizLocation":{{"id":"{site}"}}'


class Events:
    """EPCIS 2.0 JSON Lines from templates, streaming, like ``sample.write_event_lines``."""

    def __init__(self, path: Path) -> None:
        self.out, self.count = path.open("w", buffering=1 << 20), 0

    def write(self, kind: str, when: datetime, cc: str, body: str) -> None:
        self.count += 1
        self.out.write(
            f'{{{CONTEXT},"type":"{kind}","eventID":"urn:uuid:5e1f0c3a-0b9d-4c61-8e2f-'
            f'{self.count:012x}","eventTime":"{when:%Y-%m-%dT%H:%M:%S}.000Z",'
            f'"eventTimeZoneOffset":"{TZ[cc]}",{body}}}\n'
        )

    def observe(self, when: datetime, cc: str, epcs: str, step: str, rest: str) -> None:
        action, disposition = OBSERVED[step]
        body = f'"epcList":[{epcs}],"action":"{action}","bizStep":"{step}",'
        self.write("ObjectEvent", when, cc, f'{body}"disposition":"{disposition}",{rest}')

    def pack(self, when: datetime, cc: str, parent: str, children: str, site: str) -> None:
        add = cc == "IN"  # packed by the manufacturer, unpacked by the importer
        act = "ADD" if add else "DELETE"
        body = f'"parentID":{parent},"childEPCs":[{children}],"action":"{act}"'
        body += f',"bizStep":"{"packing" if add else "unpacking"}","disposition":"in_progress"'
        self.write("AggregationEvent", when, cc, f"{body},{at(site)}")

    def pallet(self, number: int, p: Product, lot: str, when: datetime, site: str) -> list[str]:
        """Commission and pack one pallet's cases, then the pallet: [pallet, its cases]."""
        when += number % PALLETS * HOUR / 12
        ilmd = f'"ilmd":{{"cbvmda:lotNumber":"{lot}","cbvmda:itemExpirationDate":"2029-01-31"}}'
        head, cases = gs1.sgtin_urn(p.gtin, 7, ""), []
        for g in range(number * CASES, (number + 1) * CASES):
            epcs = ",".join(f'"{head}{g:08d}{n:02d}"' for n in range(PACKS))
            t = when + timedelta(seconds=20 * (g % CASES))
            if g % 1009 != 7:  # else planted: serial-not-commissioned
                self.observe(t, "IN", epcs, "commissioning", f"{at(site)},{ilmd}")
            cases.append(f'"{gs1.sscc_urn(gs1.sscc("8901234", g, extension=1), 7)}"')
            self.pack(t + 2 * HOUR, "IN", cases[-1], epcs, site)
        pallet = f'"{gs1.sscc_urn(gs1.sscc("8901234", number, extension=2), 7)}"'
        self.pack(when + 3 * HOUR, "IN", pallet, ",".join(cases), site)
        return [pallet, ",".join(cases)]


def deal(ref: str, ex: Party, im: Party) -> str:
    """An event's transaction, sources and destinations."""

    def ends(p: Party, field: str) -> str:
        owner = f'{{"type":"owning_party","{field}":"{gs1.sgln_urn(p.gln, 7)}"}},' if p.gln else ""
        return f'[{owner}{{"type":"location","{field}":"{gs1.sgln_urn(p.site, 7)}"}}]'

    bt = f'[{{"type":"bol","bizTransaction":"urn:epcglobal:cbv:bt:{ex.gln}:{ref}"}}]'
    to = ends(im, "destination")
    return f'"bizTransactionList":{bt},"sourceList":{ends(ex, "source")},"destinationList":{to}'


def generate(folder: Path, events: int, declarations: int) -> dict[str, int]:
    """Write the quarter into ``folder``; returns what was written."""
    folder.mkdir(parents=True)
    sc = build(0, 120, 1)  # the sample's products and manufacturers
    pse, pcm, eph, api = (sc.products[k] for k in ("pse", "pcm", "eph", "api"))
    deccan, konkan = sc.parties["exporter"], sc.parties["api"]
    shipments = max(1, events // SHIPMENT_EVENTS)
    bulk = max(1, round((declarations - 3.37 * shipments) / 4.52))  # lines a shipment adds
    parties = importers(max(3, (shipments + bulk) // 30))
    books, ev, home = Books(folder), Events(folder / "events.jsonl"), gs1.sgln_urn(deccan.site, 7)
    for k in range(shipments):
        lot_no, imp, t0 = k // LOT, parties[k % len(parties)], START + SPAN * k / shipments
        product, lot, there = (pse, pcm)[lot_no % 2], f"P{lot_no:07d}", gs1.sgln_urn(imp.site, 7)
        if k % LOT == 0:  # planted in 1 lot of 53: over-export (and over-commission)
            made = min(LOT, shipments - k) * PACKS * CASES * PALLETS - 10 * (lot_no % 53 == 3)
            books.batch(deccan, product, lot, Decimal(made), t0.date())
        pallets = [ev.pallet(k * PALLETS + p, product, lot, t0, home) for p in range(PALLETS)]
        ref, moved = f"AWB-{k:08d}", ",".join(p for p, _ in pallets)
        trade = deal(ref, deccan, imp)
        ev.observe(t0 + DAY, "IN", moved, "shipping", f'"readPoint":{{"id":"{home}"}},{trade}')
        ev.observe(t0 + 5 * DAY, imp.country, moved, "receiving", f"{at(there)},{trade}")
        ev.pack(t0 + 6 * DAY, imp.country, *pallets[0], there)
        short = 5 * (k % 307 == 11)  # planted: mirror-quantity-gap (units)
        books.shipment(ref, deccan, imp, product, lot, (t0 + DAY + IST).date(), short)
    ev.out.close()
    for b in range(bulk):  # ephedrine and pseudoephedrine in turn, 4 shipments of 50 kg a lot
        (p, maker), lot_no = ((eph, deccan), (api, konkan))[b % 2], b // 8
        lot, imp = f"{p.name[:2].upper()}{lot_no:07d}", parties[(7 * b + 3) % len(parties)]
        day = (START + SPAN * b / bulk + IST).date() + DAY
        if b // 2 % 4 == 0:  # planted in 1 lot of 97: over-export
            books.batch(maker, p, lot, Decimal(200 - 25 * (lot_no % 97 == 1)), day - 3 * DAY)
        books.shipment(f"BOL-{b:08d}", maker, imp, p, lot, day, 2 * (b % 211 == 5))
    books.close([pse, eph, pcm, api])
    return {**books.counts, "shipments": shipments, "bulk": bulk, "importers": len(parties)}


def failed(exc: Exception) -> str:
    """A failure in one line: out of memory, or a table that an earlier failure left out."""
    return "FAILED: " + str(exc).split(" failed: ")[-1].splitlines()[0]


def _open(store: str, limit: str) -> Any:
    return connect(store, read_only=True, memory_limit=limit, threads=THREADS)


def step_load(store: str, data: str, limit: str) -> dict[str, Any]:
    start = time.perf_counter()
    rejected = load(store, [data], memory_limit=limit).rejected
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rejected": rejected, "tables": table_counts(_open(store, limit))}


def step_reconcile(store: str, limit: str) -> dict[str, Any]:
    con, start = _open(store, limit), time.perf_counter()
    try:
        report = reconcile(con, workers=THREADS)
    except Exception as exc:  # out of memory, above all: report it with the time it took
        return {"seconds": time.perf_counter() - start, "error": failed(exc)}
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rules": len(report.rules_run), "findings": len(report.findings)}


def _held(con: Any) -> float:
    """The memory DuckDB holds now (its own figure, ``duckdb_memory()``), in MiB."""
    row = con.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone()
    return float(row[0] or 0) / 2**20 if row else 0.0


def step_rules(store: str, limit: str) -> dict[str, Any]:
    """The base tables, then each rule, timed apart (what ``reconcile`` runs, in its order).

    Each stage's peak is the process's peak RSS during it (:class:`StagePeak`); ``held`` is
    what DuckDB holds after it (base tables above all). A base table built by several
    statements is one stage: its seconds added up, its peak the highest.
    """
    con, times, counts, found = _open(store, limit), Counter[str](), {}, {}
    meter, peaks, held = StagePeak(), dict[str, float](), {}

    def timed(name: str, work: Callable[[], Any]) -> Any:
        rss, start = meter.start(), time.perf_counter()
        try:
            return work()
        except Exception as exc:  # out of memory, above all: what reads it fails too
            counts[name] = failed(exc)
            return None
        finally:
            times[name] += time.perf_counter() - start
            peaks[name] = max(peaks.get(name, 0.0), meter.peak(), rss)
            held[name] = _held(con)

    for statement, repeat in base_statements():
        if re.sub(r"--[^\n]*", "", statement).strip():
            table = re.search(r"(?:TEMP TABLE|INSERT INTO) (\w+)", statement)
            name = f"[base] {table[1] if table else 'views'}"
            timed(name, partial(run_statement, con, statement, repeat=repeat))
    params = rule_parameters(Config(), None, latest_date(con))
    for rule in all_rules():
        work = partial(run_rule, con, rule, params, severity=rule.severity, period=None)
        rows = timed(rule.id, work)
        if rows is None:
            continue
        counts[rule.id] = len(rows)
        if rule.id in COMPARED:  # for the comparison with plain Python
            found[rule.id] = [[dict(f.subject), f.expected, f.observed, f.difference] for f in rows]
    return {
        "times": times,
        "peaks": peaks,
        "held": held,
        "counts": counts,
        "findings": found,
        "peak_reset": meter.reset,
    }


def step_python(store: str, limit: str, rule: str) -> dict[str, Any]:
    con, start = _open(store, limit), time.perf_counter()
    found = PYTHON[rule](con)
    return {"seconds": time.perf_counter() - start, "findings": found}


# The three rules as an analyst would write them in plain Python over the loaded tables.
# Like the SQL they take the latest version of each declaration line and batch; unlike it
# they ignore error-declared and voided events and repacking (the data has none).

Measure = tuple[str | None, Any, Any]  # unit, quantity compared, kg of base
PRODUCT = "gtin, trade_uom, content_per_unit, content_uom, coalesce(base_factor, 1)"
LINE = "declaration_id, coalesce(line, '1'), direction, shipment_ref, gtin, lot, quantity, uom"


def declarations(con: Any) -> tuple[list[Any], list[Any], Any]:
    """Consignment lines (latest versions), batches, and how to measure a quantity."""
    products = {}
    rows = con.execute(f"SELECT {PRODUCT} FROM products ORDER BY load_id, source_line")
    for gtin, trade, content, content_uom, factor in rows.fetchall():
        per = content * MASS[content_uom] * factor if content and content_uom in MASS else None
        if trade in MASS:
            per = per / MASS[trade] if per is not None else factor
        products[gtin] = (trade, per if trade in MASS or trade == "H87" else None, factor)

    def measure(uom: str, qty: Decimal, gtin: str) -> Measure:
        trade, per, factor = products.get(gtin, (None, None, Decimal(1)))
        if uom == "H87":
            return "H87", qty, None if per is None else qty * per
        if uom in MASS:
            kg = qty * MASS[uom] * (per if per is not None and trade != "H87" else factor)
            return "KGM", kg, kg
        return ("LTR", qty * VOLUME[uom], None) if uom in VOLUME else (None, None, None)

    rows = con.execute(f"SELECT {LINE} FROM consignments ORDER BY load_id, source_line")
    lines = {(r[0], r[1]): r[2:] for r in rows.fetchall()}  # the latest version of each line
    rows = con.execute("SELECT gtin, lot, quantity, uom FROM batches ORDER BY load_id, source_line")
    batches = rows.fetchall()
    return list(lines.values()), batches, measure


def compare(expected: list[Measure], observed: list[Measure]) -> Any:
    """(expected, observed, tolerance) in units where both sides are in one, else in kg."""
    every, p = expected + observed, Config().parameters()
    units = {m[0] for m in every}
    if len(units) == 1 and all(m[1] is not None for m in every):
        unit, i = units.pop(), 1
    elif all(m[2] is not None for m in every):
        unit, i = "KGM", 2
    else:
        return None
    e, o = sum((m[i] for m in expected), Decimal(0)), sum((m[i] for m in observed), Decimal(0))
    if unit == "H87":
        return e, o, p["tol_units"]
    return e, o, max(p["tol_mass_kg"], p["tol_mass_pct"] * Decimal("0.01") * e)


def py_over_export(con: Any) -> list[Any]:
    lines, batches, measure = declarations(con)
    exports = defaultdict(list)
    made = {(g, lot): measure(u, q, g) for g, lot, q, u in batches}  # latest version wins
    for direction, _, gtin, lot, qty, uom in lines:
        if direction == "export" and lot and (gtin, lot) in made:
            exports[gtin, lot].append(measure(uom, qty, gtin))
    found = []
    for (gtin, lot), xs in exports.items():
        if (c := compare([made[gtin, lot]], xs)) and c[1] - c[0] > c[2]:
            found.append([{"gtin": gtin, "lot": lot}, c[0], c[1], c[1] - c[0]])
    return found


def py_mirror_quantity_gap(con: Any) -> list[Any]:
    lines, _, measure = declarations(con)
    groups, sides = defaultdict(lambda: ([], [])), defaultdict(set)
    for direction, ref, gtin, _, qty, uom in lines:
        sides[ref].add(direction)
        groups[ref, gtin][direction == "import"].append(measure(uom, qty, gtin))
    found = []
    for (ref, gtin), (out, back) in groups.items():
        if len(sides[ref]) == 2 and (c := compare(out, back)) and abs(c[1] - c[0]) > c[2]:
            found.append([{"gtin": gtin, "shipment_ref": ref}, c[0], c[1], c[1] - c[0]])
    return found


def py_serial_not_commissioned(con: Any) -> list[Any]:
    """Replay the events in time order: what is commissioned, what is packed in what."""
    cursor = con.execute("""
        SELECT e.biz_step, e.event_type, e.action, e.parent_key,
               list(c.epc_key) FILTER (WHERE c.list IN ('epcList', 'childEPCs'))
        FROM events e LEFT JOIN event_epcs c USING (event_row)
        GROUP BY e.event_row, e.event_time, e.biz_step, e.event_type, e.action, e.parent_key
        ORDER BY e.event_time, CASE WHEN e.biz_step = 'commissioning' THEN 0
            WHEN e.event_type = 'AggregationEvent' THEN 1 ELSE 2 END, e.event_row""")
    commissioned: dict[str, str] = {}  # key -> itself, so that the contents share one string
    contents: dict[str, list[str]] = {}
    orphans: set[str] = set()

    def serial(key: str) -> bool:
        return key.startswith("https://id.gs1.org/01/") and "/21/" in key

    while rows := cursor.fetchmany(20_000):
        for step, kind, action, parent, epcs in rows:
            epcs = epcs or []
            if step == "commissioning":
                commissioned.update((k, k) for k in epcs)
            elif kind == "AggregationEvent" and parent and action == "ADD":
                orphans.update(k for k in epcs if serial(k) and k not in commissioned)
                contents.setdefault(parent, []).extend(commissioned.get(k, k) for k in epcs)
            elif kind == "AggregationEvent" and parent and action == "DELETE":
                gone = set(epcs)  # no children named: the parent is emptied
                contents[parent] = [c for c in contents.get(parent, ()) if epcs and c not in gone]
            if step in ("shipping", "receiving"):
                moved = epcs + ([parent] if parent else [])
                for key in moved:  # grows as containers are opened: any depth
                    moved += contents.get(key, ())
                orphans.update(k for k in moved if serial(k) and k not in commissioned)
    return [[{"epc": k}, None, None, None] for k in sorted(orphans)]


PYTHON = {r: globals()[f"py_{r.replace('-', '_')}"] for r in COMPARED}
STEPS = {"load": step_load, "reconcile": step_reconcile, "rules": step_rules, "python": step_python}


def run(step: str, *args: object) -> tuple[float, dict[str, Any]]:
    """Run one step in a fresh process: (its own peak RSS in MiB, what it returned)."""
    command = [sys.executable, __file__, "--step", step, *map(str, args)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark step {step} failed ({os.waitstatus_to_exitcode(status)})")
    return usage.ru_maxrss / 1024, json.loads(out.strip().splitlines()[-1])


def keyed(findings: list[Any]) -> dict[str, tuple[Decimal | None, ...]]:
    numbers = [tuple(v if v is None else Decimal(v) for v in rest) for _, *rest in findings]
    return {json.dumps(f[0], sort_keys=True): n for f, n in zip(findings, numbers, strict=True)}


CATALOGUE_SECONDS, CATALOGUE_MIB, PYTHON_RATIO = 30, 4096, 10  # the targets 2 and 3
FASTER_THAN_LINEAR = 1.15  # a growth exponent above this on the largest step is named
NOISE_SECONDS = 0.1  # a stage shorter than this at the larger size: the timer's noise


def measure(folder: Path, events: int, lines: int, limit: str) -> dict[str, Any]:
    """Generate one size, load it, run the catalogue and its stages; print as it goes."""
    data, store = folder / "data", folder / "store.duckdb"
    start = time.perf_counter()
    made = generate(data, events, lines)
    size = sum(f.stat().st_size for f in data.iterdir()) / 1e6
    print(
        f"generated in {time.perf_counter() - start:.0f} s, {size:,.0f} MB: "
        f"{made['shipments']:,} shipments in the events, {made['bulk']:,} bulk shipments "
        f"without, {made['importers']:,} importers"
    )
    counts = ", ".join(f"{k} {made[k]:,}" for k in KINDS)
    print(f"declaration lines: {sum(made[k] for k in KINDS):,} ({counts})")
    rss, load = run("load", store, data, limit)
    load["peak_rss_mib"], t = rss, load["tables"]
    print(
        f"load: {load['seconds']:.1f} s, peak RSS {rss:,.0f} MiB: "
        f"{t['events']:,} events, {t['epc_rows']:,} EPC rows, {load['rejected']} rejected, "
        f"store {store.stat().st_size / 1e6:,.0f} MB"
    )
    rss, whole = run("reconcile", store, limit)
    whole["peak_rss_mib"] = rss
    what = whole.get("error") or f"{whole['rules']} rules, {whole['findings']:,} findings"
    print(f"reconcile: {whole['seconds']:.1f} s, peak RSS {rss:,.0f} MiB, {what}")
    rss, stages = run("rules", store, limit)
    # resetting the high-water mark per stage hides earlier peaks from the exit figure
    stages["peak_rss_mib"] = max([rss, *stages["peaks"].values()])
    return {
        "events": t["events"],
        "declaration_lines": sum(made[k] for k in KINDS),
        "generated": made,
        "megabytes": round(size, 1),
        "store_megabytes": round(store.stat().st_size / 1e6, 1),
        "load": load,
        "reconcile": whole,
        "stages": stages,
    }


def catalogue_target(at: dict[str, Any]) -> bool:
    whole = at["reconcile"]
    fast = whole["seconds"] <= CATALOGUE_SECONDS and "error" not in whole
    return fast and whole["peak_rss_mib"] <= CATALOGUE_MIB


def print_stages(at: dict[str, Any]) -> None:
    stages = at["stages"]
    times, peaks, counts = stages["times"], stages["peaks"], stages["counts"]
    total = sum(times.values())
    print(
        f"per stage, slowest first (one process, peak RSS {stages['peak_rss_mib']:,.0f} MiB, "
        f"sum {total:.1f} s; MiB: the process's peak RSS during the stage):"
    )
    for name, seconds in sorted(times.items(), key=lambda i: -i[1]):
        count = counts.get(name, "")
        print(f"  {name:28} {seconds:7.2f} s {peaks[name]:7,.0f} MiB {count:>9}"[:130])


def python_comparison(store: Path, limit: str, stages: dict[str, Any]) -> dict[str, Any]:
    """The three rules in plain Python, each in a process of its own, against the SQL."""
    times, sql = stages["times"], stages["findings"]
    print(
        f"plain Python on the same store (target 3, set at 1M events: Python / SQL at least "
        f"{PYTHON_RATIO}x;\na process each; times include reading the tables; findings: "
        "agree, or DIFFER [only in SQL, only in Python, other figures]):"
    )
    rules = {r.id: r for r in all_rules()}
    out: dict[str, Any] = {}
    for rule in COMPARED:
        # what a run of this rule alone builds: the base tables it reads (and the views)
        reads = {f"[base] {name}" for name in base_needed([rules[rule]])} | {"[base] views"}
        base = sum(s for n, s in times.items() if n in reads)
        rss, py = run("python", store, limit, rule)
        mine, theirs = keyed(py["findings"]), keyed(sql.get(rule, []))
        both = mine.keys() & theirs.keys()
        differ = [len(theirs) - len(both), len(mine) - len(both)]
        differ.append(sum(mine[k] != theirs[k] for k in both))
        agree = f"DIFFER {differ}" if any(differ) else "agree"
        # serial-not-commissioned reads what the base tables prepare: they count to it
        sql_s = times[rule] + (base if rule.startswith("serial") else 0.0)
        shared = f"{times[rule]:.2f} + its base tables {base:.2f} = " if rule in times else ""
        shared = shared if rule.startswith("serial") else ""
        ratio = py["seconds"] / sql_s if sql_s else None
        entry = {"sql_seconds": round(sql_s, 3), "python_seconds": round(py["seconds"], 3)}
        entry |= {"python_peak_rss_mib": round(rss), "findings": len(theirs), "agree": agree}
        if rule not in sql:
            entry |= {"sql_seconds": None, "agree": "not compared", "findings": len(mine)}
            ratio = None
        entry |= {"ratio": None if ratio is None else round(ratio, 2)}
        entry["at_least_10x"] = ratio is not None and ratio >= PYTHON_RATIO
        out[rule] = entry
        verdict = "FAILED" if ratio is None else f"{ratio:.1f}x"
        verdict += f" ({'at least' if entry['at_least_10x'] else 'NOT'} {PYTHON_RATIO}x)"
        print(
            f"  {rule:24} SQL {shared}{sql_s:.2f} s, Python {py['seconds']:.2f} s "
            f"(peak RSS {rss:,.0f} MiB): Python / SQL {verdict}; {agree}, "
            f"{entry['findings']:,} findings"
        )
    return out


def single(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """One size: the catalogue, its stages, and the comparison with plain Python."""
    at = measure(folder, args.events, args.declarations, args.memory_limit)
    met = "met" if catalogue_target(at) else "NOT met"
    print(
        f"target 2, the catalogue in at most {CATALOGUE_SECONDS} s and 4 GiB peak RSS on "
        f"2 cores (set at 1M events, 300k lines): {met} at this size"
    )
    print_stages(at)
    at["python"] = python_comparison(folder / "store.duckdb", args.memory_limit, at["stages"])
    at["catalogue_target_met"] = catalogue_target(at)
    del at["stages"]["findings"]  # figures only in the JSON
    return at


def curve(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Every size in turn, then the table of stages by size and how each stage grows."""
    points = []
    for events in args.sizes:
        lines = round(events * DECLARATIONS_PER_EVENT)
        print(f"--- {events:,} events, {lines:,} declaration lines")
        here = folder / f"{events}"
        points.append(measure(here, events, lines, args.memory_limit))
        del points[-1]["stages"]["findings"]  # figures only in the JSON
        if not args.keep:
            shutil.rmtree(here, ignore_errors=True)
    rows = curve_rows(points)
    sizes = [p["events"] for p in points]
    exponents = {name: growth(sizes, [s for s, _ in cells]) for name, cells in rows.items()}
    flagged = print_curve(sizes, rows, exponents)
    return {
        "points": points,
        "curve": {n: [{"seconds": s, "peak_mib": m} for s, m in c] for n, c in rows.items()},
        "growth": exponents,
        "faster_than_linear": flagged,
    }


def curve_rows(points: list[dict[str, Any]]) -> dict[str, list[tuple[Any, Any]]]:
    """Stage -> (seconds, peak MiB) at each size: load, base tables, rules, the whole."""
    rows: dict[str, list[tuple[Any, Any]]] = {"load": [], "reconcile (whole)": []}
    names = list(dict.fromkeys(n for p in points for n in p["stages"]["times"]))
    rows |= {name: [] for name in names}
    for p in points:
        stages = p["stages"]
        rows["load"].append((p["load"]["seconds"], p["load"]["peak_rss_mib"]))
        whole = p["reconcile"]
        rows["reconcile (whole)"].append((whole["seconds"], whole["peak_rss_mib"]))
        for name in names:
            rows[name].append((stages["times"].get(name), stages["peaks"].get(name)))
    return rows


def short(n: int) -> str:
    """A number of events in a few characters: 10k, 300k, 1.0M."""
    return f"{n / 1e6:.1f}M" if n >= 999_500 else f"{n / 1000:.0f}k"


def rounded(value: Any) -> Any:
    """Figures for JSON: floats to 3 decimals, all the way down."""
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v) for v in value]
    return value


def print_curve(
    sizes: list[int], rows: dict[str, list[tuple[Any, Any]]], exponents: dict[str, Any]
) -> list[str]:
    """The stage x size table with growth exponents; the stages that grow faster than
    linear on the largest step."""
    print("stage x size (events): seconds and peak RSS MiB; growth log(t2/t1)/log(n2/n1)")
    heads = "".join(f"{n:>16,}" for n in sizes)
    steps = "".join(f"{f'{short(a)}>{short(b)}':>10}" for a, b in itertools.pairwise(sizes))
    print(f"  {'stage':28}{heads}  {steps}")
    flagged = []
    for name, cells in rows.items():
        text = "".join(
            f"{'-':>16}" if s is None else f"{s:8.2f} s{m:5,.0f}M".rjust(16) for s, m in cells
        )
        grow = "".join(f"{'-':>10}" if e is None else f"{e:10.2f}" for e in exponents[name])
        note = ""
        last = exponents[name][-1] if exponents[name] else None
        if last is not None and last > FASTER_THAN_LINEAR:
            flagged.append(name)
            note = "  grows faster than linear"
            if (cells[-1][0] or 0) < NOISE_SECONDS:
                note += f" (under {NOISE_SECONDS} s: timer noise)"
        print(f"  {name:28}{text}  {grow}{note}"[:200])
    return flagged


def main() -> None:
    """Generate, load, measure and print the figures."""
    if sys.argv[1:2] == ["--step"]:
        print(json.dumps(STEPS[sys.argv[2]](*sys.argv[3:]), default=str))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--declarations", type=int, default=300_000)
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(n) for n in text.split(",")],
        help="the scale curve at these numbers of events, e.g. 100000,300000,1000000,3000000 "
        f"(declaration lines {DECLARATIONS_PER_EVENT} per event)",
    )
    parser.add_argument("--memory-limit", default="3GB", help="DuckDB memory_limit (3GB)")
    parser.add_argument("--workdir", type=Path, help="where to write (a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the data and the store")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()
    folder = workdir("tracecheck-reconcile-", args.workdir)
    try:
        print(f"machine: {machine()}\nload average: {load_average()}")
        print(f"DuckDB memory_limit {args.memory_limit}, threads {THREADS}")
        figures = curve(args, folder) if args.sizes else single(args, folder)
        print(f"load average: {load_average()}")
        if args.json:
            figures |= {"machine": machine(), "memory_limit": args.memory_limit}
            print(json.dumps(rounded(figures), default=str))
    finally:
        if args.keep:
            print(f"kept: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
