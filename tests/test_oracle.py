"""A second implementation of the mass-balance and mirror rules, as an oracle.

``over-export``, ``stock-imbalance`` and ``mirror-quantity-gap`` are re-derived here from the
store tables with polars (exact decimals throughout: ``pl.Decimal(38, 12)`` and Python
``Decimal``, never floats), written independently of the rules' SQL to the semantics their
headers and the rule catalogue state. Both implementations run on generated quarters (several
seeds, with and without the plants of these rules) and on hand-made variations of a generated
quarter that put gaps just inside, exactly at and just outside the tolerances; the oracle's
findings must equal the SQL rules' findings, projected to (subject, period, expected,
observed, difference, unit).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest
from openpyxl import load_workbook

import traceability
from traceability.config import Config
from traceability.load import load
from traceability.model import Report
from traceability.rules.settings import from_mapping
from traceability.sample import DEMO_PLANTS, PLANTABLE, generate_quarter

RULES = ("over-export", "stock-imbalance", "mirror-quantity-gap")
DEC = pl.Decimal(38, 12)
ZERO = Decimal(0)

#: Unit -> (dimension, factor to kg, litres or units), as the input contract defines them.
UNITS: dict[str, tuple[str, Decimal]] = {
    "KGM": ("mass", Decimal(1)),
    "GRM": ("mass", Decimal("0.001")),
    "MGM": ("mass", Decimal("0.000001")),
    "LTR": ("volume", Decimal(1)),
    "MLT": ("volume", Decimal("0.001")),
    "H87": ("count", Decimal(1)),
}
#: The unit a comparison in each dimension is reported in (mass: kg of base).
COMPARED_IN = {"count": "H87", "mass": "KGM", "volume": "LTR"}
UNIT_TABLE = pl.DataFrame(
    {
        "uom": list(UNITS),
        "dimension": [dimension for dimension, _ in UNITS.values()],
        "factor": [factor for _, factor in UNITS.values()],
    },
    schema={"uom": pl.String, "dimension": pl.String, "factor": DEC},
)
OUTFLOWS = ("export", "domestic-supply", "destruction", "loss")

#: (subject, period, expected, observed, difference, unit)
Projected = tuple[tuple[tuple[str, str], ...], str | None, Decimal, Decimal, Decimal, str]


@dataclass(frozen=True)
class Tolerance:
    """The tolerances the oracle judges with (spec defaults unless a test says otherwise)."""

    units: Decimal = ZERO
    mass_pct: Decimal = Decimal("0.5")
    mass_kg: Decimal = Decimal("0.001")

    def limit(self, unit: str, expected: Decimal) -> Decimal:
        """The largest tolerated gap against ``expected``."""
        if unit == "H87":
            return self.units
        return max(self.mass_kg, self.mass_pct * Decimal("0.01") * expected)


# --- the oracle -------------------------------------------------------------------------


def store_tables(db: Path) -> dict[str, pl.DataFrame]:
    """The declaration tables of a store, as polars frames."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {
            name: con.sql(f"SELECT * FROM {name}").pl()
            for name in ("products", "batches", "consignments", "filings")
        }
    finally:
        con.close()


