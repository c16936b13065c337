"""Settings files: the example, discovery (--config > TRACECHECK_CONFIG > ./tracecheck.toml >
defaults), the settings in the report, ``config --show``, and clear errors for bad files."""

from __future__ import annotations

import json
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from test_reconcile import BATCHES, CONSIGNMENTS

from traceability.cli import cli
from traceability.config import (
    ENV_VAR,
    LOCAL_FILE,
    SETTINGS,
    Config,
    example_toml,
)
from traceability.diff import load_report
from traceability.errors import ExitCode, InputError
from traceability.load import load
from traceability.rules.settings import from_mapping, load_config, resolve_config


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(cli, list(args), env={ENV_VAR: "", **(env or {})})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One lot exported 50 units beyond its make (over-export, difference 50)."""
    folder = tmp_path_factory.mktemp("store")
    (folder / "consignments.csv").write_text(CONSIGNMENTS, encoding="utf-8")
    (folder / "batches.csv").write_text(BATCHES, encoding="utf-8")
    db = folder / "store.duckdb"
    assert not load(db, [folder / "consignments.csv", folder / "batches.csv"]).rejections
    return db


def settings_file(path: Path, tol_units: int) -> Path:
    path.write_text(f"# tolerances\n[tolerances]\ntol_units = {tol_units}\n", encoding="utf-8")
    return path


# --- the example file ---------------------------------------------------------------------


def test_the_example_names_every_key_and_reads_back_as_the_defaults() -> None:
    text = example_toml()
    for s in SETTINGS:
        assert f"[{s.section}]" in text
        if s.key != "<rule-id>":
            assert f"{s.key} = " in text, s.name
        assert " ".join(s.meaning.split()[:4]) in " ".join(text.replace("#", "").split())
    read = from_mapping(tomllib.loads(text, parse_float=Decimal))
    assert read == Config()


def test_the_example_with_its_commented_keys_switched_on_is_a_valid_file(tmp_path: Path) -> None:
    on = "\n".join(
        line[2:] if line.startswith("# ") and " = " in line else line
        for line in example_toml().splitlines()
    )
    path = tmp_path / "on.toml"
    path.write_text(on, encoding="utf-8")
    config = load_config(path)
    assert config.severity and config.collected_countries == ("IN",)


def test_config_example_prints_the_example() -> None:
    result = run("config", "--example")
    assert result.exit_code == ExitCode.OK
    assert result.stdout == example_toml()


# --- discovery ------------------------------------------------------------------------------


def test_discovery_order_is_flag_then_environment_then_current_directory(tmp_path: Path) -> None:
    local = settings_file(tmp_path / LOCAL_FILE, 1)
    named = settings_file(tmp_path / "named.toml", 2)
    given = settings_file(tmp_path / "given.toml", 3)
    env = {ENV_VAR: str(named)}
    assert resolve_config(given, environ=env, cwd=tmp_path).tolerances["tol_units"] == 3
    by_env = resolve_config(None, environ=env, cwd=tmp_path)
    assert (by_env.tolerances["tol_units"], by_env.found_by) == (2, ENV_VAR)
    by_cwd = resolve_config(None, environ={}, cwd=tmp_path)
    assert (by_cwd.tolerances["tol_units"], by_cwd.file) == (1, str(local))
    local.unlink()
    assert resolve_config(None, environ={}, cwd=tmp_path) == Config()
    assert resolve_config(None, environ={}, cwd=tmp_path).found_by == "defaults"
    assert given.exists()


def test_reconcile_reads_tracecheck_toml_in_the_current_directory_and_reports_it(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings_file(tmp_path / LOCAL_FILE, 50)
    out = tmp_path / "r.json"
    result = run("reconcile", "--db", str(store), "--rule", "batch", "--output", str(out))
    assert result.exit_code == ExitCode.OK, result.output
    assert LOCAL_FILE in result.stderr  # said where the settings came from
    report = load_report(out)  # checked against the report's JSON Schema
    assert not [f for f in report["findings"] if f["rule"] == "over-export"]
    assert report["parameters"]["tolerances"]["tol_units"] == "50"
    config = report["config"]
    assert (config["file"], config["found_by"]) == (LOCAL_FILE, f"./{LOCAL_FILE}")
    assert config["from_file"] == ["tolerances.tol_units"]
    assert config["settings"]["tolerances"]["tol_units"] == "50"


def test_the_environment_variable_beats_the_current_directory_and_the_flag_beats_both(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings_file(tmp_path / LOCAL_FILE, 50)
    named = settings_file(tmp_path / "named.toml", 0)
    given = settings_file(tmp_path / "given.toml", 50)
    env = {ENV_VAR: str(named)}
    by_env = run("reconcile", "--db", str(store), "--rule", "batch", env=env)
    report = json.loads(by_env.stdout)
    assert report["config"]["file"] == str(named)
    assert [f["difference"] for f in report["findings"] if f["rule"] == "over-export"] == ["50"]
    by_flag = run(
        "reconcile", "--db", str(store), "--rule", "batch", "--config", str(given), env=env
    )
    report = json.loads(by_flag.stdout)
    assert (report["config"]["file"], report["config"]["found_by"]) == (str(given), "--config")
    assert not [f for f in report["findings"] if f["rule"] == "over-export"]
    assert by_flag.stderr == ""  # a file given with --config is not announced


def test_reports_of_the_same_settings_from_other_files_diff_as_unchanged(
    store: Path, tmp_path: Path
) -> None:
    same = tmp_path / "same.toml"
    same.write_text("[tolerances]\ntol_units = 0\n", encoding="utf-8")
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    run("reconcile", "--db", str(store), "--as-of", "2026-04-10", "--output", str(a))
    args = ("--db", str(store), "--as-of", "2026-04-10", "--config", str(same), "--output", str(b))
    run("reconcile", *args)
    assert json.loads(a.read_text())["config"] != json.loads(b.read_text())["config"]
    result = run("diff", str(a), str(b), "--format", "json", "--fail-on", "info")
    assert result.exit_code == ExitCode.OK, result.output
    changes = json.loads(result.stdout)
    assert changes["unchanged"] and not (
        changes["new"] or changes["resolved"] or changes["changed"]
    )


# --- config --show --------------------------------------------------------------------------


def test_show_says_where_each_value_comes_from(tmp_path: Path) -> None:
    path = tmp_path / "team.toml"
    path.write_text(
        '[tolerances]\n\nwindow_days = 30\n\n[severity]\nlate-arrival = "high"\n',
        encoding="utf-8",
    )
    result = run("config", "--show", env={ENV_VAR: str(path)})
    assert result.exit_code == ExitCode.OK
    lines = {line.split("=")[0].strip(): line for line in result.stdout.splitlines()}
    assert lines["window_days"].endswith(f"# {path}:3")
    assert lines["late-arrival"].endswith(f"# {path}:6")
    assert lines["tol_units"].endswith("# default")
    assert str(path) in result.stdout.splitlines()[0]


def test_show_without_any_file_is_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("config")
    assert result.exit_code == ExitCode.OK
    values = [line for line in result.stdout.splitlines() if " = " in line]
    assert values and all(line.endswith("# default") for line in values)


# --- bad files --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ("[tolerances]\ntol_units = 1\ntol_unit = 2\n", 3, "tolerances.tol_unit"),
        ("[tolerances]\n\ntol_units = -1\n", 3, "tolerances.tol_units"),
        ("[tolerances]\nwindow_days = 1.5\n", 2, "tolerances.window_days"),
        ('# c\n[severity]\nover-export = "urgent"\n', 3, "severity.over-export"),
        ('[severity]\nover-exports = "high"\n', 2, "severity.over-exports"),
        ('[rules]\nrun = ["batch", "mirror-gap"]\n', 2, "rules.run"),
        ("[rules]\n\n[colours]\nx = 1\n", 3, "[colours]"),
        ('[missing_filing]\ncountries = ["India"]\n', 2, "missing_filing.countries"),
        ("[tolerances]\ntol_units = \n", 2, ""),
    ],
)
def test_a_bad_file_is_one_line_naming_file_line_and_key(
    tmp_path: Path, text: str, line: int, key: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=rf"^{path}:{line}: "):
        load_config(path)
    result = run("config", "--show", "--config", str(path))
    assert result.exit_code == ExitCode.BAD_INPUT
    (said,) = result.stderr.splitlines()
    assert said.startswith(f"error: {path}:{line}: {key}")
    assert "Traceback" not in result.output


def test_a_missing_file_named_by_the_environment_says_so(store: Path, tmp_path: Path) -> None:
    gone = tmp_path / "gone.toml"
    result = run("reconcile", "--db", str(store), env={ENV_VAR: str(gone)})
    assert result.exit_code == ExitCode.BAD_INPUT
    assert str(gone) in result.stderr and ENV_VAR in result.stderr
