"""XML ingest benchmark: one large EPCIS 2.0 XML document into the store, in bounded memory.

Generates, streaming, one ``EPCISDocument`` of about ``--size-mib`` MiB (1 GiB by default):
a chain of commissioning (with ILMD lot and expiry), packing, shipping and receiving
events of 25 serials each, every other event without an ``eventID`` (so its event hash is
computed). Then loads it with ``traceability.load`` in a fresh process under an explicit
DuckDB ``memory_limit`` and prints the time, events/s, MB/s and the peak RSS of that
process, with the machine it ran on. The acceptance target is a peak RSS under 1 GiB.

    python bench/xml_ingest.py                    # 1 GiB document, DuckDB limit 384MB
    python bench/xml_ingest.py --size-mib 100
    python bench/xml_ingest.py --data big.xml     # an existing document instead
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from _common import ensure_folder, load_average, machine, run

OURS = """
import sys
from traceability.load import load
r = load(sys.argv[1], [sys.argv[2]], memory_limit=sys.argv[3])
f = r.files[0]
print(f.records, f.accepted, f.rejected)
"""

_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" \
xmlns:cbvmda="urn:epcglobal:cbv:mda" schemaVersion="2.0" creationDate="2026-04-01T00:00:00Z">
  <EPCISBody>
    <EventList>
"""
_TAIL = """    </EventList>
  </EPCISBody>
</epcis:EPCISDocument>
"""
_SGTIN = "urn:epc:id:sgtin:8901234.000001."
_SITE = "urn:epc:id:sgln:8901234.00001.0"
_THERE = "urn:epc:id:sgln:0614141.00001.0"
_OWNER = "urn:epc:id:pgln:8901234.00000"
_BUYER = "urn:epc:id:pgln:0614141.00000"


def _sscc(n: int) -> str:
    """An SSCC URN with a valid check digit (company prefix 8901234, extension 1)."""
    from traceability.sample import gs1

    return gs1.sscc_urn(gs1.sscc("8901234", n, extension=1), 7)


def _group(n: int, serials: int, when: datetime, number: int) -> str:
    """The four events of one group of serials, as XML text."""
    epcs = "".join(f"<epc>{_SGTIN}{s:012d}</epc>" for s in range(n * serials, (n + 1) * serials))
    ids = [
        f"<eventID>urn:uuid:00000000-0000-4000-8000-{number + i:012x}</eventID>"
        if (number + i) % 2 == 0
        else ""
        for i in range(4)
    ]
    t = [f"{when + timedelta(seconds=i):%Y-%m-%dT%H:%M:%S}.000+05:30" for i in range(4)]
    where = f"<readPoint><id>{_SITE}</id></readPoint><bizLocation><id>{_SITE}</id></bizLocation>"
    there = f"<readPoint><id>{_THERE}</id></readPoint><bizLocation><id>{_THERE}</id></bizLocation>"
    transaction = (
        f'<bizTransactionList><bizTransaction type="bol">urn:epcglobal:cbv:bt:8901234000007:'
        f"AWB-{n // 40:07d}</bizTransaction></bizTransactionList>"
    )
    parties = (
        f'<sourceList><source type="owning_party">{_OWNER}</source></sourceList>'
        f'<destinationList><destination type="owning_party">{_BUYER}</destination>'
        f"</destinationList>"
    )
    offset = "<eventTimeZoneOffset>+05:30</eventTimeZoneOffset>"
    return (
        f"<ObjectEvent><eventTime>{t[0]}</eventTime>{offset}{ids[0]}<epcList>{epcs}</epcList>"
        f"<action>ADD</action><bizStep>commissioning</bizStep><disposition>active</disposition>"
        f"{where}<ilmd><cbvmda:lotNumber>L{n // 400:06d}</cbvmda:lotNumber>"
        f"<cbvmda:itemExpirationDate>2029-01-31</cbvmda:itemExpirationDate></ilmd>"
        f"</ObjectEvent>\n"
        f"<AggregationEvent><eventTime>{t[1]}</eventTime>{offset}{ids[1]}"
        f"<parentID>{_sscc(n)}</parentID><childEPCs>{epcs}</childEPCs><action>ADD</action>"
        f"<bizStep>packing</bizStep><disposition>in_progress</disposition>{where}"
        f"</AggregationEvent>\n"
        f"<ObjectEvent><eventTime>{t[2]}</eventTime>{offset}{ids[2]}<epcList>{epcs}</epcList>"
        f"<action>OBSERVE</action><bizStep>shipping</bizStep><disposition>in_transit"
        f"</disposition>{where}{transaction}{parties}</ObjectEvent>\n"
        f"<ObjectEvent><eventTime>{t[3]}</eventTime>{offset}{ids[3]}<epcList>{epcs}</epcList>"
        f"<action>OBSERVE</action><bizStep>receiving</bizStep><disposition>in_progress"
        f"</disposition>{there}{transaction}{parties}</ObjectEvent>\n"
    )


def write_document(path: Path, size_bytes: int, serials: int) -> int:
    """Write one EPCIS 2.0 XML document of at least ``size_bytes``; return its events."""
    start = datetime(2026, 1, 1, 6, 0)
    written = 0
    events = 0
    with path.open("w", encoding="utf-8", buffering=1 << 20) as f:
        f.write(_HEAD)
        n = 0
        while written < size_bytes:
            text = _group(n, serials, start + timedelta(seconds=4 * n), events)
            f.write(text)
            written += len(text)
            events += 4
            n += 1
        f.write(_TAIL)
    return events


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--serials", type=int, default=25)
    parser.add_argument("--memory-limit", default="384MB")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--data", type=Path, default=None, help="load this XML document")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=ensure_folder(args.workdir)) as tmp:
        folder = Path(tmp)
        if args.data is None:
            data = folder / "events.xml"
            t0 = time.perf_counter()
            events = write_document(data, args.size_mib * 2**20, args.serials)
            made = f"{events:,} events, generated in {time.perf_counter() - t0:.1f} s"
        else:
            data = args.data
            made = f"from {data}"
        size = data.stat().st_size
        print(f"machine: {machine()}")
        print(f"data: {size / 2**20:,.0f} MiB EPCIS 2.0 XML, one document ({made})")
        print(f"DuckDB memory_limit: {args.memory_limit}")
        print(f"load average before: {load_average()}")
        seconds, rss, out = run(OURS, str(folder / "store.duckdb"), str(data), args.memory_limit)
        records, accepted, rejected = (int(x) for x in out.splitlines()[-1].split())
        print(
            f"tracecheck load: {seconds:6.1f} s  {records / seconds:>9,.0f} events/s  "
            f"{size / 1e6 / seconds:5.1f} MB/s  peak RSS {rss:,.0f} MiB "
            f"(records {records:,}, accepted {accepted:,}, rejected {rejected:,})"
        )
        verdict = "under" if rss < 1024 else "OVER"
        print(f"peak RSS {verdict} 1 GiB")
        print(f"load average after: {load_average()}")
        if args.json:
            figures = {
                "megabytes": round(size / 1e6, 1),
                "events": records,
                "seconds": round(seconds, 2),
                "events_per_s": round(records / seconds),
                "peak_rss_mib": round(rss),
                "accepted": accepted,
                "rejected": rejected,
            }
            print(json.dumps(figures))


if __name__ == "__main__":
    main()
