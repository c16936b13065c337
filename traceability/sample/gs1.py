"""GS1 keys and their EPC spellings, as the sample generator writes them.

Only what the generator needs: check digits, building GTINs, GLNs and SSCCs from a
company prefix, and spelling serials, containers and locations as EPC URNs or GS1
Digital Link URIs.
"""

from __future__ import annotations

import uuid

GS1_RESOLVER = "https://id.gs1.org"
_EVENT_NAMESPACE = uuid.UUID("6f1c2e0a-4b7d-5c3e-9a8f-2d1b0c9e8a7f")


def check_digit(body: str) -> str:
    """Return the GS1 mod-10 check digit for a string of digits.

    Args:
        body: the key without its check digit.

    Returns:
        The check digit as a one-character string.

    >>> check_digit("890123400000")
    '7'
    >>> check_digit("061414100000")
    '5'
    """
    total = 0
    for position, char in enumerate(reversed(body)):
        total += int(char) * (3 if position % 2 == 0 else 1)
    return str(-total % 10)


def has_valid_check_digit(key: str) -> bool:
    """Tell whether a GS1 key (GTIN, GLN, SSCC) ends in its correct check digit.

    >>> has_valid_check_digit("8901234000007")
    True
    >>> has_valid_check_digit("8901234000004")
    False
    """
    return key.isdigit() and len(key) > 1 and check_digit(key[:-1]) == key[-1]


def gln(prefix: str, location: int) -> str:
    """Build a 13-digit GLN from a company prefix and a location reference.

    >>> gln("8901234", 0)
    '8901234000007'
    """
    width = 12 - len(prefix)
    return _complete(f"{prefix}{location:0{width}d}")


def gtin14(prefix: str, item: int, indicator: int = 0) -> str:
    """Build a 14-digit GTIN from a company prefix and an item reference.

    >>> gtin14("8901234", 1)
    '08901234000014'
    """
    width = 12 - len(prefix)
    return _complete(f"{indicator}{prefix}{item:0{width}d}")


def sscc(prefix: str, reference: int, extension: int = 0) -> str:
    """Build an 18-digit SSCC from a company prefix and a serial reference.

    >>> sscc("8901234", 1)
    '089012340000000014'
    """
    width = 16 - len(prefix)
    return _complete(f"{extension}{prefix}{reference:0{width}d}")


def _complete(body: str) -> str:
    return body + check_digit(body)


def sgtin_urn(gtin: str, prefix_len: int, serial: str) -> str:
    """Spell a serialised trade item as an EPC pure-identity URN.

    >>> sgtin_urn("08901234000014", 7, "S1")
    'urn:epc:id:sgtin:8901234.000001.S1'
    """
    prefix = gtin[1 : 1 + prefix_len]
    item = gtin[0] + gtin[1 + prefix_len : 13]
    return f"urn:epc:id:sgtin:{prefix}.{item}.{serial}"


def sgtin_dl(gtin: str, serial: str, *, domain: str = GS1_RESOLVER, lot: str = "") -> str:
    """Spell a serialised trade item as a GS1 Digital Link URI.

    >>> sgtin_dl("08901234000014", "S1")
    'https://id.gs1.org/01/08901234000014/21/S1'
    >>> sgtin_dl("08901234000014", "S1", lot="L1")
    'https://id.gs1.org/01/08901234000014/10/L1/21/S1'
    """
    lot_part = f"/10/{lot}" if lot else ""
    return f"{domain}/01/{gtin}{lot_part}/21/{serial}"


def sscc_urn(code: str, prefix_len: int) -> str:
    """Spell an SSCC as an EPC pure-identity URN.

    >>> sscc_urn("089012340000000014", 7)
    'urn:epc:id:sscc:8901234.0000000001'
    """
    return f"urn:epc:id:sscc:{code[1 : 1 + prefix_len]}.{code[0]}{code[1 + prefix_len : 17]}"


def sscc_dl(code: str, *, domain: str = GS1_RESOLVER) -> str:
    """Spell an SSCC as a GS1 Digital Link URI.

    >>> sscc_dl("089012340000000014")
    'https://id.gs1.org/00/089012340000000014'
    """
    return f"{domain}/00/{code}"


def sgln_urn(location: str, prefix_len: int, extension: str = "0") -> str:
    """Spell a GLN as an EPC SGLN URN.

    >>> sgln_urn("8901234000004", 7)
    'urn:epc:id:sgln:8901234.00000.0'
    """
    return f"urn:epc:id:sgln:{location[:prefix_len]}.{location[prefix_len:12]}.{extension}"


def lgtin_urn(gtin: str, prefix_len: int, lot: str) -> str:
    """Spell a lot of a trade item as an EPC class URN (LGTIN).

    >>> lgtin_urn("08901234000021", 7, "E1")
    'urn:epc:class:lgtin:8901234.000002.E1'
    """
    prefix = gtin[1 : 1 + prefix_len]
    item = gtin[0] + gtin[1 + prefix_len : 13]
    return f"urn:epc:class:lgtin:{prefix}.{item}.{lot}"


def event_id(seed: int, key: str) -> str:
    """Return a deterministic ``urn:uuid:`` event ID for an event key and a seed.

    >>> event_id(0, "a") == event_id(0, "a") != event_id(1, "a")
    True
    """
    return f"urn:uuid:{uuid.uuid5(_EVENT_NAMESPACE, f'{seed}:{key}')}"
