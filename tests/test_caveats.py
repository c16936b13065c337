"""Findings that know what their inputs lacked: caveats, coverage, and --ignore-caveated.

The quarter below is written as real files and loaded with the real loader. Its events hold
a commissioning event that cannot be read (its ``eventTime`` is "yesterday"), so the two
serials it commissioned look never commissioned when they are shipped; a shipping event
that cannot be read either, under a shipment a declaration names; a consignment line the
load rejects (bad GTIN) from a filer whose return is off; a shipment to a party no receiving
event is loaded from; a shipped quantity in a unit no rule knows. Its returns come from
India only, while a British party exports controlled products.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import GTIN_PACK, VALID, write_csv, write_jsonl
from jsonschema import Draft202012Validator, FormatChecker
from test_render import finding

import traceability
from traceability.caveats import Reject, attach, named_by
from traceability.cli import cli
from traceability.diff import diff, fails, report_from_dict
from traceability.engine.findings import fingerprint
from traceability.errors import ExitCode
from traceability.kinds import load_schema
from traceability.load import load
from traceability.model import Caveat, Report, Severity
from traceability.render import render
from traceability.render.to_table import render_table
from traceability.rules.settings import from_mapping

EXPORTER = "8901234000007"  # IN
IMPORTER = "0614141000005"  # US: no receiving event of it is loaded
RECEIVER = "4012345000009"  # DE: its receiving events are loaded
BRITISH = "5012345000008"  # GB: no returns from GB are loaded, and it files none
GTIN_BULK = "08901234000021"


def _sgtin(serial: str) -> str:
    return f"urn:epc:id:sgtin:8901234.000001.{serial}"


def _key(serial: str) -> str:
    return f"https://id.gs1.org/01/{GTIN_PACK}/21/{serial}"


def _event(eid: str, time: str, step: str, serials: list[str], **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventID": eid,
        "eventTime": time,
        "eventTimeZoneOffset": "+00:00",
        "action": "ADD" if step == "commissioning" else "OBSERVE",
        "bizStep": step,
        "epcList": [_sgtin(s) for s in serials],
    }
    event.update(extra)
    return event


def _to(gln_urn: str) -> dict[str, Any]:
    return {"destinationList": [{"type": "owning_party", "destination": gln_urn}]}


def _ref(ref: str, party: str = EXPORTER) -> dict[str, Any]:
    return {
        "bizTransactionList": [
            {"type": "bol", "bizTransaction": f"urn:epcglobal:cbv:bt:{party}:{ref}"}
        ]
    }


def quarter_events(*, stranger: bool = True) -> list[dict[str, Any]]:
    """The quarter's events; ``stranger``: also a serial nobody commissioned (S4)."""
    to_us = _to("urn:epc:id:pgln:0614141.00000")
    to_de = _to("urn:epc:id:sgln:4012345.00000.0")
    lot = {"ilmd": {"cbvmda:lotNumber": "L2401"}}
    events = [
        # line 1: unreadable, so S1 and S2 are never commissioned as far as the store knows
        _event("urn:uuid:c1", "yesterday", "commissioning", ["S1", "S2"], **lot),
        _event("urn:uuid:c2", "2026-01-05T10:00:00Z", "commissioning", ["S3", "S5"], **lot),
        _event(
            "urn:uuid:s1",
            "2026-01-10T10:00:00Z",
            "shipping",
            ["S1", "S2", "S3"],
            **_ref("BOL-1"),
            **to_us,
        ),
        _event(
            "urn:uuid:s2",
            "2026-01-12T10:00:00Z",
            "shipping",
            [],
            **_ref("BOL-2"),
            **to_de,
            quantityList=[
                {"epcClass": "urn:epc:class:lgtin:8901234.000002.L7", "quantity": 3, "uom": "dozen"}
            ],
        ),
        # line 5: unreadable too: the shipping of BOL-9, which a declaration names
        _event("urn:uuid:s9", "last week", "shipping", ["S5"], **_ref("BOL-9", BRITISH)),
        _event("urn:uuid:r5", "2026-01-14T10:00:00Z", "receiving", ["S3"], **to_de),
    ]
    if stranger:
        events += [
            _event("urn:uuid:s4", "2026-01-11T10:00:00Z", "shipping", ["S4"], **to_de),
            _event("urn:uuid:r4", "2026-01-15T10:00:00Z", "receiving", ["S4"], **to_de),
        ]
    return events


