"""EPCs as URNs and GS1 Digital Link URIs: parsing, validation and the canonical key.

The canonical key of an EPC is the constrained GS1 Digital Link URI used by the
EPCIS 2.0 event hash: ``https://id.gs1.org/{AI}/{value}...``, with only the most
fine-grained identification level and no query string. The regular expressions and
tables here drive both these functions and the SQL macros of
:mod:`traceability.load.identifiers_sql`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, unquote

from traceability.load.gs1_keys import (
    DL_ROOT,
    WHITESPACE,
    EpcKind,
    check_ok,
    normalise_gtin,
    with_check_digit,
)

# --------------------------------------------------------------------------------------
# Values inside EPCs: percent-decoding, validation, canonical re-encoding
# --------------------------------------------------------------------------------------
#
# A serial, lot or extension is percent-decoded (only ASCII escapes are accepted, so the
# result is ASCII), then must consist of characters of the AI's character set (GS1 CSET
# 82 for most, CSET 39 for a CPI, digits for an SGCN serial) and fit the AI's maximum
# length. The canonical URI re-encodes it: everything but letters, digits and - . _ ' ; =
# is escaped, which is what the EPCIS 2.0 event-hash reference vectors show ("!" becomes
# %21, "'" stays as it is). Every regular expression below is written in the subset on
# which Python's ``re`` and DuckDB's RE2 agree, and both implementations use it.

ESCAPES_RE = r"(?:[^%]|%[0-7][0-9A-Fa-f])*"
CSET82_RE = r"""[!"%-?A-Z_a-z]"""
CSET39_RE = r"[#\-/0-9A-Z]"
DIGIT_RE = r"[0-9]"
#: Characters besides [A-Za-z0-9_.~-] that stay unescaped in a canonical value.
DL_SAFE = "';="


def _full(pattern: str, s: str) -> re.Match[str] | None:
    return re.fullmatch(pattern, s, re.S)


def _value(raw: str, charset: str, max_len: int) -> str | None:
    """Percent-decode ``raw``; None unless 1..max_len characters of ``charset``."""
    if not _full(ESCAPES_RE, raw):
        return None
    decoded = unquote(raw)
    if not _full(f"{charset}*", decoded) or not 1 <= len(decoded) <= max_len:
        return None
    return decoded


def _enc(value: str) -> str:
    return quote(value, safe=DL_SAFE)


# --------------------------------------------------------------------------------------
# EPCs
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Epc:
    """A parsed EPC (URN or GS1 Digital Link URI).

    Attributes:
        raw: the string as given.
        kind: ``"sgtin"``, ``"sscc"``, ``"lgtin"``, ``"sgln"`` or ``"other"``.
        key: the canonical URI (see ``canonical_uri``).
        gtin: the GTIN-14 of an SGTIN, an LGTIN or a GTIN-only class identifier.
        serial: the decoded serial number of an SGTIN.
        sscc: the SSCC-18 of an SSCC.
        lot: the decoded lot number of an LGTIN.
        gln: the GLN of an SGLN.
    """

    raw: str
    kind: EpcKind
    key: str
    gtin: str | None = None
    serial: str | None = None
    sscc: str | None = None
    lot: str | None = None
    gln: str | None = None


def _ci(word: str) -> str:
    """Regex matching ``word`` with its ASCII letters in either case."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


#: ``urn:epc:{namespace}:{scheme}:{company prefix}.{ref digits}{tail}``; the company
#: prefix group is empty when that part is malformed.
URN_RE = _ci("urn:epc:") + r"([A-Za-z]+):([A-Za-z]+):(?:([0-9]{6,12})\.([0-9]*))?(.*)"

#: A GS1 Digital Link URI on any domain, under any path prefix: GTIN (with optional
#: CPV, lot and serial), SSCC, or GLN (with optional extension). Query and fragment
#: are ignored. Groups: gtin, lot segment, serial segment, sscc, gln, extension segment.
DL_RE = (
    _ci("http")
    + r"[Ss]?://[^/?#]+(?:/[^/?#]*)*?/(?:"
    + r"(?:01|gtin)/([0-9]{8,14})(?:/(?:22|cpv)/[^/?#]*)?"
    + r"(/(?:10|lot)/[^/?#]*)?(/(?:21|ser)/[^/?#]*)?"
    + r"|(?:00|sscc)/([0-9]{18})"
    + r"|(?:414|gln)/([0-9]{13})(/(?:254|glnx)/[^/?#]*)?"
    + r")/?(?:[?#].*)?"
)

#: Digital Link short names of primary keys and qualifiers, with their AIs.
DL_SHORT_NAMES: dict[str, str] = {
    "gdti": "253",
    "gcn": "255",
    "ginc": "401",
    "gsin": "402",
    "party": "417",
    "grai": "8003",
    "giai": "8004",
    "itip": "8006",
    "cpid": "8010",
    "gsrnp": "8017",
    "gsrn": "8018",
    "ser": "21",
    "cpsn": "8011",
}

#: A Digital Link URI of one of the other GS1 keys (first four characters digits),
#: with a serial (ITIP) or CPI serial (CPI) qualifier. Groups: AI, value, qualifier AI,
#: qualifier value. Only the domain, the short names and the escapes are canonicalised.
DL_OTHER_RE = (
    _ci("http")
    + r"[Ss]?://[^/?#]+(?:/[^/?#]*)*?/"
    + r"(253|255|401|402|417|8003|8004|8006|8010|8017|8018"
    + r"|gdti|gcn|ginc|gsin|party|grai|giai|itip|cpid|gsrnp|gsrn)"
    + r"/([0-9]{4}[^/?#]*)(?:/(21|ser|8011|cpsn)/([^/?#]*))?/?(?:[?#].*)?"
)
#: Characters of values in DL_OTHER_RE: CSET 82 plus "#" (CSET 39 of a CPI).
CSET82_39_RE = r"""[!-#%-?A-Z_a-z]"""
#: The qualifier each key of DL_OTHER_RE may have.
DL_OTHER_QUALIFIERS: dict[str, str] = {"8006": "21", "8010": "8011"}

Layout = Literal["N", "NS", "N*", "NPTS", "NPT*", "S", "SN", "S*"]


@dataclass(frozen=True)
class UrnScheme:
    """How one EPC URN scheme maps to its GS1 Digital Link form.

    ``layout`` describes what follows ``{company prefix}.``: ``N`` reference digits;
    ``NS`` digits ``.`` value; ``N*`` digits ``.*``; ``NPTS`` digits ``.`` piece ``.``
    total ``.`` value; ``NPT*`` the same ending ``.*``; ``S`` a value; ``SN`` value ``.``
    digits; ``S*`` value ``.*``. For ``N`` layouts the company prefix and reference make
    ``digits`` digits; ``lead`` ``"rotate"`` moves the first reference digit (indicator or
    extension digit) to the front and ``"0"`` prepends a zero; a check digit follows.
    The key is ``/{ai}/{number or prefix}``, then piece and total, then ``qualifier`` and
    the value (``qualifier`` None: the scheme has no value), then ``/8011/{digits}``
    for ``SN``.
    """

    kind: EpcKind
    layout: Layout
    ai: str
    digits: int = 0
    lead: str = ""
    qualifier: str | None = None
    charset: str = CSET82_RE
    max_len: int = 20
    number_field: str | None = None
    value_field: str | None = None


URN_SCHEMES: dict[str, UrnScheme] = {
    "id:sgtin": UrnScheme(
        "sgtin", "NS", "01", 13, "rotate", "/21/", number_field="gtin", value_field="serial"
    ),
    "class:lgtin": UrnScheme(
        "lgtin", "NS", "01", 13, "rotate", "/10/", number_field="gtin", value_field="lot"
    ),
    "idpat:sgtin": UrnScheme("other", "N*", "01", 13, "rotate", number_field="gtin"),
    "id:sscc": UrnScheme("sscc", "N", "00", 17, "rotate", number_field="sscc"),
    "id:sgln": UrnScheme("sgln", "NS", "414", 12, "", "/254/", number_field="gln"),
    "id:pgln": UrnScheme("other", "N", "417", 12),
    "id:gsrn": UrnScheme("other", "N", "8018", 17),
    "id:gsrnp": UrnScheme("other", "N", "8017", 17),
    "id:gsin": UrnScheme("other", "N", "402", 16),
    "id:grai": UrnScheme("other", "NS", "8003", 12, "0", "", max_len=16),
    "idpat:grai": UrnScheme("other", "N*", "8003", 12, "0"),
    "id:gdti": UrnScheme("other", "NS", "253", 12, "", "", max_len=17),
    "idpat:gdti": UrnScheme("other", "N*", "253", 12),
    "id:sgcn": UrnScheme("other", "NS", "255", 12, "", "", DIGIT_RE, 12),
    "idpat:sgcn": UrnScheme("other", "N*", "255", 12),
    "id:upui": UrnScheme("other", "NS", "01", 13, "rotate", "/235/", max_len=28),
    "idpat:upui": UrnScheme("other", "N*", "01", 13, "rotate"),
    "id:itip": UrnScheme("other", "NPTS", "8006", 13, "rotate", "/21/"),
    "idpat:itip": UrnScheme("other", "NPT*", "8006", 13, "rotate"),
    "id:giai": UrnScheme("other", "S", "8004", qualifier="", max_len=30),
    "id:ginc": UrnScheme("other", "S", "401", qualifier="", max_len=30),
    "id:cpi": UrnScheme("other", "SN", "8010", qualifier="", charset=CSET39_RE, max_len=30),
    "idpat:cpi": UrnScheme("other", "S*", "8010", qualifier="", charset=CSET39_RE, max_len=30),
}

#: For the layouts that need a second look at the tail: (regex, groups: extra, value).
_TAIL_RE: dict[str, str] = {
    "NPTS": r"\.([0-9]{2})\.([0-9]{2})\.(.*)",
    "NPT*": r"\.([0-9]{2})\.([0-9]{2})\.\*()",
    "SN": r"(.*)\.([0-9]{1,12})",
    "S*": r"(.*)\.\*",
}


def _urn_parts(scheme: UrnScheme, cp: str, ref: str, tail: str) -> tuple[str, str, str] | None:
    """Split what follows the company prefix into (digits, extra, raw value)."""
    layout = scheme.layout
    if layout == "N":
        return (ref, "", "") if tail == "" else None
    if layout == "NS":
        return (ref, "", tail[1:]) if tail.startswith(".") else None
    if layout == "N*":
        return (ref, "", "") if tail == ".*" else None
    if layout in ("NPTS", "NPT*"):
        m = _full(_TAIL_RE[layout], tail)
        return (ref, m[1] + m[2], m[3]) if m else None
    if layout == "S":
        return ("", "", ref + tail)
    m = _full(_TAIL_RE[layout], ref + tail)
    if m is None:
        return None
    return ("", m[2], m[1]) if layout == "SN" else ("", "", m[1])


def _parse_urn(raw: str, s: str) -> Epc | None | Literal[False]:
    """Parse an EPC URN; False when ``s`` is no URN of a scheme listed in URN_SCHEMES."""
    m = _full(URN_RE, s)
    if m is None:
        return False
    name = f"{m[1]}:{m[2]}".lower()
    scheme = URN_SCHEMES.get(name)
    if scheme is None:
        return False
    cp = m[3] or ""
    if not cp:
        return None
    parts = _urn_parts(scheme, cp, m[4] or "", m[5])
    if parts is None:
        return None
    ref, extra, value_raw = parts
    fields: dict[str, str] = {}
    head = cp
    if scheme.layout[0] == "N":
        if len(cp) + len(ref) != scheme.digits:
            return None
        digits = cp + ref
        if scheme.lead == "rotate":
            digits = ref[:1] + cp + ref[1:]
        elif scheme.lead == "0":
            digits = "0" + digits
        head = with_check_digit(digits)
        if scheme.number_field:
            fields[scheme.number_field] = head
    key = f"{DL_ROOT}/{scheme.ai}/{head}"
    if scheme.layout.startswith("NPT"):
        key += extra
    if scheme.qualifier is not None:
        max_len = scheme.max_len - (len(cp) if scheme.layout[0] == "S" else 0)
        value = _value(value_raw, scheme.charset, max_len)
        if value is None:
            return None
        if scheme.value_field:
            fields[scheme.value_field] = value
        if not (name == "id:sgln" and value == "0"):
            key += scheme.qualifier + _enc(value)
    if scheme.layout == "SN":
        key += "/8011/" + extra
    return Epc(raw, scheme.kind, key, **fields)


def _segment_value(segment: str) -> str | None:
    """Decode the value of ``/{ai}/{value}`` captured from a Digital Link path."""
    return _value(segment[segment.index("/", 1) + 1 :], CSET82_RE, 20)


def _parse_dl(raw: str, s: str) -> Epc | None | Literal[False]:
    m = _full(DL_RE, s)
    if m is None:
        return False
    gtin_raw, lot_seg, ser_seg, sscc, gln, ext_seg = (g or "" for g in m.groups())
    if gtin_raw:
        gtin = normalise_gtin(gtin_raw)
        if gtin is None:
            return None
        key = f"{DL_ROOT}/01/{gtin}"
        if ser_seg:
            serial = _segment_value(ser_seg)
            if serial is None:
                return None
            return Epc(raw, "sgtin", f"{key}/21/{_enc(serial)}", gtin=gtin, serial=serial)
        if lot_seg:
            lot = _segment_value(lot_seg)
            if lot is None:
                return None
            return Epc(raw, "lgtin", f"{key}/10/{_enc(lot)}", gtin=gtin, lot=lot)
        return Epc(raw, "other", key, gtin=gtin)
    if sscc:
        return Epc(raw, "sscc", f"{DL_ROOT}/00/{sscc}", sscc=sscc) if check_ok(sscc) else None
    if not check_ok(gln):
        return None
    key = f"{DL_ROOT}/414/{gln}"
    if ext_seg:
        ext = _segment_value(ext_seg)
        if ext is None:
            return None
        if ext != "0":
            key += f"/254/{_enc(ext)}"
    return Epc(raw, "sgln", key, gln=gln)


def _parse_dl_other(raw: str, s: str) -> Epc | None | Literal[False]:
    m = _full(DL_OTHER_RE, s)
    if m is None:
        return False
    ai = DL_SHORT_NAMES.get(m[1], m[1])
    value = _value(m[2], CSET82_39_RE, 30)
    if value is None:
        return None
    key = f"{DL_ROOT}/{ai}/{_enc(value)}"
    if m[3] is not None:
        if DL_OTHER_QUALIFIERS.get(ai) != DL_SHORT_NAMES.get(m[3], m[3]):
            return None
        qualifier = _value(m[4], CSET82_39_RE, 20)
        if qualifier is None:
            return None
        key += f"/{DL_OTHER_QUALIFIERS[ai]}/{_enc(qualifier)}"
    return Epc(raw, "other", key)


def parse_epc(raw: str) -> Epc | None:
    """Parse an EPC URN or GS1 Digital Link URI.

    URNs of the schemes in ``URN_SCHEMES`` are understood, and Digital Link URIs of a
    GTIN (with optional lot and serial), an SSCC or a GLN (with optional extension).
    A lot between GTIN and serial is ignored; an SGLN extension ``0`` means none.
    Digital Link URIs of the other GS1 keys (``DL_OTHER_RE``) are only moved to the
    canonical domain, AI and escapes; their check digits are not verified.

    Args:
        raw: the identifier as found in an EPCIS document; surrounding whitespace is
            ignored.

    Returns:
        The parsed ``Epc``. A string in none of these forms gives kind ``"other"`` with
        the stripped string as key. None when the string is one of these forms but
        invalid (check digit, lengths, characters, percent-escapes).

    Examples:
        >>> e = parse_epc("urn:epc:id:sgtin:0614141.107346.2017")
        >>> e.kind, e.gtin, e.serial
        ('sgtin', '10614141073464', '2017')
        >>> parse_epc("https://example.com/shop/01/9780345418913/21/A%2FB?x=1").serial
        'A/B'
        >>> parse_epc("urn:epc:id:sgtin:0614141.107346") is None
        True
        >>> parse_epc(" geo:47.5,11.1 ").key
        'geo:47.5,11.1'
    """
    s = raw.strip(WHITESPACE)
    for parse in (_parse_urn, _parse_dl, _parse_dl_other):
        result = parse(raw, s)
        if result is not False:
            return result
    return Epc(raw, "other", s)


def canonical_uri(raw: str) -> str:
    """Return the canonical GS1 Digital Link URI of an EPC, as the EPCIS event hash uses.

    URNs (``urn:epc:id:...``, ``urn:epc:class:lgtin:...``, ``urn:epc:idpat:...``) and
    Digital Link URIs on any domain become ``https://id.gs1.org/...``: GTINs padded to
    14 digits, no query string, the lot dropped when a serial is present, values
    percent-encoded canonically. Anything else, including an invalid GS1 form, comes
    back stripped of surrounding whitespace and otherwise unchanged.

    Args:
        raw: an EPC, EPC class, EPC pattern or location identifier.

    Returns:
        The canonical URI.

    Examples:
        >>> canonical_uri("urn:epc:id:sgtin:0614141.107346.2017")
        'https://id.gs1.org/01/10614141073464/21/2017'
        >>> canonical_uri("urn:epc:id:sscc:0614141.1234567890")
        'https://id.gs1.org/00/106141412345678908'
        >>> canonical_uri("urn:epc:id:sgln:0614141.07346.0")
        'https://id.gs1.org/414/0614141073467'
        >>> canonical_uri("urn:epc:id:sgtin:0614141.812345.6789%2F%26%25%22!%3F()")
        'https://id.gs1.org/01/80614141123458/21/6789%2F%26%25%22%21%3F%28%29'
        >>> canonical_uri("https://example.com/gtin/09780345418913/21/765tz?abc=1")
        'https://id.gs1.org/01/09780345418913/21/765tz'
    """
    epc = parse_epc(raw)
    return epc.key if epc is not None else raw.strip(WHITESPACE)
