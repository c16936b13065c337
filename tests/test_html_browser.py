"""The HTML report in a real headless Chromium, driven over the DevTools protocol.

The browser is started with ``--remote-debugging-pipe``: it reads DevTools commands from
file descriptor 3 and writes replies and events to descriptor 4, each message a JSON object
followed by a NUL byte. That needs no extra Python package. The tests check that the page
renders without console errors or exceptions, that nothing is fetched, that the findings
table has one row per finding, that sorting and filtering work and that every evidence row
shows its record, by running JavaScript in the page and reading the DOM back.

A printed report is checked twice: laid out for paper in the page (print media at the
width of an A4 page's text), where no table, cell or record may run past the edge or
scroll and every finding's evidence must show; and printed to PDF by Chromium itself, whose
text must hold every column heading and each finding's detail (read with ``pypdf``; that
test is skipped without it).

Skipped when Chromium is missing; on Debian: ``apt-get install -y chromium``.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import queue
import re
import shutil
import subprocess
import threading
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_render import finding, hostile_report

from traceability.diff import diff, load_report, report_from_dict
from traceability.model import Evidence, Report, Severity
from traceability.render import render, render_diff

GOLDEN = Path(__file__).parent / "golden"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TIMEOUT = 20.0

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="needs Chromium: apt-get install -y chromium (Debian package 'chromium')",
)


class Browser:
    """A headless Chromium and one page in it, spoken to over the DevTools pipe."""

    def __init__(self, binary: str, profile: Path) -> None:
        to_browser_r, self._out = os.pipe()
        self._in, from_browser_w = os.pipe()

        def wire_fds() -> None:  # runs in the child: the pipe ends become fds 3 and 4
            read = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            write = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(read, 3)
            os.dup2(write, 4)

        self.process = subprocess.Popen(
            [
                binary,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-default-apps",
                "--disable-extensions",
                "--no-first-run",
                "--no-default-browser-check",
                "--remote-debugging-pipe",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,  # our fds are non-inheritable; only 3 and 4 pass to the child
            preexec_fn=wire_fds,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        attached = self.call("Target.attachToTarget", targetId=target, flatten=True)
        self.session: str | None = attached["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            self.call(f"{domain}.enable")

    def _read(self) -> None:
        buffer = b""
        while chunk := os.read(self._in, 65536):
            buffer += chunk
            while b"\0" in buffer:
                message, buffer = buffer.split(b"\0", 1)
                self._messages.put(json.loads(message))

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and wait for its reply; events meanwhile are kept."""
        self._next_id += 1
        command: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if getattr(self, "session", None):
            command["sessionId"] = self.session
        os.write(self._out, json.dumps(command).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            message = self._messages.get(timeout=max(0.1, deadline - time.monotonic()))
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self.events.append(message)

    def wait_for(self, method: str) -> dict[str, Any]:
        """The next event called ``method``."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            message = self._messages.get(timeout=max(0.1, deadline - time.monotonic()))
            self.events.append(message)
            if message.get("method") == method:
                return message

    def open(self, path: Path) -> None:
        """Load a file and wait for its load event; the events list starts afresh."""
        self.events.clear()
        self.call("Page.navigate", url=path.as_uri())
        self.wait_for("Page.loadEventFired")

    def js(self, expression: str) -> Any:
        """Evaluate JavaScript in the page and return its JSON value."""
        reply = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in reply:
            raise AssertionError(f"page error: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def problems(self, page: Path) -> list[str]:
        """Console errors and warnings, exceptions, dialogs, and requests other than ``page``."""
        self.js("0")  # flush: events sent before this reply are in self.events
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "warning"):
                found.append(f"console {params['type']}: {params['args']}")
            elif method == "Runtime.exceptionThrown":
                found.append(f"exception: {params['exceptionDetails']}")
            elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
                found.append(f"log: {params['entry']['text']}")
            elif method == "Page.javascriptDialogOpening":
                found.append(f"dialog: {params['message']}")
            elif method == "Network.requestWillBeSent":
                url = params["request"]["url"]
                if url != page.as_uri():
                    found.append(f"request: {url}")
        return found

    def close(self) -> None:
        try:
            self.session = None
            self.call("Browser.close")
        except (RuntimeError, queue.Empty, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._out)
        os.close(self._in)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    assert CHROMIUM is not None
    chromium = Browser(CHROMIUM, tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture(scope="module")
def sample() -> Report:
    """The sample quarter's report, read back from its golden JSON file."""
    return report_from_dict(load_report(GOLDEN / "sample-quarter.json"))


def write_page(tmp_path: Path, name: str, html: str) -> Path:
    path = tmp_path / name
    path.write_text(html, encoding="utf-8")
    return path


ROWS = "Array.from(document.querySelectorAll('#findings tbody tr'))"
VISIBLE = f"{ROWS}.filter(r => !r.hidden).length"


def column(index: int) -> str:
    cell = f"r.cells[{index}]"
    return f"{ROWS}.map(r => {cell}.getAttribute('data-sort') ?? {cell}.textContent.trim())"


def test_report_page_renders_cleanly_with_one_row_per_finding(
    browser: Browser, sample: Report, tmp_path: Path
) -> None:
    page = write_page(tmp_path, "report.html", render(sample, "html"))
    browser.open(page)
    assert browser.js(f"{ROWS}.length") == len(sample.findings) > 0
    assert browser.js("JSON.parse(document.getElementById('report-data').textContent)") == (
        sample.to_dict()
    )
    assert browser.js("document.querySelectorAll('svg rect').length") > 0
    assert browser.problems(page) == []


def test_clicking_a_header_sorts_the_findings(
    browser: Browser, sample: Report, tmp_path: Path
) -> None:
    page = write_page(tmp_path, "sort.html", render(sample, "html"))
    browser.open(page)
    click = "document.querySelectorAll('#findings thead th')[{}].querySelector('button').click()"
    browser.js(click.format(6))  # difference: ascending, blanks last
    values = browser.js(column(6))
    numbers = [float(v) for v in values if v != ""]
    assert numbers == sorted(numbers) and values[: len(numbers)] == [v for v in values if v]
    assert browser.js("document.querySelectorAll('#findings thead th')[6].ariaSort") == (
        "ascending"
    )
    browser.js(click.format(6))  # again: descending, blanks still last
    again = [float(v) for v in browser.js(column(6)) if v != ""]
    assert again == sorted(numbers, reverse=True)
    browser.js(click.format(1))  # rule, as text
    rules = browser.js(column(1))
    assert rules == sorted(f.rule for f in sample.findings)
    browser.js(click.format(0))  # severity: most severe first
    assert browser.js(column(0)) == sorted(str(f.severity.rank) for f in sample.findings)
    assert browser.problems(page) == []


def set_filter(browser: Browser, text: str | None = None, severity: str | None = None) -> None:
    """Type into the filter box and/or pick a severity, as a user would."""
    browser.js(
        "((text, severity) => {"
        " const form = document.querySelector('form.filters');"
        " if (text !== null) { const box = form.querySelector('input[name=q]');"
        "   box.value = text; box.dispatchEvent(new Event('input')); }"
        " if (severity !== null) { const pick = form.querySelector('select');"
        "   pick.value = severity; pick.dispatchEvent(new Event('change')); }"
        f"}})({json.dumps(text)}, {json.dumps(severity)})"
    )


def test_text_and_severity_filters_hide_rows(
    browser: Browser, sample: Report, tmp_path: Path
) -> None:
    page = write_page(tmp_path, "filter.html", render(sample, "html"))
    browser.open(page)
    total = len(sample.findings)
    lot = next(f.subject["lot"] for f in sample.findings if "lot" in f.subject)
    mentions = sum(1 for f in sample.findings if lot.lower() in json.dumps(f.to_dict()).lower())
    set_filter(browser, text=lot.lower())
    assert browser.js(VISIBLE) == mentions >= 1
    assert browser.js("document.querySelector('form.filters output').textContent") == (
        f"{mentions} of {total} findings shown"
    )
    set_filter(browser, text="")
    assert browser.js(VISIBLE) == total
    set_filter(browser, severity="high")
    assert browser.js(VISIBLE) == sum(1 for f in sample.findings if f.severity.value == "high")
    set_filter(browser, text="no such thing at all")
    assert browser.js(VISIBLE) == 0
    assert browser.js("document.querySelector('p.no-match').hidden") is False
    assert browser.problems(page) == []


def test_hostile_values_neither_run_nor_fetch(browser: Browser, tmp_path: Path) -> None:
    report = hostile_report()
    page = write_page(tmp_path, "hostile.html", render(report, "html"))
    browser.open(page)
    assert browser.js(f"{ROWS}.length") == len(report.findings)
    assert browser.js("document.querySelectorAll('script').length") == 2
    assert browser.js("document.querySelectorAll('img, iframe').length") == 0
    text = browser.js("document.querySelector('#findings tbody').textContent")
    assert "<script>alert(1)</script>" in text
    assert browser.problems(page) == []  # no dialog opened, nothing fetched


def test_diff_page_renders_cleanly(browser: Browser, sample: Report, tmp_path: Path) -> None:
    older = dataclasses.replace(sample, findings=sample.findings[1:] + hostile_report().findings)
    result = diff(older, sample)
    page = write_page(tmp_path, "diff.html", render_diff(result, "html"))
    browser.open(page)
    total = len(result.new) + len(result.resolved) + len(result.changed) + len(result.unchanged)
    assert browser.js("document.querySelectorAll('table.findings tbody tr').length") == total
    set_filter(browser, severity="critical")
    shown = browser.js(
        "Array.from(document.querySelectorAll('table.findings tbody tr'))"
        ".filter(r => !r.hidden).length"
    )
    everything = [*result.new, *result.resolved, *(c.new for c in result.changed)]
    everything += result.unchanged
    assert shown == sum(1 for f in everything if f.severity.value == "critical")
    assert browser.problems(page) == []


def test_every_evidence_row_shows_its_record(browser: Browser, tmp_path: Path) -> None:
    """The quarter loaded from two folders with files of the same names: each evidence row
    shows the record it names, and its source leads to the one input file it comes from."""
    from test_evidence_records import build_two_folder_quarter

    import traceability

    report = traceability.reconcile(build_two_folder_quarter(tmp_path / "quarter"))
    page = write_page(tmp_path, "records.html", render(report, "html"))
    browser.open(page)
    shown = browser.js(
        "(() => {"
        " document.querySelectorAll('#findings details').forEach(d => { d.open = true; });"
        f" return {ROWS}.map(r => Array.from(r.querySelectorAll('.evidence li')).map(li => {{"
        "   const pre = li.querySelector('pre.record');"
        "   const link = li.querySelector('a.source');"
        "   const row = link && document.getElementById(link.getAttribute('href').slice(1));"
        "   return {source: link ? link.textContent : null,"
        "           record: pre ? pre.textContent : null,"
        "           visible: !!pre && pre.offsetHeight > 0 && pre.getClientRects().length > 0,"
        "           input: row ? row.querySelector('td.path').textContent : null};"
        " }));"
        "})()"
    )
    expected = [
        [
            {
                "source": e.source,
                "record": e.record,
                "visible": True,
                "input": report.inputs[e.input].path if e.input is not None else None,
            }
            for e in f.evidence
        ]
        for f in report.findings
    ]
    assert sum(len(rows) for rows in expected) > 10
    assert all(e["record"] and e["input"] for rows in expected for e in rows)
    assert shown == expected
    assert len({e["input"] for rows in expected for e in rows}) > len(
        {Path(str(e["input"])).name for rows in expected for e in rows}
    ), "files of the same name from both folders"
    assert browser.problems(page) == []


def test_the_harness_sees_console_errors_and_requests(browser: Browser, tmp_path: Path) -> None:
    page = write_page(
        tmp_path,
        "noisy.html",
        '<!DOCTYPE html><title>noisy</title><img src="https://example.invalid/x.png">'
        "<script>console.error('boom'); undefinedFunction();</script>",
    )
    browser.open(page)
    found = "\n".join(browser.problems(page))
    assert "console error" in found and "exception" in found
    assert "request: https://example.invalid/x.png" in found


def small_report(sample: Report) -> Report:
    """A few findings of the sample quarter and one with long unbroken values."""
    long = "LOT" + "7" * 140
    wide = finding(
        "unknown-lot",
        {"gtin": "08901234000021", "lot": long},
        Severity.HIGH,
        detail=f"the lot {long} is declared by no manufacture declaration",
        evidence=(Evidence("consignment", long, f"consignments.csv:{long}", record=long * 3),),
    )
    findings = (*sample.findings[:2], wide)
    named = {f.rule for f in findings}
    return dataclasses.replace(
        sample,
        findings=findings,
        rules_run=tuple(r for r in sample.rules_run if r.rule in named),
    )


#: The width of the text of an A4 page at the print stylesheet's margins, in CSS pixels.
A4_TEXT_WIDTH = 710


def test_laid_out_for_paper_nothing_overflows_and_evidence_shows(
    browser: Browser, sample: Report, tmp_path: Path
) -> None:
    report = small_report(sample)
    page = write_page(tmp_path, "paper.html", render(report, "html"))
    browser.open(page)
    browser.call("Emulation.setEmulatedMedia", media="print")
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        width=A4_TEXT_WIDTH,
        height=1000,
        deviceScaleFactor=1,
        mobile=False,
    )
    try:
        laid_out = browser.js(
            "(() => {"
            " const right = innerWidth + 1;"
            " const out = el => el.getBoundingClientRect().right > right;"
            " const shown = el => el.getClientRects().length > 0 && el.offsetHeight > 0;"
            " const cut = el => el.scrollWidth > el.clientWidth + 1 ||"
            "   el.scrollHeight > el.clientHeight + 1;"
            " const all = sel => Array.from(document.querySelectorAll(sel));"
            " return {"
            "  page: document.documentElement.scrollWidth <= innerWidth,"
            "  outside: all('main table, main th, main td, main pre').filter(out).length,"
            "  cut: all('.table-wrap, pre.record').filter(cut).length,"
            "  headings: all('#findings thead th').filter(th => shown(th) && !out(th)).length,"
            "  evidence: all('#findings .evidence').filter(shown).length,"
            "  messages: all('#findings .evidence .message').map(p => p.textContent),"
            "  filters: all('form.filters').filter(shown).length,"
            " };"
            "})()"
        )
    finally:
        browser.call("Emulation.setEmulatedMedia", media="")
        browser.call("Emulation.clearDeviceMetricsOverride")
    assert laid_out == {
        "page": True,
        "outside": 0,
        "cut": 0,
        "headings": 9,
        "evidence": len(report.findings),
        "messages": [f.message for f in report.findings],
        "filters": 0,
    }
    assert browser.problems(page) == []


