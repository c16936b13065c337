"""Progress on long work: within each file of a load, and over the rules of a reconcile."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import VALID, write_csv

import traceability
from traceability.cli import cli
from traceability.cli.ingest import LoadLines
from traceability.errors import ExitCode
from traceability.load import FileProgress, load
from traceability.load.epcis import pipeline as events
from traceability.sample.bench import write_event_lines

EVENTS = 400


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 80 KiB, so a file of a few hundred events is read in several."""
    monkeypatch.setattr(events, "CHUNK_BYTES", 80 * 1024)


@pytest.fixture
def event_file(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    write_event_lines(path, events=EVENTS, serials_per_event=1)
    return path


def test_a_load_reports_records_and_bytes_within_each_file(
    tmp_path: Path, event_file: Path, small_chunks: None
) -> None:
    products = write_csv(tmp_path / "products.csv", [VALID["products"]])
    seen: list[FileProgress] = []
    load(tmp_path / "store.duckdb", [event_file, products], within_file=seen.append)
    within = [p for p in seen if p.path == str(event_file)]
    size = event_file.stat().st_size
    assert {(p.index, p.files, p.bytes_total) for p in within} == {(0, 2, size)}
    assert (within[0].records, within[0].bytes_done, within[0].done) == (0, 0, False)
    assert (within[-1].records, within[-1].bytes_done, within[-1].done) == (EVENTS, size, True)
    going = within[1:-1]
    assert len(going) >= 3  # several calls while the one file loads
    records = [p.records for p in going]
    done = [p.bytes_done or 0 for p in going]
    assert records == sorted(set(records)) and done == sorted(set(done))
    assert 0 < records[0] < EVENTS and 0 < done[0] < size
    tabular = [(p.records, p.done) for p in seen if p.path == str(products)]
    assert tabular == [(0, False), (1, True)]  # a tabular file: its start and its end


def test_a_load_not_on_a_terminal_prints_a_line_per_file_on_stderr(tmp_path: Path) -> None:
    event_file = tmp_path / "events.jsonl"
    write_event_lines(event_file, events=40, serials_per_event=1)
    products = write_csv(tmp_path / "products.csv", [VALID["products"]])
    db = tmp_path / "store.duckdb"
    out = CliRunner().invoke(cli, ["load", "--db", str(db), str(event_file), str(products)])
    assert out.exit_code == ExitCode.OK, out.output
    said = out.stderr.splitlines()
    assert said and all(line.startswith("load: ") for line in said)
    lines = [line for line in said if " records in " in line]  # each file's last line
    assert [line.split()[1] for line in lines] == ["events.jsonl", "products.csv"]
    assert "40 records in " in lines[0] and "1 records in " in lines[1]
    assert "load: " not in out.stdout


def test_a_progress_line_says_bytes_records_rate_and_time_left(
    capsys: pytest.CaptureFixture[str],
) -> None:
    lines = LoadLines(every=0)
    lines(FileProgress("in/events.jsonl", 0, 1, 0, 0, 1_600_000_000))
    lines(FileProgress("in/events.jsonl", 0, 1, 250_000, 412_000_000, 1_600_000_000))
    said = capsys.readouterr().err.splitlines()
    assert len(said) == 1
    assert said[0].startswith("load: events.jsonl 412.0 MB/1.6 GB, 250,000 records, ")
    assert ", ETA " in said[0]


def test_reconcile_reports_each_rule_done_of_the_total(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    write_csv(folder / "products.csv", [VALID["products"]])
    write_csv(folder / "batches.csv", [VALID["batches"]])
    write_csv(folder / "consignments.csv", [VALID["consignments"]])
    db = tmp_path / "store.duckdb"
    load(db, [folder])
    calls: list[tuple[int, int]] = []
    report = traceability.reconcile(db, progress=lambda done, total: calls.append((done, total)))
    total = len(report.rules_run)
    assert total > 1 and calls == [(n, total) for n in range(1, total + 1)]


def test_quiet_prints_no_progress(tmp_path: Path) -> None:
    products = write_csv(tmp_path / "products.csv", [VALID["products"]])
    db = tmp_path / "store.duckdb"
    out = CliRunner().invoke(cli, ["load", "--quiet", "--db", str(db), str(products)])
    assert out.exit_code == ExitCode.OK, out.output
    assert "load: " not in out.output
    shown = CliRunner().invoke(cli, ["load", "--db", str(tmp_path / "other.duckdb"), str(products)])
    assert "load: products.csv" in shown.stderr  # the same load, not quiet
