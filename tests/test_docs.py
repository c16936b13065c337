"""The documentation is tested like code.

- Every ``console`` block of README.md and docs/*.md is a walk-through: its ``$ `` commands
  run in order, in a fresh folder (with ``docs`` linked into it, as in the source tree), and
  the output shown under each command must be what the command prints (see docs/README.md
  for the format).
- docs/rules.md and the generated blocks of docs/*.md are up to date with their sources,
  and a changed rule header makes them stale (what ``make lint`` checks).
- Every command and option has help, every command a short description and examples that
  parse; the reason codes and messages quoted in docs/input-formats.md are the loader's own.
"""

from __future__ import annotations

import difflib
import html
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from traceability.cli import cli
from traceability.docs import read_rules, rules_markdown, stale_pages
from traceability.kinds import load_schema
from traceability.load import load

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
BIN = Path(sys.executable).parent
PAGES = [
    p for p in (REPO / "README.md", *sorted(DOCS.glob("*.md"))) if "```console" in p.read_text()
]
DEMO = re.compile(r"tracecheck demo --folder ([\w.-]+)")


# --- the walk-through format ----------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One ``$ `` command of a console block and the output shown under it."""

    line: int
    command: str
    expected: tuple[str, ...]


def console_steps(text: str) -> list[Step]:
    """The commands of every ``console`` block of a page, in order."""
    steps: list[Step] = []
    command: list[str] | None = None
    start, expected = 0, []
    in_block = False

    def close() -> None:
        if command is not None:
            steps.append(Step(start, " ".join(command), tuple(expected)))

    for number, line in enumerate(text.splitlines(), start=1):
        if not in_block:
            in_block = line.strip() == "```console"
            continue
        if line.strip() == "```":
            close()
            command, in_block = None, False
        elif command is not None and command[-1].endswith("\\"):
            command[-1] = command[-1][:-1].rstrip()
            command.append(line.strip())
        elif line.startswith("$ "):
            close()
            command, start, expected = [line[2:].strip()], number, []
        elif command is None:
            raise AssertionError(f"line {number}: output before the first $ command")
        else:
            expected.append(line)
    return steps


def _trimmed(lines: Sequence[str]) -> list[str]:
    out = [line.rstrip() for line in lines]
    while out and not out[-1]:
        out.pop()
    return out


def _line_matches(expected: str, actual: str) -> bool:
    if "..." not in expected:
        return expected == actual
    pattern = ".*".join(re.escape(part) for part in expected.split("..."))
    return re.fullmatch(pattern, actual) is not None


def output_matches(expected: Sequence[str], actual: Sequence[str]) -> bool:
    """Whether the output shown matches the output printed.

    A line ``...`` stands for any number of lines; ``...`` inside a line for any text;
    every other line must be equal (trailing spaces and trailing blank lines aside).
    """
    want, got = _trimmed(expected), _trimmed(actual)

    @cache
    def match(i: int, j: int) -> bool:
        if i == len(want):
            return j == len(got)
        if want[i].strip() == "...":
            return any(match(i + 1, k) for k in range(j, len(got) + 1))
        return j < len(got) and _line_matches(want[i], got[j]) and match(i + 1, j + 1)

    return match(0, 0)


def test_the_output_format_of_walkthroughs_can_fail() -> None:
    page = "```console\n$ tracecheck a \\\n  --b\nx\n...\nz\n$ echo 1\n1\n```\n"
    steps = console_steps(page)
    assert [(s.line, s.command, s.expected) for s in steps] == [
        (2, "tracecheck a --b", ("x", "...", "z")),
        (7, "echo 1", ("1",)),
    ]
    assert output_matches(["x", "...", "z"], ["x", "y", "y", "z  ", ""])
    assert output_matches(["x", "...", "z"], ["x", "z"])
    assert output_matches(["as of ... (x)"], ["as of 2026-03-27 (x)"])
    assert not output_matches(["x", "...", "z"], ["x", "y"])
    assert not output_matches(["x", "z"], ["x", "y", "z"])
    assert not output_matches(["x"], ["x", "more"])


