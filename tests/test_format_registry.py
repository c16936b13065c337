"""The format registry: each ``render/to_<name>.py`` is a format, and everything that lists
formats (``render``, ``render_bytes``, the CLI's ``--format``) reads the registry."""

from __future__ import annotations

import ast
import datetime as dt
import pkgutil
import textwrap
from pathlib import Path

import click
import pytest
from test_render import finding

from traceability.cli import cli
from traceability.diff import diff
from traceability.errors import InputError
from traceability.model import Finding, Report, Severity
from traceability.preflight import Preflight
from traceability.preflight.balances import Balance
from traceability.render import kind_of, registry, render, render_bytes
from traceability.render.registry import (
    Format,
    FormatError,
    Layout,
    discover,
    formats,
    names,
)
from traceability.render.to_csv import render_csv, render_diff_csv
from traceability.render.to_md import render_preflight_md
from traceability.render.to_table import render_table

RENDER = Path(registry.__file__).parent


def report(*findings: Finding) -> Report:
    return Report("0.1.0", "2026-04-01T00:00:00+00:00", (), {}, (), findings)


def one() -> Report:
    return report(finding("over-export", {"gtin": "08901234000012", "lot": "L1"}, Severity.HIGH))


def preflight() -> Preflight:
    balance = Balance("EA-IN-2026-001", "H87", "12000", "9600", "2400", "0")
    return Preflight("BOL-1", dt.date(2026, 3, 2), one(), (balance,))


def test_every_to_module_is_a_format_named_after_it() -> None:
    modules = {m.name for m in pkgutil.iter_modules([str(RENDER)]) if m.name.startswith("to_")}
    assert {f"to_{name}" for name in formats()} == modules
    assert "to_preflight" not in modules  # each format renders its own preflight
    for name, fmt in formats().items():
        assert isinstance(fmt, Format) and fmt.name == name
        assert fmt.suffix.startswith(".") and fmt.suffix[1:].isalnum()


@pytest.mark.parametrize("name", sorted(formats()))
def test_each_format_renders_a_report_as_text_or_as_bytes(name: str) -> None:
    fmt = formats()[name]
    out = fmt.report(one(), Layout())
    assert isinstance(out, bytes) == fmt.binary
    assert out
    if fmt.diff is not None:
        assert isinstance(fmt.diff(diff(one(), one()), Layout()), bytes) == fmt.binary
    if fmt.preflight is not None:
        assert isinstance(fmt.preflight(preflight(), Layout()), str)


def test_render_dispatches_on_what_it_is_given() -> None:
    r, d, p = one(), diff(one(), report()), preflight()
    assert [kind_of(r), kind_of(d), kind_of(p)] == ["report", "diff", "preflight"]
    assert render(r, "csv") == render_csv(r)
    assert render(d, "csv") == render_diff_csv(d)
    assert render(p, "md") == render_preflight_md(p)
    assert render(p, "json") == render(r, "json")  # a preflight's JSON is its report's
    assert render(r, "table", width=60) == render_table(r, width=60)
    assert render(r, "table", width=60) != render(r, "table", width=200)
    assert render_bytes(r, "md") == render(r, "md").encode("utf-8")
    assert render_bytes(r, "xlsx")[:2] == b"PK"


def test_unknown_and_binary_formats_are_refused_naming_the_text_formats() -> None:
    with pytest.raises(InputError, match="unknown format 'pdf'") as caught:
        render(one(), "pdf")
    assert caught.value.hint == f"one of {', '.join(names('report', binary=False))}"
    with pytest.raises(InputError, match="xlsx is a binary format"):
        render(one(), "xlsx")
    with pytest.raises(InputError, match="unknown format 'xlsx'"):
        render_bytes(preflight(), "xlsx")  # xlsx renders no preflight


@pytest.mark.parametrize(
    ("command", "kind"), [("reconcile", "report"), ("diff", "diff"), ("preflight", "preflight")]
)
def test_format_choices_of_the_cli_are_the_registry(command: str, kind: str) -> None:
    params = cli.commands[command].params
    option = next(p for p in params if p.name == "fmt")
    assert isinstance(option.type, click.Choice)
    assert list(option.type.choices) == names(kind)
    assert ("xlsx" in names(kind)) == (kind != "preflight")


def _package(tmp_path: Path, name: str, modules: dict[str, str]) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    for module, text in modules.items():
        (folder / f"{module}.py").write_text(textwrap.dedent(text))
    return folder


PLAIN = """
    from traceability.render.registry import Format, fixed
    FORMAT = Format("plain", ".txt", False, fixed(lambda r: "findings\\n"), None, None)
"""


def test_a_new_format_is_one_module_found_by_discovery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    folder = _package(tmp_path, "formats_a", {"to_plain": PLAIN, "helpers": "X = 1\n"})
    found = discover(folder, "formats_a")
    assert list(found) == ["plain"]
    assert found["plain"].report(one(), Layout()) == "findings\n"
    assert found["plain"].renderer("diff") is None


@pytest.mark.parametrize(
    ("text", "error"),
    [("X = 1\n", "defines no FORMAT"), (PLAIN.replace('"plain"', '"other"'), "names its")],
)
def test_a_to_module_without_its_format_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, error: str
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    package = "formats_" + tmp_path.name.replace("-", "_")
    folder = _package(tmp_path, package, {"to_plain": text})
    with pytest.raises(FormatError, match=error):
        discover(folder, package)


def imported(path: Path) -> set[str]:
    """The modules a source file imports, at any depth of its syntax tree."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_diff_computes_and_never_imports_render() -> None:
    source = RENDER.parent / "diff.py"
    assert not {m for m in imported(source) if m.startswith("traceability.render")}
    assert "traceability" not in imported(source)
