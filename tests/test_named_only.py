"""Only what was named is read: links out of a folder, FIFOs and devices are never opened.

A FIFO that nobody writes blocks whoever opens it, so the loads that meet one run in a
subprocess with a timeout: if the loader opened it, the test fails instead of hanging.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import VALID, counts, write_csv

from traceability.cli import cli
from traceability.errors import ExitCode
from traceability.load import load, scan

SECRET = "root:x:0:0:SECRET-FIRST-LINE"


def _load_in_subprocess(db: Path, *paths: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "traceability", "load", "--db", str(db), *map(str, paths)]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("the load hung: it opened a FIFO")


def _skipped_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("skipped: ")]


@dataclass(frozen=True)
class _Run:
    """One load, in a subprocess, of a folder holding links out of it and a FIFO, and of
    a FIFO named on the command line."""

    folder: Path
    named_fifo: Path
    db: Path
    out: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> _Run:
    root = tmp_path_factory.mktemp("named-only")
    outside = root / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text(f"{SECRET}\n1\n", encoding="utf-8")
    os.mkfifo(outside / "pipe.csv")  # opening it would block: proves it is never opened
    folder = root / "in"
    write_csv(folder / "products.csv", [VALID["products"]])
    (folder / "users.csv").symlink_to(outside / "secret.csv")
    (folder / "feed.csv").symlink_to(outside / "pipe.csv")
    (folder / "more").symlink_to(outside, target_is_directory=True)
    os.mkfifo(folder / "batches.csv")
    named = root / "consignments.csv"
    os.mkfifo(named)
    db = root / "store.duckdb"
    return _Run(folder, named, db, _load_in_subprocess(db, folder, named))


def test_links_out_of_the_folder_are_skipped_and_never_opened(run: _Run) -> None:
    assert "SECRET" not in run.out.stdout + run.out.stderr
    skipped = {line.split(": ")[1]: line for line in _skipped_lines(run.out.stdout)}
    for name in ("feed.csv", "more", "users.csv"):
        assert "outside" in skipped[str(run.folder / name)]
    assert counts(run.db)["loads"] == 1 and counts(run.db)["products"] == 1


def test_a_fifo_in_a_folder_is_skipped_and_one_named_is_a_problem(run: _Run) -> None:
    assert run.out.returncode == ExitCode.BAD_INPUT, run.out.stderr
    errors = [line for line in run.out.stderr.splitlines() if str(run.named_fifo) in line]
    assert len(errors) == 1 and errors[0].startswith("error: ")
    skipped = {line.split(": ")[1]: line for line in _skipped_lines(run.out.stdout)}
    assert "FIFO" in skipped[str(run.folder / "batches.csv")]
    assert len(skipped) == 4
    assert counts(run.db)["products"] == 1  # the readable file still loads


def test_a_link_to_a_system_file_is_not_read_nor_echoed(tmp_path: Path, db: Path) -> None:
    system = Path("/etc/passwd")
    if not system.is_file():
        pytest.skip("no /etc/passwd here")
    folder = tmp_path / "in"
    write_csv(folder / "products.csv", [VALID["products"]])
    (folder / "users.csv").symlink_to(system)
    first_line = system.read_text(encoding="utf-8", errors="replace").splitlines()[0]
    result = load(db, [folder])
    assert [(Path(s.path).name, s.code) for s in result.skipped] == [
        ("users.csv", "outside-folder")
    ]
    out = CliRunner().invoke(cli, ["load", "--db", str(db), str(folder)])
    assert out.exit_code == ExitCode.OK
    assert first_line not in out.output


def test_links_that_stay_in_the_folder_are_followed_once(tmp_path: Path, db: Path) -> None:
    folder = tmp_path / "in"
    write_csv(folder / "data" / "batches.csv", [VALID["batches"]])
    (folder / "latest.csv").symlink_to(folder / "data" / "batches.csv")
    (folder / "data" / "up").symlink_to(folder, target_is_directory=True)  # a loop
    found = scan([folder])
    assert found.skipped == [] and found.unreadable == []
    assert found.files == [folder / "data" / "batches.csv", folder / "latest.csv"]
    result = load(db, [folder])
    assert [f.status for f in result.files] == ["loaded", "already-loaded"]
    assert counts(db)["batches"] == 1


def test_a_named_link_is_read_as_named(tmp_path: Path, db: Path) -> None:
    target = write_csv(tmp_path / "elsewhere" / "products.csv", [VALID["products"]])
    link = tmp_path / "in" / "products.csv"
    link.parent.mkdir()
    link.symlink_to(target)
    result = load(db, [link])
    assert [f.status for f in result.files] == ["loaded"] and counts(db)["products"] == 1
