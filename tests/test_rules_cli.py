"""``tracecheck rules``: the catalogue, one rule in full, JSON and Markdown, from the package.

Everything the command prints comes from the rule files' headers inside the package, so it
works from an installed wheel: the last test builds the wheel, unpacks it and runs the
command from a folder outside the checkout.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from traceability.cli import cli
from traceability.errors import ExitCode
from traceability.rules import GROUPS, all_rules

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ("id", "group", "severity", "checks", "why", "tolerance", "needs", "evidence")


def words(text: str) -> str:
    """Text with its line breaks and runs of spaces collapsed (the output is wrapped)."""
    return " ".join(text.split())


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["rules", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_the_catalogue_lists_each_rule_id_and_severity() -> None:
    code, out, _ = invoke()
    assert code == ExitCode.OK
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 2}
    for rule in all_rules():
        assert rule.id in lines and rule.severity.value in lines[rule.id]


def test_one_rule_in_full_shows_every_header_field() -> None:
    rule = next(r for r in all_rules() if r.id == "over-export")
    code, out, _ = invoke("over-export")
    assert code == ExitCode.OK
    text = words(out)
    for value in (rule.checks, rule.why, rule.tolerance, rule.evidence, rule.severity.value):
        assert words(value) in text
    assert "batches, consignments" in text
    assert "traceability/rules/batch/over-export.sql" in text


def test_a_rule_with_a_coverage_section_says_what_it_does_not_judge() -> None:
    rule = next(r for r in all_rules() if r.coverage_about)
    _, out, _ = invoke(rule.id)
    assert words(rule.coverage_about) in words(out)


def test_a_group_shows_its_rules_only() -> None:
    code, out, _ = invoke("mirror", "--format", "json")
    assert code == ExitCode.OK
    assert {r["id"] for r in json.loads(out)} == {r.id for r in all_rules() if r.group == "mirror"}


def test_json_carries_every_header_field_of_every_rule() -> None:
    code, out, _ = invoke("--format", "json")
    assert code == ExitCode.OK
    entries = {e["id"]: e for e in json.loads(out)}
    assert list(entries) == [r.id for r in all_rules()]
    for rule in all_rules():
        entry = entries[rule.id]
        assert entry["severity"] == rule.severity.value
        assert entry["needs"] == list(rule.needs)
        assert {k: entry[k] for k in FIELDS if k not in ("severity", "needs")} == {
            k: getattr(rule, k) for k in FIELDS if k not in ("severity", "needs")
        }
        assert entry["not_judged"] == (rule.coverage_about or None)
        assert set(rule.parameters) <= set(entry["parameters"])


def test_markdown_has_a_table_row_and_a_section_per_rule() -> None:
    code, out, _ = invoke("batch", "--format", "md")
    assert code == ExitCode.OK
    batch = [r for r in all_rules() if r.group == "batch"]
    assert [line for line in out.splitlines() if line.startswith("## ")] == [
        f"## {r.id}" for r in batch
    ]
    assert sum(line.startswith("| `") for line in out.splitlines()) == len(batch)


@pytest.mark.parametrize(
    ("given", "suggested"),
    [("over-exports", "over-export"), ("mirror-gap", "mirror-quantity-gap"), ("filing", "filings")],
)
def test_an_unknown_id_is_bad_usage_naming_the_closest(given: str, suggested: str) -> None:
    code, out, err = invoke(given)
    assert code == ExitCode.BAD_INPUT
    assert out == ""
    assert len(err.splitlines()) == 1 and given in err and suggested in err
    assert "Traceback" not in err


def test_every_group_is_accepted() -> None:
    for group in GROUPS:
        assert invoke(group)[0] == ExitCode.OK


# --- from an installed wheel --------------------------------------------------------------


def build_wheel(folder: Path) -> Path:
    """The project's wheel, built as pip builds it (no build isolation when hatchling is
    installed here; otherwise pip fetches the build backend)."""
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(folder)]
    if importlib.util.find_spec("hatchling") is not None:
        command.append("--no-build-isolation")
    done = subprocess.run(
        [*command, str(ROOT)], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = folder.glob("tracecheck-*.whl")
    return wheel


@pytest.mark.slow
def test_rules_work_from_the_installed_wheel_outside_the_checkout(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "dist")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    # the command's entry point, after saying on stderr where the package was imported from
    entry = (
        "import sys, traceability; print(traceability.__file__, file=sys.stderr); "
        "from traceability.cli import main; sys.argv[0] = 'tracecheck'; main()"
    )

    def tracecheck(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-c", entry, *args],
            cwd=elsewhere,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert Path(done.stderr.splitlines()[0]).is_relative_to(site), done.stderr
        assert done.returncode == 0, done.stderr
        return done

    rule = next(r for r in all_rules() if r.id == "over-export")
    assert words(rule.why) in words(tracecheck("rules", "over-export").stdout)
    every = tracecheck("rules", "--format", "json").stdout
    assert [e["id"] for e in json.loads(every)] == [r.id for r in all_rules()]
