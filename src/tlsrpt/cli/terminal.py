"""Text from reports made safe to show on a terminal. Pure.

Organization names, report ids, MX names, failure reasons, DNS records and
policy files come from anonymous senders. A terminal acts on some of their
characters: ESC starts a control sequence (colours, cursor moves, window
titles, OSC 8 links), C1 bytes do the same on some terminals, CR and BS
overwrite what was printed, and Unicode bidirectional overrides or
invisible format characters make one text display as another. Every
human-readable line of the CLI passes its data through `safe_text`, which
shows those characters as visible escapes (`\\x1b`, `\\u202e`).

`--json` output keeps the exact data: JSON escapes C0 characters itself,
and `json_escape_invisible` writes the others (DEL, C1, format characters,
line separators) as JSON `\\uXXXX` escapes, which decode to the same text,
so JSON read on a terminal cannot act on it either.
"""

from __future__ import annotations

import re
import unicodedata

# Unicode general categories shown escaped: control characters (C0, DEL, C1
# — tab and newline too, since a value is one field of one line), format
# characters (bidi embeddings, overrides and isolates, LRM/RLM/ALM, zero
# width characters, BOM, tag characters: they change or hide what is
# displayed), lone surrogates (left by undecodable bytes), unassigned code
# points, and the line and paragraph separators.
ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Cn", "Zl", "Zp"})


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def safe_text(value: object) -> str:
    """`value` as text in which no character can act on a terminal or hide
    another: those are replaced by a visible escape. Printable text, a
    backslash included, is kept as it is."""
    text = value if isinstance(value, str) else str(value)
    # Every escaped category is "not printable" for str.isprintable, so
    # the common case costs one C-level scan.
    if text.isprintable():
        return text
    return "".join(
        _escape(char) if unicodedata.category(char) in ESCAPED_CATEGORIES else char for char in text
    )


# Escaped in JSON: everything above but lone surrogates (JSON text holds none).
_JSON_ESCAPED_CATEGORIES = ESCAPED_CATEGORIES - {"Cs"}
_NOT_PRINTABLE_ASCII = re.compile(r"[^\x20-\x7e]")


def _json_escape(match: re.Match[str]) -> str:
    char = match.group()
    if unicodedata.category(char) not in _JSON_ESCAPED_CATEGORIES:
        return char
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # a UTF-16 surrogate pair, as JSON writes astral characters
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def json_escape_invisible(json_text: str) -> str:
    """Serialized JSON with every character `safe_text` would escape written
    as a `\\uXXXX` escape (such characters only occur inside JSON strings,
    where the escape means the same character)."""
    if json_text.isprintable():
        return json_text
    return _NOT_PRINTABLE_ASCII.sub(_json_escape, json_text)
