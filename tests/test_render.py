"""Renderers: golden files, escaping of hostile values, byte stability, the JSON contract.

The golden files in ``tests/golden/`` are built from the sample quarter
(``generate_quarter(seed=0, plant=DEMO_PLANTS)``, loaded and reconciled), after pinning what
legitimately varies between runs: ``generated_at``, the tool version, the temporary folder
in input paths and evidence sources, and the SHA-256 of ``.xlsx`` inputs (openpyxl stamps
the save time into the file). To regenerate them after an intended change, run

    TRACECHECK_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_render.py tests/test_diff.py

and review the golden diffs like any other change. (An environment variable rather than a
``--update-golden`` option: pytest options can only be added in the rootdir conftest.)
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import io
import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from traceability.diff import diff, report_from_dict
from traceability.engine.findings import fingerprint
from traceability.inert import inert
from traceability.kinds import load_schema
from traceability.load import load
from traceability.model import Caveat, Evidence, Finding, InputFile, Report, RuleRun, Severity
from traceability.reconcile import reconcile
from traceability.render import DIFF_RENDERERS, RENDERERS, render, render_diff
from traceability.render.to_csv import FORMULA_START, render_csv
from traceability.render.to_html import script_json
from traceability.sample import DEMO_PLANTS, generate_quarter

GOLDEN = Path(__file__).parent / "golden"
PINNED_AT = "2026-04-01T08:00:00Z"
PINNED_VERSION = "0.0.0"
UNSTABLE_SHA256 = "0" * 64
FORMATS = ("json", "csv", "md", "html", "table")
GOLDEN_FORMATS = {"json": "json", "csv": "csv", "md": "md", "html": "html"}

HOSTILE = (
    "<script>alert(1)</script>",
    "=cmd|' /C calc'!A0",
    "+1",
    "-1",
    "@SUM(1)",
    "\tTAB",
    "\rCR",
    "a|b",
    "</script><script>alert(2)</script>",
    '<img src="x" onerror="alert(3)">',
    "**bold** [link](https://example.invalid/) `tick` # ~x~",
)
SUBJECT_KEYS = (
    "gtin",
    "lot",
    "shipment_ref",
    "declaration_id",
    "epc",
    "party",
    "country_from",
    "country_to",
    "substance_base",
    "authorisation_ref",
    "filing_id",
)


def check_golden(name: str, text: str) -> None:
    """Compare ``text`` with ``tests/golden/<name>`` byte for byte (or rewrite it)."""
    path = GOLDEN / name
    data = text.encode("utf-8")
    if os.environ.get("TRACECHECK_UPDATE_GOLDEN") == "1":
        path.write_bytes(data)
        return
    assert path.exists(), f"no golden file {name}; create it with TRACECHECK_UPDATE_GOLDEN=1"
    expected = path.read_bytes()
    if data != expected:
        lines = difflib.unified_diff(
            expected.decode("utf-8").splitlines(),
            text.splitlines(),
            f"golden/{name}",
            "rendered",
            lineterm="",
        )
        shown = "\n".join(list(lines)[:40])
        pytest.fail(
            f"{name} differs from its golden file (regenerate with TRACECHECK_UPDATE_GOLDEN=1 "
            f"if the change is intended):\n{shown}"
        )


def pinned(report: Report, folder: Path) -> Report:
    """The report with what varies between runs pinned (see the module docstring)."""
    inputs = tuple(
        dataclasses.replace(
            i,
            path=Path(i.path).relative_to(folder).as_posix(),
            sha256=UNSTABLE_SHA256 if i.path.endswith(".xlsx") else i.sha256,
        )
        for i in report.inputs
    )
    prefix = f"{folder}{os.sep}"
    findings = tuple(
        dataclasses.replace(
            f,
            evidence=tuple(
                dataclasses.replace(e, source=e.source.removeprefix(prefix)) if e.source else e
                for e in f.evidence
            ),
        )
        for f in report.findings
    )
    return dataclasses.replace(
        report,
        generated_at=PINNED_AT,
        tool_version=PINNED_VERSION,
        inputs=inputs,
        findings=findings,
    )


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    """The sample quarter with the demo's planted discrepancies, reconciled."""
    base = tmp_path_factory.mktemp("sample")
    sample = generate_quarter(base / "data", seed=0, plant=DEMO_PLANTS)
    db = base / "sample.duckdb"
    load(db, [sample.folder])
    return pinned(reconcile(db), sample.folder)


