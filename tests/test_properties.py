"""Properties of the whole pipeline (load, then reconcile) on generated quarters.

The report must not depend on how the same facts are written or delivered:

- relabelling identifiers and units (EPC URN <-> GS1 Digital Link, SSCC URN <-> ``/00/``,
  GTIN-14 with a leading zero <-> GTIN-13, KGM <-> GRM x 1000 and the ``kg`` spelling)
  changes no finding;
- loading the files in any order, split into several files and several loads, gives the
  same report;
- the same event delivered in two files counts once.

Each example loads a small generated quarter with every plant that one lot per product allows
switched on, so there are findings of every rule to compare. The original report of a seed is
computed once per module.

The traps of the rule catalogue each have one explicit test, here or in a per-rule case:

- destruction at ``2026-03-31T22:00:00-06:00`` belongs to Q1: ``tests/rules/filing-mismatch.toml``
  "packs destroyed at 2026-03-31T22:00:00-06:00 belong to the first quarter's return" (and the
  case after it, which fires for Q1);
- an authorisation in kg of base covers shipments counted in packs:
  ``tests/rules/authorisation-exceeded.toml`` "an authorisation for 0.15 kg of base covers 100
  packs (0.147456 kg)" and ``tests/rules/authorisation-mismatch.toml`` "authorisations written
  per substance cover packs of that substance on both sides";
- an uncontrolled product needs no authorisation: ``tests/rules/authorisation-missing.toml``
  "an uncontrolled product needs no authorisation and a controlled line quoting one on file is
  fine";
- serials commissioned as Digital Link and shipped inside an SSCC written as URN are the same
  serials: ``tests/rules/serial-not-commissioned.toml`` "a serial commissioned in Digital Link
  and shipped inside an SSCC written as a URN does not fire";
- exporter 25000 GRM vs importer 25 KGM agree: below (the per-rule cases cover the other
  direction, ``mirror-quantity-gap.toml`` "25 KGM exported and 25000 GRM imported agree ...",
  and filed returns, ``filing-mirror-gap.toml`` "exports filed as 25000 GRM agree with imports
  filed as 25 KGM");
- the same event in two files counts once: below (a case file holds one events file;
  ``serial-duplicate.toml`` "the same commissioning event sent twice counts once" repeats it
  within one file).
"""

from __future__ import annotations

import csv
import json
import random
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook

import traceability
from traceability.load import load
from traceability.load.identifiers import canonical_uri, check_digit, parse_epc
from traceability.model import Report
from traceability.sample import PLANTABLE, generate_quarter

SMALL = {"packs_per_lot": 120, "lots_per_product": 1}
#: Every plant one lot per product allows (serial-lot-mismatch needs a second lot).
PLANTS = tuple(p for p in PLANTABLE if p != "serial-lot-mismatch")
SEEDS = (0, 1, 2)
#: A generated quarter takes a few seconds to load and check: no shrinking (a failure names
#: its arguments), no example database, no deadline.
QUARTER = {
    "deadline": None,
    "database": None,
    "phases": [Phase.explicit, Phase.generate],
    "suppress_health_check": [HealthCheck.too_slow],
}
BRAND = "https://dl.deccanpharma.example"
RESOLVER = "https://id.gs1.org"
#: The GS1 company prefixes of the generated quarter are all seven digits long.
PREFIX_LEN = 7

Projection = tuple[Any, ...]


def project(report: Report) -> tuple[list[Projection], list[Projection]]:
    """Findings (without message, detail and evidence) and the rules run."""
    findings = sorted(
        (
            f.rule,
            tuple(sorted(f.subject.items())),
            f.period,
            f.severity.value,
            f.expected,
            f.observed,
            f.difference,
            f.unit,
        )
        for f in report.findings
    )
    runs = sorted((r.rule, r.status, r.findings) for r in report.rules_run)
    return findings, runs


def run(groups: list[list[Path]], db: Path) -> tuple[list[Projection], list[Projection]]:
    """Load the groups of files, one load per group, then reconcile."""
    for paths in groups:
        result = load(db, paths)
        assert not result.rejections, [str(r) for r in result.rejections][:5]
    return project(traceability.reconcile(db))