def write_quarter(folder: Path, *, stranger: bool = True) -> list[Path]:
    """The quarter's files (see the module docstring)."""
    line = VALID["consignments"]
    consignments = [
        {
            **line,
            "declaration_id": "SB-1",
            "shipment_ref": "BOL-1",
            "quantity": "3",
            "declared_date": "2026-01-10",
            "authorisation_ref": "",
        },
        {
            **line,
            "declaration_id": "UK-1",
            "declarant": BRITISH,
            "origin_country": "GB",
            "shipment_ref": "BOL-9",
            "quantity": "100",
            "declared_date": "2026-02-01",
            "authorisation_ref": "",
        },
        # line 4: rejected (bad GTIN): the exporter's second export, of 2 units
        {
            **line,
            "declaration_id": "SB-7",
            "shipment_ref": "BOL-7",
            "gtin": "0890123400001X",
            "quantity": "2",
            "declared_date": "2026-02-15",
            "authorisation_ref": "",
        },
    ]
    filings = [
        {
            **VALID["filings"],
            "filing_id": "RET-IN-1",
            "gtin": GTIN_PACK,
            "substance_base": "",
            "quantity": "5",
            "uom": "H87",
        },
    ]
    products = [
        VALID["products"],
        {
            **VALID["products"],
            "gtin": GTIN_BULK,
            "name": "Ephedrine HCl bulk",
            "substance": "ephedrine hydrochloride",
            "substance_base": "ephedrine",
            "content_per_unit": "1",
            "content_uom": "KGM",
            "trade_uom": "KGM",
        },
    ]
    return [
        write_csv(folder / "products.csv", products),
        write_csv(folder / "consignments.csv", consignments),
        write_csv(folder / "filings.csv", filings),
        write_jsonl(folder / "events.jsonl", quarter_events(stranger=stranger)),
    ]


def build_quarter(folder: Path, *, stranger: bool = True) -> Path:
    """The quarter loaded into a new store (its rejects are the three planted ones)."""
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "quarter.duckdb"
    result = load(db, write_quarter(folder, stranger=stranger))
    rejected = sorted((Path(r.source).name, r.line) for r in result.rejections)
    assert rejected == [("consignments.csv", 4), ("events.jsonl", 1), ("events.jsonl", 5)], [
        str(r) for r in result.rejections
    ]
    return db


@pytest.fixture(scope="module")
def quarter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_quarter(tmp_path_factory.mktemp("quarter"))


@pytest.fixture(scope="module")
def report(quarter: Path) -> Report:
    return traceability.reconcile(quarter)


def _by(report: Report, rule: str) -> dict[str, Any]:
    return {
        json.dumps(dict(f.subject), sort_keys=True): f for f in report.findings if f.rule == rule
    }


def _run(report: Report, rule: str) -> dict[str, Any]:
    (run,) = [r.to_dict() for r in report.rules_run if r.rule == rule]
    return run


def validate(data: object) -> None:
    schema = Draft202012Validator(load_schema("report"), format_checker=FormatChecker())
    errors = sorted(schema.iter_errors(data), key=str)
    assert not errors, errors[0].message


# --- caveats --------------------------------------------------------------------------------


COMMISSIONING = Caveat(
    "events.jsonl:1",
    "bad-event-time",
    "eventTime: missing, or not a date-time with an offset (2026-03-31T23:30:00-05:00)",
)


def test_serials_of_an_unreadable_commissioning_event_carry_a_caveat_naming_it(
    report: Report,
) -> None:
    found = {f.subject["epc"]: f for f in report.findings if f.rule == "serial-not-commissioned"}
    assert set(found) == {_key("S1"), _key("S2"), _key("S4")}
    for serial in ("S1", "S2"):
        (caveat,) = found[_key(serial)].caveats
        assert caveat.source == "events.jsonl:1" and caveat.code == "bad-event-time"
        assert "eventTime" in caveat.reason
    assert found[_key("S4")].caveats == ()  # nobody's rejected record names S4


