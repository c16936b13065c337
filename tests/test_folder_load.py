"""One pass over a folder: every unreadable file reported in one run, the rest loaded."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from conftest import VALID, counts, event, write_csv, write_jsonl

from traceability.cli import cli
from traceability.errors import ExitCode, LoadIncomplete
from traceability.load import LoadResult, load


def _mixed_folder(folder: Path) -> tuple[list[Path], list[Path]]:
    """Two good files and three that cannot be read, each for another reason."""
    good = [
        write_csv(folder / "products.csv", [VALID["products"]]),
        write_csv(folder / "sub" / "batches.csv", [VALID["batches"]]),
    ]
    columns = folder / "columns.csv"
    columns.write_text("colour,size\nred,4\n", encoding="utf-8")
    empty = folder / "sub" / "empty.csv"
    empty.write_bytes(b"")
    not_xml = folder / "events.xml"
    not_xml.write_text('{"type": "ObjectEvent"}\n', encoding="utf-8")
    return good, [columns, not_xml, empty]


def _failed_load(db: Path, paths: list[Path], *, strict: bool = False) -> LoadResult:
    with pytest.raises(LoadIncomplete) as caught:
        load(db, paths, strict=strict)
    assert isinstance(caught.value.result, LoadResult)
    return caught.value.result


def _loaded_sources(db: Path) -> list[str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return [r[0] for r in con.execute("SELECT path FROM loads ORDER BY 1").fetchall()]
    finally:
        con.close()


def test_one_run_reports_all_three_unreadable_files_and_loads_the_two(
    tmp_path: Path, db: Path
) -> None:
    good, bad = _mixed_folder(tmp_path / "in")
    result = _failed_load(db, [tmp_path / "in"])
    assert sorted((p.path, p.code) for p in result.unreadable) == sorted(
        [(str(bad[0]), "unknown-kind"), (str(bad[1]), "unreadable"), (str(bad[2]), "empty-file")]
    )
    assert sorted(f.path for f in result.files) == sorted(map(str, good))
    assert _loaded_sources(db) == sorted(map(str, good))
    assert counts(db)["products"] == 1 and counts(db)["batches"] == 1


def test_the_command_lists_every_unreadable_file_loads_the_rest_and_exits_2(
    tmp_path: Path, db: Path
) -> None:
    good, bad = _mixed_folder(tmp_path / "in")
    out = CliRunner().invoke(cli, ["load", "--db", str(db), str(tmp_path / "in")])
    assert out.exit_code == ExitCode.BAD_INPUT, out.output
    errors = [line for line in out.stderr.splitlines() if line.startswith("error: ")]
    for path in bad:
        assert sum(str(path) in line for line in errors) == 1
    assert "Traceback" not in out.output
    assert "products" in out.stdout and "batches" in out.stdout  # the summary's kinds
    assert _loaded_sources(db) == sorted(map(str, good))


def test_strict_loads_nothing_and_still_lists_every_unreadable_file(
    tmp_path: Path, db: Path
) -> None:
    _, bad = _mixed_folder(tmp_path / "in")
    result = _failed_load(db, [tmp_path / "in"], strict=True)
    assert sorted(p.path for p in result.unreadable) == sorted(map(str, bad))
    assert counts(db)["loads"] == 0 and counts(db)["products"] == 0
    out = CliRunner().invoke(cli, ["load", "--db", str(db), "--strict", str(tmp_path / "in")])
    assert out.exit_code == ExitCode.BAD_INPUT
    assert all(str(p) in out.stderr for p in bad)
    assert counts(db)["loads"] == 0


def test_a_file_that_fails_as_it_loads_is_listed_and_the_others_load_once(
    tmp_path: Path, db: Path
) -> None:
    folder = tmp_path / "in"
    first = write_csv(folder / "a-products.csv", [VALID["products"]])
    broken = write_csv(folder / "b-batches.csv", [VALID["batches"]])
    with broken.open("ab") as f:  # its header is fine; its third line is not UTF-8
        f.write(b"8901234000007,8901234000007,08901234000014,L\xff,5,H87,2026-01-05,2028-01-05\n")
    last = write_csv(folder / "c-consignments.csv", [VALID["consignments"]])
    result = _failed_load(db, [folder])
    assert [(p.path, p.code) for p in result.unreadable] == [(str(broken), "unreadable")]
    assert [f.path for f in result.files] == [str(first), str(last)]
    assert _loaded_sources(db) == [str(first), str(last)]
    assert (counts(db)["products"], counts(db)["batches"], counts(db)["consignments"]) == (1, 0, 1)


def test_what_a_folder_holds_that_is_not_read_is_listed_with_why(tmp_path: Path, db: Path) -> None:
    folder = tmp_path / "in"
    write_csv(folder / "products.csv", [VALID["products"]])
    (folder / "notes.txt").write_text("see the products file\n", encoding="utf-8")
    (folder / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    (folder / ".hidden.csv").write_text("a,b\n", encoding="utf-8")
    write_csv(folder / ".cache" / "batches.csv", [VALID["batches"]])
    result = load(db, [folder])
    assert sorted((Path(s.path).name, s.code) for s in result.skipped) == [
        (".cache", "hidden"),
        (".hidden.csv", "hidden"),
        ("notes.txt", "unknown-type"),
        ("old.xls", "unknown-type"),
    ]
    assert [Path(f.path).name for f in result.files] == ["products.csv"]
    again = CliRunner().invoke(cli, ["load", "--db", str(db), str(folder)])
    assert again.exit_code == ExitCode.OK, again.output
    skipped = [line for line in again.stdout.splitlines() if line.startswith("skipped: ")]
    assert len(skipped) == 4 and any("notes.txt" in line for line in skipped)
    assert "already loaded" in again.stdout  # products.csv, the second time


def test_a_file_named_that_cannot_be_read_is_a_problem_not_a_skip(tmp_path: Path, db: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("products\n", encoding="utf-8")
    good = write_csv(tmp_path / "products.csv", [VALID["products"]])
    result = _failed_load(db, [notes, good, tmp_path / "gone.csv"])
    assert [(Path(p.path).name, p.code) for p in result.unreadable] == [
        ("gone.csv", "missing"),
        ("notes.txt", "unknown-type"),
    ]
    assert result.skipped == [] and _loaded_sources(db) == [str(good)]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("events.xml", b""),
        ("events.xml", b" \n\t\r\n"),
        ("events.jsonl", b"\n\n"),
        ("events.json", b"\xef\xbb\xbf  \n"),
        ("consignments.csv", b"   "),
        ("products.parquet", b""),
        ("filings.xlsx", b""),
    ],
)
def test_an_empty_or_blank_file_is_reported_as_empty_and_not_recorded(
    tmp_path: Path, db: Path, name: str, content: bytes
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    result = _failed_load(db, [path])
    assert [(p.path, p.code) for p in result.unreadable] == [(str(path), "empty-file")]
    assert result.files == [] and counts(db)["loads"] == 0


def test_a_xml_file_is_read_as_xml_only(tmp_path: Path, db: Path) -> None:
    lines = write_jsonl(tmp_path / "events.xml", [event("urn:uuid:x1", [1])])
    result = _failed_load(db, [lines])
    assert [p.code for p in result.unreadable] == ["unreadable"]
    assert counts(db)["events"] == 0 and counts(db)["loads"] == 0