@pytest.fixture(scope="module")
def originals(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[int], tuple[Path, tuple[list[Projection], list[Projection]]]]:
    """seed -> (folder of the pristine generated files, the report of loading that folder)."""
    cache: dict[int, tuple[Path, tuple[list[Projection], list[Projection]]]] = {}

    def get(seed: int) -> tuple[Path, tuple[list[Projection], list[Projection]]]:
        if seed not in cache:
            root = tmp_path_factory.mktemp(f"seed{seed}")
            sample = generate_quarter(root / "data", seed=seed, plant=PLANTS, **SMALL)
            report = run([[sample.folder]], root / "original.duckdb")
            assert len(report[0]) == len(PLANTS), report[0]
            cache[seed] = (sample.folder, report)
        return cache[seed]

    return get


@contextmanager
def workdir() -> Iterator[Path]:
    """A fresh folder per hypothesis example (function-scoped fixtures are shared by them)."""
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)


# --- reading and writing the generated tables -------------------------------------------


def read_table(path: Path) -> tuple[list[str], list[list[str | None]]]:
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            header, *rows = list(csv.reader(f))
        return header, [list(r) for r in rows]
    sheet = load_workbook(path, read_only=True).active
    assert sheet is not None
    head, *body = [list(r) for r in sheet.values]
    return [str(h) for h in head], [[None if v is None else str(v) for v in r] for r in body]


def write_table(path: Path, header: list[str], rows: list[list[str | None]]) -> None:
    if path.suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows([["" if v is None else v for v in r] for r in rows])
        return
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.save(path)


# --- relabelling ------------------------------------------------------------------------


def sgtin_urn(gtin: str, serial: str) -> str:
    return (
        f"urn:epc:id:sgtin:{gtin[1 : 1 + PREFIX_LEN]}.{gtin[0]}{gtin[1 + PREFIX_LEN : 13]}.{serial}"
    )


def lgtin_urn(gtin: str, lot: str) -> str:
    return (
        f"urn:epc:class:lgtin:{gtin[1 : 1 + PREFIX_LEN]}.{gtin[0]}{gtin[1 + PREFIX_LEN : 13]}.{lot}"
    )


def sscc_urn(sscc: str) -> str:
    return f"urn:epc:id:sscc:{sscc[1 : 1 + PREFIX_LEN]}.{sscc[0]}{sscc[1 + PREFIX_LEN : 17]}"


def respell(raw: str, rng: random.Random) -> str:
    """The same EPC in the other notation: URN <-> Digital Link (on one of two domains).

    A Digital Link naming a lot before the serial only changes domain (a URN cannot say it).
    """
    epc = parse_epc(raw)
    if epc is None or epc.kind not in ("sgtin", "sscc", "lgtin"):
        return raw
    urn = raw.startswith("urn:")
    domain = rng.choice((RESOLVER, BRAND))
    if epc.kind == "sgtin":
        assert epc.gtin and epc.serial and re.fullmatch(r"[0-9A-Za-z]+", epc.serial)
        if re.search(r"/(10|lot)/", raw):
            out = re.sub(r"^https?://[^/]+", domain, raw)
        elif urn:
            out = f"{domain}/01/{epc.gtin}/21/{epc.serial}"
        else:
            out = sgtin_urn(epc.gtin, epc.serial)
    elif epc.kind == "sscc":
        assert epc.sscc and check_digit(epc.sscc[:-1]) == int(epc.sscc[-1])
        out = f"{domain}/00/{epc.sscc}" if urn else sscc_urn(epc.sscc)
    else:
        assert epc.gtin and epc.lot
        out = f"{domain}/01/{epc.gtin}/10/{epc.lot}" if urn else lgtin_urn(epc.gtin, epc.lot)
    assert canonical_uri(out) == canonical_uri(raw), (raw, out)
    return out


#: A JSON string token (the generated events escape nothing inside identifiers).
JSON_STRING = re.compile(r'"((?:urn:epc:|https?://)[^"\\]*)"')