def test_the_summary_counts_caveated_findings_and_every_rejected_record(report: Report) -> None:
    data = report.to_dict()
    validate(data)
    caveated = [f for f in data["findings"] if "caveats" in f]
    assert data["summary"]["caveated"] == len(caveated) == report.caveated() >= 2
    assert data["summary"]["rejected_records"] == 3
    assert all(
        "caveats" not in f for f in data["findings"] if f["subject"].get("epc") == _key("S4")
    )


def test_a_shipment_named_by_an_unreadable_shipping_event_carries_its_caveat(
    report: Report,
) -> None:
    pending = _by(report, "export-without-import")
    bol9 = pending[json.dumps({"shipment_ref": "BOL-9"})]
    assert [(c.source, c.code) for c in bol9.caveats] == [("events.jsonl:5", "bad-event-time")]
    assert pending[json.dumps({"shipment_ref": "BOL-1"})].caveats == ()


def test_a_lot_named_by_an_unreadable_commissioning_event_carries_its_caveat(
    report: Report,
) -> None:
    counts = _by(report, "serial-count-mismatch")
    lot = counts[json.dumps({"gtin": GTIN_PACK, "lot": "L2401", "shipment_ref": "BOL-1"})]
    assert [c.source for c in lot.caveats] == ["events.jsonl:1"]


def test_a_party_whose_rejected_record_falls_in_the_findings_period_carries_it(
    report: Report,
) -> None:
    (gap,) = [f for f in report.findings if f.rule == "filing-mismatch"]
    assert gap.subject["party"] == EXPORTER and gap.period == "2026-Q1"
    assert (gap.observed, gap.expected) == ("5", "3")
    assert [(c.source, c.code) for c in gap.caveats] == [("consignments.csv:4", "bad-gtin")]


def test_every_format_marks_the_caveated_findings_and_names_the_record(report: Report) -> None:
    json_text = render(report, "json")
    assert json.loads(json_text) == report.to_dict()
    # table: the mark after the rule and a line per caveat under the detail
    table = render_table(report, width=400)  # wide: no caveat line is wrapped
    marked = [line for line in table.splitlines() if "serial-not-commissioned ⚠" in line]
    assert len(marked) == 2
    # S1, S2 and their lot's count under BOL-1
    assert table.count("⚠ events.jsonl:1 (bad-event-time): eventTime") == 3
    assert "with caveats (⚠)" in table.rstrip().splitlines()[-1]
    # csv: a caveats column, filled for the caveated findings only
    rows = list(csv.DictReader(io.StringIO(render(report, "csv"))))
    by_epc = {r["epc"]: r for r in rows if r["rule"] == "serial-not-commissioned"}
    assert by_epc[_key("S1")]["caveats"].startswith("events.jsonl:1 (bad-event-time): ")
    assert by_epc[_key("S4")]["caveats"] == ""
    # markdown: the mark in the table, the caveat after the evidence
    md = render(report, "md")
    assert md.count("serial-not-commissioned ⚠") == 2
    assert md.count("⚠ caveat: events.jsonl:1 (bad-event-time): ") == 3
    # html: the mark on the rule, the caveat in the evidence, escaped as any value
    page = render(report, "html")
    assert page.count('<span class="caveat-mark"') == report.caveated()
    assert page.count('<span class="source">events.jsonl:1</span> <code>bad-event-time</code>') == 3


def test_a_report_read_back_from_json_renders_the_same(report: Report) -> None:
    again = report_from_dict(json.loads(render(report, "json")))
    assert again.to_dict() == report.to_dict()
    for fmt in ("json", "table", "csv", "md", "html"):
        assert render(again, fmt) == render(report, fmt)


