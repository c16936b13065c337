"""A quantity is stored with every digit the file wrote, or its record is rejected with a reason.

Random spellings of decimal numbers (exponents, many decimals, huge and tiny values, signs,
leading and trailing zeros) go through every declaration syntax: CSV, .xlsx text cells and
number cells, JSON Lines numbers and strings, and Parquet. What the store holds is compared
with Python's ``Decimal`` of the text: the same value, or a reject of that record naming the
field, with the code the value calls for. The oracle is independent of the loader: it asks
whether quantizing the exact value to 12 places changes it, and how large it is.
"""

from __future__ import annotations

import json
import tempfile
from decimal import Context, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from conftest import VALID, write_csv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from traceability.load import decimals, load

#: A context wide enough to hold every value drawn here exactly.
WIDE = Context(prec=2_000, Emin=-100_000, Emax=100_000)
TWELVE_PLACES = Decimal("1E-12")
FORMATS = ("csv", "xlsx-text", "xlsx-number", "jsonl-number", "jsonl-text", "parquet")


def expected(text: str) -> Decimal | str:
    """The value the store must hold for a quantity written ``text``, or the reject code."""
    if text.startswith("-"):
        return "negative-quantity"
    if text.startswith("+"):
        return "bad-decimal"
    value = Decimal(text)
    try:
        rounded = value.quantize(TWELVE_PLACES, context=WIDE)
    except InvalidOperation:  # more digits than the wide context: far too large
        return decimals.RANGE_CODE
    if rounded != value:
        return decimals.PRECISION_CODE
    if value.copy_abs() >= Decimal("1E26"):
        return decimals.RANGE_CODE
    return value


@st.composite
def spellings(draw: st.DrawFn) -> str:
    """A decimal number as a person or a program may write it."""
    sign = draw(st.sampled_from(["", "", "", "", "-", "+"]))
    zeros = "0" * draw(st.integers(0, 3))
    whole = draw(st.text("0123456789", min_size=0, max_size=30))
    text = zeros + whole
    if draw(st.booleans()):
        text += "." + draw(st.text("0123456789", min_size=0, max_size=20))
        text += "0" * draw(st.integers(0, 6))
    if not any(c.isdigit() for c in text):
        text = "0" + text
    if draw(st.booleans()):
        power = draw(st.one_of(st.integers(-45, 45), st.sampled_from([-400, -30, 26, 400])))
        text += draw(st.sampled_from(["e", "E"])) + (
            f"+{power}" if power >= 0 and draw(st.booleans()) else str(power)
        )
    return sign + text


def json_number(text: str) -> str | None:
    """``text`` as a JSON number literal (JSON writes no '+', leading zero or bare point)."""
    if text.startswith("+"):
        return None
    sign, body = ("-", text[1:]) if text.startswith("-") else ("", text)
    mantissa, e, power = body.replace("E", "e").partition("e")
    whole, point, fraction = mantissa.partition(".")
    whole = whole.lstrip("0") or "0"
    if point and not fraction:
        point = ""
    return sign + whole + (("." + fraction) if point else "") + (e + power)


@st.composite
def spreadsheet_numbers(draw: st.DrawFn) -> str:
    """A number a spreadsheet cell can hold exactly as typed: at most 15 significant digits."""
    digits = draw(st.text("0123456789", min_size=1, max_size=15))
    power = draw(st.integers(-25, 20))
    return f"{digits}E{power}"


def _record(fmt: str, i: int) -> dict[str, Any]:
    row: dict[str, Any] = {k: v for k, v in VALID["filings"].items() if v != ""}
    row["filing_id"] = f"{fmt}-{i}"
    return row


def _write(folder: Path, fmt: str, texts: list[str]) -> tuple[Path, int]:
    """Write the texts as the quantities of one filings file; (path, line of the first)."""
    rows = [_record(fmt, i) for i in range(len(texts))]
    header = list(rows[0])
    if fmt == "csv":
        return write_csv(
            folder / "f.csv", [{**r, "quantity": t} for r, t in zip(rows, texts, strict=True)]
        ), 2
    if fmt.startswith("xlsx"):
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.title = "filings"
        sheet.append(header)
        for r, t in zip(rows, texts, strict=True):
            cell: Any = float(t) if fmt == "xlsx-number" else t
            sheet.append([cell if k == "quantity" else r[k] for k in header])
        path = folder / f"{fmt}.xlsx"
        book.save(path)
        return path, 2
    if fmt.startswith("jsonl"):
        lines = []
        for r, t in zip(rows, texts, strict=True):
            text = json.dumps({**r, "quantity": "Q"})
            literal = json_number(t) if fmt == "jsonl-number" else json.dumps(t)
            lines.append(text.replace('"Q"', literal or json.dumps(t)))
        path = folder / f"{fmt}.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path, 1
    table = pa.table(
        {
            k: [t if k == "quantity" else r[k] for r, t in zip(rows, texts, strict=True)]
            for k in header
        }
    )
    path = folder / "f.parquet"
    pq.write_table(table, path)
    return path, 1


