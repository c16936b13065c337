"""Caveats: the findings whose subject a rejected input record names.

A finding is made from what was loaded. When the load rejected a record (an event whose
``eventTime`` cannot be read, a consignment line with a bad GTIN, ...), a finding about
something that record names may be wrong for want of it: a serial "never commissioned"
whose commissioning event was rejected, a shipment "short" by the serials of a rejected
shipping event. Such a finding carries a caveat naming the record (``file:line``), the
reject's code and its reason.

After the rules run, every row of ``rejects`` is read (the same for both engines) and what
the rejected record names is taken from its text:

- an event (JSON text): every EPC it lists (SGTINs and SSCCs, by canonical key, as findings
  name them), (gtin, lot) from its ILMD lot with its SGTINs and from LGTIN classes, the
  business-transaction refs (the bare value, or the part after ``urn:epcglobal:cbv:bt:<gln>:``),
  the parties and locations it names (by GLN) and its date; an event the load kept without
  one identifier it refused (a reject that names a ``field``) names its other identifiers
  still, but not as missing: only its refs, lots and parties count;
- a row of a table file (the row as a JSON object of its columns): ``shipment_ref``,
  ``declaration_id``, ``authorisation_ref``, ``filing_id``, (``gtin``, ``lot``), the party
  columns and the row's date or period; a product master row names its GTIN;
- text that is not JSON, or was cut short: the same, found by regular expressions.

A finding gets the caveat when its subject shares a value with the record: its ``epc``,
``shipment_ref``, ``declaration_id``, ``authorisation_ref`` or ``filing_id``, its ``gtin`` and
``lot`` together, its ``gtin`` where the record is the product's master row, or its
``party`` where the record is dated within the finding's period (or not dated).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from functools import cache
from typing import Any

from traceability.kinds import TABULAR_KINDS, kind_spec
from traceability.load.identifiers import canonical_uri, normalise_gtin, parse_epc
from traceability.model import Caveat, Finding

#: Every rejected record with the kind of the file it came from, in SQL both engines run.
REJECTS_SQL = """
    SELECT r.load_id, r.source_file, r.line, r.field, r.code, r.message, r.raw, l.kind
    FROM rejects r LEFT JOIN loads l ON l.load_id = r.load_id
