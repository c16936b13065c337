"""The staged EPCIS event loader: each stage on a chunk, the chunk's tables, progress."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from conftest import event, write_jsonl

from traceability.load import load
from traceability.load.epcis import pipeline
from traceability.load.epcis.chunk import Chunk, Lines, LoadState
from traceability.load.epcis.identify import identify
from traceability.load.epcis.second_look import look
from traceability.load.epcis.stage_check import check
from traceability.load.epcis.terms import CBV_MACRO
from traceability.load.identifiers_sql import SQL_MACROS
from traceability.store import connect

GOOD = event("urn:uuid:good", [1, 2])


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    """A new store with the loader's macros, shared by the tests of this module (each
    chunk's tables are its own; only the progress test stores events)."""
    connection = connect(tmp_path_factory.mktemp("stages") / "store.duckdb")
    for macro in (*SQL_MACROS, *CBV_MACRO.split(";\n")):
        connection.execute(macro)
    yield connection
    connection.close()


def _chunk(con: duckdb.DuckDBPyConnection, lines: list[str]) -> Chunk:
    return Chunk(con, Lines(1, lines), LoadState(1, "test.jsonl", lines=True))


def _problems(chunk: Chunk) -> dict[int, str | None]:
    return dict(chunk.sql("SELECT rec, problem FROM tc_ev ORDER BY rec").fetchall())


def test_the_check_stage_names_the_first_problem_of_each_line(
    con: duckdb.DuckDBPyConnection,
) -> None:
    lines = [
        json.dumps(GOOD),
        '{"type": "ObjectEvent",',
        "[1, 2]",
        json.dumps({**GOOD, "type": "Event"}),
        json.dumps({**GOOD, "eventTime": "yesterday"}),
        json.dumps({**GOOD, "action": "MOVE"}),
        "   ",
    ]
    chunk = check(_chunk(con, lines))
    assert _problems(chunk) == {
        1: None,
        2: "bad-json",
        3: "not-an-object",
        4: "bad-event-type",
        5: "bad-event-time",
        6: "bad-action",
    }


def test_the_check_stage_normalises_vocabulary_and_local_date(
    con: duckdb.DuckDBPyConnection,
) -> None:
    spelled = {
        **GOOD,
        "bizStep": " urn:epcglobal:cbv:bizstep:Shipping\t",
        "disposition": "cbv:Disp-in_transit",
        "eventTime": "2026-01-31T23:30:00-05:00",
        "eventTimeZoneOffset": "-05:00",
    }
    chunk = check(_chunk(con, [json.dumps(spelled)]))
    row = chunk.sql("SELECT biz_step, disposition, local_date::VARCHAR FROM tc_ev").fetchone()
    assert row == ("shipping", "in_transit", "2026-01-31")


def test_the_second_look_hashes_events_without_an_id_and_reads_exact_quantities(
    con: duckdb.DuckDBPyConnection,
) -> None:
    counted = {
        **event(None, []),
        "quantityList": [
            {"epcClass": "urn:epc:class:lgtin:8901234.000001.L1", "quantity": 0.1, "uom": "KGM"}
        ],
    }
    chunk = look(check(_chunk(con, [json.dumps(counted)])))
    (digest,) = chunk.sql("SELECT event_hash FROM tc_ev").fetchone() or (None,)
    assert isinstance(digest, str) and digest.startswith("ni:///sha-256;")
    assert [(q[1], q[6], q[7]) for q in chunk.found.quantities] == [("quantityList", "0.1", "KGM")]


def test_the_identify_stage_rejects_an_event_whose_only_epc_is_invalid(
    con: duckdb.DuckDBPyConnection,
) -> None:
    bad = {**event("urn:uuid:bad", []), "epcList": ["urn:epc:id:sgtin:8901234.000001"]}
    parent = {**event("urn:uuid:parent", [3]), "parentID": "urn:epc:id:sscc:8901234.0000000019"}
    chunk = identify(look(check(_chunk(con, [json.dumps(GOOD), json.dumps(bad)]))))
    assert _problems(chunk) == {1: None, 2: "bad-epc"}
    fast = chunk.sql("SELECT epc_prefix FROM tc_ev WHERE rec = 1").fetchone()
    assert fast == ("urn:epc:id:sgtin:8901234.000001.",)
    assert chunk.sql("SELECT count(*) FROM tc_pfx WHERE gtin IS NOT NULL").fetchone() == (1,)
    chunk = identify(look(check(_chunk(con, [json.dumps(parent)]))))
    assert _problems(chunk) == {1: None}
    keys = chunk.sql("SELECT raw, key FROM tc_ids").fetchall()
    assert keys == [("urn:epc:id:sscc:8901234.0000000019", keys[0][1])] and keys[0][1]


def test_a_chunks_tables_are_in_scope_for_its_queries_only_and_never_in_the_catalog(
    con: duckdb.DuckDBPyConnection,
) -> None:
    chunk = _chunk(con, [json.dumps(GOOD)])
    chunk.put("tc_extra", pa.table({"rec": [1, 2]}))
    assert chunk.keep("tc_both", "SELECT rec FROM tc_lines JOIN tc_extra USING (rec)").num_rows == 1
    tc_hidden = pa.table({"rec": [1]})  # a local variable is not a table of the chunk
    with pytest.raises(duckdb.CatalogException):
        chunk.sql("SELECT * FROM tc_hidden")
    assert tc_hidden.num_rows == 1
    with pytest.raises(duckdb.CatalogException):
        con.execute("SELECT * FROM tc_both")
    names = con.execute(
        "SELECT view_name FROM duckdb_views() WHERE view_name LIKE 'tc_%' "
        "UNION ALL SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'tc_%'"
    ).fetchall()
    assert names == []