def _outcomes(
    db: Path,
) -> tuple[dict[tuple[str, int], Decimal], dict[tuple[str, int], set[tuple[str, str]]]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        stored = {
            (Path(f).name, line): q
            for f, line, q in con.execute(
                "SELECT source_file, source_line, quantity FROM filings"
            ).fetchall()
        }
        rejected: dict[tuple[str, int], set[tuple[str, str]]] = {}
        for f, line, field, code, message in con.execute(
            "SELECT source_file, line, field, code, message FROM rejects"
        ).fetchall():
            assert message, (f, line, code)
            rejected.setdefault((Path(f).name, line), set()).add((field, code))
    finally:
        con.close()
    return stored, rejected


def check_formats(texts: list[str], formats: tuple[str, ...] = FORMATS) -> None:
    """Load the texts as quantities in each format; each is stored exactly or rejected."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        written = {fmt: _write(folder, fmt, texts) for fmt in formats}
        load(folder / "store.duckdb", [p for p, _ in written.values()], kind="filings")
        stored, rejected = _outcomes(folder / "store.duckdb")
        for fmt, (path, first) in written.items():
            for i, text in enumerate(texts):
                if fmt == "jsonl-number" and json_number(text) is None:
                    continue  # not a JSON number: written as a string instead, as jsonl-text
                where = (path.name, first + i)
                want = expected(text)
                if isinstance(want, Decimal):
                    assert where in stored, (fmt, text, rejected.get(where))
                    assert stored[where] == want, (fmt, text, stored[where])
                else:
                    assert where not in stored, (fmt, text, stored.get(where))
                    assert ("quantity", want) in rejected.get(where, set()), (
                        fmt,
                        text,
                        rejected.get(where),
                    )


def test_the_reported_attacks_are_stored_exactly_or_rejected_in_every_format() -> None:
    texts = [
        "0.1234567890123456",  # 16 decimals: was stored rounded to 12
        "1e-400",  # was stored as 0
        "1.5e-13",  # was stored as 0
        "0.0000000000001",
        "1E+30",
        "12.500000000000000000",  # trailing zeros: exact
        "0e-400",  # zero, however written
        "1.5E3",
        "99999999999999999999999999.999999999999",
        "100000000000000000000000000",
        "0.000000000001",
        "-3",
        "-0",  # a JSON integer -0 keeps its sign, as the text does
    ]
    check_formats(texts, ("csv", "xlsx-text", "jsonl-number", "jsonl-text", "parquet"))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(spellings(), min_size=1, max_size=12))
def test_random_spellings_are_stored_exactly_or_rejected(texts: list[str]) -> None:
    check_formats(texts, ("csv", "xlsx-text", "jsonl-number", "jsonl-text", "parquet"))


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(spreadsheet_numbers(), min_size=1, max_size=12))
def test_spreadsheet_number_cells_are_stored_as_typed_or_rejected(texts: list[str]) -> None:
    check_formats(texts, ("xlsx-number",))


@settings(max_examples=30, deadline=None)
@given(st.lists(spellings(), min_size=1, max_size=50))
def test_the_sql_macros_agree_with_the_python_rule(texts: list[str]) -> None:
    con = duckdb.connect()
    decimals.create_macros(con)
    unsigned = [t.lstrip("+-") for t in texts]
    rows = con.execute(
        "SELECT v, tc_decimal_problem(v), CASE WHEN tc_decimal_problem(v) IS NULL "
        "THEN CAST(tc_decimal_plain(v) AS DECIMAL(38,12)) END FROM unnest(?) AS t(v)",
        [unsigned],
    ).fetchall()
    for text, problem, value in rows:
        want = expected(text)
        outcome = decimals.exact_quantity(text)
        if isinstance(want, Decimal):
            assert outcome == want and problem is None and value == want, text
        else:
            assert isinstance(outcome, decimals.Inexact) and outcome.code == want, text
            assert problem == want, text