def latest(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """One row per key: the later load wins, then the later line of the file."""
    return frame.sort(["load_id", "source_line"], descending=True).unique(
        subset=keys, keep="first", maintain_order=True
    )


def base_factors(products: pl.DataFrame) -> pl.DataFrame:
    """Per gtin: kg of base in one pack, and kg of base in one kg of the product."""
    rows = []
    for p in latest(products, ["gtin"]).iter_rows(named=True):
        base = p["base_factor"] if p["base_factor"] is not None else Decimal(1)
        content = UNITS.get(p["content_uom"] or "")
        content_kg = (
            p["content_per_unit"] * content[1]
            if p["content_per_unit"] is not None and content and content[0] == "mass"
            else None
        )
        trade = UNITS.get(p["trade_uom"] or "")
        if p["trade_uom"] == "H87":
            per_pack, per_kg = (content_kg * base if content_kg is not None else None), base
        elif trade and trade[0] == "mass" and content_kg is not None:
            per_pack, per_kg = None, content_kg / trade[1] * base
        else:
            per_pack, per_kg = None, base
        rows.append((p["gtin"], per_pack, per_kg))
    return pl.DataFrame(
        rows, schema={"gtin": pl.String, "per_pack": DEC, "per_kg": DEC}, orient="row"
    )


def measured(lines: pl.DataFrame, factors: pl.DataFrame) -> pl.DataFrame:
    """Lines with ``dimension``, ``amount`` (units, kg as declared, litres) and ``kg_base``.

    A product missing from the master counts as the pure substance for mass.
    """
    amount = (pl.col("quantity") * pl.col("factor")).cast(DEC)
    return (
        lines.join(UNIT_TABLE, on="uom", how="left")
        .join(factors, on="gtin", how="left")
        .with_columns(amount=amount)
        .with_columns(
            kg_base=pl.when(pl.col("dimension") == "count")
            .then((pl.col("quantity") * pl.col("per_pack")).cast(DEC))
            .when(pl.col("dimension") == "mass")
            .then((pl.col("amount") * pl.col("per_kg").fill_null(Decimal(1))).cast(DEC))
        )
    )


def compare_in(dimensions: Iterable[str | None]) -> str:
    """Counted products in units when every side counts; one dimension alike; else kg."""
    kinds = set(dimensions)
    if kinds == {"count"}:
        return "H87"
    if kinds == {"volume"}:
        return "LTR"
    return "KGM"


def quarter(d: date) -> str:
    return f"{d.year}-Q{(d.month - 1) // 3 + 1}"


def _value(row: Mapping[str, object], unit: str) -> Decimal | None:
    value = row["kg_base"] if unit == "KGM" else row["amount"]
    assert value is None or isinstance(value, Decimal)
    return value


def oracle_over_export(t: Mapping[str, pl.DataFrame], tol: Tolerance) -> set[Projected]:
    """A lot's exports (every current export line naming it) beyond its make."""
    factors = base_factors(t["products"])
    batches = measured(latest(t["batches"], ["gtin", "lot"]), factors)
    exports = measured(
        latest(t["consignments"].with_columns(pl.col("line").fill_null("1")),
               ["declaration_id", "line"])
        .filter((pl.col("direction") == "export") & (pl.col("lot").fill_null("") != "")),
        factors,
    )  # fmt: skip
    out: set[Projected] = set()
    for made in batches.iter_rows(named=True):
        lines = exports.filter((pl.col("gtin") == made["gtin"]) & (pl.col("lot") == made["lot"]))
        if lines.is_empty():
            continue
        unit = compare_in([made["dimension"], *lines["dimension"]])
        expected = _value(made, unit)
        shipped = [
            (row["declared_date"], row["declaration_id"], row["line"], _value(row, unit))
            for row in lines.iter_rows(named=True)
        ]
        if expected is None or any(q is None for *_, q in shipped):
            continue  # not comparable in one unit
        observed = sum((q for *_, q in shipped if q is not None), ZERO)
        if observed - expected <= tol.limit(unit, expected):
            continue
        running, crossed = ZERO, None
        for day, *_, q in sorted(shipped, key=lambda s: s[:3]):
            running += q or ZERO
            if running > expected:
                crossed = day
                break
        subject = (("gtin", made["gtin"]), ("lot", made["lot"]))
        period = quarter(crossed) if crossed else None
        out.add((subject, period, expected, observed, observed - expected, unit))
    return out


def oracle_mirror_quantity_gap(t: Mapping[str, pl.DataFrame], tol: Tolerance) -> set[Projected]:
    """Per shipment_ref declared on both sides and gtin: imported against exported."""
    lines = measured(
        latest(t["consignments"].with_columns(pl.col("line").fill_null("1")),
               ["declaration_id", "line"])
        .filter(pl.col("direction").is_in(["export", "import"])),
        base_factors(t["products"]),
    )  # fmt: skip
    sides = lines.group_by("shipment_ref").agg(pl.col("direction").n_unique().alias("n"))
    matched = lines.join(sides.filter(pl.col("n") == 2), on="shipment_ref", how="semi")
    out: set[Projected] = set()
    for (ref, gtin), group in matched.group_by(["shipment_ref", "gtin"]):
        unit = compare_in(group["dimension"])
        rows = list(group.iter_rows(named=True))
        values = [(r["direction"], r["declared_date"], _value(r, unit)) for r in rows]
        if any(v is None for *_, v in values):
            continue
        expected = sum((v for side, _, v in values if side == "export" and v is not None), ZERO)
        observed = sum((v for side, _, v in values if side == "import" and v is not None), ZERO)
        if abs(observed - expected) <= tol.limit(unit, expected):
            continue
        shipped = [day for side, day, _ in values if side == "export"] or [
            day for _, day, _ in values
        ]
        subject = tuple(sorted((("shipment_ref", str(ref)), ("gtin", str(gtin)))))
        out.add((subject, quarter(min(shipped)), expected, observed, observed - expected, unit))
    return out


def oracle_stock_imbalance(t: Mapping[str, pl.DataFrame], tol: Tolerance) -> set[Projected]:
    """Per filer, period and product or substance: the stock account against the closing."""
    keys = ["filer", "period", "flow", "gtin", "substance_base", "counterparty_country"]
    current = (
        latest(t["filings"], keys)
        .join(UNIT_TABLE, on="uom", how="inner")
        .with_columns(
            qty=(pl.col("quantity") * pl.col("factor")).cast(DEC),
            label_kind=pl.when(pl.col("gtin").is_not_null()).then(pl.lit("gtin"))
            .otherwise(pl.lit("substance_base")),
            label=pl.coalesce("gtin", "substance_base"),
        )
        .with_columns(
            signed=pl.when(pl.col("flow").is_in(OUTFLOWS)).then(-pl.col("qty"))
            .otherwise(pl.col("qty")),
        )
    )  # fmt: skip
    accounts = current.group_by(["filer", "period", "label_kind", "label", "dimension"]).agg(
        stock_lines=pl.col("flow").is_in(["opening-stock", "closing-stock"]).sum(),
        expected=pl.col("signed").filter(pl.col("flow") != "closing-stock").sum(),
        observed=pl.col("qty").filter(pl.col("flow") == "closing-stock").sum(),
    )
    out: set[Projected] = set()
    for a in accounts.filter(pl.col("stock_lines") > 0).iter_rows(named=True):
        unit = COMPARED_IN[a["dimension"]]
        expected, observed = a["expected"] or ZERO, a["observed"] or ZERO
        if abs(observed - expected) <= tol.limit(unit, expected):
            continue
        subject = tuple(sorted((("party", a["filer"]), (a["label_kind"], a["label"]))))
        out.add((subject, a["period"], expected, observed, observed - expected, unit))
    return out


ORACLES: dict[str, Callable[[Mapping[str, pl.DataFrame], Tolerance], set[Projected]]] = {
    "over-export": oracle_over_export,
    "stock-imbalance": oracle_stock_imbalance,
    "mirror-quantity-gap": oracle_mirror_quantity_gap,
}


# --- running both -----------------------------------------------------------------------


def projected(report: Report, rule: str) -> set[Projected]:
    """The SQL rule's findings in the oracle's projection."""
    out: set[Projected] = set()
    for f in report.findings:
        if f.rule != rule:
            continue
        assert f.expected and f.observed and f.difference and f.unit, f.to_dict()
        subject = tuple(sorted(f.subject.items()))
        numbers = (Decimal(f.expected), Decimal(f.observed), Decimal(f.difference))
        out.add((subject, f.period, *numbers, f.unit))
    return out


def both(
    db: Path, config: Config | None = None
) -> dict[str, tuple[set[Projected], set[Projected]]]:
    """rule -> (SQL findings, oracle findings) on one store."""
    config = config or Config()
    report = traceability.reconcile(db, rules=list(RULES), config=config)
    tol = Tolerance(
        units=config.tolerances["tol_units"],
        mass_pct=config.tolerances["tol_mass_pct"],
        mass_kg=config.tolerances["tol_mass_kg"],
    )
    tables = store_tables(db)
    return {rule: (projected(report, rule), ORACLES[rule](tables, tol)) for rule in RULES}


def assert_agree(results: Mapping[str, tuple[set[Projected], set[Projected]]]) -> None:
    for rule, (sql, oracle) in results.items():
        assert sql == oracle, (
            f"{rule}: only the SQL rule found {sorted(sql - oracle, key=str)}; "
            f"only the oracle found {sorted(oracle - sql, key=str)}"
        )


TABULAR = ("products.csv", "batches.csv", "consignments.csv", "filings.xlsx", "filings.csv")


def load_tabular(folder: Path, db: Path) -> None:
    """Load the declaration files of a folder (events play no part in these rules)."""
    paths = [folder / name for name in TABULAR if (folder / name).exists()]
    result = load(db, paths)
    assert not result.rejections, [str(r) for r in result.rejections][:5]


# --- generated quarters -----------------------------------------------------------------

ALL_BUT_LOT_MISMATCH = tuple(p for p in PLANTABLE if p != "serial-lot-mismatch")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("seed", "plants", "sizes"),
    [
        (0, (), (120, 1)),
        (1, ("over-export",), (120, 1)),
        (2, ("mirror-quantity-gap",), (120, 1)),
        (3, ("mirror-quantity-gap", "stock-imbalance"), (480, 2)),
        (4, ("stock-imbalance", "filing-mismatch", "missing-filing"), (120, 2)),
        (5, DEMO_PLANTS, (240, 2)),
        (6, ALL_BUT_LOT_MISMATCH, (120, 1)),
        (7, PLANTABLE, (360, 3)),
    ],
    ids=[
        "clean",
        "over-export",
        "mirror",
        "mirror+stock",
        "filings",
        "demo",
        "all-but-one",
        "all-3-lots",
    ],
)
def test_oracle_agrees_on_a_generated_quarter(
    tmp_path: Path, seed: int, plants: tuple[str, ...], sizes: tuple[int, int]
) -> None:
    packs, lots = sizes
    sample = generate_quarter(
        tmp_path / "data", seed=seed, plant=plants, packs_per_lot=packs, lots_per_product=lots
    )
    load_tabular(sample.folder, tmp_path / "q.duckdb")
    results = both(tmp_path / "q.duckdb")
    assert_agree(results)
    for rule in RULES:
        planted = {tuple(sorted(p.subject.items())) for p in sample.planted if p.rule == rule}
        assert {f[0] for f in results[rule][0]} == planted


