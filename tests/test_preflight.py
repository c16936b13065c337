"""The exporter's preflight: planned shipments against a loaded store, by scenario."""

from __future__ import annotations

import hashlib
import json
import shutil
import tomllib
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator, FormatChecker

from traceability import Preflight, preflight, reconcile, render
from traceability.cli import cli
from traceability.errors import InputError, StoreError
from traceability.kinds import load_schema
from traceability.load import load
from traceability.preflight import PREFLIGHT_RULES, REMEDIES
from traceability.preflight.planned import attach
from traceability.rules.settings import from_mapping

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "preflight"
PLANNED = FIXTURE / "planned"
SCENARIOS = tomllib.loads((FIXTURE / "scenarios.toml").read_text(encoding="utf-8"))["scenario"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scenario store, loaded once for the module (every test only reads it)."""
    db = tmp_path_factory.mktemp("preflight") / "store.duckdb"
    assert load(db, [FIXTURE / "store"]).rejected == 0
    return db


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _project(result: Any) -> list[dict[str, Any]]:
    return sorted(
        ({"rule": f.rule, "subject": dict(f.subject)} for f in result.blockers),
        key=lambda p: json.dumps(p, sort_keys=True),
    )


@pytest.mark.parametrize("case", SCENARIOS, ids=[c["name"] for c in SCENARIOS])
def test_scenario(store: Path, case: dict[str, Any]) -> None:
    result = preflight(
        store,
        PLANNED / case["shipment"],
        epcs=PLANNED / case["epcs"] if "epcs" in case else None,
        config=PLANNED / case["config"] if "config" in case else None,
        as_of=case.get("as_of"),
    )
    assert result.clear is case["clear"]
    expected = sorted(case["blockers"], key=lambda p: json.dumps(p, sort_keys=True))
    assert _project(result) == expected
    for balance in case.get("balances", []):
        assert balance in [b.to_dict() for b in result.balances]
    for f in result.blockers:
        assert "; to clear: " in f"; {f.detail}" and "to clear: " in f.message


def test_every_preflight_rule_has_a_remedy() -> None:
    assert set(PREFLIGHT_RULES) <= set(REMEDIES)


def test_the_store_is_not_written(store: Path) -> None:
    before = _digest(store)
    result = preflight(store, PLANNED / "clean-21.csv", epcs=PLANNED / "shipped-epcs.txt")
    assert not result.clear
    assert _digest(store) == before


def test_a_finding_of_the_store_alone_is_not_the_shipments(store: Path) -> None:
    stored = {(f.rule, f.subject.get("epc")) for f in reconcile(store).findings}
    resent = ("serial-shipped-twice", "https://id.gs1.org/01/08901234000014/21/P1-0050")
    assert resent in stored  # the store has it ...
    result = preflight(store, PLANNED / "clean.csv", epcs=PLANNED / "clean-epcs.txt")
    assert result.clear  # ... and the planned shipment does not carry it


def test_a_shipment_already_loaded_counts_once(store: Path, tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    shutil.copy(store, db)
    load(db, [PLANNED / "clean.csv"])
    result = preflight(db, PLANNED / "clean.csv", epcs=PLANNED / "clean-epcs.txt")
    assert result.clear
    assert [b.to_dict() for b in result.balances] == [
        {
            "authorisation_ref": "EA-IN-2026-0001",
            "unit": "H87",
            "authorised": "40",
            "used_before": "10",
            "this_shipment": "20",
            "remaining": "10",
        }
    ]


def test_the_minimum_shelf_life_is_judged_on_the_true_expiry(store: Path) -> None:
    result = preflight(
        store, PLANNED / "short-shelf-life.csv", config=PLANNED / "min-shelf-life.toml"
    )
    (blocker,) = result.blockers
    assert blocker.detail is not None
    assert blocker.detail.startswith("expires on 2026-06-30, 106 day(s) after the ship date")
    assert "minimum remaining shelf life is 180 days" in blocker.detail


@pytest.fixture(scope="module")
def exhausted(store: Path) -> Preflight:
    """A blocked preflight, computed once for the format tests."""
    return preflight(store, PLANNED / "exhausted.csv")


@pytest.mark.parametrize("fmt", ["json", "table", "csv", "md", "html"])
def test_every_format_carries_the_verdict_and_the_reasons(exhausted: Preflight, fmt: str) -> None:
    text = render(exhausted, fmt)
    assert "authorisation-exceeded" in text and "EA-IN-2026-0001" in text
    if fmt == "json":
        data = json.loads(text)
        Draft202012Validator(load_schema("report"), format_checker=FormatChecker()).validate(data)
        assert data["parameters"]["verdict"] == "blocked"
        assert data["parameters"]["authorisations"][0]["remaining"] == "-5"
    if fmt in ("table", "md"):
        assert "BLOCKED by 1 reason" in text


def _invoke(args: list[str]) -> Any:
    result = CliRunner().invoke(cli, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def test_command_exits_0_when_clear_and_1_when_blocked(store: Path) -> None:
    clear = _invoke(
        ["preflight", "--db", str(store), str(PLANNED / "clean.csv"), "--epcs"]
        + [str(PLANNED / "clean-epcs.txt"), "--format", "json"]
    )
    assert clear.exit_code == 0, clear.output
    assert json.loads(clear.stdout)["findings"] == []
    blocked = _invoke(
        ["preflight", "--db", str(store), str(PLANNED / "expired.csv"), "--format", "csv"]
    )
    assert blocked.exit_code == 1
    assert "expired-shipped" in blocked.stdout


@pytest.mark.parametrize(
    ("shipment", "epcs", "rule", "subject"),
    [
        ("clean-21.csv", "packed-elsewhere-epcs.txt", "serial-shipped-twice", "P1-0005"),
        ("received-case.csv", "received-case-epcs.txt", "serial-shipped-twice", "P1-0053"),
        ("net-of-destroyed.csv", None, "over-export", "PCM2601"),
    ],
)
def test_command_blocks_stock_packed_elsewhere_received_or_destroyed(
    store: Path, shipment: str, epcs: str | None, rule: str, subject: str
) -> None:
    args = ["preflight", "--db", str(store), str(PLANNED / shipment), "--format", "json"]
    out = _invoke(args + (["--epcs", str(PLANNED / epcs)] if epcs else []))
    assert out.exit_code == 1, out.output
    data = json.loads(out.stdout)
    assert data["parameters"]["verdict"] == "blocked"
    assert any(f["rule"] == rule and subject in json.dumps(f["subject"]) for f in data["findings"])


def test_a_pack_packed_elsewhere_names_its_container_and_packing(store: Path) -> None:
    result = preflight(store, PLANNED / "clean-21.csv", epcs=PLANNED / "packed-elsewhere-epcs.txt")
    (blocker,) = result.blockers
    assert blocker.detail is not None
    assert blocker.detail.startswith(
        "packed in https://id.gs1.org/00/189012340000000011 on 2026-01-13 and not unpacked"
    )
    assert "record this pack's unpacking" in blocker.detail
    assert [(e.key, e.source and Path(e.source).name) for e in blocker.evidence] == [
        ("planned-shipping:AWB-NEXT-1", None),
        ("urn:uuid:7f3c0e2a-0000-4000-8000-000000000003", "events.jsonl:3"),
    ]


def test_the_headroom_counts_destroyed_serials_and_quantities(store: Path) -> None:
    result = preflight(store, PLANNED / "net-of-destroyed.csv")
    (blocker,) = result.blockers
    # made 30, of which 1 serial and a quantity of 2 destroyed; 25 + 3 exported
    assert (blocker.expected, blocker.observed, blocker.difference) == ("27", "28", "1")
    assert blocker.detail is not None and "net of 3 H87 destroyed" in blocker.detail


@pytest.mark.parametrize(
    ("shipment", "epcs", "where"),
    [
        ("two-shipments.csv", None, "two-shipments.csv: shipment_ref"),
        ("bad-quantity.csv", None, "bad-quantity.csv:2: "),
        ("clean.csv", "bad-epcs.txt", "bad-epcs.txt:4: epc: "),
        ("clean.csv", "no-such-file.txt", "no-such-file.txt: no such file"),
        ("clean.csv", "clean.csv", "clean.csv:1: epc: "),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    store: Path, shipment: str, epcs: str | None, where: str
) -> None:
    args = ["preflight", "--db", str(store), str(PLANNED / shipment)]
    out = _invoke(args + (["--epcs", str(PLANNED / epcs)] if epcs else []))
    assert out.exit_code == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and where in lines[0]
    assert "Traceback" not in out.stderr


def test_an_import_line_is_not_a_planned_shipment(store: Path, tmp_path: Path) -> None:
    text = (PLANNED / "clean.csv").read_text(encoding="utf-8").replace(",export,", ",import,")
    shipment = tmp_path / "import.csv"
    shipment.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=r"import.csv:2: direction: 'import'"):
        preflight(store, shipment)


def test_an_epcis_document_must_hold_the_shipping(store: Path, tmp_path: Path) -> None:
    doc = json.loads((PLANNED / "clean-packing.json").read_text(encoding="utf-8"))
    doc["epcisBody"]["eventList"] = doc["epcisBody"]["eventList"][:1]  # packing only
    packing = tmp_path / "packing.json"
    packing.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(InputError, match="packing.json: no shipping event"):
        preflight(store, PLANNED / "clean.csv", epcs=packing)


def test_preflight_settings_are_checked() -> None:
    assert from_mapping({"preflight": {"min_shelf_life_days": 90}}).preflight.min_shelf_life_days
    with pytest.raises(InputError, match="preflight.shelf_life: unknown key"):
        from_mapping({"preflight": {"shelf_life": 90}})
    with pytest.raises(InputError, match="whole number of days"):
        from_mapping({"preflight": {"min_shelf_life_days": -1}})


def test_listed_epcs_get_the_loaders_canonical_keys(tmp_path: Path) -> None:
    from traceability.load.identifiers import parse_epc
    from traceability.preflight.planned import _read_epc_list

    spellings = [
        "urn:epc:id:sgtin:8901234.000001.P1-0001",
        "https://id.gs1.org/01/08901234000014/21/A.b_c-9",
        "https://brand.example/01/8901234000014/21/X1",  # GTIN-13, another domain
        "https://id.gs1.org/01/08901234000014/10/L1/21/S%2F1",  # lot and an escape
        "urn:epc:id:sgtin:8901234.000001.S%2F2",
        "urn:epc:id:sscc:8901234.1000000001",
        "https://id.gs1.org/00/189012340000000011",  # the same case, as a Digital Link
        "urn:epc:id:sgtin:8901234.000001.P1-0001",  # scanned twice: once
    ]
    listed = tmp_path / "epcs.txt"
    listed.write_text("\n".join(spellings) + "\n", encoding="utf-8")
    expected = {}
    for raw in spellings:
        epc = parse_epc(raw)
        assert epc is not None
        expected.setdefault(epc.key, (epc.kind, epc.gtin))
    got = {e.key: (e.kind, e.gtin) for e in _read_epc_list(listed)}
    assert got == expected


@pytest.mark.parametrize("name", ["a\x00b.duckdb", "it's.duckdb"])
def test_a_store_path_is_written_as_sql_safely(tmp_path: Path, name: str) -> None:
    """A quote in the store's path is quoted; a NUL is refused with the store's error."""
    con = duckdb.connect()
    with pytest.raises(StoreError, match="cannot open database") as raised:
        attach(con, tmp_path / name)
    assert ("NUL" in str(raised.value)) == ("\x00" in name)
    assert "Parser Error" not in str(raised.value)
