"""Text from the data made inert: nothing in it can act on a terminal, a file or a reader.

Input files are not trusted, and their values reach terminals, CSV, Markdown, JSON and HTML
reports and error messages. A value holding ``ESC [2J`` would clear the screen, an OSC-8
sequence would plant a hyperlink, a BEL would ring, and a zero-width or bidi-override
character makes ``L2401\\u200b`` look exactly like ``L2401``. :func:`inert` writes every such
character as a visible escape, the way Python writes it in a ``repr``: ``\\x1b``,
``\\u200b``, ``\\n``. Every renderer and every message the CLI prints passes values through
it.

What is escaped, by Unicode general category (:data:`UNSAFE_CATEGORIES`):

* ``Cc``, control characters: C0 (U+0000–U+001F, tab and line feed included unless kept),
  DEL (U+007F) and C1 (U+0080–U+009F), which some terminals obey like ESC;
* ``Cf``, format characters, which are invisible: the bidi embeddings and overrides
  U+202A–U+202E, isolates U+2066–U+2069 and marks U+200E, U+200F, U+061C; the zero-width
  U+200B–U+200D, the word joiner U+2060 and U+FEFF; the soft hyphen U+00AD and the tag
  characters U+E0000–U+E007F among the rest;
* ``Zl`` and ``Zp``, U+2028 and U+2029, which some readers take as line ends;
* ``Cs``, lone surrogates, which cannot be written as UTF-8 at all.

Letters, digits, punctuation, symbols and spaces of every script stay as they are
(``×``, ``→``, ``é``, a no-break space). A backslash already in the text is left alone, so
a Windows path reads as it was written: the escapes are for the eye, not a lossless
encoding (the JSON report keeps exact values, see ``render.to_json``).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "UNSAFE_CATEGORIES",
    "escape_char",
    "escape_markdown",
    "inert",
    "inert_json",
    "is_inert",
    "is_unsafe",
]

#: The Unicode general categories :func:`inert` escapes.
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})

_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def is_unsafe(ch: str) -> bool:
    """Whether one character is escaped by :func:`inert`.

    >>> [is_unsafe(c) for c in ("\\x1b", "\\u200b", "\\u202e", "\\x85", "a", "\\u00a0", "→")]
    [True, True, True, True, False, False, False]
    """
    return unicodedata.category(ch) in UNSAFE_CATEGORIES


def escape_char(ch: str) -> str:
    """One character as Python writes it in a ``repr``.

    >>> escape_char("\\x1b"), escape_char("\\n"), escape_char("\\u200b"), escape_char("\\U000e0041")
    ('\\\\x1b', '\\\\n', '\\\\u200b', '\\\\U000e0041')
    """
    if ch in _SHORT:
        return _SHORT[ch]
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def inert(text: str, *, keep: str = "") -> str:
    """``text`` with every unsafe character written as a visible escape.

    ``keep``: characters left as they are where the output format allows them, e.g.
    ``"\\n"`` for text that may span lines.

    >>> inert("L2401\\u200b")
    'L2401\\\\u200b'
    >>> inert("\\x1b[2Jgone\\x07")
    '\\\\x1b[2Jgone\\\\x07'
    >>> inert("a\\tb\\nc"), inert("a\\tb\\nc", keep="\\n")
    ('a\\\\tb\\\\nc', 'a\\\\tb\\nc')
    >>> inert("\\u202egpj.exe \\x9b31m"), inert("C:\\\\data ×2 → é")
    ('\\\\u202egpj.exe \\\\x9b31m', 'C:\\\\data ×2 → é')
    """
    if text.isprintable():  # the common case, in C: no character of those categories
        return text
    return "".join(
        escape_char(c) if c not in keep and unicodedata.category(c) in UNSAFE_CATEGORIES else c
        for c in text
    )


def is_inert(text: str, *, keep: str = "") -> bool:
    """Whether ``text`` holds no unsafe character (other than those in ``keep``).

    >>> is_inert("L2401"), is_inert("L2401\\u200b"), is_inert("a\\nb", keep="\\n")
    (True, False, True)
    """
    return text.isprintable() or all(c in keep or not is_unsafe(c) for c in text)


def _json_escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # a UTF-16 surrogate pair, the only way JSON writes these
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def inert_json(dumped: str) -> str:
    """JSON text from :func:`json.dumps` with every unsafe character as a ``\\uXXXX`` escape.

    ``json.dumps`` escapes C0 controls but writes DEL, C1, bidi and zero-width characters
    as they are. JSON's own escapes keep the value exact: a reader gets back the very
    string, while the bytes hold nothing a terminal or an editor acts on. Line ends outside
    strings (``indent``) stay; inside strings ``json.dumps`` has already escaped them.

    >>> import json
    >>> text = inert_json(json.dumps({"lot": "L2401\u200b\x9b"}, ensure_ascii=False))
    >>> text
    '{"lot": "L2401\\\\u200b\\\\u009b"}'
    >>> json.loads(text) == {"lot": "L2401\u200b\x9b"}
    True
    """
    if dumped.replace("\n", "").isprintable():
        return dumped
    return "".join(
        _json_escape(c) if c != "\n" and unicodedata.category(c) in UNSAFE_CATEGORIES else c
        for c in dumped
    )


_MARKDOWN_SPECIAL = re.compile(r"([\\`*<>\[\]|])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def escape_markdown(text: str) -> str:
    r"""Text as Markdown that renders exactly as written, in prose or in a table cell.

    >>> escape_markdown("a | b <lot> *x* tol_units _y_")
    'a \\| b \\<lot\\> \\*x\\* tol_units \\_y\\_'
    """
    return _MARKDOWN_SPECIAL.sub(lambda m: "\\" + m.group(0), text)