def test_caveats_are_not_part_of_the_fingerprint_and_do_not_make_a_change() -> None:
    plain = finding("serial-not-commissioned", {"epc": _key("S1")}, Severity.CRITICAL)
    marked = dataclasses.replace(plain, caveats=(COMMISSIONING,))
    assert marked.fingerprint == plain.fingerprint == fingerprint(plain.rule, plain.subject)
    result = diff(Report("0", "x", (), {}, (), (plain,)), Report("0", "y", (), {}, (), (marked,)))
    assert result.changed == () and result.unchanged == (marked,)
    new = diff(Report("0", "x", (), {}, (), ()), Report("0", "y", (), {}, (), (marked,)))
    assert fails(new, Severity.HIGH) and not fails(new, Severity.HIGH, caveated=False)


# --- the flag -------------------------------------------------------------------------------


def test_ignore_caveated_leaves_caveated_findings_out_of_fail_on(tmp_path: Path) -> None:
    db = build_quarter(tmp_path / "q", stranger=False)
    args = ["reconcile", "--db", str(db), "--rule", "serial-not-commissioned", "--format", "json"]
    runner = CliRunner()
    counted = runner.invoke(cli, [*args, "--fail-on", "critical"])
    assert counted.exit_code == ExitCode.FINDINGS, counted.output
    report = json.loads(counted.output)
    assert report["summary"] == {
        "findings": 2,
        "by_severity": {"critical": 2},
        "caveated": 2,
        "rejected_records": 3,
    }
    explicit = runner.invoke(cli, [*args, "--fail-on", "critical", "--count-caveated"])
    assert explicit.exit_code == ExitCode.FINDINGS
    ignored = runner.invoke(cli, [*args, "--fail-on", "critical", "--ignore-caveated"])
    assert ignored.exit_code == ExitCode.OK, ignored.output
    assert json.loads(ignored.output)["findings"] == report["findings"]  # still reported


def test_ignore_caveated_still_fails_on_a_finding_without_caveats(quarter: Path) -> None:
    args = ["reconcile", "--db", str(quarter), "--rule", "serial-not-commissioned"]
    result = CliRunner().invoke(cli, [*args, "--fail-on", "critical", "--ignore-caveated"])
    assert result.exit_code == ExitCode.FINDINGS  # S4: nobody's rejected record names it


def test_diff_ignore_caveated(tmp_path: Path, report: Report) -> None:
    empty = tmp_path / "old.json"
    data = report.to_dict()
    data["findings"] = [f for f in data["findings"] if f["rule"] != "serial-not-commissioned"]
    data["summary"]["findings"] = len(data["findings"])
    empty.write_text(json.dumps(data), encoding="utf-8")
    new = tmp_path / "new.json"
    new.write_text(render(report, "json"), encoding="utf-8")
    runner = CliRunner()
    args = ["diff", str(empty), str(new), "--format", "json", "--fail-on", "critical"]
    assert runner.invoke(cli, args).exit_code == ExitCode.FINDINGS
    # S4 is new, critical and has no caveat: it fails either way
    assert runner.invoke(cli, [*args, "--ignore-caveated"]).exit_code == ExitCode.FINDINGS
    data["findings"] += [
        f for f in report.to_dict()["findings"] if f["subject"].get("epc") == _key("S4")
    ]
    empty.write_text(json.dumps(data), encoding="utf-8")
    assert runner.invoke(cli, args).exit_code == ExitCode.FINDINGS
    assert runner.invoke(cli, [*args, "--ignore-caveated"]).exit_code == ExitCode.OK


# --- coverage -------------------------------------------------------------------------------


def test_missing_filing_reports_a_party_whose_country_sent_no_returns(report: Report) -> None:
    run = _run(report, "missing-filing")
    assert run == {"rule": "missing-filing", "status": "ran", "findings": 1}
    (found,) = [f for f in report.findings if f.rule == "missing-filing"]
    assert dict(found.subject) == {"party": BRITISH} and found.period == "2026-Q1"


