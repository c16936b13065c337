"""The planned shipment, loaded into an in-memory catalog beside the attached store.

The consignments file goes through the ordinary loader (checked and normalised as a load
would, its rejections refused as a whole), and so does an EPCIS document of planned
packing and shipping events. EPCs listed one a line become one planned shipping event
carrying the shipment's ref, and the lines' lots one planned shipping event with a
quantity per lot; their rows are written straight into the catalog's event tables. A planned
shipping event names the lines' declarant as the party that ships (its source's owning party)
and their counterparty as the one it goes to, where the lines name one each; a planned
shipping event of an EPCIS document that names no shipping party gets the declarant.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import duckdb
import pyarrow as pa

from traceability.errors import InputError, StoreError, UnreadableFile, first_line
from traceability.load import Rejection, load, sha256_of
from traceability.load.epcis.identify_sql import FAST_SGTIN
from traceability.load.identifiers import DL_ROOT, Epc, parse_epc
from traceability.model import InputFile
from traceability.sql import UnsafeSQLText, literal
from traceability.store import create_all

STORE, PLANNED = "tc_store", "tc_planned"
_FAST_SGTIN = re.compile(FAST_SGTIN)  # the loader's: serials that need no decoding
_UNSEEN = Epc("", "other", "")
_SHOWN_REJECTS = 5


@dataclass(frozen=True)
class Plan:
    """The planned shipment as loaded into the planned catalog."""

    shipment_ref: str
    ship_date: date
    lines: tuple[str, ...]  # declaration_id/line
    events: tuple[str, ...]  # event keys
    inputs: tuple[InputFile, ...]


def attach(con: duckdb.DuckDBPyConnection, db: Path) -> None:
    """Attach the store read-only as ``tc_store``, and an empty ``tc_planned`` catalog."""
    try:
        con.execute(f"ATTACH {literal(str(db))} AS {STORE} (READ_ONLY)")
    except UnsafeSQLText:
        raise StoreError(
            f"{db!r}: cannot open database: a path cannot hold a NUL character"
        ) from None
    except duckdb.Error as exc:
        raise StoreError(f"{db}: cannot open database: {first_line(exc)}") from None
    con.execute(f"ATTACH ':memory:' AS {PLANNED}")


def one(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> Any:
    """The first value of the first row of a query, or None."""
    row = con.execute(sql, list(params)).fetchone()
    return row[0] if row else None


def load_plan(
    con: duckdb.DuckDBPyConnection, shipment: Path, epcs: Path | None, leaves: date | None
) -> Plan:
    """Load the planned files into ``tc_planned``, numbered after the store's rows.

    Raises:
        InputError: a file that cannot be read or holds rejected records, lines that are not
            one shipment's exports, EPCs that are not SGTINs or SSCCs.
    """
    next_load = int(one(con, f"SELECT coalesce(max(load_id), 0) + 1 FROM {STORE}.main.loads"))
    next_prefix = int(
        one(con, f"SELECT coalesce(max(prefix_id), 0) + 1 FROM {STORE}.main.epc_prefixes")
    )
    con.execute(f"USE {PLANNED}")
    try:
        create_all(con)
        # planned rows come after the store's: later versions, distinct event rows and ids
        con.execute(f"DROP SEQUENCE load_ids; CREATE SEQUENCE load_ids START {next_load}")
        con.execute(
            f"DROP SEQUENCE epc_prefix_ids; CREATE SEQUENCE epc_prefix_ids START {next_prefix}"
        )
        _accept(shipment, load(con, [shipment], kind="consignments").rejections)
        ref, ship_date = _check_lines(con, shipment, leaves)
        inputs = [_input(con, shipment, "consignments")]
        keys: list[str] = []
        if epcs is not None and epcs.suffix.lower() in (".json", ".jsonld", ".jsonl", ".xml"):
            _accept(epcs, load(con, [epcs], kind="events").rejections)
            keys += _claim_shipping(con, epcs, ref)
            inputs.append(_input(con, epcs, "events"))
        elif epcs is not None:
            listed = _read_epc_list(epcs)
            keys.append(_epc_event(con, ref, ship_date, listed, epcs))
            inputs.append(InputFile(str(epcs), sha256_of(epcs), "events", len(listed), 0))
        lots = _lot_event(con, ref, ship_date, shipment)
        if lots is not None:
            keys.append(lots)
        lines = con.execute(
            "SELECT declaration_id || '/' || coalesce(line, '1') FROM consignments ORDER BY 1"
        ).fetchall()
    finally:
        con.execute("USE memory")
    return Plan(ref, ship_date, tuple(r[0] for r in lines), tuple(keys), tuple(inputs))


def _accept(path: Path, rejections: Sequence[Rejection]) -> None:
    if not rejections:
        return
    shown = "; ".join(str(r) for r in rejections[:_SHOWN_REJECTS])
    more = len(rejections) - _SHOWN_REJECTS
    tail = f"; and {more} more" if more > 0 else ""
    raise InputError(
        f"{shown}{tail}", hint=f"fix {path.name}: a planned shipment is checked only when whole"
    )


def _input(con: duckdb.DuckDBPyConnection, path: Path, kind: str) -> InputFile:
    row = con.execute(
        "SELECT sha256, records, rejected FROM loads WHERE path = ? ORDER BY load_id LIMIT 1",
        [str(path)],
    ).fetchone()
    if row is None:  # the same file was given twice
        return InputFile(str(path), sha256_of(path), kind, 0, 0)
    return InputFile(str(path), str(row[0]), kind, int(row[1]), int(row[2]))


def _check_lines(
    con: duckdb.DuckDBPyConnection, path: Path, leaves: date | None
) -> tuple[str, date]:
    """The shipment's ref and day; every line an export of that one shipment."""
    rows = con.execute(
        "SELECT source_line, direction, shipment_ref, declared_date FROM consignments "
        "ORDER BY source_line"
    ).fetchall()
    if not rows:
        raise InputError(f"{path}: no consignment lines", hint="one line per product and lot")
    for line, direction, _, _ in rows:
        if direction != "export":
            raise InputError(
                f"{path}:{line}: direction: {direction!r}; a planned shipment holds export lines"
            )
    refs = sorted({r[2] for r in rows})
    if len(refs) > 1:
        first = {ref: min(r[0] for r in rows if r[2] == ref) for ref in refs}
        named = ", ".join(f"{ref!r} (line {first[ref]})" for ref in refs[:3])
        raise InputError(
            f"{path}: shipment_ref: the lines name {len(refs)} shipments: {named}",
            hint="check one shipment at a time",
        )
    days = sorted({r[3] for r in rows})
    if leaves is not None:
        con.execute("UPDATE consignments SET declared_date = ?", [leaves])
        return refs[0], leaves
    if len(days) > 1:
        raise InputError(
            f"{path}: declared_date: the lines are dated {days[0]} to {days[-1]}",
            hint="a shipment leaves on one day: give --as-of",
        )
    return refs[0], days[0]


