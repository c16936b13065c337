"""The HTML report read in order, on its own and inert: no browser needed.

The summary and the findings come before the provenance; every rule the page names links
to its description inside the file, taken from the rule files' headers; no link leaves the
file; and no control, bidi or zero-width character from the data reaches the file raw,
in the page or in the embedded JSON. (The printed page itself is checked in a real browser
by ``test_html_browser.py``.)
"""

from __future__ import annotations

import dataclasses
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markupsafe import escape
from test_render import PINNED_AT, PINNED_VERSION, embedded_json, finding, hostile_report

from traceability.diff import diff, load_report, report_from_dict
from traceability.inert import inert
from traceability.model import Caveat, Evidence, InputFile, NotJudged, Report, RuleRun, Severity
from traceability.render import render, render_diff
from traceability.render.to_html import rule_notes
from traceability.rules import all_rules

GOLDEN = Path(__file__).parent / "golden"

#: The characters that must never reach the file raw: C0 but tab and newline, DEL, C1, the
#: bidi embeddings, overrides and isolates, the zero-width ones, word joiner and BOM.
UNSAFE = (
    [chr(c) for c in range(0x20) if chr(c) not in "\t\n"]
    + [chr(c) for c in range(0x7F, 0xA0)]
    + [chr(c) for c in range(0x202A, 0x202F)]
    + [chr(c) for c in range(0x2066, 0x206A)]
    + ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"]
)


@pytest.fixture(scope="module")
def sample() -> Report:
    return report_from_dict(load_report(GOLDEN / "sample-quarter.json"))