def finding(rule: str, subject: dict[str, str], severity: Severity, **fields: object) -> Finding:
    """A finding with a real fingerprint; other fields default to a plain quantity gap."""
    values: dict[str, object] = {
        "period": "2026-Q1",
        "expected": "100",
        "observed": "90",
        "difference": "-10",
        "unit": "H87",
        "message": f"{rule}: " + ", ".join(f"{k} {v}" for k, v in subject.items()) + ".",
        "detail": None,
        "evidence": (),
    }
    values.update(fields)
    return Finding(
        fingerprint=fingerprint(rule, subject),
        rule=rule,
        severity=severity,
        subject=subject,
        **values,  # type: ignore[arg-type]
    )


def hostile_report() -> Report:
    """A report whose subject, unit, message, detail, evidence and caveats hold hostile values."""
    subject = {k: HOSTILE[i % len(HOSTILE)] for i, k in enumerate(SUBJECT_KEYS)}
    bad = finding(
        "over-export",
        subject,
        Severity.CRITICAL,
        unit="@SUM(1)",
        message=" ".join(HOSTILE),
        detail=" ".join(reversed(HOSTILE)),
        evidence=tuple(Evidence(h, h, h) for h in HOSTILE),
        caveats=tuple(Caveat(h, h, h) for h in HOSTILE),
    )
    pair = finding(
        "mirror-quantity-gap",
        {"shipment_ref": "AWB-1", "country_from": "IN", "country_to": "US"},
        Severity.HIGH,
        evidence=(Evidence("consignment", "SB/1/1", "consignments.csv:2"),),
    )
    return Report(
        tool_version=PINNED_VERSION,
        generated_at=PINNED_AT,
        inputs=(InputFile("<script>alert(4)</script>.csv", "a" * 64, "consignments", 2, 0),),
        parameters={"period": None, "tolerances": {"tol_units": "0"}},
        rules_run=(RuleRun("over-export", "ran", 1), RuleRun("mirror-quantity-gap", "ran", 1)),
        findings=(bad, pair),
    )


def embedded_json(page: str) -> object:
    """The JSON embedded in an HTML page's ``#report-data`` element."""
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page)
    assert match, "no embedded JSON"
    return json.loads(match.group(1))


# --- registry ---------------------------------------------------------------------------


def test_every_format_is_registered_for_reports_and_diffs() -> None:
    assert set(FORMATS) <= set(RENDERERS)
    assert set(DIFF_RENDERERS) == set(RENDERERS)


# --- golden files -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(GOLDEN_FORMATS))
def test_sample_quarter_renders_as_its_golden_file(sample_report: Report, fmt: str) -> None:
    check_golden(f"sample-quarter.{GOLDEN_FORMATS[fmt]}", render(sample_report, fmt))


def test_sample_quarter_has_the_planted_findings(sample_report: Report) -> None:
    assert {f.rule for f in sample_report.findings} == set(DEMO_PLANTS)


def test_json_report_validates_against_the_schema(sample_report: Report) -> None:
    schema = Draft202012Validator(load_schema("report"), format_checker=FormatChecker())
    for report in (sample_report, hostile_report()):
        errors = sorted(schema.iter_errors(json.loads(render(report, "json"))), key=str)
        assert not errors, errors[0].message


# --- byte stability -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_report_gives_the_same_bytes(sample_report: Report, fmt: str) -> None:
    first = render(sample_report, fmt)
    again = render(report_from_dict(json.loads(render(sample_report, "json"))), fmt)
    assert first == again == render(sample_report, fmt)


# --- csv ------------------------------------------------------------------------------------


def test_csv_columns_follow_the_contract(sample_report: Report) -> None:
    rows = list(csv.reader(io.StringIO(render(sample_report, "csv"))))
    head = rows[0]
    assert head == [
        "fingerprint",
        "rule",
        "severity",
        "period",
        *SUBJECT_KEYS,  # every key, whatever the findings: the columns never change
        "expected",
        "observed",
        "difference",
        "unit",
        "message",
        "evidence",
        "caveats",
    ]
    assert len(rows) == 1 + len(sample_report.findings)


def test_csv_keeps_identifiers_as_text_and_quantities_as_numbers() -> None:
    f = finding(
        "mirror-quantity-gap",
        {"gtin": "08901234000014", "lot": "SEP1", "shipment_ref": "AWB-1"},
        Severity.HIGH,
        evidence=(
            Evidence("consignment", "SB/1/1", "consignments.csv:2"),
            Evidence("x", "y", None),
        ),
    )
    report = dataclasses.replace(hostile_report(), findings=(f,))
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    assert rows[0]["gtin"] == "'08901234000014"
    assert rows[0]["lot"] == "'SEP1"
    assert rows[0]["shipment_ref"] == "AWB-1"
    assert (rows[0]["expected"], rows[0]["difference"]) == ("100", "-10")
    assert rows[0]["evidence"] == "consignment SB/1/1 (consignments.csv:2); x y"


