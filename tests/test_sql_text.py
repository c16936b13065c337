"""SQL text helpers: what they write DuckDB reads back as the same value."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from traceability.sql import (
    UnsafeSQLText,
    date_literal,
    identifier,
    literal,
    period_of,
    quoted_text,
)

ODD = ["", "'", "''", '"', "O'Brien", 'a "b" c', "\\", "line\nbreak", "tab\t", "é😀", "--", ";"]
#: Any text DuckDB can hold in a literal: everything but NUL (and the lone surrogates no
#: UTF-8 text holds).
TEXT = st.text(
    st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=40
)


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect() as connection:
        yield connection


@pytest.mark.parametrize("text", ODD)
def test_a_literal_reads_back_as_its_text(con: duckdb.DuckDBPyConnection, text: str) -> None:
    assert con.execute(f"SELECT {literal(text)}").fetchone() == (text,)


@pytest.mark.parametrize("name", [n for n in ODD if n])
def test_an_identifier_names_the_column_it_quotes(
    con: duckdb.DuckDBPyConnection, name: str
) -> None:
    cursor = con.execute(f"SELECT 1 AS {identifier(name)}")
    assert [d[0] for d in cursor.description or ()] == [name]


def test_any_text_without_nul_round_trips(con: duckdb.DuckDBPyConnection) -> None:
    @settings(max_examples=150, deadline=None)
    @given(TEXT)
    def round_trip(text: str) -> None:
        assert con.execute(f"SELECT {literal(text)}").fetchone() == (text,)
        if text:
            cursor = con.execute(f"SELECT 1 AS {identifier(text)}")
            assert [d[0] for d in cursor.description or ()] == [text]

    round_trip()


@pytest.mark.parametrize("helper", [literal, identifier])
def test_a_nul_is_refused_not_cut_short(helper: object) -> None:
    assert callable(helper)
    with pytest.raises(UnsafeSQLText, match="NUL"):
        helper("lot\x00; DROP TABLE batches")


def test_a_nul_is_what_duckdb_itself_cannot_parse(con: duckdb.DuckDBPyConnection) -> None:
    """Why the helpers refuse it: written as it is, the statement does not parse."""
    with pytest.raises(duckdb.ParserException):
        con.execute("SELECT 'a\x00b'")


def test_a_date_literal_is_the_date(con: duckdb.DuckDBPyConnection) -> None:
    assert con.execute(f"SELECT {date_literal(date(2026, 2, 28))}").fetchone() == (
        date(2026, 2, 28),
    )


@pytest.mark.parametrize(
    ("day", "period"),
    [
        (date(2026, 1, 1), "2026-Q1"),
        (date(2026, 3, 31), "2026-Q1"),
        (date(2026, 4, 1), "2026-Q2"),
        (date(2025, 12, 31), "2025-Q4"),
        (None, None),
    ],
)
def test_the_period_of_a_date_is_its_quarter(
    con: duckdb.DuckDBPyConnection, day: date | None, period: str | None
) -> None:
    row = con.execute(f"SELECT {period_of('d')} FROM (SELECT CAST(? AS DATE) AS d)", [day])
    assert row.fetchone() == (period,)


@pytest.mark.parametrize(
    ("value", "said"),
    [("L1", "'L1'"), ("it's", "'it''s'"), (None, "a value that is not text")],
)
def test_quoted_text_puts_a_value_in_quotes_for_a_message(
    con: duckdb.DuckDBPyConnection, value: str | None, said: str
) -> None:
    row = con.execute(f"SELECT {quoted_text('v')} FROM (SELECT CAST(? AS VARCHAR) AS v)", [value])
    assert row.fetchone() == (said,)
