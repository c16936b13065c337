"""Mutation fuzzing of the loaders: Hypothesis strategies and the harness that runs them.

Each input starts from a valid seed file in ``fixtures/hostile/seeds/`` and is changed in
the way its format invites: cells and headers of a CSV file rewritten with hostile text,
values of a JSON event replaced by other JSON (deep, huge, of the wrong type), elements
and text of an EPCIS XML document renamed, dropped, repeated or rewritten; in JSON, JSON
Lines and XML text, the changes that could alter a value unseen (:func:`silent_mutations`:
numbers respelt with exponents, many decimals, huge or tiny; keys given twice; invisible
and control characters put into values; a DOCTYPE declaring attribute defaults); and then,
for every format, bytes flipped, inserted (quotes, separators, NUL, invalid UTF-8, BOMs,
brackets, entity references ...), deleted, repeated or cut off.

The harness loads each input through the real ``load()`` into a real DuckDB database (one
in-memory database per harness, replaced every few hundred inputs) and sorts the outcome:
``accepted`` (loaded, nothing rejected), ``rejected`` (loaded, some records rejected),
``refused`` (a :class:`TracecheckError`: the file as a whole was refused) or ``crash``
(any other exception, or a refusal that changed the database). Both ``tests/test_fuzz.py``
(a small fixed budget) and ``bench/fuzz.py`` (``make fuzz``) use it.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import re
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from hypothesis import strategies as st
from lxml import etree

from traceability.errors import TracecheckError
from traceability.load import load
from traceability.store import connect, table_counts

SEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "hostile" / "seeds"

#: Loader -> (seed files, suffix of the file written, kinds it may be forced to).
LOADERS: dict[str, tuple[tuple[str, ...], str, tuple[str | None, ...]]] = {
    "csv": (("consignments.csv", "batches.csv"), ".csv", (None, "consignments", "batches")),
    "jsonl": (("estimates.jsonl",), ".jsonl", (None, "estimates")),
    "events-jsonl": (("events.jsonl",), ".jsonl", (None, "events")),
    "epcis-json": (("document.json",), ".json", (None,)),
    "epcis-xml": (("document-1.2.xml", "document-2.0.xml"), ".xml", (None,)),
}

#: Byte strings worth inserting anywhere.
TOKENS = [
    b'"',
    b"'",
    b",",
    b";",
    b"\n",
    b"\r\n",
    b"\r",
    b"\t",
    b"\x00",
    b"\xff",
    b"\xc3",
    b"\xef\xbb\xbf",
    b"\xed\xa0\x80",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b"null",
    b"true",
    b"-1",
    b"-0",
    b"1e999",
    b"1E-400",
    b"NaN",
    b"Infinity",
    b"99999999999999999999999999999999999999",
    b"0.0000000000001",
    b"\\u0000",
    b"\\ud800",
    b'\\"',
    b"<",
    b">",
    b"</",
    b"/>",
    b"&amp;",
    b"&x;",
    b"&#0;",
    b"&#x110000;",
    b"<![CDATA[",
    b"]]>",
    b"<!--",
    b"-->",
    b'<!DOCTYPE d [<!ENTITY x "y">]>',
    b'xmlns:z="urn:z"',
    b"urn:epc:id:sgtin:",
    b"https://id.gs1.org/01/",
    b"eventID",
    b"@context",
    "é".encode(),
    "😀".encode(),
    "\u202e".encode(),
    "\u200b".encode(),
    b"\\u200b",
    b"&#x200B;",
    b"1.5e-13",
    b"1E+30",
    b"=cmd|' /C calc'!A0",
    b'"); DROP TABLE events; --',
]

_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40
) | st.sampled_from(["", " ", '"', "a,b", "x\ny", "'; DROP TABLE events; --", "\x00", "-5"])

_JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT
)
_JSON = st.recursive(
    _JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=12,
)


@st.composite
def byte_mutations(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with a few bytes flipped, inserted, deleted, repeated or cut off."""
    out = bytearray(data)
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["flip", "insert", "token", "delete", "repeat", "cut", "deep"]))
        at = draw(st.integers(0, max(len(out), 1) - 1)) if out else 0
        if op == "flip" and out:
            out[at] = draw(st.integers(0, 255))
        elif op == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "token":
            out[at:at] = draw(st.sampled_from(TOKENS)) * draw(st.sampled_from([1, 1, 1, 2, 50]))
        elif op == "delete":
            del out[at : at + draw(st.integers(1, 64))]
        elif op == "repeat":
            piece = bytes(out[at : at + draw(st.integers(1, 200))])
            out[at:at] = piece * draw(st.integers(1, 20))
        elif op == "cut":
            del out[at:]
        elif op == "deep":
            depth = draw(st.sampled_from([50, 600, 5000, 100_000]))
            out[at:at] = b"[" * depth + b"]" * depth
    return bytes(out)


