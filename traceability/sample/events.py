"""Render the scenario's serialised and bulk movements as EPCIS 2.0 JSON Lines.

Spellings vary from event to event on purpose (EPC URNs, GS1 Digital Link on the GS1
resolver or on the brand's domain; bare, URI and CURIE vocabulary), chosen from a
hash of the event's key so a planted change elsewhere does not respell other events.
"""

from __future__ import annotations

import json
import zlib
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TypeAlias

from . import gs1
from .model import BulkItem, Case, Commission, Party, Product, Scenario, Shipment, Unpack, dec

Json: TypeAlias = "str | int | Decimal | list[Json] | dict[str, Json]"

CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
BRAND_DOMAIN = "https://dl.deccanpharma.example"


def to_json(value: Json) -> str:
    """Encode a value as compact JSON, writing decimals as exact JSON numbers.

    >>> to_json({"a": [Decimal("12.50"), "x"], "b": 1})
    '{"a":[12.5,"x"],"b":1}'
    """
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Decimal):
        return dec(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ",".join(to_json(item) for item in value) + "]"
    return "{" + ",".join(f"{json.dumps(k)}:{to_json(v)}" for k, v in value.items()) + "}"


def _pick(seed: int, key: str, choices: int) -> int:
    return zlib.crc32(f"{seed}:{key}".encode()) % choices


def vocab(kind: str, value: str, style: int) -> str:
    """Spell a CBV value bare, as a GS1 web URI, or as a CURIE.

    >>> [vocab("BizStep", "shipping", s) for s in range(3)]
    ['shipping', 'https://ref.gs1.org/cbv/BizStep-shipping', 'cbv:BizStep-shipping']
    """
    if style == 0:
        return value
    if style == 1:
        return f"https://ref.gs1.org/cbv/{kind}-{value}"
    return f"cbv:{kind}-{value}"


def event_time(day: date, minute: int, tz: str, utc: bool) -> str:
    """Local wall-clock time as an EPCIS ``eventTime``, with its offset or in UTC.

    >>> event_time(date(2026, 3, 31), 23 * 60 + 30, "-05:00", False)
    '2026-03-31T23:30:00-05:00'
    >>> event_time(date(2026, 3, 31), 23 * 60 + 30, "-05:00", True)
    '2026-04-01T04:30:00.000Z'
    """
    local = datetime(day.year, day.month, day.day) + timedelta(minutes=minute)
    if not utc:
        return f"{local:%Y-%m-%dT%H:%M:%S}{tz}"
    sign = 1 if tz[0] == "+" else -1
    hours, minutes = tz[1:].split(":")
    offset = timedelta(hours=int(hours), minutes=int(minutes)) * sign
    return f"{local - offset:%Y-%m-%dT%H:%M:%S}.000Z"


class _Renderer:
    def __init__(self, sc: Scenario) -> None:
        self.sc = sc
        self.seed = sc.seed

    def head(self, kind: str, key: str, party: Party, day: date, minute: int) -> dict[str, Json]:
        return {
            "@context": [CONTEXT],
            "type": kind,
            "eventID": gs1.event_id(self.seed, key),
            "eventTime": event_time(day, minute, party.tz, party.country == "DE"),
            "eventTimeZoneOffset": party.tz,
        }

    def style(self, key: str) -> int:
        return _pick(self.seed, key, 3)

    def word(self, key: str, kind: str, value: str) -> str:
        return vocab(kind, value, _pick(self.seed, key + ":vocab", 3))

    def sgtin(self, product: Product, serial: str, style: int, lot: str = "") -> str:
        if style == 0 and not lot:
            return gs1.sgtin_urn(product.gtin, product.prefix_len, serial)
        domain = BRAND_DOMAIN if style == 2 else gs1.GS1_RESOLVER
        return gs1.sgtin_dl(product.gtin, serial, domain=domain, lot=lot)

    def sscc(self, code: str, style: int) -> str:
        if style == 0:
            return gs1.sscc_urn(code, self.sc.parties["exporter"].prefix_len)
        return gs1.sscc_dl(code, domain=BRAND_DOMAIN if style == 2 else gs1.GS1_RESOLVER)

    @staticmethod
    def place(party: Party) -> dict[str, Json]:
        return {"id": gs1.sgln_urn(party.site, party.prefix_len)}

    def commission(self, c: Commission) -> dict[str, Json]:
        lot, party = c.lot, c.lot.manufacturer
        style = self.style(c.key)
        event = self.head("ObjectEvent", c.key, party, c.day, c.minute)
        event["epcList"] = [self.sgtin(lot.product, s, style) for s in c.serials]
        event["action"] = "ADD"
        event["bizStep"] = self.word(c.key, "BizStep", "commissioning")
        event["disposition"] = self.word(c.key, "Disp", "active")
        event["readPoint"] = event["bizLocation"] = self.place(party)
        event["ilmd"] = {
            "cbvmda:lotNumber": lot.number,
            "cbvmda:itemExpirationDate": lot.expiry.isoformat(),
        }
        return event

    def bulk_commission(
        self, key: str, item: BulkItem, expiry: date, party: Party, day: date
    ) -> dict[str, Json]:
        event = self.head("ObjectEvent", key, party, day, 11 * 60)
        event["quantityList"] = [self.quantity(item)]
        event["action"] = "ADD"
        event["bizStep"] = self.word(key, "BizStep", "commissioning")
        event["disposition"] = self.word(key, "Disp", "active")
        event["readPoint"] = event["bizLocation"] = self.place(party)
        event["ilmd"] = {
            "cbvmda:lotNumber": item.lot,
            "cbvmda:itemExpirationDate": expiry.isoformat(),
        }
        return event

    @staticmethod
    def quantity(item: BulkItem) -> dict[str, Json]:
        product = item.product
        return {
            "epcClass": gs1.lgtin_urn(product.gtin, product.prefix_len, item.lot),
            "quantity": item.kg,
            "uom": "KGM",
        }

    def destroy(
        self, key: str, product: Product, serials: list[str], party: Party, day: date
    ) -> dict[str, Json]:
        style = self.style(key)
        event = self.head("ObjectEvent", key, party, day, 8 * 60 + 30)
        event["epcList"] = [self.sgtin(product, s, style) for s in serials]
        event["action"] = "DELETE"
        event["bizStep"] = self.word(key, "BizStep", "destroying")
        event["disposition"] = self.word(key, "Disp", "destroyed")
        event["readPoint"] = event["bizLocation"] = self.place(party)
        return event

    def aggregate(
        self,
        key: str,
        action: str,
        party: Party,
        day: date,
        minute: int,
        parent: str,
        children: list[str],
    ) -> dict[str, Json]:
        step = "packing" if action == "ADD" else "unpacking"
        event = self.head("AggregationEvent", key, party, day, minute)
        event["parentID"] = parent
        event["childEPCs"] = list(children)
        event["action"] = action
        event["bizStep"] = self.word(key, "BizStep", step)
        event["disposition"] = self.word(key, "Disp", "in_progress")
        event["readPoint"] = event["bizLocation"] = self.place(party)
        return event

    def pack_case(self, case: Case, index: int, total: int) -> dict[str, Json]:
        key = f"pack:{case.sscc}"
        style = self.style(key)
        product = case.lot.product
        children = [self.sgtin(product, s, style, case.dl_lot.get(s, "")) for s in case.serials]
        minute = 9 * 60 + (index * 480) // max(total, 1)
        party = case.lot.manufacturer
        day = case.lot.made + timedelta(days=1)
        return self.aggregate(key, "ADD", party, day, minute, self.sscc(case.sscc, style), children)

    def move(self, sh: Shipment, receiving: bool) -> dict[str, Json]:
        key = f"{'receive' if receiving else 'ship'}:{sh.key}"
        style = self.style(key)
        party = sh.importer if receiving else sh.exporter
        day, minute = (sh.receive, 10 * 60) if receiving else (sh.ship, 14 * 60)
        pallets = sh.received if receiving else sh.pallets
        loose = sh.loose_received if receiving else sh.loose_shipped
        event = self.head("ObjectEvent", key, party, day, minute)
        epcs: list[Json] = [self.sscc(pl.sscc, style) for pl in pallets]
        epcs += [self.sgtin(product, serial, style) for product, serial in loose]
        if epcs:
            event["epcList"] = epcs
        if sh.bulk:
            event["quantityList"] = [self.quantity(item) for item in sh.bulk]
        event["action"] = "OBSERVE"
        event["bizStep"] = self.word(key, "BizStep", "receiving" if receiving else "shipping")
        event["disposition"] = self.word(key, "Disp", "in_progress" if receiving else "in_transit")
        event["readPoint"] = self.place(party)
        if receiving:
            event["bizLocation"] = self.place(party)
        exporter_gln = sh.exporter.gln or sh.exporter.id
        event["bizTransactionList"] = [
            {
                "type": self.word(key, "BTT", "bol"),
                "bizTransaction": f"urn:epcglobal:cbv:bt:{exporter_gln}:{sh.ref}",
            }
        ]
        event["sourceList"] = self.ends(key, sh.exporter, "source")
        event["destinationList"] = self.ends(key, sh.importer, "destination")
        return event

    def ends(self, key: str, party: Party, field: str) -> list[Json]:
        out: list[Json] = []
        if party.gln:
            owner = gs1.sgln_urn(party.gln, party.prefix_len)
            out.append({"type": self.word(key, "SDT", "owning_party"), field: owner})
        site = gs1.sgln_urn(party.site, party.prefix_len)
        out.append({"type": self.word(key, "SDT", "location"), field: site})
        return out

    def unpack(self, u: Unpack) -> dict[str, Json]:
        style = self.style(u.key)
        children = [self.sscc(case.sscc, style) for case in u.cases]
        children += [self.sgtin(product, serial, style) for product, serial in u.packs]
        return self.aggregate(
            u.key, "DELETE", u.party, u.day, u.minute, self.sscc(u.parent, style), children
        )


def render_events(sc: Scenario) -> list[str]:
    """Return the scenario's events as JSON Lines (one compact event per line)."""
    r = _Renderer(sc)
    events: list[dict[str, Json]] = [r.commission(c) for c in sc.commissions]
    for lot in sc.lots["eph"]:
        item = BulkItem(lot.product, lot.number, lot.quantity)
        events.append(
            r.bulk_commission(
                f"commission:{lot.number}", item, lot.expiry, lot.manufacturer, lot.made
            )
        )
    for lots in (sc.lots["pse"], sc.lots["pcm"]):
        for lot in lots:
            day = lot.made + timedelta(days=1)
            if lot.destroyed:
                events.append(
                    r.destroy(
                        f"destroy:{lot.number}", lot.product, lot.destroyed, lot.manufacturer, day
                    )
                )
            pallets = sc.pallets[lot.number]
            cases = [case for pallet in pallets for case in pallet.cases]
            events += [r.pack_case(case, i, len(cases)) for i, case in enumerate(cases)]
            for i, pallet in enumerate(pallets):
                key = f"pack:{pallet.sscc}"
                style = r.style(key)
                children = [r.sscc(case.sscc, style) for case in pallet.cases]
                minute = 8 * 60 + (i * 240) // len(pallets)
                parent = r.sscc(pallet.sscc, style)
                events.append(
                    r.aggregate(
                        key,
                        "ADD",
                        lot.manufacturer,
                        day + timedelta(days=1),
                        minute,
                        parent,
                        children,
                    )
                )
    for sh in sc.shipments.values():
        events.append(r.move(sh, receiving=False))
        events.append(r.move(sh, receiving=True))
    events += [r.unpack(u) for u in sc.unpacks]
    return [to_json(event) for event in events]
