"""Vocabulary values: the Python normal form and the loader's SQL agree on every spelling.

The input contract says vocabulary values arrive in several spellings that mean the same
(bare word, CBV 1.x URN, CBV 2.0 Web URI, ``cbv:`` CURIE); the XML reader normalises
them in Python (``bare_cbv``), the JSON paths in SQL (``tc_cbv`` and its fast path for
bare terms). Both come from one definition in ``traceability.load.epcis.terms``.
"""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from traceability.load.epcis.terms import (
    CBV_MACRO,
    CBV_TERMS,
    CBV_URN_PREFIXES,
    CBV_WEB_PREFIXES,
    bare_cbv,
    bare_or_cbv_sql,
)

VOCABULARIES = sorted(CBV_TERMS)


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    for macro in CBV_MACRO.split(";\n"):
        connection.execute(macro)
    yield connection
    connection.close()


def in_sql(con: duckdb.DuckDBPyConnection, vocabulary: str, value: str) -> tuple[str, str]:
    """What the macro, and the loader's expression with its fast path, make of ``value``."""
    row = con.execute(
        f"SELECT tc_cbv(x, '{vocabulary}'), {bare_or_cbv_sql('x', vocabulary)} "
        "FROM (SELECT ?::VARCHAR AS x)",
        [value],
    ).fetchone()
    assert row is not None
    return row[0], row[1]


def _prefixes(vocabulary: str) -> list[str]:
    web = CBV_WEB_PREFIXES[vocabulary]
    word = web.rsplit("/", 1)[1]  # "BizStep-"
    return [
        "",
        CBV_URN_PREFIXES[vocabulary],
        web,
        web.replace("https:", "http:"),
        "cbv:" + word,
        "gs1:" + word,
        word,
        "urn:epcglobal:cbv:other:",  # not a CBV prefix: the value is kept
        "https://example.org/vocab/",
    ]


#: Characters around a value: the four that are dropped, and others that are part of it.
SPACE = st.text(alphabet=" \t\r\n\x0b\x0c\xa0\u2003\u200b", max_size=3)
#: Letters that stand in for an ASCII one: whose case Python's str.lower() and DuckDB's
#: lower() fold differently (the dotted capital I), or that match the ASCII letter without
#: regard to case (the Kelvin sign, the long s), or look like it (the dotless i).
ODD_LETTERS = {"i": "İı", "s": "ſ", "k": "\u212a", "a": "Å"}


def _recase(text: str, flips: list[bool]) -> str:
    """``text`` with the case of each letter whose flip is drawn True swapped."""
    return "".join(c.swapcase() if i < len(flips) and flips[i] else c for i, c in enumerate(text))


@st.composite
def spellings(draw: st.DrawFn) -> tuple[str, str]:
    """A vocabulary and a value: a spelling of a term, or of something near one."""
    vocabulary = draw(st.sampled_from(VOCABULARIES))
    prefix = draw(st.sampled_from(_prefixes(vocabulary)))
    word = draw(
        st.one_of(
            st.sampled_from(sorted(CBV_TERMS[vocabulary])),
            st.text(max_size=12),
            st.text(alphabet="abcdefghijklmnopqrstuvwxyz_-:/.", max_size=16),
        )
    )
    value = prefix + word
    value = _recase(value, draw(st.lists(st.booleans(), max_size=len(value))))
    odd = [i for i, c in enumerate(value) if c.lower() in ODD_LETTERS]
    if odd and draw(st.booleans()):  # one letter swapped for one that stands in for it
        at = draw(st.sampled_from(odd))
        value = value[:at] + draw(st.sampled_from(ODD_LETTERS[value[at].lower()])) + value[at + 1 :]
    return vocabulary, draw(SPACE) + value + draw(SPACE)


@settings(max_examples=150, deadline=None)
@given(spellings())
def test_sql_and_python_agree_on_every_spelling(
    con: duckdb.DuckDBPyConnection, spelled: tuple[str, str]
) -> None:
    vocabulary, value = spelled
    macro, fast = in_sql(con, vocabulary, value)
    assert macro == fast == bare_cbv(vocabulary, value)


@settings(max_examples=75, deadline=None)
@given(st.sampled_from(VOCABULARIES), st.text().filter(lambda t: "\x00" not in t))
def test_sql_and_python_agree_on_any_text(
    con: duckdb.DuckDBPyConnection, vocabulary: str, value: str
) -> None:
    macro, fast = in_sql(con, vocabulary, value)
    assert macro == fast == bare_cbv(vocabulary, value)


@pytest.mark.parametrize(
    "value",
    [
        "commissioning",
        "urn:epcglobal:cbv:bizstep:commissioning",
        "https://ref.gs1.org/cbv/BizStep-commissioning",
        "cbv:BizStep-commissioning",
        " \tcbv:BizStep-commissioning\r\n",
        "COMMISSIONING",
        "http://ref.gs1.org/cbv/BizStep-Commissioning ",
    ],
)
def test_the_spellings_of_the_input_contract_mean_the_bare_term(
    con: duckdb.DuckDBPyConnection, value: str
) -> None:
    assert bare_cbv("bizStep", value) == "commissioning"
    assert in_sql(con, "bizStep", value) == ("commissioning", "commissioning")


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        (" urn:example:step:inspection ", "urn:example:step:inspection"),
        (
            "https://ref.gs1.org/cbv/BizStep-teleporting",
            "https://ref.gs1.org/cbv/BizStep-teleporting",
        ),
        ("\u00a0shipping", "\u00a0shipping"),  # a no-break space is part of the value
        ("ſhipping", "ſhipping"),  # a long s is not an s here, in Python or in SQL
        ("SHİPPING", "SHİPPING"),  # DuckDB's lower() makes this "shipping", Python's not
        ("\u212aILLING", "\u212aILLING"),  # a Kelvin sign is not a K
        ("urn:epcglobal:cbv:disp:in_transit", "urn:epcglobal:cbv:disp:in_transit"),
    ],
)
def test_a_value_that_is_no_term_of_its_vocabulary_is_kept_trimmed(
    con: duckdb.DuckDBPyConnection, value: str, kept: str
) -> None:
    assert bare_cbv("bizStep", value) == kept
    assert in_sql(con, "bizStep", value) == (kept, kept)