# --- hand-made variations of one generated quarter --------------------------------------

Tables = dict[str, list[dict[str, str]]]
EPH = "08901234000021"  # bulk ephedrine hydrochloride, traded in KGM
PSE = "08901234000014"  # pseudoephedrine packs
PCM = "08901234000038"  # paracetamol packs (uncontrolled)
EXPORTER = "8901234000007"
US_IMPORTER = "0614141000005"


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def xlsx_rows(path: Path) -> list[dict[str, str]]:
    sheet = load_workbook(path, read_only=True).active
    assert sheet is not None
    header, *rows = [list(r) for r in sheet.values]
    return [
        {h: "" if v is None else str(v) for h, v in zip(header, row, strict=True)} for row in rows
    ]


@pytest.fixture(scope="module")
def base_tables(tmp_path_factory: pytest.TempPathFactory) -> Tables:
    """A consistent generated quarter's declarations, filings read out of the workbook."""
    folder = tmp_path_factory.mktemp("base")
    generate_quarter(folder, seed=11, packs_per_lot=120, lots_per_product=1)
    return {
        "products": read_csv(folder / "products.csv"),
        "batches": read_csv(folder / "batches.csv"),
        "consignments": read_csv(folder / "consignments.csv"),
        "filings": xlsx_rows(folder / "filings.xlsx"),
    }