def test_missing_filing_names_the_parties_of_a_country_whose_returns_are_not_collected(
    quarter: Path,
) -> None:
    only_india = from_mapping({"missing_filing": {"countries": ["IN"]}})
    report = traceability.reconcile(quarter, rules=["missing-filing"], config=only_india)
    run = _run(report, "missing-filing")
    assert run["findings"] == 0
    reason = "parties in GB not judged: GB is not among the countries whose returns are collected"
    assert run["not_judged"] == [{"reason": reason, "count": 1, "subjects": [BRITISH]}]
    table = render(report, "table")
    assert "parties in GB not judged" in table and BRITISH in table
    md = render(report, "md")
    assert "## Not judged" in md and "| missing-filing | parties in GB not judged" in md
    page = render(report, "html")
    assert "Not judged" in page and "parties in GB not judged" in page


def test_coverage_keeps_to_the_period_asked_for(quarter: Path) -> None:
    q2 = traceability.reconcile(quarter, period="2026-Q2", rules=["missing-filing"])
    assert _run(q2, "missing-filing") == {"rule": "missing-filing", "status": "ran", "findings": 0}


def test_shipped_not_received_names_destinations_without_receiving_events(
    report: Report,
) -> None:
    run = _run(report, "shipped-not-received")
    reasons = {n["reason"]: n for n in run["not_judged"]}
    no_receipts = reasons[
        "no receiving events loaded from these destinations: shipments to them not judged"
    ]
    assert no_receipts["subjects"] == [IMPORTER] and no_receipts["count"] == 1
    assert RECEIVER not in json.dumps(run)  # its receiving events are loaded: judged


def test_a_quantity_in_an_unknown_unit_is_left_out_and_said_so(report: Report) -> None:
    run = _run(report, "expired-shipped")
    assert run["not_judged"] == [
        {
            "reason": 'shipped quantities in unit "dozen" (not a known UN/ECE Rec 20 unit) '
            "left out of the totals shipped",
            "count": 1,
            "subjects": ["urn:uuid:s2"],
        }
    ]


def test_a_rule_without_data_names_the_inputs_it_lacked(report: Report) -> None:
    assert _run(report, "over-export") == {
        "rule": "over-export",
        "status": "no-data",
        "absent": ["batches"],
    }
    assert "not run: no rows in batches" in render(report, "table")


# --- what a rejected record names -----------------------------------------------------------


def _reject(
    raw: str | None, *, kind: str = "events", field: str | None = None, line: int = 7
) -> Reject:
    return Reject(1, "/data/in/events.jsonl", line, field, "bad-x", "it is bad", raw, kind)


def test_refs_lots_and_serials_are_read_from_an_event() -> None:
    event = _event(
        "urn:uuid:e",
        "2026-02-03T00:00:00Z",
        "commissioning",
        ["S1"],
        ilmd={"cbvmda:lotNumber": "L9"},
        **_ref("AWB-5"),
        quantityList=[{"epcClass": "https://id.gs1.org/01/08901234000021/10/B2", "quantity": 1}],
    )
    named = named_by(json.dumps(event), "events")
    assert named.epcs == {_key("S1")}
    assert named.lots == {(GTIN_PACK, "L9"), (GTIN_BULK, "B2")}
    assert named.keyed == {"shipment_ref": {"AWB-5"}}
    partial = named_by(json.dumps(event), "events", partial=True)
    assert partial.epcs == set() and partial.keyed == named.keyed and partial.lots == named.lots


def test_text_that_is_not_json_or_was_cut_short_is_searched() -> None:
    text = json.dumps(
        _event("urn:uuid:e", "2026-02-03T00:00:00Z", "shipping", ["S7"], **_ref("BOL-3"))
    )[:-3]  # cut short: the closing brackets are missing
    named = named_by(text, "events")
    assert named.epcs == {_key("S7")} and named.keyed == {"shipment_ref": {"BOL-3"}}
    assert named_by("not json at all", "events").empty()
    assert named_by(None, "events").empty()
    deep = "[" * 1000 + '"' + _sgtin("S8") + '"' + "]" * 1000  # 2008 characters
    assert named_by(deep, "events").epcs == {_key("S8")}
    nested = {
        "type": "ObjectEvent",
        "x": json.loads("[" * 200 + '"' + _sgtin("S9") + '"' + "]" * 200),
    }
    assert named_by(json.dumps(nested), "events").epcs == {_key("S9")}
    odd = {"eventTime": 5, "bizTransactionList": 7, "ilmd": [], "epcList": {"a": _sgtin("S6")}}
    assert named_by(json.dumps(odd), "events").epcs == {_key("S6")}
    assert named_by("[1, 2]", "consignments").empty() and named_by('"x"', None).empty()


