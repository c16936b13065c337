"""GS1 identifiers: check digits, GTIN/GLN/SSCC, EPC URNs and Digital Link URIs, units.

The keys and their check digits are in :mod:`~traceability.load.gs1_keys`, the EPC URNs
and Digital Link URIs in :mod:`~traceability.load.epc_uris`, units of measure in
:mod:`~traceability.load.units`; this module gathers them under one name. Everything
exists twice and the two must agree exactly: pure Python functions for single values
(and for the doctests), and DuckDB SQL macros for bulk work in
:mod:`traceability.load.identifiers_sql`. Both are driven by the same regular
expressions and tables.
"""

from __future__ import annotations

from traceability.load.epc_uris import (
    _TAIL_RE,
    CSET39_RE,
    CSET82_39_RE,
    CSET82_RE,
    DIGIT_RE,
    DL_OTHER_QUALIFIERS,
    DL_OTHER_RE,
    DL_RE,
    DL_SAFE,
    DL_SHORT_NAMES,
    ESCAPES_RE,
    URN_RE,
    URN_SCHEMES,
    Epc,
    Layout,
    UrnScheme,
    canonical_uri,
    parse_epc,
)
from traceability.load.gs1_keys import (
    DL_ROOT,
    INVISIBLE,
    INVISIBLE_SQL,
    WHITESPACE,
    EpcKind,
    check_digit,
    check_ok,
    gln_problem,
    gtin_problem,
    invisible_chars,
    is_valid_gs1_number,
    normalise_gln,
    normalise_gtin,
    normalise_sscc,
    sscc_problem,
    with_check_digit,
)
from traceability.load.units import (
    EVENT_UOM_SYNONYMS,
    KNOWN_UOM_CODES,
    UOM_MASS_KG,
    UOM_SPELLINGS,
    UOM_VOLUME_L,
    event_uom,
    normalise_uom,
    uom_dimension,
)

__all__ = [
    "CSET39_RE",
    "CSET82_39_RE",
    "CSET82_RE",
    "DIGIT_RE",
    "DL_OTHER_QUALIFIERS",
    "DL_OTHER_RE",
    "DL_RE",
    "DL_ROOT",
    "DL_SAFE",
    "DL_SHORT_NAMES",
    "ESCAPES_RE",
    "EVENT_UOM_SYNONYMS",
    "Epc",
    "EpcKind",
    "INVISIBLE",
    "INVISIBLE_SQL",
    "KNOWN_UOM_CODES",
    "Layout",
    "UOM_MASS_KG",
    "UOM_SPELLINGS",
    "UOM_VOLUME_L",
    "URN_RE",
    "URN_SCHEMES",
    "UrnScheme",
    "WHITESPACE",
    "_TAIL_RE",
    "canonical_uri",
    "check_digit",
    "check_ok",
    "event_uom",
    "gln_problem",
    "gtin_problem",
    "invisible_chars",
    "is_valid_gs1_number",
    "normalise_gln",
    "normalise_gtin",
    "normalise_sscc",
    "normalise_uom",
    "parse_epc",
    "sscc_problem",
    "uom_dimension",
    "with_check_digit",
]