def one(rows: list[dict[str, str]], **match: str) -> dict[str, str]:
    (row,) = [r for r in rows if all(r[k] == v for k, v in match.items())]
    return row


def line_of(t: Tables, direction: str, gtin: str, country: str) -> dict[str, str]:
    return one(t["consignments"], direction=direction, gtin=gtin, destination_country=country)


def ref_of(t: Tables, gtin: str, country: str) -> str:
    return line_of(t, "export", gtin, country)["shipment_ref"]


def d(text: str) -> Decimal:
    return Decimal(text)


def text(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _add(row: dict[str, str], amount: Decimal) -> None:
    row["quantity"] = text(d(row["quantity"]) + amount)


def _exported(t: Tables, gtin: str) -> Decimal:
    rows = [r for r in t["consignments"] if r["direction"] == "export" and r["gtin"] == gtin]
    return sum((d(r["quantity"]) for r in rows), ZERO)


def _made(t: Tables, gtin: str) -> Decimal:
    return d(one(t["batches"], gtin=gtin)["quantity"])


def _bulk_exports_to(share: str, grams: str = "0") -> Callable[[Tables], None]:
    """Raise the German bulk shipment (both sides) until the lot's exports are ``share`` of
    its make plus ``grams``."""

    def edit(t: Tables) -> None:
        extra = _made(t, EPH) * d(share) + d(grams) / 1000 - _exported(t, EPH)
        _add(line_of(t, "export", EPH, "DE"), extra)
        _add(line_of(t, "import", EPH, "DE"), extra * 1000)  # the importer writes grams

    return edit


def _batch_quantity(gtin: str, value: Callable[[Tables], Decimal]) -> Callable[[Tables], None]:
    def edit(t: Tables) -> None:
        one(t["batches"], gtin=gtin)["quantity"] = text(value(t))

    return edit


def _correct_export(amount: Decimal, later_is_right: bool) -> Callable[[Tables], None]:
    """Declare the German bulk export line a second time, ``amount`` kg apart."""

    def edit(t: Tables) -> None:
        rows = t["consignments"]
        first = line_of(t, "export", EPH, "DE")
        other = {**first}
        _add(other, amount)
        rows.remove(first)
        rows += [other, first] if later_is_right else [first, other]

    return edit


def _import_grams(factor: Decimal, grams: Decimal = ZERO) -> Callable[[Tables], None]:
    """The German importer declares ``factor`` × the exported mass, plus ``grams``."""

    def edit(t: Tables) -> None:
        exported = d(line_of(t, "export", EPH, "DE")["quantity"])
        row = line_of(t, "import", EPH, "DE")
        assert row["uom"] == "GRM"
        row["quantity"] = text(exported * 1000 * factor + grams)

    return edit


def _us_packs(amount: Decimal) -> Callable[[Tables], None]:
    def edit(t: Tables) -> None:
        _add(line_of(t, "import", PSE, "US"), amount)

    return edit


def _us_export_as_salt(t: Tables) -> None:
    """The exporter declares the pseudoephedrine packs to the US as kg of salt (1.8 g a pack)."""
    row = line_of(t, "export", PSE, "US")
    row["quantity"] = text(d(row["quantity"]) * d("0.0018"))
    row["uom"] = "KGM"


def _closing_in_grams(t: Tables) -> None:
    row = EXPORTER_EPH(t)
    row["quantity"] = text(d(row["quantity"]) * 1000)
    row["uom"] = "GRM"


def _us_packs_as_salt(fewer: int) -> Callable[[Tables], None]:
    """The US importer declares the pseudoephedrine packs as kg of salt (1.8 g a pack)."""

    def edit(t: Tables) -> None:
        row = line_of(t, "import", PSE, "US")
        row["quantity"] = text((d(row["quantity"]) - fewer) * d("0.0018"))
        row["uom"] = "KGM"

    return edit


def _redate(direction: str, day: str) -> Callable[[Tables], None]:
    """Move one side of the German bulk shipment to another day."""

    def edit(t: Tables) -> None:
        line_of(t, direction, EPH, "DE")["declared_date"] = day

    return edit


def _drop_us_paracetamol_import(t: Tables) -> None:
    """The US import of the shipment carrying both products declares the packs only."""
    ref = ref_of(t, PSE, "US")
    t["consignments"].remove(one(t["consignments"], direction="import", gtin=PCM, shipment_ref=ref))


def _closing(filer: str, label: str) -> Callable[[Tables], dict[str, str]]:
    key = "gtin" if label.isdigit() else "substance_base"

    def find(t: Tables) -> dict[str, str]:
        return one(t["filings"], filer=filer, flow="closing-stock", **{key: label})

    return find


EXPORTER_EPH = _closing(EXPORTER, "ephedrine")
US_PSE = _closing(US_IMPORTER, PSE)


def _mass_tolerance(row: dict[str, str]) -> Decimal:
    return max(d("0.001"), d(row["quantity"]) * d("0.005"))


def _closing_off(find: Callable[[Tables], dict[str, str]], by: str) -> Callable[[Tables], None]:
    """Move a closing stock by ``by``: a number, or ``tol``/``-tol`` ± a number."""

    def edit(t: Tables) -> None:
        row = find(t)
        amount = ZERO
        for part in by.replace("-", " -").replace("+", " +").split():
            sign = -1 if part.startswith("-") else 1
            word = part.lstrip("+-")
            amount += sign * (_mass_tolerance(row) if word == "tol" else d(word))
        _add(row, amount)

    return edit


def _supersede_closing(wrong_first: bool) -> Callable[[Tables], None]:
    """A corrected return (another filing_id) for the exporter's ephedrine closing stock."""

    def edit(t: Tables) -> None:
        right = EXPORTER_EPH(t)
        wrong = {**right, "filing_id": right["filing_id"] + "-R"}
        _add(wrong, d("-2.5"))
        if wrong_first:
            right["filing_id"], wrong["filing_id"] = wrong["filing_id"], right["filing_id"]
        t["filings"].insert(t["filings"].index(right) + (0 if wrong_first else 1), wrong)

    return edit


def _drop_flows(*flows: str) -> Callable[[Tables], None]:
    def edit(t: Tables) -> None:
        t["filings"][:] = [
            r for r in t["filings"]
            if not (r["filer"] == EXPORTER and r["substance_base"] == "ephedrine"
                    and r["flow"] in flows)
        ]  # fmt: skip

    return edit


def _chain(*edits: Callable[[Tables], None]) -> Callable[[Tables], None]:
    def edit(t: Tables) -> None:
        for e in edits:
            e(t)

    return edit


@dataclass(frozen=True)
class Variation:
    """An edit of the base quarter and what the targeted rule must then say."""

    name: str
    edit: Callable[[Tables], None]
    rule: str
    subject: Callable[[Tables], dict[str, str]]
    fires: bool
    tolerances: Mapping[str, int | str] | None = None
    also: tuple[str, ...] = ()


def _lot(gtin: str) -> Callable[[Tables], dict[str, str]]:
    return lambda t: {"gtin": gtin, "lot": one(t["batches"], gtin=gtin)["lot"]}


def _shipment(gtin: str, country: str, of: str | None = None) -> Callable[[Tables], dict[str, str]]:
    return lambda t: {"shipment_ref": ref_of(t, gtin, country), "gtin": of or gtin}


def _filer(filer: str, label: str) -> Callable[[Tables], dict[str, str]]:
    return lambda _: {"party": filer, ("gtin" if label.isdigit() else "substance_base"): label}


# Bulk tolerance: a gap fires when above max(0.001 kg, 0.5 % of expected), in kg of base, so
# a gap of exactly 0.5 % does not fire and one more gram does.
VARIATIONS = [
    Variation(
        "bulk exports of 100.5 % of the make are at the tolerance",
        _bulk_exports_to("1.005"),
        "over-export",
        _lot(EPH),
        False,
    ),
    Variation(
        "bulk exports of 100.5 % of the make and one gram are past it",
        _bulk_exports_to("1.005", "1"),
        "over-export",
        _lot(EPH),
        True,
    ),
    Variation(
        "bulk exports of 101 % with a 1 % tolerance are at the tolerance",
        _bulk_exports_to("1.01"),
        "over-export",
        _lot(EPH),
        False,
        {"tol_mass_pct": "1"},
    ),
    Variation(
        "bulk exports of 101 % and one gram with a 1 % tolerance are past it",
        _bulk_exports_to("1.01", "1"),
        "over-export",
        _lot(EPH),
        True,
        {"tol_mass_pct": "1"},
    ),
    Variation(
        "a pack lot made exactly as exported",
        _batch_quantity(PSE, lambda t: _exported(t, PSE)),
        "over-export",
        _lot(PSE),
        False,
    ),
    Variation(
        "a pack lot made one short of its exports",
        _batch_quantity(PSE, lambda t: _exported(t, PSE) - 1),
        "over-export",
        _lot(PSE),
        True,
    ),
    Variation(
        "a pack lot made as exported, partly declared as kg of salt, compares in kg of base",
        _chain(_batch_quantity(PSE, lambda t: _exported(t, PSE)), _us_export_as_salt),
        "over-export",
        _lot(PSE),
        False,
    ),
    Variation(
        "a pack lot one short of exports partly declared as kg of salt fires in kg of base",
        _chain(_batch_quantity(PSE, lambda t: _exported(t, PSE) - 1), _us_export_as_salt),
        "over-export",
        _lot(PSE),
        True,
    ),
    Variation(
        "a pack lot one short is within a tolerance of one unit",
        _batch_quantity(PSE, lambda t: _exported(t, PSE) - 1),
        "over-export",
        _lot(PSE),
        False,
        {"tol_units": 1},
    ),
    Variation(
        "a later version of an export line past the make counts, not the earlier one",
        _chain(_bulk_exports_to("1"), _correct_export(d("5"), False)),
        "over-export",
        _lot(EPH),
        True,
        also=("mirror-quantity-gap",),
    ),
    Variation(
        "an earlier version of an export line past the make is superseded",
        _chain(_bulk_exports_to("1"), _correct_export(d("5"), True)),
        "over-export",
        _lot(EPH),
        False,
    ),
    Variation(
        "an import of 99.5 % in grams is at the mirror tolerance",
        _import_grams(d("0.995")),
        "mirror-quantity-gap",
        _shipment(EPH, "DE"),
        False,
    ),
    Variation(
        "an import of 99.5 % less one gram is a shortfall",
        _import_grams(d("0.995"), d("-1")),
        "mirror-quantity-gap",
        _shipment(EPH, "DE"),
        True,
    ),
    Variation(
        "an import of 100.5 % in grams is at the mirror tolerance",
        _import_grams(d("1.005")),
        "mirror-quantity-gap",
        _shipment(EPH, "DE"),
        False,
    ),
    Variation(
        "an import of 100.5 % and one gram is an excess",
        _import_grams(d("1.005"), d("1")),
        "mirror-quantity-gap",
        _shipment(EPH, "DE"),
        True,
    ),
    Variation(
        "one pack fewer imported than exported",
        _us_packs(d("-1")),
        "mirror-quantity-gap",
        _shipment(PSE, "US"),
        True,
    ),
    Variation(
        "one pack more imported than exported",
        _us_packs(d("1")),
        "mirror-quantity-gap",
        _shipment(PSE, "US"),
        True,
    ),
    Variation(
        "one pack fewer within a tolerance of one unit",
        _us_packs(d("-1")),
        "mirror-quantity-gap",
        _shipment(PSE, "US"),
        False,
        {"tol_units": 1},
    ),
    Variation(
        "packs exported and the same packs imported as kg of salt agree",
        _us_packs_as_salt(0),
        "mirror-quantity-gap",
        _shipment(PSE, "US"),
        False,
    ),
    Variation(
        "one pack's salt (1.47456 g of base) missing is past the 1 g floor",
        _us_packs_as_salt(1),
        "mirror-quantity-gap",
        _shipment(PSE, "US"),
        True,
    ),
    Variation(
        "a shortfall on a shipment imported in the next quarter belongs to the export's",
        _chain(_import_grams(d("0.9")), _redate("import", "2026-04-03")),
        "mirror-quantity-gap",
        _shipment(EPH, "DE"),
        True,
    ),
    Variation(
        "the export crossing the make in April dates the over-export to Q2",
        _chain(
            _bulk_exports_to("1.1"),
            _redate("export", "2026-04-02"),
            _redate("import", "2026-04-09"),
        ),
        "over-export",
        _lot(EPH),
        True,
    ),
    Variation(
        "a product missing on the import side counts as nothing arrived",
        _drop_us_paracetamol_import,
        "mirror-quantity-gap",
        _shipment(PSE, "US", PCM),
        True,
    ),
    Variation(
        "a closing stock short by exactly the tolerance",
        _closing_off(EXPORTER_EPH, "-tol"),
        "stock-imbalance",
        _filer(EXPORTER, "ephedrine"),
        False,
    ),
    Variation(
        "a closing stock short by the tolerance and a milligram",
        _closing_off(EXPORTER_EPH, "-tol-0.000001"),
        "stock-imbalance",
        _filer(EXPORTER, "ephedrine"),
        True,
    ),
    Variation(
        "a closing stock over by the tolerance and a milligram",
        _closing_off(EXPORTER_EPH, "+tol+0.000001"),
        "stock-imbalance",
        _filer(EXPORTER, "ephedrine"),
        True,
    ),
    Variation(
        "a closing stock written in grams balances flows written in kilograms",
        _closing_in_grams,
        "stock-imbalance",
        _filer(EXPORTER, "ephedrine"),
        False,
    ),
    Variation(
        "an importer's closing stock one pack over",
        _closing_off(US_PSE, "1"),
        "stock-imbalance",
        _filer(US_IMPORTER, PSE),
        True,
    ),
    Variation(
        "an importer's closing stock one pack short within a tolerance of one unit",
        _closing_off(US_PSE, "-1"),
        "stock-imbalance",
        _filer(US_IMPORTER, PSE),
        False,
        {"tol_units": 1},
    ),
    Variation(
        "a wrong closing stock corrected by a later return",
        _supersede_closing(wrong_first=True),
        "stock-imbalance",
        _filer(EXPORTER, "ephedrine"),
        False,
    ),
    Variation(
        "a right closing stock replaced by a wrong later return",
        _supersede_closing(wrong_first=False),
        "stock-imbalance",
        _filer(EXPORTER, "ephedrine"),
        True,
    ),
    Variation(
        "an account without an opening line is still an account",
        _drop_flows("opening-stock"),
        "stock-imbalance",
        _filer(EXPORTER, "ephedrine"),
        True,
    ),
    Variation(
        "flows without a stock line are not an account",
        _drop_flows("opening-stock", "closing-stock"),
        "stock-imbalance",
        _filer(EXPORTER, "ephedrine"),
        False,
    ),
]


@pytest.mark.parametrize("variation", VARIATIONS, ids=lambda v: v.name)
def test_oracle_agrees_on_a_hand_made_variation(
    tmp_path: Path, base_tables: Tables, variation: Variation
) -> None:
    tables = {kind: [dict(r) for r in rows] for kind, rows in base_tables.items()}
    variation.edit(tables)
    for kind, rows in tables.items():
        write_csv(tmp_path / f"{kind}.csv", rows)
    load_tabular(tmp_path, tmp_path / "v.duckdb")
    config = from_mapping({"tolerances": dict(variation.tolerances or {})})
    results = both(tmp_path / "v.duckdb", config)
    assert_agree(results)
    subject = tuple(sorted(variation.subject(tables).items()))
    fired = {f[0] for f in results[variation.rule][1]}
    assert (subject in fired) is variation.fires, (subject, results[variation.rule])
    others = {
        rule: r[1] for rule, r in results.items() if rule not in (variation.rule, *variation.also)
    }
    assert others == {rule: set() for rule in others}


def test_the_base_quarter_is_clean_for_both(tmp_path: Path, base_tables: Tables) -> None:
    for kind, rows in base_tables.items():
        write_csv(tmp_path / f"{kind}.csv", rows)
    load_tabular(tmp_path, tmp_path / "b.duckdb")
    results = both(tmp_path / "b.duckdb")
    assert results == {rule: (set(), set()) for rule in RULES}