def test_csv_bom_is_optional() -> None:
    report = hostile_report()
    assert not render_csv(report).startswith("\ufeff")
    with_bom = render_csv(report, bom=True)
    assert with_bom.startswith("\ufeff") and with_bom[1:] == render_csv(report)
    assert with_bom.encode("utf-8").startswith(b"\xef\xbb\xbf")


# --- hostile values ---------------------------------------------------------------------------


def hostile_outputs(fmt: str) -> list[str]:
    report = hostile_report()
    quiet = dataclasses.replace(report, findings=report.findings[1:])
    return [render(report, fmt), render_diff(diff(quiet, report), fmt)]


def test_hostile_values_cannot_run_as_formulas_in_csv() -> None:
    for text in hostile_outputs("csv"):
        rows = list(csv.reader(io.StringIO(text, newline="")))
        head = rows[0]
        numeric = {i for i, name in enumerate(head) if name in ("expected", "observed")}
        numeric |= {i for i, name in enumerate(head) if name in ("difference",)}
        seen = set()
        for row in rows[1:]:
            for i, cell in enumerate(row):
                if i in numeric:
                    assert re.fullmatch(r"-?[0-9.]*", cell), cell
                    continue
                assert not cell.startswith(FORMULA_START), (head[i], cell)
                seen.add(cell[1:] if cell.startswith("'") else cell)
        # every value is there, control characters shown escaped (a tab as \t)
        assert {inert(h) for h in HOSTILE} <= seen


def test_hostile_values_stay_text_in_markdown() -> None:
    markdown_it = pytest.importorskip("markdown_it")
    parser = markdown_it.MarkdownIt("commonmark").enable("table")
    for text in hostile_outputs("md"):
        assert "\r" not in text and "\t" not in text
        assert not re.search(r"(?<!\\)[<>]", text), "unescaped < or >"
        html = parser.render(text)
        assert "<script" not in html and "<img" not in html and "<a " not in html
        assert "<strong>bold" not in html and "<code>" not in html
        for table in re.findall(r"<table>.*?</table>", html, re.S):
            head = len(re.findall(r"<th[ >]", table.split("</thead>")[0]))
            for row in re.findall(r"<tr>(.*?)</tr>", table.split("</thead>")[1], re.S):
                assert len(re.findall(r"<td[ >]", row)) == head  # no | split a cell
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


@pytest.mark.parametrize("which", ["report", "diff"])
def test_hostile_values_are_escaped_in_html(which: str) -> None:
    page = hostile_outputs("html")[0 if which == "report" else 1]
    tags = _Tags()
    tags.feed(page)
    names = [t for t, _ in tags.tags]
    assert names.count("script") == 2  # the embedded JSON and the page's own script
    assert "img" not in names
    assert not [a for _, attrs in tags.tags for a in attrs if a.startswith("on")]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("</script>") == 2
    report = hostile_report()
    if which == "report":
        assert embedded_json(page) == report.to_dict()
    else:
        quiet = dataclasses.replace(report, findings=report.findings[1:])
        assert embedded_json(page) == diff(quiet, report).to_dict()


def test_script_json_cannot_end_its_script_element() -> None:
    value = {"m": "</script><!-- <script>&\u2028"}
    text = str(script_json(value))
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == value


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_hostile_values_survive_the_other_formats(fmt: str) -> None:
    report, diffed = hostile_outputs(fmt)
    if fmt == "json":
        assert json.loads(report) == hostile_report().to_dict()
        assert json.loads(diffed)["new"] == [hostile_report().findings[0].to_dict()]
    else:
        for text in (report, diffed):
            assert "\x1b" not in text and "\r" not in text
            assert "<script>alert(1)</script>" in text


# --- html structure ---------------------------------------------------------------------------


def test_html_is_self_contained(sample_report: Report) -> None:
    page = render(sample_report, "html")
    tags = _Tags()
    tags.feed(page)
    for tag, attrs in tags.tags:
        assert tag not in ("link", "img", "iframe", "object", "embed"), tag
        assert "src" not in attrs and "srcset" not in attrs, tag
        href = attrs.get("href")
        assert href is None or href.startswith("#"), href
    csp = [a["content"] for t, a in tags.tags if a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in (csp[0] or "")


def test_html_charts_count_findings_by_rule_country_pair_and_period() -> None:
    page = render(hostile_report(), "html")
    assert "IN → US: 1 finding" in page
    assert "2026-Q1: 2 findings" in page
    assert "mirror-quantity-gap: 1 finding" in page
    clean = render(dataclasses.replace(hostile_report(), findings=()), "html")
    assert "No discrepancies found" in clean
