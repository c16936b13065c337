"""``tracecheck validate``: the sender's check lists every reject and note, and loads nothing."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from traceability import validate
from traceability.cli import cli
from traceability.errors import UnknownKind

DOCS = Path(__file__).resolve().parents[1] / "docs"
SERIAL = "https://id.gs1.org/01/08901234000014/21/S{:04d}"


def event(number: int, **fields: Any) -> dict[str, Any]:
    """A well-formed commissioning event; ``fields`` change or add fields."""
    base: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventID": f"urn:uuid:6f1c2a3e-0d4b-4c39-9a51-1a2b3c4d{number:04d}",
        "eventTime": "2026-01-05T09:00:00+05:30",
        "eventTimeZoneOffset": "+05:30",
        "epcList": [SERIAL.format(number)],
        "action": "ADD",
        "bizStep": "commissioning",
        "disposition": "active",
        "readPoint": {"id": "urn:epc:id:sgln:8901234.00010.0"},
        "ilmd": {"cbvmda:lotNumber": "PSE26001", "cbvmda:itemExpirationDate": "2028-12-31"},
    }
    return {**base, **fields}


def write_events(path: Path, *events: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return path


def clean(path: Path) -> Path:
    return write_events(path, event(1), event(2))


def mixed(path: Path) -> Path:
    """Line 1: an unreadable eventTime (a reject); line 2: ILMD on an OBSERVE (a warning)."""
    return write_events(path, event(1, eventTime="yesterday"), event(2, action="OBSERVE"))


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, ["validate", *map(str, args)])


@pytest.fixture
def in_tmp(tmp_path: Path) -> Iterator[Path]:
    """Run in ``tmp_path``, so that anything written to the working folder is seen."""
    before = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(before)


def files_under(folder: Path) -> set[Path]:
    return {p.relative_to(folder) for p in folder.rglob("*")}


def test_a_clean_file_conforms_and_exits_0(tmp_path: Path) -> None:
    out = run(clean(tmp_path / "events.jsonl"))
    assert out.exit_code == 0, out.output
    assert out.stdout == "1 file(s) conform: no notes, no rejects\n"
    assert out.stderr == ""


def test_a_reject_and_a_note_are_both_listed_with_their_lines_and_exit_1(
    tmp_path: Path,
) -> None:
    path = mixed(tmp_path / "events.jsonl")
    out = run(path)
    assert out.exit_code == 1, out.output
    lines = out.stdout.splitlines()
    assert lines[0].startswith(f"{path}:1: [reject] bad-event-time: eventTime: ")
    assert re.match(rf"{re.escape(str(path))}:2: \[(warning|note)\] ilmd-without-add: ", lines[1])
    assert lines[-1] == "1 file(s): 1 reject, 1 note (1 warning)"
    assert len(lines) == 3


def test_an_unreadable_file_exits_2_and_the_others_are_still_checked(tmp_path: Path) -> None:
    semicolons = tmp_path / "consignments.csv"
    semicolons.write_text("declaration_id;line;direction\nD1;1;export\n", encoding="utf-8")
    missing = tmp_path / "missing.jsonl"
    events = mixed(tmp_path / "events.jsonl")
    out = run(semicolons, missing, events)
    assert out.exit_code == 2, out.output
    errors = out.stderr.splitlines()
    assert len(errors) == 2
    assert errors[0].startswith(f"error: {semicolons}: cannot tell what kind of file")
    assert errors[1] == f"error: {missing}: no such file or folder"
    assert f"{events}:1: [reject] bad-event-time" in out.stdout
    summary = "3 file(s): 2 cannot be read, 1 reject, 1 note (1 warning)"
    assert out.stdout.splitlines()[-1] == summary
    assert "Traceback" not in out.output


def test_json_lists_files_rejects_and_notes_with_their_locations(tmp_path: Path) -> None:
    path = mixed(tmp_path / "events.jsonl")
    out = run("--format", "json", path, clean(tmp_path / "clean.jsonl"))
    assert out.exit_code == 1, out.output
    result = json.loads(out.stdout)
    assert result["summary"] == {
        "files": 2,
        "unreadable": 0,
        "rejects": 1,
        "notes": 1,
        "warnings": 1,
        "conforms": False,
    }
    first, second = result["files"]
    assert {k: first[k] for k in ("path", "kind", "format", "records", "rejected", "error")} == {
        "path": str(path),
        "kind": "events",
        "format": "jsonl",
        "records": 2,
        "rejected": 1,
        "error": None,
    }
    (reject,) = first["rejects"]
    assert (reject["level"], reject["code"], reject["line"]) == ("reject", "bad-event-time", 1)
    (note,) = first["notes"]
    assert (note["level"], note["code"], note["line"]) == ("warning", "ilmd-without-add", 2)
    assert "ilmd" in note["location"]
    assert second["rejects"] == second["notes"] == [] and second["records"] == 2


def test_json_of_an_unreadable_file_says_why(tmp_path: Path) -> None:
    out = run("--format", "json", tmp_path / "missing.csv")
    assert out.exit_code == 2
    (entry,) = json.loads(out.stdout)["files"]
    assert entry["error"] == f"{tmp_path / 'missing.csv'}: no such file or folder"
    assert entry["kind"] is None


def test_nothing_is_written_but_the_output_file(in_tmp: Path) -> None:
    (in_tmp / "outbox").mkdir()
    mixed(in_tmp / "outbox" / "events.jsonl")
    clean(in_tmp / "outbox" / "clean.jsonl")
    before = files_under(in_tmp)
    out = run("outbox/events.jsonl", "outbox")
    assert out.exit_code == 1
    assert files_under(in_tmp) == before

    out = run("--format", "json", "--output", "check.json", "outbox/events.jsonl")
    assert out.exit_code == 1 and out.stdout == ""
    assert files_under(in_tmp) == before | {Path("check.json")}
    assert json.loads((in_tmp / "check.json").read_text())["summary"]["rejects"] == 1

    out = run("--output", "check.txt", "outbox")
    assert out.exit_code == 1 and out.stdout == ""
    assert files_under(in_tmp) == before | {Path("check.json"), Path("check.txt")}
    text = (in_tmp / "check.txt").read_text()
    assert text.splitlines()[-1] == "2 file(s): 1 reject, 1 note (1 warning)"


def test_the_same_content_twice_is_checked_twice(tmp_path: Path) -> None:
    a = mixed(tmp_path / "a.jsonl")
    b = mixed(tmp_path / "b.jsonl")
    result = validate([a, a, b])
    assert [(f.path, len(f.rejects), len(f.notes)) for f in result.files] == [
        (str(a), 1, 1),
        (str(a), 1, 1),
        (str(b), 1, 1),
    ]
    assert result.summary() == "3 file(s): 3 rejects, 3 notes (3 warnings)"


def test_folders_are_walked_and_kinds_detected(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    (outbox / "events").mkdir(parents=True)
    clean(outbox / "events" / "a.jsonl")
    (outbox / "products.csv").write_text(
        (DOCS / "data" / "samples" / "products.csv").read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    (outbox / "notes.txt").write_text("not an input file", encoding="utf-8")
    result = validate([outbox])
    assert [(Path(f.path).name, f.kind) for f in result.files] == [
        ("a.jsonl", "events"),
        ("products.csv", "products"),
    ]
    assert result.conforms and int(result.exit_code) == 0


def test_extra_columns_are_a_note_on_the_header_line(tmp_path: Path) -> None:
    sample = (DOCS / "data" / "samples" / "products.csv").read_text(encoding="utf-8")
    header, *rows = sample.splitlines()
    path = tmp_path / "products.csv"
    path.write_text("\n".join([header + ",colour", *(r + ",red" for r in rows)]) + "\n")
    out = run(path)
    assert out.exit_code == 1, out.output
    assert out.stdout.splitlines()[0] == (
        f"{path}:1: [note] extra-columns: extra columns kept: colour (not in the table of products)"
    )


def test_kind_can_be_given(tmp_path: Path) -> None:
    path = clean(tmp_path / "events.jsonl")
    assert run("--kind", "events", path).exit_code == 0
    out = run("--kind", "products", path)
    assert out.exit_code == 2 and "Traceback" not in out.output
    with pytest.raises(UnknownKind):
        validate([path], kind="parcels")


def test_an_event_document_gives_event_positions(tmp_path: Path) -> None:
    document = {
        "@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-01-05T09:00:00Z",
        "epcisBody": {"eventList": [event(1, eventTime="yesterday"), event(2, action="OBSERVE")]},
    }
    path = tmp_path / "document.json"
    path.write_text(json.dumps(document, indent=1), encoding="utf-8")
    out = run(path)
    assert out.exit_code == 1, out.output
    lines = out.stdout.splitlines()
    assert lines[0].startswith(f"{path}: event 1: [reject] bad-event-time: ")
    assert lines[1].startswith(f"{path}: event 2") and "ilmd-without-add" in lines[1]


def test_control_characters_of_a_file_name_are_shown_escaped(tmp_path: Path) -> None:
    path = mixed(tmp_path / "ev\x1b[31m.jsonl")
    out = run(path)
    assert "\x1b" not in out.output
    assert "ev\\x1b[31m.jsonl:1: [reject]" in out.stdout
    as_json = run("--format", "json", path).stdout
    assert "\x1b" not in as_json
    assert json.loads(as_json)["files"][0]["path"] == str(path)


def test_the_samples_of_the_docs_conform() -> None:
    out = run(DOCS / "data" / "samples")
    assert out.exit_code == 0, out.output
    assert out.stdout == "7 file(s) conform: no notes, no rejects\n"