@st.composite
def csv_mutations(draw: st.DrawFn, data: bytes) -> bytes:
    """A CSV file rewritten: header names and cells replaced, columns dropped or added."""
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    for _ in range(draw(st.integers(0, 5))):
        op = draw(st.sampled_from(["cell", "header", "drop", "add", "row", "case"]))
        r = draw(st.integers(0, len(rows) - 1))
        c = draw(st.integers(0, len(rows[0]) - 1))
        if op == "cell" and c < len(rows[r]):
            rows[r][c] = draw(_TEXT)
        elif op == "header":
            rows[0][c] = draw(_TEXT | st.sampled_from(["_line", "_LINE", "", "raw", "gtin"]))
        elif op == "drop":
            for row in rows:
                if c < len(row):
                    del row[c]
        elif op == "add":
            for row in rows:
                row.append(draw(_TEXT))
        elif op == "row":
            rows.append([draw(_TEXT) for _ in rows[0]])
        elif op == "case":
            rows[0][c] = rows[0][c].upper()
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"]))).writerows(rows)
    return out.getvalue().encode("utf-8", errors="surrogatepass")


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def json_value_mutations(draw: st.DrawFn, value: Any) -> Any:
    """A JSON value with members replaced, deleted, added or nested deeper."""
    value = json.loads(json.dumps(value))
    for _ in range(draw(st.integers(0, 4))):
        paths = _paths(value)
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["replace", "delete", "add", "nest", "grow"]))
        if not path:
            if op == "replace":
                value = draw(_JSON)
            continue
        parent = value
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        if op == "replace":
            parent[key] = draw(_JSON)
        elif op == "delete":
            del parent[key]
        elif op == "add" and isinstance(parent, dict):
            parent[draw(_TEXT)] = draw(_JSON)
        elif op == "nest":
            depth = draw(st.sampled_from([2, 10, 50, 300]))
            for _ in range(depth):
                parent[key] = [parent[key]]
                parent = parent[key]
                key = 0
        elif op == "grow":
            parent[key] = "x" * draw(st.sampled_from([1000, 100_000, 2_000_000]))
    return value


@st.composite
def jsonl_mutations(draw: st.DrawFn, data: bytes) -> bytes:
    """JSON Lines with some lines' values mutated (see :func:`json_value_mutations`)."""
    lines = [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        lines[i] = draw(json_value_mutations(lines[i]))
    sep = draw(st.sampled_from(["\n", "\r\n"]))
    return sep.join(json.dumps(x, ensure_ascii=draw(st.booleans())) for x in lines).encode(
        "utf-8", errors="surrogatepass"
    )


@st.composite
def json_document_mutations(draw: st.DrawFn, data: bytes) -> bytes:
    """An EPCIS JSON document with members of its events or header mutated."""
    doc = json.loads(data)
    if draw(st.booleans()):
        events = doc["epcisBody"]["eventList"]
        i = draw(st.integers(0, len(events) - 1))
        events[i] = draw(json_value_mutations(events[i]))
    else:
        doc = draw(json_value_mutations(doc))
    return json.dumps(doc, ensure_ascii=draw(st.booleans())).encode("utf-8", errors="surrogatepass")


_XML_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=40
)