def relabel_events(path: Path, rng: random.Random, share: float) -> None:
    """Respell about ``share`` of the EPCs (each occurrence on its own)."""

    def swap(m: re.Match[str]) -> str:
        return '"' + (respell(m[1], rng) if rng.random() < share else m[1]) + '"'

    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("".join(JSON_STRING.sub(swap, line) + "\n" for line in lines), "utf-8")


def gtin13(value: str | None, rng: random.Random) -> str | None:
    """A GTIN-14 with a leading zero as GTIN-13 (same check digit), for about half of them."""
    if value and len(value) == 14 and value[0] == "0" and rng.random() < 0.5:
        short = value[1:]
        assert check_digit(short[:-1]) == int(short[-1])
        return short
    return value


def in_grams(row: list[str | None], col: dict[str, int]) -> None:
    """A quantity in kilograms rewritten as grams, x 1000."""
    name = "quantity" if "quantity" in col else "max_quantity"
    kg = Decimal(row[col[name]] or "")
    row[col[name]] = format((kg * 1000).normalize(), "f")
    row[col["uom"]] = "GRM"


def relabel_tables(folder: Path, rng: random.Random, gtins: bool, grams_side: str | None) -> None:
    """GTIN-13 spellings in every table (CSV and workbook); with ``grams_side``, that side's
    consignment kilograms as grams and the other side's spelled ``kg``, and in the other
    tables (batches, authorisations, filings, estimates) each kilogram row one or the other."""
    for path in sorted(folder.iterdir()):
        if path.suffix not in (".csv", ".xlsx"):
            continue
        header, rows = read_table(path)
        col = {name: i for i, name in enumerate(header)}
        for row in rows:
            if gtins and "gtin" in col:
                row[col["gtin"]] = gtin13(row[col["gtin"]], rng)
            if grams_side is None or "uom" not in col or row[col["uom"]] not in ("KGM", "kg"):
                continue
            if "direction" in col:
                grams = row[col["direction"]] == grams_side
            else:
                grams = rng.random() < 0.5
            if grams:
                in_grams(row, col)
            else:
                row[col["uom"]] = "kg"
        write_table(path, header, rows)


def copy_folder(source: Path, target: Path) -> Path:
    target.mkdir()
    for path in source.iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    return target


@pytest.mark.slow
@settings(max_examples=3, **QUARTER)
@given(
    seed=st.sampled_from(SEEDS),
    choice=st.integers(min_value=0, max_value=2**32),
    epcs=st.sampled_from([0.0, 0.5, 1.0]),
    gtins=st.booleans(),
    grams_side=st.sampled_from([None, "export", "import"]),
)
@example(seed=0, choice=0, epcs=1.0, gtins=True, grams_side="export")
@example(seed=1, choice=1, epcs=0.5, gtins=True, grams_side="import")
def test_relabelling_identifiers_and_units_changes_no_finding(
    originals: Callable[[int], tuple[Path, Any]],
    seed: int,
    choice: int,
    epcs: float,
    gtins: bool,
    grams_side: str | None,
) -> None:
    folder, original = originals(seed)
    choices = random.Random(choice)
    with workdir() as tmp:
        data = copy_folder(folder, tmp / "data")
        relabel_events(data / "events.jsonl", choices, epcs)
        relabel_tables(data, choices, gtins, grams_side)
        assert run([[data]], tmp / "relabelled.duckdb") == original


# --- delivery: order, files and loads ---------------------------------------------------


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def cut(items: list[Any], parts: int, rng: random.Random) -> list[list[Any]]:
    """``items`` in ``parts`` non-empty runs, at random places."""
    points = sorted(rng.sample(range(1, len(items)), parts - 1))
    return [items[a:b] for a, b in zip([0, *points], [*points, len(items)], strict=True)]


