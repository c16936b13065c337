"""The command line as a user meets it: help everywhere, diff end to end."""

from __future__ import annotations

import json
from pathlib import Path

import click
import duckdb
import pytest
from click.testing import CliRunner

from traceability.cli import cli
from traceability.load import load

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "demo-quarter" / "data"


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_has_help_with_an_example(name: str) -> None:
    command = cli.commands[name]
    out = CliRunner().invoke(cli, [name, "--help"])
    assert out.exit_code == 0
    assert "Example:" in out.output
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"{name} {param.opts} has no help text"


def test_every_command_is_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for name in cli.commands:
        assert f"tracecheck {name}" in readme, name


def test_diff_of_two_reports_says_what_is_new_and_fails_on_request(tmp_path: Path) -> None:
    db = tmp_path / "q1.duckdb"
    load(db, [FIXTURE])
    runner = CliRunner()
    new = tmp_path / "new.json"
    out = runner.invoke(
        cli, ["reconcile", "--db", str(db), "--format", "json", "--output", str(new)]
    )
    assert out.exit_code == 0, out.output
    report = json.loads(new.read_text())
    dropped = report["findings"].pop(0)
    report["summary"]["findings"] -= 1
    old = tmp_path / "old.json"
    old.write_text(json.dumps(report))
    out = runner.invoke(cli, ["diff", str(old), str(new), "--format", "json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    assert [f["fingerprint"] for f in result["new"]] == [dropped["fingerprint"]]
    assert result["resolved"] == [] and len(result["unchanged"]) == len(report["findings"])
    failing = runner.invoke(cli, ["diff", str(old), str(new), "--fail-on", dropped["severity"]])
    assert failing.exit_code == 1
    assert runner.invoke(cli, ["diff", str(new), str(new), "--fail-on", "info"]).exit_code == 0


def test_diff_refuses_a_file_that_is_not_a_report(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"findings": []}')
    out = CliRunner().invoke(cli, ["diff", str(bogus), str(bogus)])
    assert out.exit_code == 2
    assert out.output.startswith("error: ") and "bogus.json" in out.output
    assert "Traceback" not in out.output


def test_load_takes_a_memory_limit_and_refuses_one_that_is_not_a_size(tmp_path: Path) -> None:
    data = tmp_path / "batches.csv"
    data.write_text(
        "manufacturer,site,gtin,lot,quantity,uom,manufacture_date,expiry_date\n"
        "8901234000007,8901234000106,08901234000014,PSE26001,1200,H87,2026-01-03,2028-12-31\n",
        encoding="utf-8",
    )
    db = tmp_path / "s.duckdb"
    bad = CliRunner().invoke(cli, ["load", "--db", str(db), "--memory-limit", "lots", str(data)])
    assert bad.exit_code == 2
    assert bad.stderr.count("\n") == 1 and "not a size" in bad.stderr
    assert not db.exists()
    out = CliRunner().invoke(
        cli, ["load", "-q", "--db", str(db), "--memory-limit", "64MB", str(data)]
    )
    assert out.exit_code == 0, out.output
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM batches").fetchone() == (1,)
    finally:
        con.close()


def test_reconcile_with_a_memory_limit_and_one_worker_gives_the_same_report(
    tmp_path: Path,
) -> None:
    db = tmp_path / "q1.duckdb"
    load(db, [FIXTURE])
    runner = CliRunner()
    reports = []
    for extra in ([], ["--memory-limit", "512MB", "--workers", "1"]):
        result = runner.invoke(cli, ["reconcile", "--db", str(db), "--format", "json", *extra])
        assert result.exit_code == 0, result.output
        report = json.loads(result.output)
        report.pop("generated_at")
        reports.append(report)
    assert reports[0]["findings"] and reports[0] == reports[1]


def test_the_memory_limit_reaches_duckdb(tmp_path: Path) -> None:
    from traceability.reconcile import DuckDBEngine

    db = tmp_path / "q1.duckdb"
    load(db, [FIXTURE])
    engine = DuckDBEngine(db, memory_limit="700MB")
    engine.open()
    try:
        row = engine.con.execute("SELECT current_setting('memory_limit')").fetchone()
    finally:
        engine.close()
    same = duckdb.connect(config={"memory_limit": "700MB"})
    default = duckdb.connect()
    expected = same.execute("SELECT current_setting('memory_limit')").fetchone()
    assert row == expected != default.execute("SELECT current_setting('memory_limit')").fetchone()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--db", "{db}", "--memory-limit", "lots"], "memory limit 'lots' is not a size"),
        (["--db", "{db}", "--workers", "0"], "--workers"),
        (
            ["--engine", "spark", "--data", "{db}", "--memory-limit", "4GB"],
            "a memory limit goes with the duckdb engine",
        ),
    ],
)
def test_reconcile_refuses_a_bad_memory_limit_or_worker_count(
    tmp_path: Path, args: list[str], said: str
) -> None:
    db = tmp_path / "q1.duckdb"
    load(db, [FIXTURE])
    result = CliRunner().invoke(cli, ["reconcile", *[a.format(db=db) for a in args]])
    assert result.exit_code == 2, result.output
    assert said in result.output and "Traceback" not in result.output


def test_reconcile_out_of_its_memory_limit_says_how_to_give_it_more(tmp_path: Path) -> None:
    db = tmp_path / "q1.duckdb"
    load(db, [FIXTURE])
    result = CliRunner().invoke(cli, ["reconcile", "--db", str(db), "--memory-limit", "4MB"])
    assert result.exit_code == 2, result.output
    assert "out of memory" in result.output.lower() and "Traceback" not in result.output
    assert "give DuckDB more with --memory-limit" in result.output