def test_progress_reaches_the_listener_given_to_load_events(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_jsonl(tmp_path / "events.jsonl", [event(f"urn:uuid:e{i}", [i]) for i in range(12)])
    monkeypatch.setattr(pipeline, "CHUNK_BYTES", 1500)
    heard: list[tuple[int, int | None]] = []
    outcome = pipeline.load_events(
        con,
        path,
        document=False,
        load_id=1,
        source=str(path),
        progress=lambda records, done: heard.append((records, done)),
    )
    assert outcome.accepted == 12
    assert len(heard) > 1
    assert [r for r, _ in heard] == sorted(r for r, _ in heard) and heard[-1][0] == 12
    assert heard[-1][1] == path.stat().st_size
    silent = pipeline.load_events(con, path, document=False, load_id=2, source=str(path))
    assert silent.duplicates == 12


def _stored(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_vocabulary_with_surrounding_whitespace_is_stored_as_its_bare_term(
    tmp_path: Path,
) -> None:
    spelled = {
        **event("urn:uuid:v1", [7], biz_step="\thttps://ref.gs1.org/cbv/BizStep-shipping \n"),
        "disposition": " urn:epcglobal:cbv:disp:IN_TRANSIT",
        "bizTransactionList": [{"type": "cbv:BTT-po ", "bizTransaction": "urn:x:po:1"}],
        "sourceList": [{"type": " urn:epcglobal:cbv:sdt:owning_party", "source": "urn:x:p:1"}],
    }
    own = event("urn:uuid:v2", [8], biz_step=" https://example.org/steps/Shipping ")
    write_jsonl(tmp_path / "in" / "events.jsonl", [spelled])
    document = {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-02-01T00:00:00Z",
        "epcisBody": {"eventList": [{**spelled, "eventID": "urn:uuid:d1"}, own]},
    }
    (tmp_path / "in" / "events.jsonld").write_text(json.dumps(document))
    db = tmp_path / "store.duckdb"
    load(db, [tmp_path / "in"])
    assert _stored(db, "SELECT event_id, biz_step, disposition FROM events ORDER BY 1") == [
        ("urn:uuid:d1", "shipping", "in_transit"),
        ("urn:uuid:v1", "shipping", "in_transit"),
        ("urn:uuid:v2", "https://example.org/steps/Shipping", None),
    ]
    assert _stored(db, "SELECT type FROM event_biz_transactions") == [("po",), ("po",)]
    assert _stored(db, "SELECT type FROM event_parties") == [("owning_party",)] * 2


def test_a_failure_while_the_next_chunk_is_checked_waits_for_the_check_and_undoes_the_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The check stage of the next chunk runs on a thread while this one is written; a
    # write that fails must end the load as before (nothing stored), and only once the
    # check running beside it has finished: no thread is left working on the store.
    path = write_jsonl(tmp_path / "events.jsonl", [event(f"urn:uuid:f{i}", [i]) for i in range(30)])
    monkeypatch.setattr(pipeline, "CHUNK_BYTES", 1500)
    failed, checked_after = threading.Event(), threading.Event()
    real_write, real_check = pipeline.write_events, pipeline.check
    writes: list[int] = []

    def failing_write(chunk: Chunk) -> tuple[pipeline.EventOutcome, bool]:
        writes.append(chunk.lines.first)
        if len(writes) == 2:
            failed.set()
            raise RuntimeError("the disk is full")
        return real_write(chunk)

    checks: list[int] = []

    def check_beside(chunk: Chunk) -> Chunk:
        checks.append(chunk.lines.first)
        if len(checks) == 3:  # the check submitted as the second chunk is written
            assert failed.wait(timeout=30)
            out = real_check(chunk)
            checked_after.set()
            return out
        return real_check(chunk)

    monkeypatch.setattr(pipeline, "write_events", failing_write)
    monkeypatch.setattr(pipeline, "check", check_beside)
    db = tmp_path / "store.duckdb"
    with pytest.raises(RuntimeError, match="the disk is full"):
        load(db, [path])
    assert checked_after.is_set()
    assert not [t for t in threading.enumerate() if t.name.startswith("tracecheck-check")]
    monkeypatch.setattr(pipeline, "write_events", real_write)
    monkeypatch.setattr(pipeline, "check", real_check)
    again = load(db, [path])  # the store is free and holds nothing of the failed load
    assert again.files[0].accepted == 30


def test_the_check_stage_runs_ahead_on_its_own_cursor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_jsonl(tmp_path / "events.jsonl", [event(f"urn:uuid:t{i}", [i]) for i in range(30)])
    monkeypatch.setattr(pipeline, "CHUNK_BYTES", 1500)
    where: list[str] = []
    real_check = pipeline.check

    def watched_check(chunk: Chunk) -> Chunk:
        where.append(threading.current_thread().name)
        return real_check(chunk)

    monkeypatch.setattr(pipeline, "check", watched_check)
    result = load(tmp_path / "store.duckdb", [path])
    assert result.files[0].accepted == 30
    assert len(where) > 2 and all(name.startswith("tracecheck-check") for name in where)