class Page(HTMLParser):
    """The ids, the link targets and the rule links of a page."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: list[str] = []
        self.hrefs: list[str] = []
        self.rule_links: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if named.get("id"):
            self.ids.append(str(named["id"]))
        if tag == "a":
            href = str(named.get("href"))
            self.hrefs.append(href)
            if "rule-link" in str(named.get("class")).split():
                self.rule_links.append(href)


def test_the_summary_and_the_findings_come_before_the_provenance(sample: Report) -> None:
    page = render(sample, "html")
    order = [
        page.index(f'id="{name}-heading"')
        for name in ("summary", "findings", "provenance", "rules")
    ]
    assert order == sorted(order)


def test_every_rule_named_links_to_its_description_in_the_file(sample: Report) -> None:
    page = Page(render(sample, "html"))
    assert len(page.ids) == len(set(page.ids))
    assert all(href.startswith("#") and href[1:] in page.ids for href in page.hrefs)
    named = {f.rule for f in sample.findings}
    assert set(page.rule_links) >= {f"#rule-{rule}" for rule in named}
    described = {i.removeprefix("rule-") for i in page.ids if i.startswith("rule-")}
    assert described == {r.rule for r in sample.rules_run}


def test_a_rule_description_is_its_header_with_the_reports_settings(sample: Report) -> None:
    catalogue = {r.id: r for r in all_rules()}
    overridden = dataclasses.replace(
        sample, parameters={**sample.parameters, "severity": {"over-export": "low"}}
    )
    page = render(overridden, "html")
    for run in sample.rules_run:
        rule = catalogue[run.rule]
        note = page[page.index(f'id="rule-{rule.id}"') :].split("</article>", 1)[0]
        for text in (rule.checks, rule.why, rule.tolerance):
            assert str(escape(text)) in note
    note = page[page.index('id="rule-over-export"') :].split("</article>", 1)[0]
    assert "sev-low" in note and "the rule's default is critical" in note
    assert "<code>tol_units</code> = 0" in note  # the value this report used
    assert "ran, 1 finding" in note


def test_rule_notes_follow_the_catalogue_and_keep_unknown_rules() -> None:
    notes = rule_notes(
        ["over-export", "no-such-rule", "batch-conflict", "over-export"],
        {"tolerances": {"tol_units": "2"}, "window_days": 30, "period": "2026-Q1"},
        [RuleRun("batch-conflict", "no-data", absent=("batches",))],
    )
    assert [n.id for n in notes] == ["batch-conflict", "over-export", "no-such-rule"]
    assert notes[0].run == "not run: no rows in batches"
    assert ("tol_units", "2") in notes[1].settings
    assert notes[1].severity == "critical" and notes[1].default is None
    assert notes[2].rule is None and notes[2].run == ""


def test_the_diff_page_describes_the_rules_of_its_findings(sample: Report) -> None:
    older = dataclasses.replace(sample, findings=sample.findings[1:])
    page = Page(render_diff(diff(older, sample), "html"))
    assert all(href.startswith("#") and href[1:] in page.ids for href in page.hrefs)
    described = {i.removeprefix("rule-") for i in page.ids if i.startswith("rule-")}
    assert described == {f.rule for f in sample.findings}


# --- inert -----------------------------------------------------------------------------------


def laced(text: str) -> str:
    """``text`` with every unsafe character in it."""
    return text + "".join(UNSAFE) + text


def laced_report() -> Report:
    """A report whose every kind of value carries every unsafe character."""
    bad = finding(
        "over-export",
        {"gtin": laced("0890"), "lot": laced("L24"), "party": laced("p")},
        Severity.CRITICAL,
        period=laced("2026-Q1"),
        unit=laced("KGM"),
        message=laced("message"),
        detail=laced("detail"),
        evidence=(
            Evidence(laced("batch"), laced("key"), laced("batches.csv:2"), 0, record=laced("{}")),
        ),
        caveats=(Caveat(laced("events.jsonl:4"), laced("code"), laced("reason")),),
    )
    return Report(
        tool_version=PINNED_VERSION,
        generated_at=PINNED_AT,
        inputs=(InputFile(laced("batches.csv"), "a" * 64, laced("batches"), 2, 1),),
        parameters={
            "period": laced("2026"),
            "tolerances": {laced("tol"): laced("0")},
            "severity": {laced("rule"): "low"},
        },
        rules_run=(
            RuleRun(
                "over-export",
                "ran",
                1,
                not_judged=(NotJudged(laced("why"), (laced("subject"),), 1),),
            ),
            RuleRun(laced("unknown"), "no-data", absent=(laced("events"),)),
        ),
        findings=(bad, *hostile_report().findings),
        rejected_records=1,
    )


def raw_unsafe(text: str) -> list[str]:
    return sorted({f"U+{ord(c):04X}" for c in text if c in UNSAFE})


@pytest.mark.parametrize("which", ["report", "diff"])
def test_no_unsafe_character_reaches_the_html_raw(which: str) -> None:
    report = laced_report()
    if which == "report":
        page = render(report, "html")
        data: object = report.to_dict()
    else:
        result = diff(dataclasses.replace(report, findings=()), report)
        page = render_diff(result, "html")
        data = result.to_dict()
    assert raw_unsafe(page) == []
    # the embedded JSON keeps the exact values, written as JSON escapes
    assert embedded_json(page) == json.loads(json.dumps(data))
    # and the page shows each value with its characters escaped visibly
    for value in ("L24", "message", "detail", "reason"):
        assert str(escape(inert(laced(value), keep="\t\n"))) in page
    assert "\\u202e" in page and "\\x1b" in page and "\\ufeff" in page


def test_tab_and_newline_stay_in_a_record() -> None:
    record = '{"a": 1,\n\t"b": 2}'
    report = dataclasses.replace(
        hostile_report(),
        findings=(
            finding(
                "over-export",
                {"lot": "L1"},
                Severity.HIGH,
                evidence=(Evidence("batch", "k", "b.csv:2", record=record),),
            ),
        ),
    )
    page = render(report, "html")
    assert re.search(r'<pre class="record"[^>]*>' + re.escape(str(escape(record))), page)


def test_a_preflights_verdict_heads_the_page() -> None:
    report = hostile_report()
    blocked = dataclasses.replace(
        report,
        parameters={
            **report.parameters,
            "verdict": "blocked",
            "shipment_ref": "AWB-9",
            "ship_date": "2026-03-16",
        },
    )
    page = render(blocked, "html")
    verdict = page.index('<p class="verdict verdict-blocked">Shipment AWB-9 leaving 2026-03-16:')
    assert "BLOCKED by 2 reasons" in page[verdict:] and verdict < page.index("summary-heading")
    assert 'class="verdict' not in render(report, "html")