@st.composite
def xml_mutations(draw: st.DrawFn, data: bytes) -> bytes:
    """An EPCIS XML document with elements renamed, dropped, repeated or their text changed."""
    root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    for _ in range(draw(st.integers(0, 5))):
        elements = [e for e in root.iter() if isinstance(e.tag, str)]
        el = draw(st.sampled_from(elements))
        op = draw(st.sampled_from(["text", "drop", "repeat", "rename", "attribute", "nest"]))
        parent = el.getparent()
        if op == "text":
            el.text = draw(_XML_TEXT)
        elif op == "drop" and parent is not None:
            parent.remove(el)
        elif op == "repeat" and parent is not None:
            for _ in range(draw(st.integers(1, 3))):
                parent.insert(parent.index(el), copy.deepcopy(el))
        elif op == "rename":
            namespace = draw(st.sampled_from(["", "{urn:epcglobal:epcis:xsd:1}", "{urn:x}"]))
            el.tag = namespace + draw(
                st.sampled_from(["extension", "epc", "quantity", "ObjectEvent", "x", "eventList"])
            )
        elif op == "attribute":
            el.set(draw(st.sampled_from(["type", "schemaVersion", "a"])), draw(_XML_TEXT))
        elif op == "nest":
            child = el
            for _ in range(draw(st.sampled_from([2, 20, 200, 300]))):
                child = etree.SubElement(child, "{urn:x}n")
    return bytes(etree.tostring(root, xml_declaration=draw(st.booleans()), encoding="UTF-8"))


@st.composite
def decimal_spellings(draw: st.DrawFn) -> str:
    """A number spelt as JSON allows: exponents, many decimals, huge, tiny, signed."""
    whole = draw(st.sampled_from(["0", "1", "12", "1" + "0" * 30, "9" * 27]))
    fraction = draw(st.sampled_from(["", ".5", ".50", ".000000000001", ".0000000000001"]))
    exponent = draw(st.sampled_from(["", "", "e3", "E+30", "e-13", "e-400", "e400"]))
    return draw(st.sampled_from(["", "", "-"])) + whole + fraction + exponent


_NUMBER_AT = re.compile(rb"(?<=[:>\[,])\s*-?[0-9][0-9.eE+-]*(?=[,}\]<\s])")
_KEY_AT = re.compile(rb'"([^"\\]{1,40})"\s*:\s*("[^"\\]*"|-?[0-9][0-9.eE+-]*|true|false|null)')
_INVISIBLE = ["\u200b", "\u200d", "\u2060", "\ufeff", "\u202e", "\u2066", "\x85", "\x07"]


@st.composite
def silent_mutations(draw: st.DrawFn, data: bytes) -> bytes:
    """JSON, JSON Lines or XML text with the changes that could alter a value unseen: a
    number respelt (:func:`decimal_spellings`), a key given again in its object with the
    same or another value, an invisible or control character put into a value (raw, as a
    JSON escape or as an XML character reference), a DOCTYPE declaring attribute defaults."""
    out = data
    xml = data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["number", "twice", "invisible", "doctype"]))
        if op == "number":
            found = list(_NUMBER_AT.finditer(out))
            if found:
                m = draw(st.sampled_from(found))
                out = out[: m.start()] + draw(decimal_spellings()).encode() + out[m.end() :]
        elif op == "twice" and not xml:
            found = list(_KEY_AT.finditer(out))
            if found:
                m = draw(st.sampled_from(found))
                value = draw(st.sampled_from([m.group(2), b'"other"', b"1.50", b"null"]))
                out = out[: m.end()] + b', "' + m.group(1) + b'": ' + value + out[m.end() :]
        elif op == "invisible":
            char = draw(st.sampled_from(_INVISIBLE))
            if xml:
                spelt = draw(st.sampled_from([char.encode(), f"&#x{ord(char):X};".encode()]))
                ends = [m.start() for m in re.finditer(rb"</", out)]
            else:
                spelt = draw(st.sampled_from([char.encode(), f"\\u{ord(char):04x}".encode()]))
                ends = [m.start() for m in re.finditer(rb'"(?=\s*[,}\]])', out)]
            if ends:
                at = draw(st.sampled_from(ends))
                out = out[:at] + spelt + out[at:]
        elif op == "doctype" and xml:
            doctype = (
                b'<!DOCTYPE EPCISDocument [<!ATTLIST bizTransaction type CDATA "po">'
                b'<!ATTLIST epcis:EPCISDocument schemaVersion CDATA "1.2">]>\n'
            )
            start = out.find(b"?>") + 2 if out.lstrip().startswith(b"<?xml") else 0
            out = out[:start] + doctype + out[start:]
    return out