def test_a_table_row_names_its_keys_its_lot_and_its_parties_in_its_period() -> None:
    row = {**VALID["consignments"], " Shipment_Ref ": "BOL-4", "gtin": "8901234000014"}
    named = named_by(json.dumps(row), "consignments")
    assert named.keyed["shipment_ref"] == {"BOL-4"}
    assert named.keyed["declaration_id"] == {"SB-88123"}
    assert (GTIN_PACK, "L2401") in named.lots
    assert named.parties == {EXPORTER, IMPORTER}
    q1 = finding("stock-imbalance", {"party": EXPORTER, "substance_base": "x"}, Severity.HIGH)
    q2 = dataclasses.replace(q1, period="2026-Q2")
    out, records = attach([q1, q2], [_reject(json.dumps(row), kind="consignments", line=3)])
    assert [len(f.caveats) for f in out] == [1, 0] and records == 1
    assert out[0].caveats[0].source == "events.jsonl:3"


def test_a_record_counts_once_however_many_of_its_fields_were_rejected() -> None:
    row = json.dumps({"declaration_id": "SB-1"})
    rejects = [_reject(row, kind="consignments", field=f) for f in ("gtin", "quantity")]
    rejects.append(_reject(None, kind="consignments", line=9))
    gap = finding("mirror-quantity-gap", {"declaration_id": "SB-1"}, Severity.HIGH)
    out, records = attach([gap], rejects)
    assert records == 2
    assert [c.reason for c in out[0].caveats] == ["gtin: it is bad", "quantity: it is bad"]


def test_filing_mismatch_leaves_out_a_destroyed_quantity_in_an_unknown_unit(
    tmp_path: Path,
) -> None:
    products = [
        {
            **VALID["products"],
            "gtin": GTIN_BULK,
            "name": "Ephedrine HCl bulk",
            "substance": "ephedrine hydrochloride",
            "substance_base": "ephedrine",
            "content_per_unit": "1",
            "content_uom": "KGM",
            "trade_uom": "KGM",
        },
    ]
    filings = [
        {
            **VALID["filings"],
            "filing_id": "RET-IN-9",
            "flow": "destruction",
            "substance_base": "ephedrine",
            "counterparty_country": "",
            "quantity": "1.6384",
            "uom": "KGM",
        },
    ]
    bulk = "urn:epc:class:lgtin:8901234.000002.B1"
    destroyed = _event(
        "urn:uuid:d1",
        "2026-02-20T10:00:00Z",
        "destroying",
        [],
        sourceList=[{"type": "owning_party", "source": "urn:epc:id:pgln:8901234.00000"}],
        quantityList=[
            {"epcClass": bulk, "quantity": 2, "uom": "KGM"},
            {"epcClass": bulk, "quantity": 3, "uom": "dozen"},
        ],
    )
    files = [
        write_csv(tmp_path / "products.csv", products),
        write_csv(tmp_path / "filings.csv", filings),
        write_jsonl(tmp_path / "events.jsonl", [destroyed]),
    ]
    db = tmp_path / "d.duckdb"
    assert not load(db, files).rejections
    report = traceability.reconcile(db, rules=["filing-mismatch"])
    assert report.findings == ()  # 2 kg of salt, 1.6384 kg of base: as filed
    assert _run(report, "filing-mismatch")["not_judged"] == [
        {
            "reason": 'destroyed quantities in unit "dozen" (not a known UN/ECE Rec 20 unit) '
            "left out of the destruction totals",
            "count": 1,
            "subjects": ["urn:uuid:d1"],
        }
    ]