def test_printing_opens_every_details_and_closes_them_after(
    browser: Browser, sample: Report, tmp_path: Path
) -> None:
    """For browsers without ``::details-content`` the page opens them itself to print."""
    page = write_page(tmp_path, "beforeprint.html", render(sample, "html"))
    browser.open(page)
    count = "document.querySelectorAll('details:not([open])').length"
    closed = browser.js(count)
    assert closed == len(sample.findings) > 0
    browser.js("document.querySelector('#findings details').open = true")  # a reader opens one
    browser.js("window.dispatchEvent(new Event('beforeprint'))")
    assert browser.js(count) == 0
    browser.js("window.dispatchEvent(new Event('afterprint'))")
    assert browser.js(count) == closed - 1  # as the reader left them
    assert browser.problems(page) == []


def squeezed(text: str) -> str:
    """Text without its spaces and line breaks, ligatures undone, case folded."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).casefold()


def test_the_printed_pdf_has_every_column_and_each_findings_detail(
    sample: Report, tmp_path: Path
) -> None:
    pypdf = pytest.importorskip("pypdf", reason="needs pypdf to read the PDF's text")
    assert CHROMIUM is not None
    report = small_report(sample)
    html = render(report, "html")
    page = write_page(tmp_path, "print.html", html)
    pdf = tmp_path / "print.pdf"
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--print-to-pdf={pdf}",
            "--no-pdf-header-footer",
            page.as_uri(),
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0 and pdf.exists(), done.stderr.decode(errors="replace")[-2000:]
    pages = pypdf.PdfReader(pdf).pages  # laid out: lines in the order they are on the page
    text = squeezed("\n".join(p.extract_text(extraction_mode="layout") for p in pages))
    headings = re.findall(r'<th scope="col"[^>]*><button type="button">([^<]+)</button>', html)
    assert len(headings) == 9
    assert squeezed("".join(headings)) in text  # the heading row, whole and in order
    for f in report.findings:
        for shown in (f.detail or f.message, f.message, f.fingerprint):
            assert squeezed(shown) in text, f"{f.rule}: {shown!r} is not in the PDF"
        for e in f.evidence:
            assert squeezed(e.record or e.key) in text, f"{f.rule}: a record is cut"