@settings(max_examples=3, **QUARTER)
@given(
    seed=st.sampled_from(SEEDS),
    choice=st.integers(min_value=0, max_value=2**32),
    event_files=st.integers(min_value=2, max_value=3),
    shuffle_lines=st.booleans(),
    loads=st.integers(min_value=1, max_value=3),
)
@example(seed=2, choice=2, event_files=3, shuffle_lines=True, loads=3)
def test_any_order_of_files_lines_and_loads_gives_the_same_report(
    originals: Callable[[int], tuple[Path, Any]],
    seed: int,
    choice: int,
    event_files: int,
    shuffle_lines: bool,
    loads: int,
) -> None:
    folder, original = originals(seed)
    choices = random.Random(choice)
    with workdir() as tmp:
        assert (
            run(
                delivered(folder, tmp, choices, event_files, shuffle_lines, loads),
                tmp / "shuffled.duckdb",
            )
            == original
        )


def delivered(
    folder: Path,
    tmp: Path,
    choices: random.Random,
    event_files: int,
    shuffle_lines: bool,
    loads: int,
) -> list[list[Path]]:
    """The folder's files re-cut and shuffled, in ``loads`` groups to load one after another."""
    data = tmp / "data"
    data.mkdir()
    files = []
    for path in sorted(folder.iterdir()):
        if path.name == "events.jsonl":
            lines = path.read_text(encoding="utf-8").splitlines()
            if shuffle_lines:
                choices.shuffle(lines)
            for i, part in enumerate(cut(lines, event_files, choices)):
                files.append(write_lines(data / f"events-{i}.jsonl", part))
        elif path.name == "consignments.csv":
            header, *rows = path.read_text(encoding="utf-8").splitlines()
            choices.shuffle(rows)
            for i, part in enumerate(cut(rows, 2, choices)):
                files.append(write_lines(data / f"declarations-{i}.csv", [header, *part]))
        else:
            files.append(data / path.name)
            files[-1].write_bytes(path.read_bytes())
    choices.shuffle(files)
    return cut(files, loads, choices) if loads > 1 else [files]


@settings(max_examples=2, **QUARTER)
@given(
    seed=st.sampled_from(SEEDS),
    choice=st.integers(min_value=0, max_value=2**32),
    share=st.sampled_from([0.1, 0.5, 1.0]),
    repeat_first=st.booleans(),
    separate_load=st.booleans(),
)
@example(seed=0, choice=3, share=0.5, repeat_first=True, separate_load=True)
def test_events_repeated_in_a_second_file_count_once(
    originals: Callable[[int], tuple[Path, Any]],
    seed: int,
    choice: int,
    share: float,
    repeat_first: bool,
    separate_load: bool,
) -> None:
    folder, original = originals(seed)
    choices = random.Random(choice)
    lines = (folder / "events.jsonl").read_text(encoding="utf-8").splitlines()
    again = [line for line in lines if choices.random() < share] or lines[:1]
    choices.shuffle(again)
    with workdir() as tmp:
        repeated = write_lines(tmp / "events-resent.jsonl", again)
        files = sorted(folder.iterdir())
        ordered = [repeated, *files] if repeat_first else [*files, repeated]
        groups = [ordered[:1], ordered[1:]] if separate_load else [ordered]
        assert run(groups, tmp / "repeated.duckdb") == original


# --- the traps ----------------------------------------------------------------------------

PRODUCTS = (
    "gtin,name,substance,substance_base,base_factor,content_per_unit,content_uom,trade_uom,"
    "control_class\n"
    "08901234000021,Ephedrine hydrochloride BP bulk,ephedrine hydrochloride,ephedrine,0.8192,1,"
    "KGM,KGM,INCB-Table-I\n"
)
CONSIGNMENT_HEADER = (
    "declaration_id,line,direction,declarant,counterparty,origin_country,destination_country,"
    "shipment_ref,gtin,lot,quantity,uom,declared_date\n"
)


