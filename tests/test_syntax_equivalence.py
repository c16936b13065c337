"""The same events as JSON Lines, as an EPCIS 2.0 JSON-LD document and as EPCIS XML (2.0
and 1.2) are stored as the same rows.

Events come from the sample quarter's generator (one of each shape it writes: commission
with ILMD, bulk commission, destruction, packing and unpacking, shipping and receiving with
business transactions and parties); hypothesis picks a few, writes every CBV value in one
of its spellings (bare word, CBV 1.x URN, Web URI, ``cbv:`` CURIE), in a case and with
blanks around it, and may drop an event's ``eventID`` (so that its key is the event hash;
not of an event with ILMD, see below) or add an error declaration. Each form is loaded
with the real loader into a store of its own, and every event table is compared, sorted.

Left out of the comparison, as being about the file rather than the events:
``events.load_id``, ``events.source_file``, ``events.source_line`` and
``events.content_hash`` (the digest of the event's text as received, which differs with
the syntax by design: a later copy in another syntax is sorted as the same event in
another form), and the text of ``event_payloads.payload`` (the event as received); which
events have a payload is compared, but for events with ILMD. An XML event's ILMD is in the
CBV master-data namespace as the XML binding writes it (``urn:epcglobal:cbv:mda``, where
the JSON-LD context has ``urn:epcglobal:cbv:mda:``); the reader declares it in an
``@context`` of the event, which keeps the event's payload and enters its event hash. Both
follow the standard's reference vectors, so events with ILMD keep their ``eventID`` here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import duckdb
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from traceability.load import load
from traceability.sample.events import CONTEXT, render_events, to_json
from traceability.sample.scenario import build
from traceability.sample.spellings import CASES, PADDINGS, SPELLINGS, respell, spell
from traceability.sample.xml import Layout, xml_document

Event = dict[str, Any]
Form = Literal["lines", "document", "xml-2.0", "xml-1.2"]
FORMS: tuple[Form, ...] = ("lines", "document", "xml-2.0", "xml-1.2")
CREATED = "2026-04-01T00:00:00Z"

#: Each event table and the columns left out (see the module's docstring).
TABLES: dict[str, str] = {
    "events": "SELECT * EXCLUDE (load_id, source_file, source_line, content_hash) FROM events",
    "epc_prefixes": "SELECT * FROM epc_prefixes",
    "epc_rows": "SELECT * FROM epc_rows",
    "event_quantities": "SELECT * FROM event_quantities",
    "event_biz_transactions": "SELECT * FROM event_biz_transactions",
    "event_parties": "SELECT * FROM event_parties",
    # An XML event's ILMD in the CBV master-data namespace is declared in an @context of
    # the event (urn:epcglobal:cbv:mda, not the JSON-LD context's urn:epcglobal:cbv:mda:),
    # which keeps its payload: by design, like its event hash (see the XML reader).
    "event_payloads": "SELECT event_row FROM event_payloads JOIN events USING (event_row) "
    "WHERE lot IS NULL",
}


def _shape(event: Event) -> tuple[Any, ...]:
    return (
        event["type"],
        event.get("action"),
        *(name in event for name in ("ilmd", "quantityList", "epcList", "bizTransactionList")),
    )


def _pool() -> list[Event]:
    """One event of each shape the sample generator writes, from two seeds, with their
    EPC lists cut to three (the lists' length is not what differs between syntaxes)."""
    pool: dict[tuple[Any, ...], Event] = {}
    for seed in (0, 1):
        for line in render_events(build(seed, 120, 1)):
            event = json.loads(line, parse_float=Decimal)
            for name in ("epcList", "childEPCs"):
                if name in event:
                    event[name] = event[name][:3]
            pool.setdefault((seed, *_shape(event)), event)
    return list(pool.values())


POOL = _pool()


@st.composite
def events(draw: st.DrawFn) -> list[Event]:
    picked = draw(st.lists(st.sampled_from(POOL), min_size=1, max_size=4, unique_by=id))
    out = []
    for event in picked:

        def choose(vocabulary: str, word: str) -> str:
            return spell(
                vocabulary,
                word,
                draw(st.sampled_from(SPELLINGS)),
                case=draw(st.sampled_from(CASES)),
                padding=draw(st.sampled_from(PADDINGS)),
            )

        if draw(st.booleans()):
            event = {
                **event,
                "errorDeclaration": {"declarationTime": CREATED, "reason": "incorrect_data"},
            }
        event = respell(event, choose)
        # Without an eventID the key is the event hash, which tells an XML document's
        # master-data namespace from JSON-LD's (as the reference vectors do): not for ILMD.
        if "ilmd" not in event and draw(st.booleans()):
            del event["eventID"]
        out.append(event)
    return out


def write(path: Path, form: Form, events: Sequence[Event]) -> Path:
    if form == "lines":
        path.write_text("".join(to_json(e) + "\n" for e in events), encoding="utf-8")
    elif form == "document":
        document = {
            "@context": [CONTEXT],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": CREATED,
            "epcisBody": {"eventList": list(events)},
        }
        path.write_text(to_json(document), encoding="utf-8")
    else:
        version: Literal["2.0", "1.2"] = "2.0" if form == "xml-2.0" else "1.2"
        entries = [(e, Layout(vocabulary="as-given")) for e in events]
        path.write_bytes(xml_document(entries, version, creation_date=CREATED))
    return path


def stored(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {
            # As text: what is compared is what was stored, in the store's own spelling.
            table: sorted(con.execute(f"SELECT COLUMNS(*)::VARCHAR FROM ({sql})").fetchall())
            for table, sql in TABLES.items()
        }
    finally:
        con.close()


@pytest.mark.slow
@settings(
    max_examples=4,
    deadline=None,
    database=None,
    # Four loads an example: a failure names its events rather than shrink them for minutes.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(events())
def test_every_syntax_stores_the_same_rows(tmp_path: Path, events: list[Event]) -> None:
    rows: dict[Form, dict[str, list[tuple[Any, ...]]]] = {}
    for n, form in enumerate(FORMS):
        folder = tmp_path / f"{id(events)}-{n}"
        folder.mkdir()
        suffix = {"lines": ".jsonl", "document": ".jsonld"}.get(form, ".xml")
        path = write(folder / f"events{suffix}", form, events)
        result = load(folder / "store.duckdb", [path], kind="events")
        assert [f.accepted for f in result.files] == [len(events)], (form, result.rejections)
        rows[form] = stored(folder / "store.duckdb")
    assert rows["lines"]["events"], "nothing stored"
    for form in FORMS[1:]:
        for table in TABLES:
            assert rows[form][table] == rows["lines"][table], (form, table)
