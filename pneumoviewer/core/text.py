"""Text that came from a file (a CSV, a bundle manifest, a DICOM header) made safe to echo on a terminal or a log.

A value read from someone else's file may carry terminal escape sequences (``ESC [ 2 J`` clears the screen, an
OSC sequence can retitle the window or forge a hyperlink) or line breaks that forge extra log lines. `printable`
replaces every C0 and C1 control character (U+0000–U+001F, U+007F–U+009F: ESC, CR, LF and TAB included) by a
visible ``\\xNN`` escape, and the invisible characters that reorder or break a line (the Unicode bidi embeddings,
overrides and isolates behind "Trojan Source", CVE-2021-42574, the directional marks, and the line and paragraph
separators U+2028/U+2029) by a visible ``\\uNNNN`` escape. Every other character is kept, so the text stays
recognisable and can neither steer the terminal nor make a log line read differently from what it holds.
"""

from __future__ import annotations

__all__ = ["printable"]

_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x00, 0x20), *range(0x7F, 0xA0))}
_INVISIBLE = (0x061C, 0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_CONTROLS.update({c: f"\\u{c:04x}" for c in _INVISIBLE})


def printable(s: str) -> str:
    """`s` with each C0/C1 control replaced by ``\\xNN`` (ESC → ``\\x1b``), each bidi/line-separator control by
    ``\\uNNNN`` (U+202E → ``\\u202e``); other text unchanged."""
    return s.translate(_CONTROLS)