@pytest.mark.parametrize(
    ("exported", "imported"),
    [("25000,GRM", "25,KGM"), ("25000,g", "25,kg"), ("25000000,MGM", "25,KGM")],
)
def test_an_exporter_in_grams_and_an_importer_in_kilograms_agree(
    tmp_path: Path, exported: str, imported: str
) -> None:
    def reconcile(export_qty: str) -> Report:
        folder = tmp_path / export_qty.replace(",", "-")
        folder.mkdir()
        (folder / "products.csv").write_text(PRODUCTS, encoding="utf-8")
        (folder / "consignments.csv").write_text(
            CONSIGNMENT_HEADER
            + f"SB-1,1,export,8901234000007,4012345000009,IN,DE,BOL-1,08901234000021,E1,"
            f"{export_qty},2026-02-01\n"
            f"BE-1,1,import,4012345000009,8901234000007,IN,DE,BOL-1,08901234000021,,"
            f"{imported},2026-02-10\n",
            encoding="utf-8",
        )
        result = load(folder / "t.duckdb", [folder])
        assert not result.rejections
        return traceability.reconcile(folder / "t.duckdb", rules=["mirror"])

    assert [f.to_dict() for f in reconcile(exported).findings] == []
    (gap,) = reconcile("24000,GRM").findings  # the control: 1 kg of salt more arrived
    assert (gap.rule, gap.expected, gap.observed, gap.difference, gap.unit) == (
        "mirror-quantity-gap",
        "19.6608",
        "20.48",
        "0.8192",
        "KGM",
    )


def _commission(serials: list[str], event_id: str | None, lot: str = "L1") -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": "2026-01-10T09:00:00+05:30",
        "eventTimeZoneOffset": "+05:30",
        "epcList": serials,
        "action": "ADD",
        "bizStep": "commissioning",
        "disposition": "active",
        "ilmd": {"cbvmda:lotNumber": lot, "cbvmda:itemExpirationDate": "2028-01-31"},
    }
    if event_id:
        event["eventID"] = event_id
    return event


def _ship(epcs: list[str], event_id: str, time: str) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventID": event_id,
        "eventTime": time,
        "eventTimeZoneOffset": "+05:30",
        "epcList": epcs,
        "action": "OBSERVE",
        "bizStep": "shipping",
        "bizTransactionList": [{"type": "bol", "bizTransaction": "BOL-1"}],
    }


def _urn(serial: str) -> str:
    return f"urn:epc:id:sgtin:8901234.000001.{serial}"


def _dl(serial: str) -> str:
    return f"https://id.gs1.org/01/08901234000014/21/{serial}"


@pytest.mark.parametrize("control", [False, True], ids=["resent", "control"])
def test_the_same_event_in_two_files_counts_once(tmp_path: Path, control: bool) -> None:
    """Events with an eventID, and one identified by its event hash (resent with its keys in
    another order and its EPC in another spelling), delivered twice in two files."""
    first = [
        _commission([_urn("S1"), _urn("S2")], "urn:uuid:c-1"),
        _commission([_urn("S3")], None),
        _ship([_urn("S1"), _urn("S2"), _urn("S3")], "urn:uuid:s-1", "2026-01-20T14:00:00+05:30"),
    ]
    hashed = _commission([_dl("S3")], None)
    second = [
        first[2],
        dict(reversed(list(hashed.items()))),
        _commission([_urn("S1")], "urn:uuid:c-2") if control else first[0],
    ]
    a = tmp_path / "a" / "events.jsonl"
    b = tmp_path / "b" / "events.jsonl"
    for path, events in ((a, first), (b, second)):
        path.parent.mkdir()
        write_lines(path, [json.dumps(e) for e in events])
    batches = tmp_path / "a" / "batches.csv"
    batches.write_text(
        "manufacturer,site,gtin,lot,quantity,uom,manufacture_date,expiry_date\n"
        "8901234000007,8901234000106,08901234000014,L1,3,H87,2026-01-05,2028-01-31\n",
        encoding="utf-8",
    )
    db = tmp_path / "t.duckdb"
    assert not load(db, [a, batches]).rejections
    assert not load(db, [b]).rejections
    report = traceability.reconcile(
        db, rules=["serial-duplicate", "over-commission", "serial-shipped-twice"]
    )
    found = [(f.rule, dict(f.subject)) for f in report.findings]
    assert found == ([("serial-duplicate", {"epc": _dl("S1")})] if control else [])
