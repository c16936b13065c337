"""A fast, streaming writer of a large consistent EPCIS event chain (for benchmarks).

Events come in groups of four that share one set of serials: commissioning, packing
into a case, shipping and receiving. Text is built from templates rather than through
``json.dumps``; every value is a plain token (digits, letters, ``-``, ``.``, ``:``), so
the lines are valid JSON without escaping.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path

from . import gs1

_CONTEXT = '"@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]'
_PREFIX = "8901234"
_SGTIN = f"urn:epc:id:sgtin:{_PREFIX}.000001."
_EXPORTER_SITE = gs1.sgln_urn(gs1.gln(_PREFIX, 1), 7)
_EXPORTER = gs1.sgln_urn(gs1.gln(_PREFIX, 0), 7)
_IMPORTER_SITE = gs1.sgln_urn(gs1.gln("0614141", 1), 7)
_IMPORTER = gs1.sgln_urn(gs1.gln("0614141", 0), 7)
_EXPORTER_GLN = gs1.gln(_PREFIX, 0)
_GROUPS_PER_LOT = 400
_GROUPS_PER_SHIPMENT = 40
_QUARTER_SECONDS = 89 * 86400
_FLUSH_EVERY = 256


def write_event_lines(
    path: Path, *, events: int, serials_per_event: int = 25, seed: int = 0
) -> int:
    """Write a consistent chain of EPCIS 2.0 events as JSON Lines, streaming.

    Args:
        path: the file to write (replaced if present).
        events: how many events to write in total.
        serials_per_event: serials commissioned per commissioning event (and then
            packed, shipped and received together).
        seed: changes serial numbers, event IDs and references.

    Returns:
        The number of events written.

    Raises:
        ValueError: if ``events`` is negative or ``serials_per_event`` is below 1.
    """
    if events < 0 or serials_per_event < 1:
        raise ValueError("events must be >= 0 and serials_per_event >= 1")
    groups = -(-events // 4)
    step = max(4, _QUARTER_SECONDS // max(groups, 1))
    start = datetime(2026, 1, 1, 6, 0)
    id_head = str(uuid.uuid5(uuid.NAMESPACE_URL, f"tracecheck-bench:{seed}"))[:24]
    tag = f"{seed % 100:02d}"
    written = 0
    buffer: list[str] = []
    with path.open("w", encoding="utf-8", newline="\n", buffering=1 << 20) as handle:
        for group in range(groups):
            first = group * serials_per_event
            epcs = ",".join(
                f'"{_SGTIN}{tag}{n:09d}"' for n in range(first, first + serials_per_event)
            )
            when = start + timedelta(seconds=group * step)
            lot = f"BL{tag}{group // _GROUPS_PER_LOT:05d}"
            ref = f"AWB-{tag}-{group // _GROUPS_PER_SHIPMENT:07d}"
            sscc = gs1.sscc_urn(gs1.sscc(_PREFIX, group, extension=1), 7)
            texts = _group(epcs, when, lot, ref, sscc)
            for text in texts[: events - written]:
                buffer.append(
                    f'{{{_CONTEXT},"eventID":"urn:uuid:{id_head}{written:012x}",{text}}}\n'
                )
                written += 1
            if len(buffer) >= _FLUSH_EVERY:
                handle.write("".join(buffer))
                buffer.clear()
        handle.write("".join(buffer))
    return written


def _group(epcs: str, when: datetime, lot: str, ref: str, sscc: str) -> tuple[str, str, str, str]:
    """The four events of one group, without their opening fields."""
    made = f"{when:%Y-%m-%dT%H:%M:%S}"
    packed = f"{when + timedelta(seconds=1):%Y-%m-%dT%H:%M:%S}"
    shipped = f"{when + timedelta(seconds=2):%Y-%m-%dT%H:%M:%S}"
    # received in the US two days later, written in US Eastern time (10:30 behind India)
    arrival = when + timedelta(days=2, seconds=3) - timedelta(hours=10, minutes=30)
    received = f"{arrival:%Y-%m-%dT%H:%M:%S}"
    site = f'"readPoint":{{"id":"{_EXPORTER_SITE}"}},"bizLocation":{{"id":"{_EXPORTER_SITE}"}}'
    there = f'"readPoint":{{"id":"{_IMPORTER_SITE}"}},"bizLocation":{{"id":"{_IMPORTER_SITE}"}}'
    transaction = (
        f'"bizTransactionList":[{{"type":"bol","bizTransaction":'
        f'"urn:epcglobal:cbv:bt:{_EXPORTER_GLN}:{ref}"}}],'
        f'"sourceList":[{{"type":"owning_party","source":"{_EXPORTER}"}},'
        f'{{"type":"location","source":"{_EXPORTER_SITE}"}}],'
        f'"destinationList":[{{"type":"owning_party","destination":"{_IMPORTER}"}},'
        f'{{"type":"location","destination":"{_IMPORTER_SITE}"}}]'
    )
    india = '"eventTimeZoneOffset":"+05:30"'
    return (
        f'"type":"ObjectEvent","eventTime":"{made}+05:30",{india},"epcList":[{epcs}],'
        f'"action":"ADD","bizStep":"commissioning","disposition":"active",{site},'
        f'"ilmd":{{"cbvmda:lotNumber":"{lot}","cbvmda:itemExpirationDate":"2029-01-31"}}',
        f'"type":"AggregationEvent","eventTime":"{packed}+05:30",{india},"parentID":"{sscc}",'
        f'"childEPCs":[{epcs}],"action":"ADD","bizStep":"packing","disposition":"in_progress",{site}',
        f'"type":"ObjectEvent","eventTime":"{shipped}+05:30",{india},"epcList":[{epcs}],'
        f'"action":"OBSERVE","bizStep":"shipping","disposition":"in_transit",'
        f'"readPoint":{{"id":"{_EXPORTER_SITE}"}},{transaction}',
        f'"type":"ObjectEvent","eventTime":"{received}-05:00","eventTimeZoneOffset":"-05:00",'
        f'"epcList":[{epcs}],"action":"OBSERVE","bizStep":"receiving",'
        f'"disposition":"in_progress",{there},{transaction}',
    )
