"""CBV vocabulary values in the spellings partners write them, for tests of the loader.

EPCIS 2.0 JSON writes a standard term as its bare word (``shipping``) or its CURIE
(``cbv:BizStep-shipping``), XML as its CBV 1.x URN or Web URI; partners write any of the
four in either syntax, in another case, and with blanks around the value. The loader
reads each as the one bare word. :func:`spell` writes a term in a chosen spelling;
:func:`respell` rewrites every CBV value of an event with one.

>>> [spell("bizStep", "shipping", s) for s in SPELLINGS]  # doctest: +NORMALIZE_WHITESPACE
['shipping', 'urn:epcglobal:cbv:bizstep:shipping',
 'https://ref.gs1.org/cbv/BizStep-shipping', 'cbv:BizStep-shipping']
>>> spell("disposition", "in_transit", "urn", case="upper", padding=" \\t")
' \\turn:epcglobal:cbv:disp:IN_TRANSIT \\t'
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeAlias

Spelling: TypeAlias = Literal["bare", "urn", "web", "curie"]
Case: TypeAlias = Literal["lower", "upper", "title"]

SPELLINGS: tuple[Spelling, ...] = ("bare", "urn", "web", "curie")
CASES: tuple[Case, ...] = ("lower", "upper", "title")
#: Blanks around a value that both syntaxes read as blanks (XML white space; in JSON, the
#: same characters inside the string).
PADDINGS: tuple[str, ...] = ("", " ", "  ", "\t", "\n", " \t ")

#: Each CBV vocabulary: its CBV 1.x URN prefix and its CBV 2.0 Web URI / CURIE name.
VOCABULARIES: dict[str, tuple[str, str]] = {
    "bizStep": ("urn:epcglobal:cbv:bizstep:", "BizStep"),
    "disposition": ("urn:epcglobal:cbv:disp:", "Disp"),
    "bizTransactionType": ("urn:epcglobal:cbv:btt:", "BTT"),
    "sourceDestinationType": ("urn:epcglobal:cbv:sdt:", "SDT"),
    "errorReason": ("urn:epcglobal:cbv:er:", "ER"),
}


def bare_word(vocabulary: str, value: str) -> str:
    """The bare word of a standard term written in any of :data:`SPELLINGS`.

    >>> bare_word("bizStep", "https://ref.gs1.org/cbv/BizStep-packing")
    'packing'
    """
    urn, name = VOCABULARIES[vocabulary]
    for prefix in (urn, f"https://ref.gs1.org/cbv/{name}-", f"cbv:{name}-"):
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value


def spell(
    vocabulary: str, word: str, spelling: Spelling, *, case: Case = "lower", padding: str = ""
) -> str:
    """A standard term (its bare word) in a spelling, a case and with blanks around it."""
    urn, name = VOCABULARIES[vocabulary]
    if case == "upper":
        word = word.upper()
    elif case == "title":
        word = word.capitalize()
    prefix = {
        "bare": "",
        "urn": urn,
        "web": f"https://ref.gs1.org/cbv/{name}-",
        "curie": f"cbv:{name}-",
    }[spelling]
    return padding + prefix + word + padding


#: Where an event holds CBV values: (list field, vocabulary of its members' ``type``).
_TYPED_LISTS = (
    ("bizTransactionList", "bizTransactionType"),
    ("sourceList", "sourceDestinationType"),
    ("destinationList", "sourceDestinationType"),
)


def respell(event: Mapping[str, Any], choose: Callable[[str, str], str]) -> dict[str, Any]:
    """A copy of the event with each CBV value ``v`` of vocabulary ``voc`` replaced by
    ``choose(voc, bare_word(voc, v))``."""
    out: dict[str, Any] = copy.deepcopy(dict(event))
    for field in ("bizStep", "disposition"):
        if isinstance(out.get(field), str):
            out[field] = choose(field, bare_word(field, out[field]))
    for field, vocabulary in _TYPED_LISTS:
        for member in out.get(field) or []:
            if isinstance(member.get("type"), str):
                member["type"] = choose(vocabulary, bare_word(vocabulary, member["type"]))
    declaration = out.get("errorDeclaration")
    if isinstance(declaration, dict) and isinstance(declaration.get("reason"), str):
        declaration["reason"] = choose(
            "errorReason", bare_word("errorReason", declaration["reason"])
        )
    return out
