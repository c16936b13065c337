"""No raw control character reaches a terminal or a report file.

Values from the data holding ESC sequences, an OSC-8 hyperlink, BEL, NUL, C1 controls, bidi
overrides and zero-width characters go through every format, the preflight and diff tables,
and the commands; each output must hold none of them raw, and must still show (or, in
JSON, keep exactly) what the value was.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import VALID, write_csv

from traceability.cli import cli
from traceability.diff import diff
from traceability.engine.findings import fingerprint
from traceability.inert import inert, is_inert
from traceability.model import Caveat, Evidence, Finding, InputFile, Report, RuleRun, Severity
from traceability.preflight import Balance, Preflight
from traceability.render import render
from traceability.render.to_table import render_diff_table, render_preflight_table, render_table

CLEAR = "\x1b[2J"
OSC8 = "\x1b]8;;https://evil.example/\x1b\\click me\x1b]8;;\x1b\\"
HOSTILE = {
    "esc": f"L2401{CLEAR}\x1b[31m",
    "osc8": OSC8,
    "bel": "ring\x07",
    "nul": "nul\x00byte",
    "c1": "csi\x9b31m\x85next",
    "bidi": "\u202egpj.exe\u202c \u2066iso\u2069",
    "zero_width": "L2401\u200b\u200d\ufeff\u2060",
    "del": "del\x7f",
}
ALL = " ".join(HOSTILE.values())
#: What may stay raw: line ends of the format itself.
KEEP = {"table": "\n", "json": "\n", "csv": "\r\n", "md": "\n", "html": "\n"}


def hostile_report() -> Report:
    """A report whose subject, unit, message, detail, evidence and caveats hold every
    hostile value (the period too)."""
    subject = {"gtin": HOSTILE["esc"], "lot": HOSTILE["zero_width"], "party": HOSTILE["bidi"]}
    bad = Finding(
        fingerprint=fingerprint("over-export", subject),
        rule="over-export",
        severity=Severity.CRITICAL,
        period="2026-Q1",
        subject=subject,
        expected="10000",
        observed="10400",
        difference="400",
        unit=HOSTILE["bel"],
        message=ALL,
        detail=f"{OSC8} {HOSTILE['c1']} {HOSTILE['nul']} {HOSTILE['del']}",
        evidence=tuple(Evidence(k, v, f"{v}.csv:1") for k, v in HOSTILE.items()),
        caveats=(Caveat(f"{HOSTILE['osc8']}:3", "bad-gtin", ALL),),
    )
    return Report(
        tool_version="0.0.0",
        generated_at="2026-01-01T00:00:00Z",
        inputs=(InputFile(f"{HOSTILE['bidi']}.csv", "a" * 64, "consignments", 2, 1),),
        parameters={"period": "2026-Q1", "tolerances": {"tol_units": "0"}},
        rules_run=(RuleRun("over-export", "ran", 1),),
        findings=(bad,),
        rejected_records=1,
    )


def assert_inert(text: str, keep: str = "\n") -> None:
    bad = sorted({c for c in text if c not in keep and not is_inert(c)})
    assert not bad, [hex(ord(c)) for c in bad]


def test_inert_escapes_every_kind_visibly() -> None:
    for value in HOSTILE.values():
        shown = inert(value)
        assert is_inert(shown) and shown != value and "\\" in shown
    assert inert("L2401\u200b") == "L2401\\u200b" and inert(CLEAR) == "\\x1b[2J"
    assert inert("Zürich × 2 → é\u00a0ok") == "Zürich × 2 → é\u00a0ok"  # text stays text


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "md", "html"])
def test_no_format_lets_a_raw_control_character_through(fmt: str) -> None:
    report = hostile_report()
    quiet = dataclasses.replace(report, findings=())
    text = render(report, fmt)
    for each in (text, render(diff(quiet, report), fmt)):
        assert_inert(each, KEEP[fmt])
    if fmt == "json":
        assert "\\u001b[2J" in text and "\\u200b" in text and "\\u202e" in text
    elif fmt in ("table", "csv", "md"):  # shown, escaped (HTML: its own test)
        assert all(f"\\{code}" in text for code in ("x1b", "x07", "x9b", "u200b", "u202e"))
    assert json.loads(render(report, "json")) == report.to_dict()  # JSON keeps the values


def test_csv_cells_show_the_escapes_and_keep_the_formula_guard() -> None:
    report = hostile_report()
    subject = {"lot": "=HYPERLINK(\x1b)", "gtin": "\t=1"}
    f = dataclasses.replace(report.findings[0], subject=subject)
    text = render(dataclasses.replace(report, findings=(f,)), "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["lot"] == "'=HYPERLINK(\\x1b)"
    assert rows[0]["gtin"] == "\\t=1"  # escaped: neither a tab nor a formula
    assert rows[0]["unit"] == "ring\\x07"


@pytest.mark.parametrize("width", [80, 120])
def test_the_preflight_and_diff_tables_are_inert(width: int) -> None:
    report = hostile_report()
    balance = Balance(HOSTILE["osc8"], HOSTILE["bel"], "10", "2", "3", "5")
    result = Preflight(HOSTILE["esc"], dt.date(2026, 3, 2), report, (balance,))
    text = render_preflight_table(result, width=width)
    assert_inert(text)
    assert "\\x1b[2J" in text and "\\x1b]8;;https://evil.example/" in text
    changed = dataclasses.replace(report.findings[0], observed="10500", difference="500")
    later = dataclasses.replace(report, findings=(changed,))
    assert_inert(render_diff_table(diff(report, later), width=width))
    assert_inert(render_table(report, width=width, color=True), keep="\n\x1b")  # colours only


def test_colour_codes_come_only_from_the_renderer() -> None:
    text = render_table(hostile_report(), width=100, color=True)
    # every ESC the renderer writes starts a colour (SGR) sequence it made itself
    starts = [text[i : i + 2] for i in range(len(text)) if text[i] == "\x1b"]
    assert starts and set(starts) == {"\x1b["}
    assert "\x1b[2J" not in text and "\x1b]8" not in text


# --- the commands -----------------------------------------------------------------------


def test_diff_command_output_is_inert_in_every_format(tmp_path: Path) -> None:
    report = hostile_report()
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(render(dataclasses.replace(report, findings=()), "json"), encoding="utf-8")
    new.write_text(render(report, "json"), encoding="utf-8")
    for fmt in ("table", "json", "csv", "md"):
        out = CliRunner().invoke(cli, ["diff", str(old), str(new), "--format", fmt])
        assert out.exit_code == 0, out.output
        assert_inert(out.stdout, KEEP[fmt])
        assert_inert(out.stderr)


def test_error_messages_and_usage_errors_are_inert(tmp_path: Path) -> None:
    named = tmp_path / f"gone{CLEAR}\u202e.json"
    out = CliRunner().invoke(cli, ["diff", str(named), str(named)])
    assert out.exit_code == 2 and out.stderr.startswith("error: ")
    assert_inert(out.stderr)
    assert "\\x1b[2J\\u202e" in out.stderr
    extra = CliRunner().invoke(cli, ["diff", "a.json", "b.json", f"x{OSC8}"])
    assert extra.exit_code == 2
    assert_inert(extra.stderr) and "\\x1b]8;;" in extra.stderr


def test_load_and_validate_print_hostile_names_and_values_escaped(tmp_path: Path) -> None:
    row = {**VALID["consignments"], "gtin": f"0890{CLEAR}\u200b", "lot": f"L{OSC8}"}
    path = write_csv(tmp_path / "consign\u202ements\x07.csv", [VALID["consignments"], row])
    checked = CliRunner().invoke(cli, ["validate", str(path)])
    assert checked.exit_code == 1, checked.output
    assert_inert(checked.stdout) and assert_inert(checked.stderr)
    assert "\\x1b[2J\\u200b" in checked.stdout
    loaded = CliRunner().invoke(cli, ["load", "--db", str(tmp_path / "s.duckdb"), str(path)])
    assert loaded.exit_code == 0, loaded.output
    assert_inert(loaded.stdout) and assert_inert(loaded.stderr)
    assert "consign\\u202ements\\x07.csv" in loaded.stdout
