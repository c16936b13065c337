"""Event quantities are stored exactly as written, or rejected with the reason: a property.

Random spellings of decimal numbers (exponents, many decimals, huge, tiny, signs, leading
and trailing zeros) go through JSON Lines, an EPCIS JSON document and an EPCIS XML
document (written by ``traceability.sample.xml``), into a real store. Python's ``Decimal``
of the text is the oracle: each quantity is stored equal to it, or its event is rejected
with the code that says why (too many decimals, too large, negative).
"""

from __future__ import annotations

import json
from decimal import Decimal, localcontext
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from traceability.load import load
from traceability.sample.xml import xml_document

#: Each example is one file per syntax holding this many spellings, one event each.
SPELLINGS = 40
CLASS = "urn:epc:class:lgtin:8901234.000001.L2401"


def _digits(least: int, most: int) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=least, max_size=most)


@st.composite
def json_number(draw: st.DrawFn) -> str:
    """A number as JSON may write it."""
    sign = draw(st.sampled_from(["", "", "-"]))
    whole = draw(st.sampled_from(["0", "1", "12"]) | _digits(1, 32).map(lambda d: "1" + d))
    fraction = draw(st.none() | _digits(1, 20))
    exponent = draw(
        st.none()
        | st.tuples(
            st.sampled_from(["e", "E"]),
            st.sampled_from(["", "+", "-"]),
            st.integers(0, 450).map(str),
        ).map("".join)
    )
    return sign + whole + (f".{fraction}" if fraction else "") + (exponent or "")


@st.composite
def xml_number(draw: st.DrawFn) -> str:
    """A number as an XML quantity may write it: also with a plus sign, leading zeros,
    and no digit before the point."""
    text = draw(json_number())
    variant = draw(st.sampled_from(["as-is", "plus", "zeros", "point"]))
    if variant == "plus" and not text.startswith("-"):
        return "+" + text
    if variant == "zeros":
        return text.replace("0", "000", 1) if text.startswith("0") else "00" + text.lstrip("-")
    if variant == "point" and text.startswith("0."):
        return text[1:]
    return text


#: Spellings every file holds besides the drawn ones: beyond a float, beyond a decimal,
#: beyond Python's reading of an integer, and at the very edges of what is stored.
FIXED = [
    "1e400",
    "1e999999999999999999999",
    "1" + "0" * 5000,
    "99999999999999999999999999.999999999999",
    "100000000000000000000000000",
    "0.000000000001",
    "0.0000000000001",
    "1.0000000000000001",
]


def expected(text: str) -> Decimal | str:
    """The oracle: the value the store must hold, or the reject code."""
    mantissa, _, exponent = text.lower().partition("e")
    if exponent and abs(int(exponent)) > 10**6 and Decimal(mantissa) != 0:
        return "decimal-precision" if int(exponent) < 0 else "decimal-out-of-range"
    with localcontext() as ctx:
        ctx.prec = 6000
        value = Decimal(text)
        if value % Decimal("1e-12") != 0:
            return "decimal-precision"
        if abs(value) >= Decimal("1e26"):
            return "decimal-out-of-range"
        if value < 0:
            return "bad-quantity"
        return value


def _event(n: int, quantity: object) -> dict[str, object]:
    return {
        "type": "ObjectEvent",
        "eventID": f"urn:uuid:00000000-0000-4000-8000-{n:012d}",
        "eventTime": "2026-01-12T10:15:00+05:30",
        "eventTimeZoneOffset": "+05:30",
        "action": "OBSERVE",
        "bizStep": "shipping",
        "quantityList": [{"epcClass": CLASS, "quantity": quantity, "uom": "KGM"}],
    }


def _placeholder(n: int) -> str:
    return f"@@{n}@@"


def _outcomes(db: Path) -> dict[int, Decimal | str]:
    """Per event number: the stored quantity, or the reject code."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        stored = con.execute(
            "SELECT e.event_id, q.quantity FROM event_quantities q JOIN events e USING (event_row)"
        ).fetchall()
        rejected = con.execute("SELECT line, code FROM rejects").fetchall()
    finally:
        con.close()
    out: dict[int, Decimal | str] = {int(i.rsplit("-", 1)[1]): q for i, q in stored}
    for record, code in rejected:
        assert record not in out
        out[record] = code
    return out


def _check(db: Path, path: Path, spellings: list[str]) -> None:
    load(db, [path])
    got = _outcomes(db)
    for n, text in enumerate(spellings, 1):
        assert got.get(n) == expected(text), (text, got.get(n))


def _json_text(events: list[dict[str, object]], spellings: list[str]) -> list[str]:
    """Each event as JSON text with its quantity written as the spelling, verbatim."""
    return [
        json.dumps(e).replace(f'"{_placeholder(n)}"', text)
        for n, (e, text) in enumerate(zip(events, spellings, strict=True), 1)
    ]


examples = settings(
    max_examples=1,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


@examples
@given(st.lists(json_number(), min_size=SPELLINGS, max_size=SPELLINGS).map(FIXED.__add__))
def test_json_lines_quantities_are_stored_as_written_or_rejected(
    tmp_path_factory: pytest.TempPathFactory, spellings: list[str]
) -> None:
    folder = tmp_path_factory.mktemp("jsonl")
    events = [_event(n, _placeholder(n)) for n in range(1, len(spellings) + 1)]
    path = folder / "events.jsonl"
    path.write_text("\n".join(_json_text(events, spellings)) + "\n", encoding="utf-8")
    _check(folder / "store.duckdb", path, spellings)


@examples
@given(st.lists(json_number(), min_size=SPELLINGS, max_size=SPELLINGS).map(FIXED.__add__))
def test_json_document_quantities_are_stored_as_written_or_rejected(
    tmp_path_factory: pytest.TempPathFactory, spellings: list[str]
) -> None:
    folder = tmp_path_factory.mktemp("json")
    events = [_event(n, _placeholder(n)) for n in range(1, len(spellings) + 1)]
    path = folder / "events.jsonld"
    body = ",\n".join(_json_text(events, spellings))
    path.write_text(
        '{"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"], '
        '"type": "EPCISDocument", "schemaVersion": "2.0", '
        '"creationDate": "2026-02-01T00:00:00Z", "epcisBody": {"eventList": [\n' + body + "\n]}}\n",
        encoding="utf-8",
    )
    _check(folder / "store.duckdb", path, spellings)


@examples
@given(st.lists(xml_number(), min_size=SPELLINGS, max_size=SPELLINGS).map(FIXED.__add__))
def test_xml_quantities_are_stored_as_written_or_rejected(
    tmp_path_factory: pytest.TempPathFactory, spellings: list[str]
) -> None:
    folder = tmp_path_factory.mktemp("xml")
    events = [_event(n, text) for n, text in enumerate(spellings, 1)]
    path = folder / "events.xml"
    path.write_bytes(xml_document(events, creation_date="2026-02-01T00:00:00Z"))
    _check(folder / "store.duckdb", path, spellings)


def test_the_oracle_tells_each_reason_apart() -> None:
    assert expected("12.50") == Decimal("12.5")
    assert expected("1.5E3") == Decimal(1500)
    assert expected("-0") == 0
    assert expected("1e-400") == "decimal-precision"
    assert expected("1.5e-13") == "decimal-precision"
    assert expected("1E+30") == "decimal-out-of-range"
    assert expected("-2") == "bad-quantity"