"""

_CBV_BT = re.compile(r"^urn:epcglobal:cbv:bt:[^:]*:(.+)$")
_EPC_TOKEN = re.compile(r"""(?:urn:epc:(?:id|class):[A-Za-z]+:|https?://)[^\s"'<>,\]\}\\]+""")
_JSON_STRING = r'"((?:[^"\\]|\\.)*)"'
_BIZ_TRANSACTION = re.compile(r'"bizTransaction"\s*:\s*' + _JSON_STRING)
_LOT_NUMBER = re.compile(r'lotNumber"\s*:\s*' + _JSON_STRING)
_EVENT_TIME = re.compile(r'"eventTime"\s*:\s*' + _JSON_STRING)
_FIELD = re.compile(r'"([A-Za-z_ ]+)"\s*:\s*' + _JSON_STRING)
_PERIOD = re.compile(r"^(\d{4})(?:-Q([1-4]))?$")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
#: Columns of a table row whose value a finding's subject may hold under the same key.
_KEYED_COLUMNS = ("shipment_ref", "declaration_id", "authorisation_ref", "filing_id")
#: Columns of a table row that date it.
_DATE_COLUMNS = ("declared_date", "manufacture_date")


@dataclass
class Named:
    """What one rejected record names, by the subject keys of findings."""

    epcs: set[str] = field(default_factory=set)
    keyed: dict[str, set[str]] = field(default_factory=dict)
    lots: set[tuple[str, str]] = field(default_factory=set)
    gtins: set[str] = field(default_factory=set)  # only a product master row names these
    parties: set[str] = field(default_factory=set)
    span: tuple[date, date] | None = None  # when the record is dated; None: not known

    def add(self, key: str, value: object) -> None:
        """Add a value of one of ``_KEYED_COLUMNS``."""
        if isinstance(value, str) and value.strip():
            self.keyed.setdefault(key, set()).add(value.strip())

    def add_epc(self, text: str, *, listed: bool = True) -> str | None:
        """Add what an EPC or EPC class names; its GTIN when it is an SGTIN.

        ``listed``: the EPC itself counts (False for an event kept without a refused
        identifier, whose other EPCs were loaded).
        """
        epc = parse_epc(text)
        if epc is None:
            return None
        if epc.kind in ("sgtin", "sscc") and listed:
            self.epcs.add(epc.key)
        elif epc.kind == "lgtin" and epc.gtin and epc.lot:
            self.lots.add((epc.gtin, epc.lot))
        elif epc.kind == "sgln" and epc.gln:
            self.parties.add(epc.gln)
        elif epc.key.startswith("https://id.gs1.org/417/"):
            self.parties.add(epc.key.rsplit("/", 1)[1])
        return epc.gtin if epc.kind == "sgtin" else None

    def empty(self) -> bool:
        """Whether the record names nothing a finding could share."""
        return not (self.epcs or self.keyed or self.lots or self.gtins or self.parties)


def _period_span(text: str) -> tuple[date, date] | None:
    m = _PERIOD.match(text.strip().upper())
    if not m:
        return None
    year = int(m.group(1))
    if m.group(2) is None:
        return date(year, 1, 1), date(year, 12, 31)
    q = int(m.group(2))
    after = date(year + 1, 1, 1) if q == 4 else date(year, 3 * q + 1, 1)
    return date(year, 3 * q - 2, 1), after - timedelta(days=1)


def _day(text: object) -> date | None:
    if not isinstance(text, str):
        return None
    m = _DATE.match(text.strip())
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def _ref(value: str) -> str:
    value = value.strip()
    m = _CBV_BT.match(value)
    return m.group(1) if m else value


def _strings(node: object) -> Iterator[str]:
    """Every string value inside a JSON value (without recursion: any depth is read)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, Mapping):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))


def _lots_of(ilmd: object) -> set[str]:
    found: set[str] = set()
    if isinstance(ilmd, Mapping):
        for key, value in ilmd.items():
            if str(key).endswith("lotNumber") and isinstance(value, str) and value.strip():
                found.add(value.strip())
    return found


def _from_event(event: Mapping[str, Any], *, partial: bool) -> Named:
    named = Named()
    gtins: set[str] = set()
    for text in _strings(event):
        if text.startswith(("urn:epc:", "http://", "https://")):
            gtin = named.add_epc(text, listed=not partial)
            if gtin:
                gtins.add(gtin)
    for lot in _lots_of(event.get("ilmd")):
        named.lots.update((g, lot) for g in gtins)
    transactions = event.get("bizTransactionList")
    for item in transactions if isinstance(transactions, list) else ():
        value = item.get("bizTransaction") if isinstance(item, Mapping) else None
        if isinstance(value, str) and value.strip():
            named.add("shipment_ref", _ref(value))
    day = _day(event.get("eventTime"))
    named.span = (day, day) if day else None
    return named


def _from_row(row: Mapping[str, Any], kind: str | None) -> Named:
    named = Named()
    values = {str(k).strip().lower(): v for k, v in row.items()}
    for key in _KEYED_COLUMNS:
        named.add(key, values.get(key))
    gtin_raw = values.get("gtin")
    gtin = None
    if isinstance(gtin_raw, str) and gtin_raw.strip():
        gtin = normalise_gtin(gtin_raw) or gtin_raw.strip()
    lot = values.get("lot")
    if gtin and isinstance(lot, str) and lot.strip():
        named.lots.add((gtin, lot.strip()))
    if kind == "products" and gtin:
        named.gtins.add(gtin)
    by_kind = _party_columns()
    parties = by_kind.get(kind or "", _all_party_columns())
    for column in parties:
        value = values.get(column)
        if isinstance(value, str) and value.strip():
            named.parties.add(value.strip())
    for column in _DATE_COLUMNS:
        day = _day(values.get(column))
        if day:
            named.span = (day, day)
    if isinstance(values.get("period"), str):
        named.span = _period_span(values["period"]) or named.span
    start, end = _day(values.get("valid_from")), _day(values.get("valid_to"))
    if start and end and start <= end:
        named.span = (start, end)
    return named


@cache
def _party_columns() -> dict[str, tuple[str, ...]]:
    """The columns of each table kind that hold a party (from the kinds' schemas)."""
    return {
        kind: tuple(c.name for c in kind_spec(kind).columns if c.logical == "party")
        for kind in TABULAR_KINDS
    }


@cache
def _all_party_columns() -> tuple[str, ...]:
    return tuple(sorted({c for cs in _party_columns().values() for c in cs}))


def _from_text(text: str, *, partial: bool) -> Named:
    """What a text that is not JSON (or was cut short) names, found by pattern."""
    named = Named()
    gtins: set[str] = set()
    for token in _EPC_TOKEN.findall(text):
        gtin = named.add_epc(token, listed=not partial)
        if gtin:
            gtins.add(gtin)
    for lot in _LOT_NUMBER.findall(text):
        named.lots.update((g, lot) for g in gtins)
    for value in _BIZ_TRANSACTION.findall(text):
        named.add("shipment_ref", _ref(value))
    fields = {k.strip().lower(): v for k, v in _FIELD.findall(text)}
    if any(k in fields for k in (*_KEYED_COLUMNS, *_all_party_columns(), "gtin")):
        row = _from_row(fields, None)
        named.keyed.update(row.keyed)
        named.lots |= row.lots
        named.parties |= row.parties
        named.span = row.span
    times = _EVENT_TIME.findall(text)
    day = _day(times[0]) if times else None
    if day:
        named.span = (day, day)
    return named


def named_by(raw: str | None, kind: str | None, *, partial: bool = False) -> Named:
    """What a rejected record's text names.

    ``kind`` is the kind of the file it came from (None when unknown); ``partial``: the
    event was kept without the identifier the reject refused.
    """
    if not raw:
        return Named()
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, cut short, or nested past reading
        return _from_text(raw, partial=partial)
    if not isinstance(data, Mapping):
        return _from_text(raw, partial=partial)
    if kind == "events" or (kind is None and ("eventTime" in data or "type" in data)):
        return _from_event(data, partial=partial)
    return _from_row(data, kind)


@dataclass(frozen=True)
class Reject:
    """One row of ``rejects`` as the caveats read it."""

    load_id: int
    source_file: str
    line: int | None
    field: str | None
    code: str
    message: str
    raw: str | None
    kind: str | None

    @property
    def record(self) -> tuple[int, str, int | None]:
        """The record the reject is about (a record may have several rejected fields)."""
        return (self.load_id, self.source_file, self.line)

    def caveat(self) -> Caveat:
        """The caveat a finding about this record carries."""
        name = re.split(r"[/\\]", self.source_file)[-1]
        source = f"{name}:{self.line}" if self.line is not None else name
        reason = self.message
        if self.field and self.field not in reason:
            reason = f"{self.field}: {reason}"
        return Caveat(source, self.code, reason)


def read_rejects(rows: Iterable[Sequence[Any]]) -> Iterator[Reject]:
    """The rows of ``REJECTS_SQL`` as :class:`Reject` values."""
    for load_id, source_file, line, field_name, code, message, raw, kind in rows:
        yield Reject(
            int(load_id),
            str(source_file),
            None if line is None else int(line),
            None if field_name is None else str(field_name),
            str(code),
            str(message),
            None if raw is None else str(raw),
            None if kind is None else str(kind),
        )


class _Index:
    """The findings by each value of their subjects a rejected record can share."""

    def __init__(self, findings: Sequence[Finding]) -> None:
        self.by: dict[tuple[str, str], list[int]] = {}
        self.lots: dict[tuple[str, str], list[int]] = {}
        self.spans: list[tuple[date, date] | None] = []
        for i, f in enumerate(findings):
            s = f.subject
            self.spans.append(_period_span(f.period) if f.period else None)
            if "epc" in s:
                self._put(("epc", canonical_uri(s["epc"])), i)
            for key in _KEYED_COLUMNS:
                if key in s:
                    self._put((key, s[key]), i)
            if "gtin" in s:
                self._put(("gtin", s["gtin"]), i)
                if "lot" in s:
                    self.lots.setdefault((s["gtin"], s["lot"]), []).append(i)
            if "party" in s:
                self._put(("party", s["party"]), i)

    def _put(self, key: tuple[str, str], i: int) -> None:
        self.by.setdefault(key, []).append(i)

    def matches(self, named: Named) -> set[int]:
        hits: set[int] = set()
        for epc in named.epcs:
            hits.update(self.by.get(("epc", epc), ()))
        for key, values in named.keyed.items():
            for value in values:
                hits.update(self.by.get((key, value), ()))
        for lot in named.lots:
            hits.update(self.lots.get(lot, ()))
        for gtin in named.gtins:
            hits.update(self.by.get(("gtin", gtin), ()))
        for party in named.parties:
            for i in self.by.get(("party", party), ()):
                if _within(named.span, self.spans[i]):
                    hits.add(i)
        return hits


def _within(record: tuple[date, date] | None, finding: tuple[date, date] | None) -> bool:
    if record is None or finding is None:
        return True
    return record[0] <= finding[1] and finding[0] <= record[1]


def _order(c: Caveat) -> tuple[Any, ...]:
    name, _, line = c.source.rpartition(":")
    if name and line.isdigit():
        return (name, int(line), c.code, c.reason)
    return (c.source, -1, c.code, c.reason)


def attach(findings: Sequence[Finding], rejects: Iterable[Reject]) -> tuple[list[Finding], int]:
    """The findings with their caveats, and how many records the load rejected in all.

    A record counts once however many of its fields were rejected.
    """
    index = _Index(findings)
    found: dict[int, set[Caveat]] = {}
    records: set[tuple[int, str, int | None]] = set()
    unnumbered = 0
    for reject in rejects:
        if reject.line is None:
            unnumbered += 1
        else:
            records.add(reject.record)
        partial = reject.kind == "events" and reject.field is not None
        named = named_by(reject.raw, reject.kind, partial=partial)
        if named.empty():
            continue
        caveat = reject.caveat()
        for i in index.matches(named):
            found.setdefault(i, set()).add(caveat)
    out = [
        replace(f, caveats=tuple(sorted(found[i], key=_order))) if i in found else f
        for i, f in enumerate(findings)
    ]
    return out, len(records) + unnumbered
