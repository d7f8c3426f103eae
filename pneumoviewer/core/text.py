"""Text that is safe to echo: what a file, a header or a model name says never drives the terminal or the log."""

from __future__ import annotations

import unicodedata

# Control (Cc), format (Cf: bidi overrides, zero-width), surrogate, private-use and unassigned code points.
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def printable(s: str) -> str:
    """`s` with every control or invisible character written as an escape (``\\n``, ``\\x1b``, ``\\u202e``), so a
    value from a file prints as one visible line: terminal escape sequences and newlines in a header value or a
    UID cannot move the cursor, recolour the terminal or forge a second line of an error message."""
    if s.isprintable():
        return s
    out = []
    for ch in s:
        if unicodedata.category(ch) in _HIDDEN:
            code = ord(ch)
            out.append({9: "\\t", 10: "\\n", 13: "\\r"}.get(code) or (f"\\x{code:02x}" if code < 0x100 else
                                                                     f"\\u{code:04x}" if code < 0x10000 else
                                                                     f"\\U{code:08x}"))
        else:
            out.append(ch)
    return "".join(out)