# --- running them -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def demo_runs() -> dict[str, tuple[Path, str]]:
    """``tracecheck demo --folder X`` runs once per session; pages reuse its folder and output."""
    return {}


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TRACECHECK_DB", "FORCE_COLOR")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "100"
    env["PYTHONUNBUFFERED"] = "1"  # standard output and error in the order they are written
    return env


def _run(command: str, cwd: Path) -> tuple[int, str]:
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env=_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    return done.returncode, done.stdout


def run_step(
    step: Step,
    cwd: Path,
    demo_runs: dict[str, tuple[Path, str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[int, str]:
    """Run one command in ``cwd``; a demo generation already run is copied instead."""
    demo = DEMO.fullmatch(step.command)
    if demo is None:
        return _run(step.command, cwd)
    if step.command not in demo_runs:
        where = tmp_path_factory.mktemp("demo")
        status, out = _run(step.command, where)
        assert status == 0, out
        demo_runs[step.command] = (where / demo.group(1), out)
    folder, out = demo_runs[step.command]
    shutil.copytree(folder, cwd / folder.name)
    return 0, out


@pytest.mark.slow
@pytest.mark.skipif(not (BIN / "tracecheck").exists(), reason="tracecheck is not installed")
@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_walkthrough_commands_print_what_the_page_shows(
    page: Path,
    tmp_path: Path,
    demo_runs: dict[str, tuple[Path, str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    (tmp_path / "docs").symlink_to(DOCS, target_is_directory=True)
    steps = console_steps(page.read_text(encoding="utf-8"))
    assert steps, f"{page.name} has console blocks without commands"
    for step in steps:
        status, out = run_step(step, tmp_path, demo_runs, tmp_path_factory)
        where = f"{page.name}:{step.line}: $ {step.command}"
        assert "Traceback" not in out, f"{where}\n{out}"
        assert status == 0, f"{where}\nexit status {status}\n{out}"
        if not output_matches(step.expected, out.splitlines()):
            diff = "\n".join(
                difflib.unified_diff(
                    _trimmed(step.expected), _trimmed(out.splitlines()), "shown", "printed", n=2
                )
            )
            pytest.fail(f"{where}\n{diff}", pytrace=False)


def test_relative_links_of_the_docs_point_to_files() -> None:
    for page in (REPO / "README.md", *DOCS.glob("*.md")):
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue
            assert (page.parent / target).exists(), f"{page.name}: broken link {target}"


# --- the rule reference -----------------------------------------------------------------------


def test_generated_docs_are_up_to_date() -> None:
    stale = stale_pages(REPO)
    assert not stale, f"out of date: {[str(p.relative_to(REPO)) for p in stale]}: run make docs"


def _docs_check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "traceability.docs", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_changed_rule_header_fails_the_check_until_the_reference_is_regenerated(
    tmp_path: Path,
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "traceability" / "rules", rules)
    assert _docs_check("--check", "--rules", str(rules)).returncode == 0

    sql = rules / "mirror" / "late-arrival.sql"
    text = sql.read_text(encoding="utf-8")
    edited = text.replace("-- severity:  medium", "-- severity:  high", 1)
    assert edited != text
    sql.write_text(edited, encoding="utf-8")
    done = _docs_check("--check", "--rules", str(rules))
    assert done.returncode == 1
    assert "docs/rules.md is out of date: run `make docs`" in done.stdout

    root = tmp_path / "tree"
    shutil.copytree(DOCS, root / "docs")
    assert _docs_check("--root", str(root), "--rules", str(rules)).returncode == 0
    regenerated = (root / "docs" / "rules.md").read_text(encoding="utf-8")
    assert "| [`late-arrival`](#late-arrival) | mirror | high |" in regenerated
    assert _docs_check("--check", "--root", str(root), "--rules", str(rules)).returncode == 0


def test_the_rule_reference_renders_every_header_as_written() -> None:
    markdown_it = pytest.importorskip("markdown_it")
    page = (DOCS / "rules.md").read_text(encoding="utf-8")
    rendered = markdown_it.MarkdownIt("commonmark").enable("table").render(page)
    text = html.unescape(re.sub(r"<[^>]+>", "", rendered))
    for rule in read_rules():
        assert f"<h3>{rule.id}</h3>" in rendered
        for field in (rule.checks, rule.why, rule.tolerance, rule.evidence):
            assert field in text, f"{rule.id}: {field!r} does not render as written"


# --- help ---------------------------------------------------------------------------------------


def _example_lines(help_text: str) -> list[str]:
    after = help_text.split("Example:", 1)[1] if "Example:" in help_text else ""
    return [ln.strip() for ln in after.splitlines() if ln.strip().startswith("tracecheck ")]


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_has_a_description_examples_that_parse_and_help_everywhere(
    name: str,
) -> None:
    command = cli.commands[name]
    help_text = CliRunner().invoke(cli, [name, "--help"], terminal_width=78).output
    assert command.get_short_help_str(limit=200), f"{name} has no description"
    examples = _example_lines(help_text)
    assert examples, f"{name} --help shows no example"
    for example in examples:
        args = shlex.split(example)[1:]
        assert args[0] == name, example
        with command.make_context(name, args[1:]) as ctx:
            assert ctx.command is command
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"{name} {'/'.join(param.opts)} has no help text"
        elif isinstance(param, click.Argument):
            metavar = param.human_readable_name
            assert metavar in (command.help or ""), f"{name}: {metavar} is not explained"


def test_the_command_list_shows_each_description_whole() -> None:
    out = CliRunner().invoke(cli, ["--help"], terminal_width=78).output
    listed = out.split("Commands:", 1)[1].splitlines()
    assert {ln.split()[0] for ln in listed if ln.strip()} == set(cli.commands)
    for line in listed:
        assert not line.rstrip().endswith("..."), f"description cut short: {line.strip()}"
    for param in cli.params:
        assert getattr(param, "help", None), f"tracecheck {param.name} has no help text"
    assert _example_lines(out)


# --- input formats ------------------------------------------------------------------------------


def _table_rows(page: str, first_header: str) -> list[list[str]]:
    """The rows of the Markdown tables whose first header cell is ``first_header``."""
    rows, inside = [], False
    for line in page.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if not line.startswith("|"):
            inside = False
        elif cells and cells[0] == first_header:
            inside = True
        elif inside and not set(cells[0]) <= {"-", ":"}:
            rows.append(cells)
    return rows


def test_every_event_field_of_the_schema_is_documented() -> None:
    page = (DOCS / "input-formats.md").read_text(encoding="utf-8")
    documented = {row[0].strip("`") for row in _table_rows(page, "field")}
    assert documented == set(load_schema("epcis-event")["properties"])


def test_the_quoted_messages_are_the_ones_the_loader_prints(tmp_path: Path) -> None:
    page = (DOCS / "input-formats.md").read_text(encoding="utf-8")
    quoted = {(row[0].strip("`"), row[1].strip("`")) for row in _table_rows(page, "code")}
    result = load(tmp_path / "broken.duckdb", [DOCS / "data" / "broken"])
    printed = {(r.code, f"{Path(r.source).name}:{r.line}: {r.message}") for r in result.rejections}
    assert quoted <= printed, sorted(quoted - printed)
    assert {code for code, _ in quoted} == {code for code, _ in printed}


def test_the_rule_reference_shows_each_remedy_under_its_rule() -> None:
    rules = read_rules()
    page = rules_markdown(rules)
    sections = dict(re.findall(r"^### (\S+)\n(.*?)(?=^#|\Z)", page, flags=re.M | re.S))
    with_remedy = [r for r in rules if r.remedy]
    assert with_remedy, "no rule gives a remedy: the check below would be empty"
    for rule in rules:
        shown = re.search(r"^- \*\*Remedy before shipping:\*\* (.+)$", sections[rule.id], re.M)
        if not rule.remedy:
            assert shown is None, rule.id
            continue
        assert shown is not None, rule.id
        assert shown[1].replace("`", "") == rule.remedy.replace("\\", ""), rule.id
