"""Evidence that points at one record: sources resolved to one input, records in the report.

The sample quarter is loaded from two folders holding files of the same names (a quarter's
``q1/consignments.csv`` and a late ``late-march/consignments.csv``, the same for batches and
events): every evidence source must name exactly one input, the record the report carries
must be the one at that line of that file, and the findings must be those of the quarter
loaded from one folder (a source is not part of a fingerprint).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

import traceability
from traceability.diff import diff
from traceability.kinds import load_schema
from traceability.load import load
from traceability.load.identifiers import normalise_uom
from traceability.model import Evidence, Finding, InputFile, Report, Severity
from traceability.records import (
    Limits,
    add_records,
    duckdb_query,
    event_texts,
    input_names,
    split_source,
)
from traceability.render import render
from traceability.rules import run_base
from traceability.sample import DEMO_PLANTS, generate_quarter
from traceability.store import connect

#: The files split between the two folders: the header (CSV) goes into both halves.
SPLIT = {"consignments.csv": True, "batches.csv": True, "events.jsonl": False}


def split_quarter(data: Path, root: Path) -> tuple[Path, Path]:
    """The quarter in ``data`` as two folders: ``q1`` (everything, the first half of each
    file of SPLIT) and ``late-march`` (the second half of those files, same names)."""
    first, late = root / "q1", root / "late-march"
    first.mkdir(parents=True)
    late.mkdir(parents=True)
    for path in sorted(data.iterdir()):
        if path.name not in SPLIT:
            shutil.copy(path, first / path.name)
            continue
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        head, body = (lines[:1], lines[1:]) if SPLIT[path.name] else ([], lines)
        middle = len(body) // 2
        (first / path.name).write_text("".join(head + body[:middle]), encoding="utf-8")
        (late / path.name).write_text("".join(head + body[middle:]), encoding="utf-8")
    return first, late


def build_two_folder_quarter(base: Path) -> Path:
    """The sample quarter loaded from two folders with files of the same names."""
    sample = generate_quarter(base / "data", seed=0, plant=DEMO_PLANTS)
    first, late = split_quarter(sample.folder, base / "quarter")
    db = base / "two-folders.duckdb"
    assert not load(db, [first, late]).rejections
    return db


@pytest.fixture(scope="module")
def quarter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_two_folder_quarter(tmp_path_factory.mktemp("two-folders"))


@pytest.fixture(scope="module")
def report(quarter: Path) -> Report:
    return traceability.reconcile(quarter)


def validate(data: dict[str, Any]) -> None:
    schema = load_schema("report")
    Draft202012Validator(schema, format_checker=FormatChecker()).validate(data)


def file_line(path: str, line: int) -> str:
    """Line ``line`` (from 1) of a file, as text."""
    return Path(path).read_text(encoding="utf-8").splitlines()[line - 1]


def evidence_items(data: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for f in data["findings"]:
        for e in f["evidence"]:
            yield f, e


# --- sources -----------------------------------------------------------------------------


def test_the_quarter_really_has_files_of_the_same_names(report: Report) -> None:
    names = [Path(i.path).name for i in report.inputs]
    assert names.count("consignments.csv") == names.count("events.jsonl") == 2
    assert len({i.path for i in report.inputs}) == len(report.inputs)


def test_every_evidence_source_resolves_to_exactly_one_input(report: Report) -> None:
    data = json.loads(render(report, "json"))
    validate(data)
    names = input_names(report.inputs)
    seen = 0
    for _f, e in evidence_items(data):
        parts = split_source(e["source"])
        assert parts is not None, e
        name, line = parts
        candidates = [i for i, x in enumerate(data["inputs"]) if x["path"] == name]
        assert candidates == [e["input"]] == [names[name]], e
        assert line >= 1
        seen += 1
    assert seen > 10
    inputs = {e["input"] for _f, e in evidence_items(data)}
    late = {i for i, x in enumerate(data["inputs"]) if "late-march" in x["path"]}
    assert inputs & late and inputs - late, "evidence from both folders"


def test_each_record_is_the_one_at_its_source(report: Report) -> None:
    data = json.loads(render(report, "json"))
    for _f, e in evidence_items(data):
        source = data["inputs"][e["input"]]
        _name, line = split_source(e["source"]) or ("", 0)
        record = json.loads(e["record"])
        assert "record_cut" not in e
        if source["path"].endswith(".csv"):
            header = file_line(source["path"], 1)
            row = next(csv.DictReader(io.StringIO(header + "\n" + file_line(source["path"], line))))
            for column, value in row.items():
                if column in ("quantity", "base_factor", "content_per_unit", "max_quantity"):
                    assert Decimal(record[column]) == Decimal(value), (e, column)
                elif column.endswith("uom"):  # stored as its UN/CEFACT code (EA: H87)
                    assert record[column] == normalise_uom(value), (e, column)
                elif value:
                    assert record[column] == value, (e, column)
                else:
                    assert column not in record, (e, column)
        elif source["path"].endswith(".jsonl"):
            received = json.loads(file_line(source["path"], line))
            assert record["event_id"] == received["eventID"] == e["key"]
            assert record["event_type"] == received["type"]
            listed = received.get("epcList") or received.get("childEPCs") or []
            assert sorted(record.get("epcList") or record.get("childEPCs") or []) == sorted(listed)
        else:  # a workbook: the record names its key
            assert e["key"] in e["record"]


def test_same_findings_as_the_quarter_loaded_from_one_folder(
    report: Report, tmp_path: Path
) -> None:
    sample = generate_quarter(tmp_path / "data", seed=0, plant=DEMO_PLANTS)
    load(tmp_path / "one.duckdb", [sample.folder])
    one = traceability.reconcile(tmp_path / "one.duckdb")
    assert [f.fingerprint for f in report.findings] == [f.fingerprint for f in one.findings]
    old = one.to_dict()  # an older report: base names, no input, no record
    for f in old["findings"]:
        f["evidence"] = [
            {"kind": e["kind"], "key": e["key"], "source": Path(e["source"]).name}
            for e in f["evidence"]
        ]
    old["parameters"].pop("records")
    result = diff(old, report)
    assert not result.new and not result.resolved and not result.changed
    assert len(result.unchanged) == len(report.findings)


def test_a_path_loaded_twice_names_its_load_by_its_sha256(tmp_path: Path) -> None:
    """A corrected file loaded again at the same path: two loads, one name each."""
    sample = generate_quarter(tmp_path / "data", seed=0, plant=DEMO_PLANTS)
    db = tmp_path / "twice.duckdb"
    load(db, [sample.folder])
    batches = sample.folder / "batches.csv"
    lines = batches.read_text(encoding="utf-8").splitlines(keepends=True)
    cells = lines[1].split(",")
    cells[4] = str(int(cells[4]) + 7)  # the quantity of the first lot, corrected
    lines[1] = ",".join(cells)
    batches.write_text("".join(lines), encoding="utf-8")
    load(db, [batches])
    report = traceability.reconcile(db, rules=["batch-conflict"])
    (finding,) = report.findings
    data = finding.to_dict()
    assert len(data["evidence"]) == 2  # the same line of the same path, in two loads
    paths = [report.inputs[e["input"]] for e in data["evidence"]]
    assert [p.path for p in paths] == [str(batches)] * 2
    assert paths[0].sha256 != paths[1].sha256
    for e, source in zip(data["evidence"], paths, strict=True):
        assert e["source"] == f"{batches}@{source.sha256[:12]}:2"
    quantities = sorted(int(json.loads(e["record"])["quantity"]) for e in data["evidence"])
    assert quantities[1] - quantities[0] == 7


def test_names_are_those_the_base_view_writes(quarter: Path, report: Report) -> None:
    con = connect(quarter, read_only=True)
    try:
        run_base(con)
        rows = con.execute("SELECT load_id, load_name FROM load_names").fetchall()
    finally:
        con.close()
    by_load = {i.load_id: index for index, i in enumerate(report.inputs)}
    assert {name: by_load[load_id] for load_id, name in rows} == input_names(report.inputs)


# --- bounds ------------------------------------------------------------------------------


def test_records_are_bounded_per_finding_and_in_length(quarter: Path, report: Report) -> None:
    limits = Limits(per_finding=1, max_chars=50)
    con = connect(quarter, read_only=True)
    try:
        small = add_records(report, duckdb_query(con), limits)
    finally:
        con.close()
    assert small.parameters["records"] == {"per_finding": 1, "max_chars": 50}
    validate(small.to_dict())
    for big, f in zip(report.findings, small.findings, strict=True):
        carried = [e for e in f.evidence if e.record is not None]
        assert len(carried) == 1
        assert f.records_left_out == len(f.evidence) - 1
        (e,) = carried
        full = next(b.record for b in big.evidence if b.source == e.source)
        assert full is not None and len(e.record or "") == min(50, len(full))
        assert e.record == full[:50] and e.record_cut == len(full) - len(e.record or "")
        assert f.fingerprint == big.fingerprint


def test_without_access_to_the_store_the_report_says_so(report: Report) -> None:
    bare = dataclasses.replace(
        report,
        findings=tuple(
            dataclasses.replace(
                f, evidence=tuple(Evidence(e.kind, e.key, e.source) for e in f.evidence)
            )
            for f in report.findings
        ),
    )
    resolved = add_records(bare, None)
    records = resolved.parameters["records"]
    assert records["per_finding"] == 0 and records["unavailable"]
    items = [e for f in resolved.findings for e in f.evidence]
    assert all(e.input is not None and e.record is None for e in items)
    validate(resolved.to_dict())


def test_an_unknown_or_ambiguous_name_resolves_to_no_input() -> None:
    inputs = (
        InputFile("a.csv", "1" * 64, "consignments", 1, 0, 1),
        InputFile("b.csv@111111111111", "2" * 64, "consignments", 1, 0, 2),
        InputFile("b.csv", "1" * 64, "consignments", 1, 0, 3),
        InputFile("b.csv", "1" * 64, "consignments", 1, 0, 4),
    )
    assert input_names(inputs) == {"a.csv": 0}
    f = Finding(
        "r:0",
        "r",
        Severity.HIGH,
        None,
        {},
        None,
        None,
        None,
        None,
        "m",
        evidence=(
            Evidence("consignment", "k", "b.csv@111111111111:2"),
            Evidence("consignment", "k", "nowhere.csv:2"),
            Evidence("consignment", "k", None),
        ),
    )
    report = Report("0", "2026-01-01T00:00:00Z", inputs, {}, (), (f,))
    (out,) = add_records(report, None).findings
    assert [e.input for e in out.evidence] == [None, None, None]


def test_an_event_kept_as_received_is_its_payload(tmp_path: Path) -> None:
    event = {
        "type": "ObjectEvent",
        "eventID": "urn:uuid:kept-1",
        "eventTime": "2026-02-01T14:00:00.250+05:30",
        "eventTimeZoneOffset": "+05:30",
        "action": "OBSERVE",
        "bizStep": "shipping",
        "epcList": ["urn:epc:id:sgtin:8901234.000001.S1"],
        "sensorElementList": [{"sensorReport": [{"type": "Temperature", "value": 4.5}]}],
    }
    plain = {**event, "eventID": "urn:uuid:plain-1"}
    plain.pop("sensorElementList")
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(event) + "\n" + json.dumps(plain) + "\n", encoding="utf-8")
    db = tmp_path / "e.duckdb"
    load(db, [path])
    con = connect(db, read_only=True)
    try:
        texts = event_texts(duckdb_query(con), [(1, 1), (1, 2)], 4000)
        (payload,) = con.execute("SELECT payload FROM event_payloads").fetchone() or ("",)
    finally:
        con.close()
    assert texts[(1, 1)].text == payload and "sensorElementList" in payload
    stored = json.loads(texts[(1, 2)].text)
    assert stored["event_id"] == "urn:uuid:plain-1"
    assert stored["event_time"] == "2026-02-01T08:30:00.250000Z"
    assert stored["biz_step"] == "shipping"
    assert stored["epcList"] == ["urn:epc:id:sgtin:8901234.000001.S1"]


def test_a_long_epc_list_is_fetched_only_as_far_as_it_is_shown(tmp_path: Path) -> None:
    epcs = [f"urn:epc:id:sgtin:8901234.000001.S{n:04d}" for n in range(300)]
    event = {
        "type": "ObjectEvent",
        "eventID": "urn:uuid:many",
        "eventTime": "2026-02-01T14:00:00+05:30",
        "eventTimeZoneOffset": "+05:30",
        "action": "OBSERVE",
        "bizStep": "shipping",
        "epcList": epcs,
    }
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(event) + "\n", encoding="utf-8")
    db = tmp_path / "e.duckdb"
    load(db, [path])
    con = connect(db, read_only=True)
    try:
        full = event_texts(duckdb_query(con), [(1, 1)], 100_000)[(1, 1)]
        short = event_texts(duckdb_query(con), [(1, 1)], 40)[(1, 1)]
    finally:
        con.close()
    assert json.loads(full.text)["epcList"] == sorted(epcs) and full.unfetched == 0
    assert len(json.loads(short.text)["epcList"]) == 40
    assert len(short.text) + short.unfetched == len(full.text)


def test_a_record_with_columns_the_schema_does_not_know_keeps_them(tmp_path: Path) -> None:
    from conftest import VALID, write_csv

    row = {**VALID["batches"], "Remarks": "<b>re-worked</b>"}
    path = tmp_path / "batches.csv"
    write_csv(path, [row])
    db = tmp_path / "b.duckdb"
    load(db, [path])
    con = connect(db, read_only=True)
    try:
        from traceability.records import declaration_texts

        (text,) = declaration_texts(duckdb_query(con), "batches", [(1, 2)]).values()
    finally:
        con.close()
    record = json.loads(text.text)
    assert record["lot"] == VALID["batches"]["lot"] and record["Remarks"] == "<b>re-worked</b>"
    assert "load_id" not in record and "source_file" not in record


# --- rendering ---------------------------------------------------------------------------


def test_the_html_report_carries_every_record_escaped(report: Report) -> None:
    page = render(report, "html")
    for f in report.findings:
        for e in f.evidence:
            assert e.record is not None
            escaped = e.record.replace("&", "&amp;").replace('"', "&#34;").replace("<", "&lt;")
            assert f'<pre class="record" title="the record as loaded">{escaped}</pre>' in page
            assert f'href="#input-{e.input}"' in page
    for index in range(len(report.inputs)):
        assert f'<tr id="input-{index}">' in page


def test_a_hostile_record_is_escaped_in_html() -> None:
    from test_render import hostile_report

    base = hostile_report()
    hostile = "</pre><script>alert(5)</script><img src=x onerror=alert(6)>"
    f = base.findings[1]
    e = dataclasses.replace(f.evidence[0], input=0, record=hostile, record_cut=3)
    report = dataclasses.replace(
        base,
        findings=(base.findings[0], dataclasses.replace(f, evidence=(e,), records_left_out=2)),
    )
    page = render(report, "html")
    assert "&lt;/pre&gt;&lt;script&gt;alert(5)&lt;/script&gt;&lt;img" in page
    assert "<script>alert(5)" not in page and "<img" not in page
    assert "3 more characters of this record" in page
    assert "The records of 2 more evidence rows are not included" in page