def _read_epc_list(path: Path) -> list[Epc]:
    """The EPCs of a text file, one a line (blank lines and ``#`` comments aside)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableFile(f"{path}: not UTF-8 text", hint="save the file as UTF-8") from None
    except OSError as exc:
        raise UnreadableFile(f"{path}: cannot be read ({exc.strerror})") from None
    listed: dict[str, Epc] = {}
    prefixes: dict[str, Epc | None] = {}  # the common SGTIN spellings: GTIN read once a prefix
    for number, line in enumerate(text.splitlines(), start=1):
        raw = line.strip()
        if not raw or raw.startswith("#"):
            continue
        fast = _FAST_SGTIN.match(raw)
        if fast:
            head = prefixes.get(fast[1], _UNSEEN)
            if head is _UNSEEN:
                head = prefixes[fast[1]] = parse_epc(fast[1] + "0")
            epc = head and Epc(raw, "sgtin", f"{DL_ROOT}/01/{head.gtin}/21/{fast[2]}", head.gtin)
        else:
            epc = parse_epc(raw)
        if epc is None or epc.kind not in ("sgtin", "sscc"):
            what = "not a valid GS1 identifier" if epc is None else f"an EPC of kind {epc.kind}"
            raise InputError(
                f"{path}:{number}: epc: {raw[:120]!r} is {what}",
                hint="one SGTIN or SSCC a line, as an EPC URN or a GS1 Digital Link",
            )
        listed.setdefault(epc.key, epc)  # a pack scanned twice goes once
    if not listed:
        raise InputError(f"{path}: no EPCs", hint="one SGTIN or SSCC a line")
    return list(listed.values())


def _new_event(
    con: duckdb.DuckDBPyConnection, key: str, ref: str | None, day: date, origin: Path
) -> int:
    """Store a planned shipping event (its rows follow); its event_row.

    It is dated the last moment of ``day`` anywhere (23:59:59.999 at -12:00), after every
    event of that local date, and names the lines' parties (see :func:`_name_parties`).
    """
    load_id = int(one(con, "SELECT nextval('load_ids')"))
    row = load_id * 10_000_000_000 + 1  # the loader's numbering: load_id, then record
    con.execute(
        """
        INSERT INTO events BY NAME
        SELECT ? AS event_row, ? AS event_key, ? AS event_id, 'ObjectEvent' AS event_type,
               'OBSERVE' AS action, 'shipping' AS biz_step, 'in_transit' AS disposition,
               CAST(? AS TIMESTAMPTZ) AS event_time, '-12:00' AS tz_offset,
               CAST(? AS DATE) AS local_date, md5(?) AS content_hash, ? AS load_id,
               ? AS source_file
        """,
        [row, key, key, f"{day.isoformat()}T23:59:59.999-12:00", day, key, load_id, str(origin)],
    )
    if ref is not None:
        con.execute("INSERT INTO event_biz_transactions VALUES (?, 'bol', ?, ?)", [row, ref, ref])
    _name_parties(con, row)
    return row


def _name_parties(con: duckdb.DuckDBPyConnection, row: int) -> None:
    """The lines' declarant as the shipping event's source owning party, and their
    counterparty as its destination's, each where the lines name one and the event none.

    ``serial-shipped-twice`` then knows who ships: a pack received by someone else since it
    last left has not come back to the shipper.
    """
    for role, column in (("source", "declarant"), ("destination", "counterparty")):
        con.execute(
            f"""
            INSERT INTO event_parties
            SELECT ?, ?, 'owning_party', min({column}), '{DL_ROOT}/414/' || min({column}),
                   min({column})
            FROM consignments
            HAVING count(DISTINCT {column}) = 1 AND min({column}) IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM event_parties p WHERE p.event_row = ?
                   AND p.role = ? AND p.type IN ('owning_party', 'possessing_party'))
            """,
            [row, role, row, role],
        )


def _epc_event(
    con: duckdb.DuckDBPyConnection, ref: str, day: date, listed: Sequence[Epc], origin: Path
) -> str:
    """One planned shipping event of the listed EPCs under the shipment's ref; its key.

    The EPCs are written as scanned: ``serial-lot-mismatch`` and ``serial-count-mismatch``
    read the lot a pack moves under from the lines of the shipment the event carries, as
    they do for a shipment already loaded.
    """
    key = f"planned-shipping:{ref}"
    row = _new_event(con, key, ref, day, origin)
    rows = pa.table(
        {
            "event_row": pa.array([row] * len(listed), pa.int64()),
            "epc_raw": pa.array([e.raw.strip() for e in listed], pa.string()),
            "epc_key": pa.array([e.key for e in listed], pa.string()),
        }
    )
    con.register("pf_listed", rows)
    try:
        con.execute(
            "INSERT INTO epc_rows BY NAME SELECT event_row, 'epcList' AS list, epc_raw, epc_key "
            "FROM pf_listed"
        )
    finally:
        con.unregister("pf_listed")
    return key


def _lot_event(con: duckdb.DuckDBPyConnection, ref: str, day: date, origin: Path) -> str | None:
    """One planned shipping event with a quantity per declared lot (for its expiry); its key.

    It carries no shipment ref: the serial count is judged on the EPCs alone.
    """
    rows = con.execute(
        "SELECT gtin, lot, quantity, uom FROM consignments WHERE lot IS NOT NULL AND lot <> '' "
        "ORDER BY source_line"
    ).fetchall()
    quantities = []
    for gtin, lot, quantity, uom in rows:
        raw = f"https://id.gs1.org/01/{gtin}/10/{quote(str(lot), safe='')}"
        klass = parse_epc(raw)
        if klass is not None:  # else a lot no EPC class can carry: the lines still count
            quantities.append((raw, klass.key, gtin, lot, quantity, uom))
    if not quantities:
        return None
    key = f"planned-lots:{ref}"
    row = _new_event(con, key, None, day, origin)
    con.executemany(
        "INSERT INTO event_quantities VALUES (?, 'quantityList', ?, ?, ?, ?, ?, ?)",
        [(row, *q) for q in quantities],
    )
    return key


def _claim_shipping(con: duckdb.DuckDBPyConnection, path: Path, ref: str) -> list[str]:
    """The document's events; its shipping events are the shipment's (given its ref)."""
    ships = con.execute(
        "SELECT e.event_row, e.source_line, list(b.ref) FILTER (WHERE b.ref IS NOT NULL) "
        "FROM events e LEFT JOIN event_biz_transactions b USING (event_row) "
        "WHERE e.biz_step = 'shipping' GROUP BY 1, 2 ORDER BY 2"
    ).fetchall()
    if not ships:
        raise InputError(
            f"{path}: no shipping event",
            hint="give the planned shipping event, or list the EPCs one a line",
        )
    for row, line, refs in ships:
        _name_parties(con, row)
        if not refs:
            con.execute(
                "INSERT INTO event_biz_transactions VALUES (?, 'bol', ?, ?)", [row, ref, ref]
            )
        elif ref not in refs:
            raise InputError(
                f"{path}:{line}: bizTransactionList: ships under {', '.join(refs)}, "
                f"not under the shipment's {ref}"
            )
    return [r[0] for r in con.execute("SELECT DISTINCT event_key FROM events").fetchall()]