_STRUCTURED: dict[str, Callable[[bytes], st.SearchStrategy[bytes]]] = {
    "csv": csv_mutations,
    "jsonl": jsonl_mutations,
    "events-jsonl": jsonl_mutations,
    "epcis-json": json_document_mutations,
    "epcis-xml": xml_mutations,
}


@st.composite
def inputs(draw: st.DrawFn, loader: str) -> tuple[bytes, str | None]:
    """(file content, kind to force or None) for one loader."""
    seeds, _, kinds = LOADERS[loader]
    data = (SEEDS / draw(st.sampled_from(seeds))).read_bytes()
    if draw(st.booleans()):
        data = draw(_STRUCTURED[loader](data))
    if loader != "csv" and draw(st.integers(0, 2)) == 0:
        data = draw(silent_mutations(data))
    if draw(st.integers(0, 3)):
        data = draw(byte_mutations(data))
    return data, draw(st.sampled_from(kinds))


OUTCOMES = ("accepted", "rejected", "refused", "crash")


@dataclass
class Harness:
    """Loads inputs into one in-memory database, renewed every ``renew`` inputs."""

    folder: Path
    renew: int = 300
    counts: Counter[str] = field(default_factory=Counter)
    crashes: list[str] = field(default_factory=list)
    _con: duckdb.DuckDBPyConnection | None = None
    _used: int = 0
    _serial: int = 0

    def connection(self) -> duckdb.DuckDBPyConnection:
        """The database, renewed now and then so that it stays small."""
        if self._con is None or self._used >= self.renew:
            if self._con is not None:
                self._con.close()
            self._con = connect(":memory:", threads=1)
            self._used = 0
        self._used += 1
        return self._con

    def path(self, loader: str) -> Path:
        """Where the next input of ``loader`` is written."""
        return self.folder / f"input{LOADERS[loader][1]}"

    def run(self, loader: str, data: bytes, kind: str | None) -> str:
        """Load one input; return its outcome and count it (crashes keep their traceback)."""
        con = self.connection()
        path = self.path(loader)
        path.write_bytes(data)
        before = _counts(con)
        try:
            result = load(con, [path], kind=kind)
            outcome = "rejected" if result.rejected else "accepted"
        except TracecheckError:
            outcome = "refused"
            after = _counts(con)
            if after != before:
                outcome = "crash"
                self.crashes.append(f"{loader}: refused, but the counts changed: {before} {after}")
        except Exception:  # noqa: BLE001 - any other exception is what this looks for
            outcome = "crash"
            self.crashes.append(f"{loader} (kind {kind}): {traceback.format_exc()}")
        self.counts[f"{loader} {outcome}"] += 1
        return outcome

    def close(self) -> None:
        """Close the database."""
        if self._con is not None:
            self._con.close()
            self._con = None


_TABLES: list[str] = []


def _counts(con: duckdb.DuckDBPyConnection) -> tuple[int, ...]:
    """Row counts of every table of the store, in one query."""
    if not _TABLES:
        _TABLES.extend(table_counts(con))
        _TABLES.append("load_notes")
    sql = "SELECT " + ", ".join(f'(SELECT count(*) FROM "{t}")' for t in _TABLES)
    row = con.execute(sql).fetchone()
    assert row is not None
    return tuple(int(n) for n in row)
